#include "ingress/publisher.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>

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

Publisher::Publisher(PublisherOptions options, metrics::Registry& registry)
    : opt_(std::move(options)),
      reports_(std::make_unique<DeliveryReports>(*this)),
      produce_seconds_(registry.histogram("allot_ingress_produce_seconds",
                                          "Time from produce to the broker's acknowledgement").with()) {
  auto conf = kafka::make_conf({{"bootstrap.servers", opt_.brokers},
                                {"enable.idempotence", "true"},
                                {"acks", "all"},
                                {"linger.ms", std::to_string(opt_.linger_ms)},
                                {"message.timeout.ms", std::to_string(opt_.delivery_timeout_ms)},
                                {"queue.buffering.max.messages", "200000"},
                                {"socket.keepalive.enable", "true"}});
  std::string err;
  if (conf->set("dr_cb", reports_.get(), err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(err);
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) throw std::runtime_error("producer: " + err);
  poller_ = std::thread([this] { poll_loop(); });
}

Publisher::~Publisher() {
  flush(opt_.delivery_timeout_ms + 1000);
  stop_ = true;
  poller_.join();
}

void Publisher::publish(const topics::Command& command, std::unique_ptr<Delivery> delivery) {
  std::string value = topics::encode(command);
  const std::string& key = command.event_id();
  auto* f = new InFlight{std::move(delivery), std::chrono::steady_clock::now()};
  in_flight_.fetch_add(1);
  auto code = producer_->produce(opt_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                 value.data(), value.size(), key.data(), key.size(), 0, f);
  if (code != RdKafka::ERR_NO_ERROR) {
    in_flight_.fetch_sub(1);
    std::unique_ptr<InFlight> owned(f);
    owned->delivery->failed(RdKafka::err2str(code));
  }
}

void Publisher::raise_fatal_error_for_test() {
  rd_kafka_test_fatal_error(producer_->c_ptr(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "raised by a test");
}

void Publisher::flush(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Serves delivery reports continuously and refreshes readiness once a second from a metadata request.
void Publisher::poll_loop() {
  auto next_check = std::chrono::steady_clock::now();
  while (!stop_) {
    producer_->poll(5);
    if (std::chrono::steady_clock::now() >= next_check) {
      if (opt_.test_hook) opt_.test_hook("publisher:readiness_check");
      RdKafka::Metadata* raw = nullptr;
      auto code = producer_->metadata(false, nullptr, &raw, 1000);
      std::unique_ptr<RdKafka::Metadata> md(raw);
      bool ok = code == RdKafka::ERR_NO_ERROR && md && !md->brokers()->empty();
      if (ok != ready_.load()) log_info("ingress", ok ? "broker reachable" : "broker unreachable");
      ready_ = ok;
      next_check = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
  }
}

}  // namespace allot::ingress
