#include "processors/runner.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/kafka.h"
#include "common/log.h"
#include "processors/domain.h"

namespace allot::processors {

namespace {

constexpr const char* kLog = "processor";

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Uncommitted state changes of the open batch, per partition.
using Overlay = std::unordered_map<int32_t, std::unordered_map<std::string, std::string>>;

// decide() sees the batch's own changes first, then RocksDB.
class OverlayView : public StateView {
 public:
  OverlayView(const state::StateStore& store, const Overlay& overlay, int32_t partition)
      : store_(store), overlay_(overlay), partition_(partition) {}
  std::optional<std::string> get(const std::string& key) const override {
    if (auto p = overlay_.find(partition_); p != overlay_.end()) {
      if (auto it = p->second.find(key); it != p->second.end()) return it->second;
    }
    return store_.get(partition_, key);
  }

 private:
  const state::StateStore& store_;
  const Overlay& overlay_;
  int32_t partition_;
};

// Remembers, per partition, the offset after the last changelog record the broker acknowledged in
// the current transaction, and whether any record of the batch failed.
class DeliveryTracker : public RdKafka::DeliveryReportCb {
 public:
  explicit DeliveryTracker(std::string changelog_topic) : changelog_(std::move(changelog_topic)) {}
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR) {
      ++failed;
      last_error = m.errstr();
      return;
    }
    if (m.topic_name() == changelog_) {
      auto& next = changelog_next[m.partition()];
      next = std::max(next, m.offset() + 1);
    }
  }
  void reset() {
    changelog_next.clear();
    failed = 0;
  }
  std::unordered_map<int32_t, int64_t> changelog_next;
  int failed = 0;
  std::string last_error;

 private:
  std::string changelog_;
};

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
          // The transactions commit the offsets (send_offsets_to_transaction), which librdkafka's own
          // committed_offset never sees: consumer_lag would only grow. The runner stores each committed
          // batch's offsets (offsets_store), so consumer_lag_stored is the true lag; before the first batch
          // after an assignment nothing is stored yet and consumer_lag (from the fetched committed offset) is.
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

struct ErrorDeleter {
  void operator()(RdKafka::Error* e) const { delete e; }
};
using ErrorPtr = std::unique_ptr<RdKafka::Error, ErrorDeleter>;

struct PartitionList {
  std::vector<RdKafka::TopicPartition*> items;
  PartitionList() = default;
  PartitionList(const PartitionList&) = delete;
  ~PartitionList() { RdKafka::TopicPartition::destroy(items); }
};

enum class TxnStep { kOk, kAbort, kFatal };

}  // namespace

RunnerProbe::RunnerProbe(metrics::Registry& r)
    : commands(r.counter("allot_processor_commands_total", "Commands decided, by outcome")),
      batch_size(r.histogram("allot_processor_batch_commands", "Commands per transaction",
                             {1, 10, 50, 100, 250, 500, 1000, 2500, 5000})
                     .with()),
      commit_seconds(r.histogram("allot_processor_commit_seconds",
                                 "Time from begin to commit of a transaction").with()),
      aborts(r.counter("allot_processor_aborts_total", "Transactions aborted").with()),
      poison(r.counter("allot_processor_poison_commands_total", "Undecodable commands skipped").with()),
      restores(r.counter("allot_processor_restores_total", "Partition restores from the changelog").with()),
      restored_records(r.counter("allot_processor_restored_records_total", "Changelog records restored").with()),
      restore_seconds(r.histogram("allot_processor_restore_seconds", "Duration of a restore").with()),
      lag(r.gauge("allot_processor_consumer_lag", "Commands not yet consumed, per partition")),
      assigned(r.gauge("allot_processor_assigned_partitions", "Partitions this instance owns").with()),
      event_stock(r.gauge("allot_event_stock", "Stock of an event, per event")),
      event_issued(r.gauge("allot_event_issued", "Units issued so far, per event")) {}

struct Runner::Impl : public RdKafka::RebalanceCb {
  RunnerOptions opt;
  state::StateStore& store;
  RunnerProbe& probe;
  DeliveryTracker deliveries;
  LagFromStatistics stats;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::unique_ptr<RdKafka::Producer> producer;
  kafka::Batch batch;
  std::string fatal;  // set from a callback; the loop exits with it

  Impl(RunnerOptions o, state::StateStore& s, RunnerProbe& p)
      : opt(std::move(o)), store(s), probe(p), deliveries(opt.changelog_topic), stats(opt.commands_topic, p.lag) {}

  // 1. The transactional producer: fences any earlier instance with the same transactional.id.
  void create_producer() {
    auto conf = kafka::make_conf({{"bootstrap.servers", opt.brokers},
                                  {"transactional.id", "allot-" + opt.instance_id},
                                  {"transaction.timeout.ms", std::to_string(opt.transaction_timeout_ms)},
                                  {"linger.ms", "5"},
                                  // a commit right after a commit may get CONCURRENT_TRANSACTIONS: retry soon
                                  {"retry.backoff.ms", "10"},
                                  {"queue.buffering.max.messages", "1000000"}});
    std::string err;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&deliveries), err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error(err);
    }
    producer.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer) throw std::runtime_error("producer: " + err);
    if (ErrorPtr e{producer->init_transactions(opt.transaction_timeout_ms * 2)}) {
      throw std::runtime_error("init_transactions: " + e->str());
    }
  }

  // 2. The consumer: read_committed so only committed commands count, offsets only via transactions.
  void create_consumer() {
    auto conf = kafka::make_conf({{"bootstrap.servers", opt.brokers},
                                  {"group.id", opt.group_id},
                                  {"client.id", opt.instance_id},
                                  {"isolation.level", "read_committed"},
                                  {"enable.auto.commit", "false"},
                                  {"enable.auto.offset.store", "false"},
                                  {"auto.offset.reset", "earliest"},
                                  {"partition.assignment.strategy", "roundrobin"},
                                  {"session.timeout.ms", "10000"},
                                  {"heartbeat.interval.ms", "1000"},
                                  {"statistics.interval.ms", "2000"}});
    std::string err;
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), err) != RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(&stats), err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error(err);
    }
    consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer) throw std::runtime_error("consumer: " + err);
    if (auto code = consumer->subscribe({opt.commands_topic}); code != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("subscribe: " + RdKafka::err2str(code));
    }
  }

  // 3. Rebalance: restore before owning a partition; on revocation forget its uncommitted commands.
  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      try {
        restore(partitions);
      } catch (const std::exception& e) {
        fatal = std::string("restore failed: ") + e.what();
        return;  // the loop exits; the group reassigns the partitions
      }
      c->assign(partitions);
      probe.assigned.set(static_cast<double>(partitions.size()));
      log_info(kLog, "assigned " + std::to_string(partitions.size()) + " partitions");
    } else {
      std::set<int32_t> revoked;
      for (const auto* tp : partitions) revoked.insert(tp->partition());
      std::erase_if(batch, [&](const auto& m) { return revoked.count(m->partition()) > 0; });
      c->unassign();
      probe.assigned.set(0);
      log_info(kLog, "revoked " + std::to_string(partitions.size()) + " partitions");
    }
  }

  // Replays each partition's changelog from the offset the store reflects to the end.
  void restore(const std::vector<RdKafka::TopicPartition*>& partitions) {
    auto started = std::chrono::steady_clock::now();
    std::vector<kafka::PartitionStart> starts;
    for (const auto* tp : partitions) starts.push_back({tp->partition(), store.offsets(tp->partition()).changelog_next});
    std::unordered_map<int32_t, std::vector<state::Record>> pending;
    std::unordered_map<int32_t, int64_t> next;
    auto flush = [&](int32_t p) {
      auto stored = store.offsets(p);
      store.commit(p, pending[p], {stored.input_next, next[p]});
      pending[p].clear();
    };
    int64_t n = kafka::read_committed_to_end(
        opt.brokers, opt.changelog_topic, starts,
        [&](const RdKafka::Message& m) {
          pending[m.partition()].push_back({m.key() ? *m.key() : std::string(),
                                            std::string(static_cast<const char*>(m.payload()), m.len())});
          next[m.partition()] = m.offset() + 1;
          if (pending[m.partition()].size() >= 10000) flush(m.partition());
        },
        std::chrono::milliseconds(opt.restore_timeout_ms));
    for (auto& [p, records] : pending) flush(p);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    probe.restores.inc();
    probe.restored_records.inc(static_cast<double>(n));
    probe.restore_seconds.observe(secs);
    log_info(kLog, "restored " + std::to_string(n) + " changelog records for " + std::to_string(partitions.size()) +
                       " partitions in " + std::to_string(secs) + " s");
  }

  // 4. Collect a batch: up to batch_max_commands, or batch_max_ms after its first command.
  void collect(const std::atomic<bool>& stop) {
    std::string error;
    auto code = kafka::collect_batch(*consumer, batch, static_cast<size_t>(opt.batch_max_commands), opt.batch_max_ms,
                                     [&] { return !stop && fatal.empty(); }, error);
    if (code == RdKafka::ERR_NO_ERROR) return;
    log_warn(kLog, "consume: " + error);
    if (code == RdKafka::ERR__FATAL) fatal = "consumer fatal error: " + error;
  }

  bool produce(const std::string& topic, int32_t partition, const std::string& key, const std::string& value) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      auto code = producer->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                                    const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0,
                                    nullptr);
      if (code == RdKafka::ERR_NO_ERROR) return true;
      if (code != RdKafka::ERR__QUEUE_FULL) {
        log_warn(kLog, "produce to " + topic + ": " + RdKafka::err2str(code));
        return false;
      }
      producer->poll(50);
    }
    log_warn(kLog, "produce to " + topic + ": queue stayed full");
    return false;
  }

  // Runs a transactional call, retrying while librdkafka says the error is retriable.
  template <typename Call>
  TxnStep txn_call(const char* what, Call call) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      ErrorPtr e{call()};
      if (!e) return TxnStep::kOk;
      if (e->is_fatal()) {
        fatal = std::string(what) + ": " + e->str();
        return TxnStep::kFatal;
      }
      if (e->txn_requires_abort()) {
        log_warn(kLog, std::string(what) + " needs an abort: " + e->str());
        return TxnStep::kAbort;
      }
      if (!e->is_retriable()) {
        fatal = std::string(what) + ": " + e->str();
        return TxnStep::kFatal;
      }
      log_warn(kLog, std::string(what) + " retry: " + e->str());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return TxnStep::kAbort;
  }

  // 5. On an abortable error: abort, forget the overlay (the caller drops it), rewind to the
  // committed offsets so the same commands are decided again.
  void abort_and_rewind() {
    probe.aborts.inc();
    if (txn_call("abort_transaction", [&] { return producer->abort_transaction(opt.transaction_timeout_ms); }) !=
        TxnStep::kOk) {
      if (fatal.empty()) fatal = "abort_transaction failed";
      return;
    }
    batch.clear();
    PartitionList parts;
    if (auto code = consumer->assignment(parts.items); code != RdKafka::ERR_NO_ERROR) {
      fatal = "assignment: " + RdKafka::err2str(code);
      return;
    }
    if (auto code = consumer->committed(parts.items, opt.transaction_timeout_ms); code != RdKafka::ERR_NO_ERROR) {
      fatal = "committed offsets: " + RdKafka::err2str(code);
      return;
    }
    for (auto* tp : parts.items) {
      if (tp->offset() < 0) tp->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
      if (auto code = consumer->seek(*tp, 5000); code != RdKafka::ERR_NO_ERROR) {
        fatal = "seek: " + RdKafka::err2str(code);
        return;
      }
    }
    log_warn(kLog, "transaction aborted; rewound " + std::to_string(parts.items.size()) + " partitions");
  }

  // 6. One batch, one transaction: decisions + changelog + input offsets; RocksDB after the commit.
  void process_batch() {
    auto started = std::chrono::steady_clock::now();
    if (ErrorPtr e{producer->begin_transaction()}) {
      fatal = "begin_transaction: " + e->str();
      return;
    }
    deliveries.reset();
    Overlay overlay;
    std::map<int32_t, int64_t> next_offset;
    std::map<std::string, int> outcomes;
    std::map<std::string, std::pair<int64_t, int64_t>> event_levels;  // event -> (stock, issued) after the batch
    bool produced = true;
    for (const auto& m : batch) {
      int32_t p = m->partition();
      next_offset[p] = m->offset() + 1;
      topics::Command command;
      try {
        command = topics::decode_command(std::string_view(static_cast<const char*>(m->payload()), m->len()));
      } catch (const topics::DecodeError& e) {
        probe.poison.inc();
        log_warn(kLog, "skipping undecodable command at " + std::to_string(p) + "/" + std::to_string(m->offset()) +
                           ": " + e.what());
        continue;
      }
      auto result = decide(OverlayView(store, overlay, p), command, {p, m->offset()}, now_ms());
      if (!result) {
        ++outcomes["repeated_request"];
        continue;
      }
      produced = produced && produce(opt.decisions_topic, p, command.event_id(), topics::encode(result->decision));
      for (auto& w : result->writes) {
        produced = produced && produce(opt.changelog_topic, p, w.key, w.value);
        overlay[p][w.key] = std::move(w.value);
      }
      ++outcomes[std::string(topics::to_string(result->decision.outcome))];
      // Only these decisions move an event's levels; both carry enough to know stock and issued.
      if (const auto& d = result->decision; d.coupon_seq) {
        event_levels[d.event_id] = {*d.coupon_seq + d.remaining, *d.coupon_seq};
      } else if (d.event) {
        event_levels[d.event_id] = {d.event->stock, d.event->stock - d.remaining};
      }
      if (!produced) break;
    }
    if (!produced) return abort_and_rewind();

    PartitionList offsets;
    for (const auto& [p, next] : next_offset) {
      offsets.items.push_back(RdKafka::TopicPartition::create(opt.commands_topic, p, next));
    }
    std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(consumer->groupMetadata());
    auto step = txn_call("send_offsets_to_transaction", [&] {
      return producer->send_offsets_to_transaction(offsets.items, group.get(), opt.transaction_timeout_ms);
    });
    if (step == TxnStep::kOk) {
      step = txn_call("commit_transaction", [&] { return producer->commit_transaction(opt.transaction_timeout_ms); });
    }
    if (step == TxnStep::kAbort) return abort_and_rewind();
    if (step == TxnStep::kFatal) return;

    // Committed: now, and only now, the state store reflects the batch.
    for (const auto& [p, next] : next_offset) {
      std::vector<state::Record> records;
      for (auto& [k, v] : overlay[p]) records.push_back({k, std::move(v)});
      auto stored = store.offsets(p);
      auto cl = deliveries.changelog_next.find(p);
      int64_t changelog_next = cl == deliveries.changelog_next.end() ? stored.changelog_next
                                                                     : std::max(stored.changelog_next, cl->second);
      store.commit(p, records, {next, changelog_next});
    }
    // For the lag metric only (auto commit is off, so stored offsets are never committed by the consumer).
    if (auto code = consumer->offsets_store(offsets.items); code != RdKafka::ERR_NO_ERROR) {
      log_warn(kLog, "offsets_store (lag metric only): " + RdKafka::err2str(code));
    }
    for (const auto& [outcome, n] : outcomes) probe.commands.with({{"outcome", outcome}}).inc(n);
    for (const auto& [event, levels] : event_levels) {
      probe.event_stock.with({{"event_id", event}}).set(static_cast<double>(levels.first));
      probe.event_issued.with({{"event_id", event}}).set(static_cast<double>(levels.second));
    }
    probe.batch_size.observe(static_cast<double>(batch.size()));
    probe.commit_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    batch.clear();
  }

  int run(const std::atomic<bool>& stop) {
    create_producer();
    create_consumer();
    log_info(kLog, "running as " + opt.instance_id + " in group " + opt.group_id);
    while (!stop && fatal.empty()) {
      collect(stop);
      if (!batch.empty() && fatal.empty()) process_batch();
      producer->poll(0);
    }
    if (!fatal.empty()) {
      log_error(kLog, "fatal: " + fatal + "; exiting for the supervisor to restart");
      return 1;
    }
    // Graceful stop: no transaction is open between batches, so leaving the group is all that is left.
    consumer->close();
    producer->flush(5000);
    log_info(kLog, "stopped cleanly");
    return 0;
  }
};

Runner::Runner(RunnerOptions options, state::StateStore& store, RunnerProbe& probe)
    : impl_(std::make_unique<Impl>(std::move(options), store, probe)) {}
Runner::~Runner() = default;

int Runner::run(const std::atomic<bool>& stop) {
  try {
    return impl_->run(stop);
  } catch (const std::exception& e) {
    log_error(kLog, std::string("fatal: ") + e.what());
    return 1;
  }
}

}  // namespace allot::processors
