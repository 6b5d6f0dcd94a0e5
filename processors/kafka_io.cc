#include "processors/kafka_io.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/kafka.h"
#include "common/log.h"

namespace allot::processors {

namespace {

constexpr const char* kLog = "processor";

IoStatus from_code(RdKafka::ErrorCode code, const std::string& what) {
  if (code == RdKafka::ERR_NO_ERROR) return IoStatus::ok();
  std::string m = what + ": " + RdKafka::err2str(code);
  return code == RdKafka::ERR__FATAL ? IoStatus::fatal(m) : IoStatus::retriable(m);
}

// librdkafka's transactional error classes as IoStatus.
IoStatus from_error(kafka::ErrorPtr e) {
  if (!e) return IoStatus::ok();
  if (e->is_fatal()) return IoStatus::fatal(e->str());
  if (e->txn_requires_abort()) return IoStatus::abortable(e->str());
  if (e->is_retriable()) return IoStatus::retriable(e->str());
  return IoStatus::fatal(e->str());
}

// librdkafka statistics -> consumer lag per partition of the commands topic.
class LagFromStatistics : public RdKafka::EventCb {
 public:
  LagFromStatistics(std::string topic, metrics::Family<metrics::Gauge>& lag) : topic_(std::move(topic)), lag_(lag) {}
  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_STATS) {
      try {
        auto j = nlohmann::json::parse(e.str());
        for (const auto& [p, info] : j.at("topics").at(topic_).at("partitions").items()) {
          if (p == "-1") continue;
          // Only the partitions this instance owns: another owner reports the others (and a revoked
          // partition's figures here go stale).
          if (!info.value("desired", false)) {
            lag_.with({{"partition", p}}).set(0);
            continue;
          }
          // The transactions commit the offsets, which librdkafka's own committed_offset never sees:
          // consumer_lag would only grow. Each committed batch's offsets are stored (record_progress),
          // so consumer_lag_stored is the true lag; before the first batch after an assignment nothing
          // is stored yet and consumer_lag (from the fetched committed offset) is.
          int64_t stored_lag = info.value("consumer_lag_stored", int64_t{-1});
          int64_t lag = stored_lag >= 0 ? stored_lag : info.value("consumer_lag", int64_t{-1});
          lag_.with({{"partition", p}}).set(static_cast<double>(std::max<int64_t>(lag, 0)));
        }
      } catch (const std::exception&) {
        // statistics before the first fetch have no such topic yet
      }
    } else if (e.type() == RdKafka::Event::EVENT_ERROR) {
      log_warn(kLog, "kafka: " + e.str());
    }
  }

 private:
  std::string topic_;
  metrics::Family<metrics::Gauge>& lag_;
};

// The read_committed consumer of allot.commands; offsets are committed only through transactions.
class KafkaCommandSource : public CommandSource, public RdKafka::RebalanceCb {
 public:
  KafkaCommandSource(const RunnerOptions& opt, const KafkaIoOptions& kopt, RunnerProbe& probe)
      : topic_(opt.commands_topic), timeout_ms_(opt.restore_timeout_ms), stats_(opt.commands_topic, probe.lag) {
    consumer_ = kafka::make_group_consumer({{"bootstrap.servers", opt.brokers},
                                            {"group.id", opt.group_id},
                                            {"client.id", opt.instance_id},
                                            {"partition.assignment.strategy", "roundrobin"},
                                            {"max.poll.interval.ms", std::to_string(kopt.max_poll_interval_ms)},
                                            {"fetch.wait.max.ms", std::to_string(kopt.fetch_wait_max_ms)},
                                            {"fetch.min.bytes", std::to_string(kopt.fetch_min_bytes)}},
                                           topic_, this, &stats_);
  }
  ~KafkaCommandSource() override { close(); }
  KafkaCommandSource(const KafkaCommandSource&) = delete;
  KafkaCommandSource& operator=(const KafkaCommandSource&) = delete;

  RdKafka::KafkaConsumer& consumer() { return *consumer_; }

  void set_rebalance_handler(RebalanceHandler* handler) override { handler_ = handler; }

  void rebalance_cb(RdKafka::KafkaConsumer* /*c*/, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    std::vector<int32_t> ids;
    for (const auto* tp : partitions) ids.push_back(tp->partition());
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (handler_) handler_->on_assigned(ids);
      return;
    }
    std::set<int32_t> revoked(ids.begin(), ids.end());
    std::erase_if(in_hand_, [&](const auto& m) { return revoked.count(m->partition()) > 0; });
    if (handler_) handler_->on_revoked(ids);
  }

  IoStatus collect(std::vector<InputRecord>& batch, size_t max_records, int max_ms, int idle_ms,
                   const std::function<bool()>& keep_going) override {
    std::string error;
    size_t room = max_records > batch.size() ? max_records - batch.size() : 0;
    auto code = kafka::collect_batch(*consumer_, in_hand_, room, max_ms, keep_going, error, idle_ms);
    for (auto& m : in_hand_) {
      batch.push_back({m->partition(), m->offset(), std::string(static_cast<const char*>(m->payload()), m->len())});
    }
    in_hand_.clear();
    if (code == RdKafka::ERR_NO_ERROR) return IoStatus::ok();
    return code == RdKafka::ERR__FATAL ? IoStatus::fatal(error) : IoStatus::retriable(error);
  }

  IoStatus committed(const std::vector<int32_t>& partitions, OffsetMap& out) override {
    kafka::PartitionList parts;
    for (int32_t p : partitions) parts.items.push_back(RdKafka::TopicPartition::create(topic_, p));
    // read_committed makes librdkafka ask for stable offsets (KIP-447): the broker answers only once no
    // transaction holds pending offsets for these partitions.
    if (auto code = consumer_->committed(parts.items, timeout_ms_); code != RdKafka::ERR_NO_ERROR) {
      return from_code(code, "committed");
    }
    for (const auto* tp : parts.items) {
      if (tp->err() != RdKafka::ERR_NO_ERROR)
        return from_code(tp->err(), "committed offset of " + std::to_string(tp->partition()));
      if (tp->offset() >= 0) out[tp->partition()] = tp->offset();
    }
    return IoStatus::ok();
  }

  IoStatus assign(const OffsetMap& start) override {
    kafka::PartitionList parts;
    for (const auto& [p, offset] : start) parts.items.push_back(RdKafka::TopicPartition::create(topic_, p, offset));
    return from_code(consumer_->assign(parts.items), "assign");
  }

  IoStatus unassign() override { return from_code(consumer_->unassign(), "unassign"); }

  IoStatus seek(int32_t partition, int64_t offset) override {
    std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic_, partition, offset));
    return from_code(consumer_->seek(*tp, 5000), "seek");
  }

  std::vector<int32_t> assignment() override {
    kafka::PartitionList parts;
    std::vector<int32_t> ids;
    if (consumer_->assignment(parts.items) != RdKafka::ERR_NO_ERROR) return ids;
    for (const auto* tp : parts.items) ids.push_back(tp->partition());
    return ids;
  }

  void record_progress(const OffsetMap& next) override {
    kafka::PartitionList parts;
    for (const auto& [p, offset] : next) parts.items.push_back(RdKafka::TopicPartition::create(topic_, p, offset));
    // For the lag metric only (auto commit is off, so stored offsets are never committed by the consumer).
    if (auto code = consumer_->offsets_store(parts.items); code != RdKafka::ERR_NO_ERROR) {
      log_warn(kLog, "offsets_store (lag metric only): " + RdKafka::err2str(code));
    }
  }

  std::string cluster_id() override { return consumer_->clusterid(timeout_ms_); }

  void close() override {
    if (closed_) return;
    closed_ = true;
    if (auto code = consumer_->close(); code != RdKafka::ERR_NO_ERROR) {
      log_warn(kLog, "consumer close: " + RdKafka::err2str(code));
    }
  }

 private:
  std::string topic_;
  int timeout_ms_;
  LagFromStatistics stats_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  RebalanceHandler* handler_ = nullptr;
  kafka::Batch in_hand_;  // the batch being collected, before it is handed to the runner
  bool closed_ = false;
};

// Remembers, per partition, the offset after the last changelog record the broker acknowledged in
// the current transaction.
class DeliveryTracker : public RdKafka::DeliveryReportCb {
 public:
  explicit DeliveryTracker(std::string changelog_topic) : changelog_(std::move(changelog_topic)) {}
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR) return;  // the transaction's commit fails, which is what counts
    if (m.topic_name() == changelog_) {
      auto& next = changelog_next[m.partition()];
      next = std::max(next, m.offset() + 1);
    }
  }
  OffsetMap changelog_next;

 private:
  std::string changelog_;
};

class KafkaTxnProducer : public TxnProducer {
 public:
  KafkaTxnProducer(const RunnerOptions& opt, const KafkaIoOptions& kopt, RdKafka::KafkaConsumer& consumer)
      : opt_(opt), consumer_(consumer), deliveries_(opt.changelog_topic) {
    auto conf = kafka::make_conf({{"bootstrap.servers", opt.brokers},
                                  {"transactional.id", "allot-" + opt.instance_id},
                                  {"transaction.timeout.ms", std::to_string(opt.transaction_timeout_ms)},
                                  {"linger.ms", std::to_string(kopt.linger_ms)},
                                  {"compression.type", kopt.compression},
                                  // a commit right after a commit may get CONCURRENT_TRANSACTIONS: retry soon
                                  {"retry.backoff.ms", "10"},
                                  // (make_conf's 10 s socket timeout: a commit sent to a paused broker is
                                  // retried elsewhere after that, not after librdkafka's 60 s)
                                  {"queue.buffering.max.messages", "1000000"}});
    std::string err;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&deliveries_), err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error(err);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw std::runtime_error("producer: " + err);
    if (kafka::ErrorPtr e{producer_->init_transactions(opt.transaction_timeout_ms * 2)}) {
      throw std::runtime_error("init_transactions: " + e->str());
    }
  }

  IoStatus begin() override {
    deliveries_.changelog_next.clear();
    return from_error(kafka::ErrorPtr{producer_->begin_transaction()});
  }
  IoStatus produce_decision(int32_t partition, std::string_view key, std::string_view value) override {
    return produce(opt_.decisions_topic, partition, key, value);
  }
  IoStatus produce_command(std::string_view key, std::string_view value) override {
    return produce(opt_.commands_topic, RdKafka::Topic::PARTITION_UA, key, value);
  }
  IoStatus produce_changelog(int32_t partition, std::string_view key, std::optional<std::string_view> value) override {
    return produce(opt_.changelog_topic, partition, key, value);
  }
  IoStatus send_offsets(const OffsetMap& next) override {
    kafka::PartitionList offsets;
    for (const auto& [p, n] : next) offsets.items.push_back(RdKafka::TopicPartition::create(opt_.commands_topic, p, n));
    std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(consumer_.groupMetadata());
    return from_error(kafka::ErrorPtr{
        producer_->send_offsets_to_transaction(offsets.items, group.get(), opt_.transaction_timeout_ms)});
  }
  IoStatus commit() override {
    return from_error(kafka::ErrorPtr{producer_->commit_transaction(opt_.transaction_timeout_ms)});
  }
  IoStatus abort() override {
    return from_error(kafka::ErrorPtr{producer_->abort_transaction(opt_.transaction_timeout_ms)});
  }
  OffsetMap changelog_next() const override { return deliveries_.changelog_next; }

 private:
  // No value: a null payload, Kafka's tombstone.
  IoStatus produce(const std::string& topic, int32_t partition, std::string_view key,
                   std::optional<std::string_view> value) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      auto code = producer_->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                                     value ? const_cast<char*>(value->data()) : nullptr, value ? value->size() : 0,
                                     key.data(), key.size(), 0, nullptr);
      if (code == RdKafka::ERR_NO_ERROR) return IoStatus::ok();
      if (code != RdKafka::ERR__QUEUE_FULL) {
        std::string m = "produce to " + topic + ": " + RdKafka::err2str(code);
        return code == RdKafka::ERR__FATAL ? IoStatus::fatal(m) : IoStatus::abortable(m);
      }
      producer_->poll(50);
    }
    return IoStatus::abortable("produce to " + topic + ": queue stayed full");
  }

  const RunnerOptions& opt_;
  RdKafka::KafkaConsumer& consumer_;
  DeliveryTracker deliveries_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

class KafkaChangelogReader : public ChangelogReader {
 public:
  explicit KafkaChangelogReader(const RunnerOptions& opt, RdKafka::Handle& handle) : opt_(opt), handle_(handle) {}

  std::string topic_id() override {
    return kafka::topic_id(opt_.brokers, opt_.changelog_topic, std::chrono::milliseconds(opt_.restore_timeout_ms));
  }

  // Asks the partitions' leaders for their ends (ListOffsets "latest", read_committed like this client),
  // a few seconds at a time: after a broker dies the cached leader can be the dead one.
  // query_watermark_offsets waited on it for minutes (it has no deadline of its own); offsetsForTimes
  // keeps its timeout, and a metadata refresh between attempts moves the client to the new leader.
  OffsetMap end_offsets(const std::vector<int32_t>& partitions) override {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.restore_timeout_ms);
    for (int attempt = 0;; ++attempt) {
      kafka::PartitionList query;
      for (int32_t p : partitions) {
        query.items.push_back(RdKafka::TopicPartition::create(opt_.changelog_topic, p, RdKafka::Topic::OFFSET_END));
      }
      auto code = handle_.offsetsForTimes(query.items, kEndAttemptMs);
      OffsetMap end;
      std::string failed;
      for (const auto* tp : query.items) {
        if (code == RdKafka::ERR_NO_ERROR && tp->err() == RdKafka::ERR_NO_ERROR && tp->offset() >= 0) {
          end[tp->partition()] = tp->offset();
        } else if (failed.empty()) {
          failed = opt_.changelog_topic + "/" + std::to_string(tp->partition()) + ": " +
                   RdKafka::err2str(code != RdKafka::ERR_NO_ERROR ? code : tp->err());
        }
      }
      if (failed.empty()) return end;
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("end of " + failed + " (" + std::to_string(attempt + 1) + " attempts)");
      }
      if (attempt == 0) log_warn("processor", "end of " + failed + "; asking again after a metadata refresh");
      refresh_metadata();
    }
  }

  int64_t read(const OffsetMap& from, const OffsetMap& to, const OnRecord& on_record) override {
    std::vector<kafka::PartitionStart> ranges;
    for (const auto& [p, start] : from) {
      auto end = to.find(p);
      if (end != to.end() && start < end->second) ranges.push_back({p, start, end->second});
    }
    if (ranges.empty()) return 0;
    return kafka::read_committed_to_end(
        opt_.brokers, opt_.changelog_topic, ranges,
        [&](const RdKafka::Message& m) {
          // A null payload is a tombstone: the key is deleted.
          std::optional<std::string_view> value;
          if (m.payload()) value = std::string_view(static_cast<const char*>(m.payload()), m.len());
          on_record(m.partition(), m.offset(), m.key() ? std::string_view(*m.key()) : std::string_view(), value);
        },
        std::chrono::milliseconds(opt_.restore_timeout_ms));
  }

 private:
  const RunnerOptions& opt_;
  void refresh_metadata() {
    std::unique_ptr<RdKafka::Topic> topic(RdKafka::Topic::create(&handle_, opt_.changelog_topic, nullptr, errstr_));
    RdKafka::Metadata* md = nullptr;
    if (topic && handle_.metadata(false, topic.get(), &md, kEndAttemptMs) == RdKafka::ERR_NO_ERROR) {
      std::unique_ptr<RdKafka::Metadata> owned(md);  // only the refresh matters
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  static constexpr int kEndAttemptMs = 3000;
  std::string errstr_;
  RdKafka::Handle& handle_;
};

}  // namespace

struct KafkaIo::Impl {
  RunnerOptions opt;
  // The consumer only subscribes here; it joins the group at the first collect(), after the producer's
  // init_transactions has fenced any earlier instance with the same transactional.id.
  std::unique_ptr<KafkaCommandSource> source;
  std::unique_ptr<KafkaTxnProducer> producer;
  std::unique_ptr<KafkaChangelogReader> changelog;
};

KafkaIo::KafkaIo(const RunnerOptions& options, RunnerProbe& probe, const KafkaIoOptions& kafka)
    : impl_(std::make_unique<Impl>()) {
  impl_->opt = options;
  impl_->source = std::make_unique<KafkaCommandSource>(impl_->opt, kafka, probe);
  impl_->producer = std::make_unique<KafkaTxnProducer>(impl_->opt, kafka, impl_->source->consumer());
  impl_->changelog = std::make_unique<KafkaChangelogReader>(impl_->opt, impl_->source->consumer());
}
KafkaIo::~KafkaIo() = default;

CommandSource& KafkaIo::source() { return *impl_->source; }
TxnProducer& KafkaIo::producer() { return *impl_->producer; }
ChangelogReader& KafkaIo::changelog() { return *impl_->changelog; }

int run_processor(const RunnerOptions& options, state::Store& store, RunnerProbe& probe, const std::atomic<bool>& stop,
                  const KafkaIoOptions& kopt) {
  try {
    KafkaIo kafka(options, probe, kopt);
    Runner runner(options, store, probe, kafka.io());
    return runner.run(stop);
  } catch (const std::exception& e) {
    log_error(kLog, std::string("fatal: ") + e.what());
    return 1;
  }
}

}  // namespace allot::processors
