#include "ingress/publisher.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <utility>

#include "common/kafka.h"
#include "common/log.h"

namespace allot::ingress {

namespace {
struct InFlight {
  std::unique_ptr<Delivery> delivery;
  std::chrono::steady_clock::time_point started;
};
}  // namespace

class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  explicit DeliveryReports(Publisher& p) : publisher_(p) {}
  void dr_cb(RdKafka::Message& m) override {
    std::unique_ptr<InFlight> f(static_cast<InFlight*>(m.msg_opaque()));
    if (!f) return;
    publisher_.produce_seconds_.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - f->started).count());
    // Only a persisted message is a 202: "possibly persisted" (e.g. a timeout) is a failure to the client,
    // whose retry with the same Idempotency-Key is harmless.
    if (m.err() == RdKafka::ERR_NO_ERROR && m.status() == RdKafka::Message::MSG_STATUS_PERSISTED) {
      f->delivery->delivered({m.partition(), m.offset()});
    } else {
      f->delivery->failed(m.err() == RdKafka::ERR_NO_ERROR ? "not persisted" : m.errstr());
    }
    publisher_.in_flight_.fetch_sub(1);
  }

 private:
  Publisher& publisher_;
};

// Error events come from poll() on the poll thread; log events from librdkafka's own threads.
// Nothing here throws: an exception must not cross a Kafka callback.
class ProducerEvents : public RdKafka::EventCb {
 public:
  explicit ProducerEvents(Publisher& p) : publisher_(p) {}
  void event_cb(RdKafka::Event& e) override {
    try {
      if (e.type() == RdKafka::Event::EVENT_ERROR) {
        if (e.fatal()) {
          publisher_.on_fatal_error();
        } else {
          log_warn("ingress", "kafka: " + RdKafka::err2str(e.err()) + ": " + e.str());
        }
      } else if (e.type() == RdKafka::Event::EVENT_LOG && e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
        // Setting an event callback routes librdkafka's log lines here instead of stderr.
        log(e.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR ? LogLevel::kError : LogLevel::kWarn, "ingress",
            "kafka: " + e.fac() + ": " + e.str());
      }
    } catch (...) {
      // only a failed allocation of a log line gets here
    }
  }

 private:
  Publisher& publisher_;
};

Publisher::Publisher(PublisherOptions options, metrics::Registry& registry)
    : opt_(std::move(options)),
      reports_(std::make_unique<DeliveryReports>(*this)),
      events_(std::make_unique<ProducerEvents>(*this)),
      produce_seconds_(
          registry.histogram("allot_ingress_produce_seconds", "Time from produce to the broker's acknowledgement")
              .with()),
      failed_gauge_(registry
                        .gauge("allot_ingress_producer_failed",
                               "1 while the Kafka producer has failed fatally and is being replaced")
                        .with()),
      replacements_(registry
                        .counter("allot_ingress_producer_replacements_total",
                                 "Kafka producers replaced after a fatal error (each answered what it held with 503)")
                        .with()) {
  producer_ = make_producer();
  std::string err;
  // The readiness check's own connections: on the producer's, a metadata request waits behind produce
  // requests that the broker holds for acks=all (e.g. while a dead follower is still in the ISR), and one
  // dead broker of three made the ingress refuse every claim for seconds.
  // A broker that goes silent (cut off by the network, its connection still open) must not hold the check:
  // a request it leaves unanswered for 1.5 s closes that connection, and the next requests go to the others.
  auto probe_conf = kafka::make_conf({{"bootstrap.servers", opt_.brokers}, {"socket.timeout.ms", "1500"}});
  readiness_probe_.reset(RdKafka::Producer::create(probe_conf.get(), err));
  if (!readiness_probe_) throw std::runtime_error("readiness probe: " + err);
  commands_topic_.reset(RdKafka::Topic::create(readiness_probe_.get(), opt_.topic, nullptr, err));
  if (!commands_topic_) throw std::runtime_error("readiness probe: " + err);
  poller_ = std::thread([this] { poll_loop(); });
  checker_ = std::thread([this] { readiness_loop(); });
}

Publisher::~Publisher() {
  flush(opt_.delivery_timeout_ms + 1000);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  checker_.join();
  poller_.join();
}

std::unique_ptr<RdKafka::Producer> Publisher::make_producer() {
  auto conf = kafka::make_conf({{"bootstrap.servers", opt_.brokers},
                                {"enable.idempotence", "true"},
                                {"acks", "all"},
                                {"linger.ms", std::to_string(opt_.linger_ms)},
                                {"compression.type", opt_.compression},
                                {"message.timeout.ms", std::to_string(opt_.delivery_timeout_ms)},
                                {"queue.buffering.max.messages", "200000"},
                                {"socket.keepalive.enable", "true"},
                                // A 202 waits for this round trip: no Nagle delay on small produce requests.
                                {"socket.nagle.disable", "true"}});
  std::string err;
  if (conf->set("dr_cb", reports_.get(), err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(err);
  if (conf->set("event_cb", events_.get(), err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(err);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) throw std::runtime_error("producer: " + err);
  return producer;
}

std::string Publisher::fatal_error() const {
  std::lock_guard lock(mu_);
  return fatal_;
}

// On the poll thread (an error event). While a failed producer is being replaced, its own later events
// are ignored: fatal_ stays set until it is gone.
void Publisher::on_fatal_error() {
  std::string reason;
  {
    std::lock_guard lock(mu_);
    if (!fatal_.empty()) return;
    auto code = producer_->fatal_error(reason);
    if (code == RdKafka::ERR_NO_ERROR) return;  // a retired producer's late event: the current one is fine
    fatal_ = RdKafka::err2str(code) + ": " + reason;
    reason = fatal_;
  }
  failed_gauge_.set(1);
  failed_ = true;
  log_error("ingress", "kafka producer failed fatally (" + reason + "); commands are refused until it is replaced");
}

// On the poll thread, once failed_ is set. New commands are refused meanwhile (publish() and the API check
// failed_), so the handlers still inside publish() leave the shared lock at once and the exclusive one is
// not starved.
void Publisher::replace_failed_producer() {
  if (opt_.test_hook) opt_.test_hook("publisher:replacing_producer");
  // What the failed producer still holds can no longer be delivered in order: answer it now (503), rather
  // than at its delivery timeout. A purged in-flight message may have been stored; the client's retry with
  // the same Idempotency-Key is harmless, and the 503 never claimed otherwise.
  producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       producer_->outq_len() > 0 && std::chrono::steady_clock::now() < until;) {
    producer_->poll(10);
  }
  // A broker that keeps failing new producers must not be hammered: at most one replacement a second.
  auto next = last_replacement_ + std::chrono::seconds(1);
  while (!stop_ && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (stop_) return;
  std::unique_ptr<RdKafka::Producer> fresh;
  try {
    fresh = make_producer();
  } catch (const std::exception& e) {
    log_error("ingress", std::string("could not create a new kafka producer: ") + e.what() + "; trying again");
    last_replacement_ = std::chrono::steady_clock::now();
    return;
  }
  std::unique_ptr<RdKafka::Producer> failed;
  {
    std::unique_lock lock(producer_mu_);
    failed = std::exchange(producer_, std::move(fresh));
  }
  // Destroying a handle drops the reports it still holds: one that has any left is kept and polled until it has
  // none (serve_retired), so every publish is still answered exactly once.
  if (failed->outq_len() > 0) retired_.push_back(std::move(failed));
  last_replacement_ = std::chrono::steady_clock::now();
  replacements_.inc();
  {
    std::lock_guard lock(mu_);
    fatal_.clear();
  }
  failed_gauge_.set(0);
  failed_ = false;
  log_info("ingress", "a new kafka producer replaced the failed one; taking commands again");
}

void Publisher::serve_retired() {
  for (auto& r : retired_) r->poll(0);
  std::erase_if(retired_, [](const auto& r) { return r->outq_len() == 0; });
}

void Publisher::raise_fatal_error_for_test() {
  std::shared_lock lock(producer_mu_);
  rd_kafka_test_fatal_error(producer_->c_ptr(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "raised by a test");
}

void Publisher::publish(const topics::Command& command, std::unique_ptr<Delivery> delivery, int32_t partition) {
  if (failed_) {
    delivery->failed("the kafka producer failed and is being replaced");
    return;
  }
  std::string value = topics::encode(command);
  const std::string key = command.key();
  auto* f = new InFlight{std::move(delivery), std::chrono::steady_clock::now()};
  in_flight_.fetch_add(1);
  RdKafka::ErrorCode code;
  {
    std::shared_lock lock(producer_mu_);
    code = producer_->produce(opt_.topic, partition < 0 ? RdKafka::Topic::PARTITION_UA : partition,
                              RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(), key.data(), key.size(), 0, f);
  }
  if (code != RdKafka::ERR_NO_ERROR) {
    in_flight_.fetch_sub(1);
    std::unique_ptr<InFlight> owned(f);
    owned->delivery->failed(RdKafka::err2str(code));
  }
}

int32_t Publisher::partition_count(std::chrono::milliseconds timeout) {
  std::shared_lock lock(producer_mu_);
  return kafka::partition_count(*producer_, opt_.topic, timeout);
}

void Publisher::flush(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Only polls: every delivery report (every 202) and error event is served here, so nothing else may
// block this thread; and replaces a failed producer (this thread alone writes producer_).
void Publisher::poll_loop() {
  while (!stop_) {
    producer_->poll(5);
    if (!retired_.empty()) serve_retired();
    if (failed_) replace_failed_producer();
  }
}

// One metadata request (up to a second) for the commands topic: some broker answered, and some partition
// of the topic has a leader to take commands. A partition without one fails its commands by itself (503
// at the delivery timeout).
bool Publisher::commands_topic_led() {
  RdKafka::Metadata* raw = nullptr;
  auto code = readiness_probe_->metadata(false, commands_topic_.get(), &raw, 1000);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (code != RdKafka::ERR_NO_ERROR || !md) return false;
  for (const auto* t : *md->topics()) {
    if (t->topic() != opt_.topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
    for (const auto* p : *t->partitions()) {
      if (p->leader() >= 0) return true;
    }
  }
  return false;
}

// Refreshes readiness once a second from a metadata request, which can block up to a second when the
// broker does not answer: on its own thread, so the poll thread never waits for it.
void Publisher::readiness_loop() {
  while (!stop_) {
    if (opt_.test_hook) opt_.test_hook("publisher:readiness_check");
    // Further requests when the first failed, for up to 3 s: it may have gone to a broker that died or went
    // silent meanwhile, and once the probe has closed that connection (socket.timeout.ms above) the next
    // ones go to brokers that answer. Only a 3 s without any answer makes the ingress not ready.
    bool ok = commands_topic_led();
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
         !ok && !stop_ && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // no broker at all answers at once
      ok = commands_topic_led();
    }
    if (ok != ready_.load()) {
      log_info("ingress", ok ? "broker reachable, " + opt_.topic + " has a leader"
                             : "broker unreachable, or no leader for " + opt_.topic);
    }
    ready_ = ok;
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_.load(); });
  }
}

}  // namespace allot::ingress
