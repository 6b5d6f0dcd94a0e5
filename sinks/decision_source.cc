#include "sinks/decision_source.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/kafka.h"
#include "common/log.h"

namespace allot::sinks {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::chrono::milliseconds Backoff::next() {
  auto current = std::min(next_, max_);
  next_ = std::min(current * 2, max_);
  return current;
}

SourceProbe::SourceProbe(metrics::Registry& r, const std::string& name)
    : sink(name),
      decisions(r.counter("allot_sink_decisions_total", "Decisions projected and committed").with({{"sink", name}})),
      batches(r.counter("allot_sink_batches_total", "Batches projected and committed").with({{"sink", name}})),
      batch_seconds(r.histogram("allot_sink_batch_seconds", "Apply and offset commit of one batch, retries included")
                        .with({{"sink", name}})),
      apply_seconds(
          r.histogram("allot_sink_apply_seconds", "The projection's write of one batch (a successful attempt)")
              .with({{"sink", name}})),
      commit_seconds(r.histogram("allot_sink_offset_commit_seconds", "The synchronous offset commit of one batch")
                         .with({{"sink", name}})),
      batch_size(
          r.histogram("allot_sink_batch_records", "Records per batch", {1, 10, 50, 100, 250, 500, 1000, 2500, 5000})
              .with({{"sink", name}})),
      decision_age(
          r.histogram("allot_sink_decision_age_seconds", "Time from a decision to its projection being committed")
              .with({{"sink", name}})),
      retries(r.counter("allot_sink_retries_total", "Failed batch applies, each retried").with({{"sink", name}})),
      undecodable(r.counter("allot_sink_undecodable_total", "Records skipped because they are not a decision")
                      .with({{"sink", name}})),
      commit_failures(r.counter("allot_sink_offset_commit_failures_total",
                                "Offset commits that failed (the batch is re-delivered and re-applied)")
                          .with({{"sink", name}})),
      lag(r.gauge("allot_sink_consumer_lag", "Decisions not yet projected, by partition (librdkafka statistics)")),
      healthy(r.gauge("allot_sink_healthy", "1 when /healthz answers 200").with({{"sink", name}})),
      assigned(r.gauge("allot_sink_assigned_partitions", "Partitions assigned to this sink").with({{"sink", name}})) {}

struct DecisionSource::Impl : RdKafka::RebalanceCb, RdKafka::EventCb {
  SourceOptions opt;
  Projection& projection;
  SourceProbe& probe;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  kafka::Batch batch;
  std::string fatal;                             // set on a fatal Kafka error (run thread only); the loop exits with it
  std::map<int32_t, int64_t> committed_offsets;  // what this member last committed, per partition it holds

  // What health() reports; written by the run thread, read by the ops server's thread.
  mutable std::mutex mu;
  std::string projection_error;  // the last apply/check failure, until one succeeds
  std::string kafka_error;       // all brokers down, until statistics show one up again
  std::chrono::steady_clock::time_point failing_since;
  std::string fatal_reported;  // a copy of `fatal` for health()

  std::string log_name;  // "sink-mysql", "sink-redis"

  Impl(SourceOptions o, Projection& p, SourceProbe& pr)
      : opt(std::move(o)), projection(p), probe(pr), log_name("sink-" + pr.sink) {}

  // 1. The consumer (kafka::make_group_consumer): read_committed, so aborted processor transactions never
  // reach a projection; offsets committed by hand, after the projection wrote the batch; a new group
  // projects the whole topic from the earliest offset.
  void create_consumer() {
    kafka::Settings settings{{"bootstrap.servers", opt.brokers},
                             {"group.id", opt.group_id},
                             {"client.id", opt.instance_id.empty() ? opt.group_id : opt.instance_id},
                             // a failing database keeps the loop out of consume() while it retries
                             {"max.poll.interval.ms", std::to_string(opt.max_poll_interval_ms)},
                             {"fetch.min.bytes", std::to_string(opt.fetch_min_bytes)},
                             {"fetch.wait.max.ms", std::to_string(opt.fetch_wait_max_ms)}};
    if (!opt.instance_id.empty()) settings["group.instance.id"] = opt.instance_id;
    consumer = kafka::make_group_consumer(std::move(settings), opt.topic, this, this);
  }

  // 2. Rebalance: records of a revoked partition are dropped from the batch in hand; whoever owns
  // the partition next reads them again from the committed offset. A failed assign() or unassign()
  // is fatal: the group would count partitions as ours that we do not consume (or the reverse), so
  // the loop exits non-zero and the supervisor's restart rejoins cleanly. No exception leaves here.
  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    committed_offsets.clear();  // a partition held again may have been committed by another member meanwhile
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (auto code = c->assign(partitions); code != RdKafka::ERR_NO_ERROR) {
        set_fatal("assign of " + std::to_string(partitions.size()) + " partitions failed: " + RdKafka::err2str(code));
        return;
      }
      probe.assigned.set(static_cast<double>(partitions.size()));
      log_info(log_name, "assigned " + std::to_string(partitions.size()) + " partitions of " + opt.topic);
      return;
    }
    // Revoke, or a rebalance error: either way librdkafka asks us to give up what we hold.
    if (err != RdKafka::ERR__REVOKE_PARTITIONS) log_warn(log_name, "rebalance error: " + RdKafka::err2str(err));
    std::set<int32_t> revoked;
    for (const auto* tp : partitions) {
      revoked.insert(tp->partition());
      probe.lag.with({{"sink", probe.sink}, {"partition", std::to_string(tp->partition())}}).set(0);
    }
    std::erase_if(batch, [&](const auto& m) { return revoked.count(m->partition()) > 0; });
    probe.assigned.set(0);
    if (auto code = c->unassign(); code != RdKafka::ERR_NO_ERROR) {
      set_fatal("unassign of " + std::to_string(partitions.size()) + " partitions failed: " + RdKafka::err2str(code));
      return;
    }
    log_info(log_name, "revoked " + std::to_string(partitions.size()) + " partitions");
  }

  // librdkafka statistics -> lag per partition; errors -> log and health. Served inside consume().
  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_STATS:
        on_statistics(e.str());
        break;
      case RdKafka::Event::EVENT_ERROR:
        log_warn(log_name, "kafka: " + e.str());
        if (e.err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
          std::lock_guard lock(mu);
          kafka_error = "kafka: all brokers down";
        }
        if (e.fatal()) set_fatal("kafka fatal error: " + e.str());
        break;
      default:
        break;
    }
  }

  void on_statistics(const std::string& text) {
    try {
      auto j = nlohmann::json::parse(text);
      bool broker_up = false;
      if (auto brokers = j.find("brokers"); brokers != j.end() && brokers->is_object()) {
        for (const auto& b : *brokers) {
          if (b.value("state", std::string()) == "UP" && b.value("nodeid", -1) >= 0) broker_up = true;
        }
      }
      if (broker_up) {
        std::lock_guard lock(mu);
        kafka_error.clear();
      }
      auto topics = j.find("topics");
      if (topics == j.end() || !topics->contains(opt.topic)) return;  // before the first fetch
      const auto& partitions = (*topics)[opt.topic].at("partitions");
      for (const auto& [p, info] : partitions.items()) {
        if (p == "-1") continue;
        int64_t lag = info.value("consumer_lag", int64_t{-1});
        if (lag < 0) continue;  // not assigned here, or no committed offset known yet
        probe.lag.with({{"sink", probe.sink}, {"partition", p}}).set(static_cast<double>(lag));
      }
    } catch (const std::exception& e) {
      log_warn(log_name, std::string("unreadable librdkafka statistics: ") + e.what());
    }
  }

  // 3. Collect a batch: up to batch_max records, or batch_max_ms after its first one. An empty return
  // lets the loop look at `stop` and the idle check.
  void collect(const std::atomic<bool>& stop) {
    std::string error;
    auto code = kafka::collect_batch(
        *consumer, batch, static_cast<size_t>(opt.batch_max), opt.batch_max_ms, [&] { return !stop && fatal.empty(); },
        error);
    if (code == RdKafka::ERR_NO_ERROR) return;
    log_warn(log_name, "consume: " + error);
    if (code == RdKafka::ERR__FATAL) set_fatal("consumer fatal error: " + error);
  }

  // 4. Decode; a record that is not a decision is counted, logged and skipped (its offset is
  // still committed with the batch: it would fail the same way forever).
  std::vector<topics::Decision> decode() {
    std::vector<topics::Decision> out;
    out.reserve(batch.size());
    for (const auto& m : batch) {
      try {
        out.push_back(topics::decode_decision(std::string_view(static_cast<const char*>(m->payload()), m->len())));
      } catch (const std::exception& e) {
        probe.undecodable.inc();
        log_warn(log_name, "skipping undecodable record at " + opt.topic + "/" + std::to_string(m->partition()) + "@" +
                               std::to_string(m->offset()) + ": " + e.what());
      }
    }
    return out;
  }

  // The first fatal error is the one reported; later ones (close() revoking after a failed
  // unassign, say) are only logged.
  void set_fatal(const std::string& why) {
    if (!fatal.empty()) {
      log_error(log_name, "also: " + why);
      return;
    }
    fatal = why;
    std::lock_guard lock(mu);
    fatal_reported = why;
  }

  void set_projection_error(const std::string& why) {
    std::lock_guard lock(mu);
    if (projection_error.empty()) failing_since = std::chrono::steady_clock::now();
    projection_error = why;
  }

  // Clears the projection error; returns whether there was one.
  bool clear_projection_error() {
    std::lock_guard lock(mu);
    bool was = !projection_error.empty();
    projection_error.clear();
    return was;
  }

  // 5. Apply until it succeeds: backoff between attempts, never skipping the batch. Returns false
  // only when asked to stop while the projection still fails (the batch stays uncommitted).
  bool apply_until_done(const std::vector<topics::Decision>& decisions, const std::atomic<bool>& stop) {
    Backoff backoff(std::chrono::milliseconds(opt.backoff_min_ms), std::chrono::milliseconds(opt.backoff_max_ms));
    for (int attempt = 1;; ++attempt) {
      try {
        auto started = std::chrono::steady_clock::now();
        projection.apply(decisions);
        probe.apply_seconds.observe(seconds_since(started));
        if (clear_projection_error())
          log_info(log_name, "projection recovered after " + std::to_string(attempt) + " attempts; resuming");
        return true;
      } catch (const std::exception& e) {
        probe.retries.inc();
        probe.healthy.set(0);
        set_projection_error(e.what());
        auto delay = backoff.next();
        log_warn(log_name, "apply of " + std::to_string(decisions.size()) + " decisions failed (attempt " +
                               std::to_string(attempt) + "): " + e.what() + "; retrying in " +
                               std::to_string(delay.count()) + " ms");
        // Sleep in small steps so that SIGTERM is not kept waiting by a long backoff.
        auto until = std::chrono::steady_clock::now() + delay;
        while (std::chrono::steady_clock::now() < until) {
          if (stop) {
            log_warn(log_name, "stopping with an unapplied batch of " + std::to_string(decisions.size()) +
                                   " decisions; it is re-delivered on the next start");
            return false;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    }
  }

  // 6. Commit the offsets after the batch, synchronously: the consumer's position on every assigned
  // partition. librdkafka moves it past the transaction markers and aborted records a read_committed
  // consumer is never handed (in order, with the records), so a partition that ends with a marker
  // counts as consumed; the last record's offset + 1 would leave it one behind forever. Every record
  // consumed so far is in the batch, so the position never skips an unapplied one. A failure (a
  // rebalance took the partition) loses nothing: the batch is read again from the last committed
  // offset and applied again.
  bool commit(bool idle = false) {
    std::map<int32_t, int64_t> next = positions();
    for (const auto& m : batch) next[m->partition()] = std::max(next[m->partition()], m->offset() + 1);
    kafka::PartitionList offsets;
    for (const auto& [p, n] : next) {
      if (auto it = committed_offsets.find(p); it == committed_offsets.end() || it->second != n)
        offsets.items.push_back(RdKafka::TopicPartition::create(opt.topic, p, n));
    }
    if (offsets.items.empty()) return true;
    auto code = consumer->commitSync(offsets.items);
    if (code == RdKafka::ERR_NO_ERROR) {
      for (const auto* tp : offsets.items) {
        if (tp->err() != RdKafka::ERR_NO_ERROR) code = tp->err();
      }
    }
    if (code != RdKafka::ERR_NO_ERROR) {
      if (idle) return false;  // only markers moved (a rebalance, say): the next idle loop tries again, quietly
      probe.commit_failures.inc();
      log_warn(log_name,
               "offset commit failed (the batch will be re-applied, which changes nothing): " + RdKafka::err2str(code));
      return false;
    }
    for (const auto* tp : offsets.items) committed_offsets[tp->partition()] = tp->offset();
    return true;
  }

  // The consumer's position on each assigned partition that has one (none before its first fetch).
  std::map<int32_t, int64_t> positions() {
    std::map<int32_t, int64_t> out;
    kafka::PartitionList assigned;
    if (consumer->assignment(assigned.items) != RdKafka::ERR_NO_ERROR) return out;
    if (consumer->position(assigned.items) != RdKafka::ERR_NO_ERROR) return out;
    for (const auto* tp : assigned.items) {
      if (tp->err() == RdKafka::ERR_NO_ERROR && tp->offset() >= 0) out[tp->partition()] = tp->offset();
    }
    return out;
  }

  void process_batch(const std::atomic<bool>& stop, bool& abandoned) {
    auto started = std::chrono::steady_clock::now();
    auto decisions = decode();
    if (!decisions.empty() && !apply_until_done(decisions, stop)) {
      abandoned = true;
      return;
    }
    auto commit_started = std::chrono::steady_clock::now();
    bool committed = commit();
    probe.commit_seconds.observe(seconds_since(commit_started));
    probe.batch_seconds.observe(seconds_since(started));
    probe.batch_size.observe(static_cast<double>(batch.size()));
    if (committed) {
      probe.batches.inc();
      probe.decisions.inc(static_cast<double>(decisions.size()));
      int64_t now = now_ms();
      for (const auto& d : decisions) probe.decision_age.observe(static_cast<double>(now - d.decided_at) / 1000.0);
    }
    batch.clear();
  }

  // While idle, ask the projection whether its target answers, every idle_check_ms.
  void idle_check(std::chrono::steady_clock::time_point& last) {
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(opt.idle_check_ms)) return;
    last = now;
    try {
      projection.check();
      if (clear_projection_error()) log_info(log_name, "projection target answers again");
    } catch (const std::exception& e) {
      bool first;
      {
        std::lock_guard lock(mu);
        first = projection_error.empty();
      }
      set_projection_error(e.what());
      if (first) log_warn(log_name, std::string("projection target unreachable: ") + e.what());
    }
  }

  int run(const std::atomic<bool>& stop) {
    create_consumer();
    log_info(log_name, "consuming " + opt.topic + " in group " + opt.group_id);
    auto last_check = std::chrono::steady_clock::time_point{};
    bool abandoned = false;
    while (!stop && fatal.empty() && !abandoned) {
      collect(stop);
      if (!batch.empty() && fatal.empty()) {
        process_batch(stop, abandoned);
        last_check = std::chrono::steady_clock::now();  // a batch that went through is a fresh check
      } else if (fatal.empty()) {
        commit(true);  // markers and aborted records consumed since the last batch (nothing to apply)
        idle_check(last_check);
      }
      probe.healthy.set(health().empty() ? 1 : 0);
    }
    // (A stop during collect() returns the partial batch, which the loop above still applied and
    // committed: "finish the batch, commit, close".)
    if (!fatal.empty()) {
      log_error(log_name, fatal);
      close_consumer();  // leave the group now, so our partitions do not wait out a session timeout
      return 1;
    }
    if (!close_consumer()) return 1;
    log_info(log_name, "stopped");
    return 0;
  }

  // Leaves the group (revoking through rebalance_cb) and closes the consumer. Returns false, logged,
  // when close fails: then the group only learns of our leaving by the session timeout.
  bool close_consumer() {
    if (auto code = consumer->close(); code != RdKafka::ERR_NO_ERROR) {
      log_error(log_name, "consumer close: " + RdKafka::err2str(code));
      return false;
    }
    return true;
  }

  std::string health() const {
    std::lock_guard lock(mu);
    if (!fatal_reported.empty()) return fatal_reported;
    if (!projection_error.empty()) {
      auto secs = static_cast<int64_t>(seconds_since(failing_since));
      return projection_error + " (failing for " + std::to_string(secs) + " s; retrying, nothing skipped)";
    }
    return kafka_error;
  }
};

DecisionSource::DecisionSource(SourceOptions options, Projection& projection, SourceProbe& probe)
    : impl_(std::make_unique<Impl>(std::move(options), projection, probe)) {
  if (impl_->opt.group_id.empty()) throw std::invalid_argument("DecisionSource: group_id is required");
}

DecisionSource::~DecisionSource() = default;

int DecisionSource::run(const std::atomic<bool>& stop) { return impl_->run(stop); }

std::string DecisionSource::health() const { return impl_->health(); }

}  // namespace allot::sinks
