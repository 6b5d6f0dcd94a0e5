#include "processors/runner.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "common/log.h"
#include "processors/domain.h"

namespace allot::processors {

namespace {

constexpr const char* kLog = "processor";

// A changelog key no domain key can be (those start with "e/", "u/", "r/"): every batch writes the next
// command offset of each partition it consumed under it, in the same transaction as the group's offsets.
// A restore that ends below the committed offset has not seen the previous owner's last batches yet.
constexpr const char* kInputNextKey = "m/input_next";

// Uncommitted state changes of the open batch, per partition (no value: deleted in this batch).
using Overlay = std::unordered_map<int32_t, std::unordered_map<std::string, std::optional<std::string>>>;

// decide() sees the batch's own changes first, then the store.
class OverlayView : public StateView {
 public:
  OverlayView(const state::Store& store, const Overlay& overlay, int32_t partition)
      : store_(store), overlay_(overlay), partition_(partition) {}
  std::optional<std::string> get(const std::string& key) const override {
    if (auto p = overlay_.find(partition_); p != overlay_.end()) {
      if (auto it = p->second.find(key); it != p->second.end()) return it->second;
    }
    return store_.get(partition_, key);
  }
  // The store's records merged with the batch's changes (rare: delete_event), so a copy in order serves.
  void scan(std::string_view prefix, const OnRecord& on_record) const override {
    std::map<std::string, std::optional<std::string>> merged;
    store_.scan(partition_, prefix,
                [&](std::string_view k, std::string_view v) { merged[std::string(k)] = std::string(v); });
    if (auto p = overlay_.find(partition_); p != overlay_.end()) {
      for (const auto& [k, v] : p->second) {
        if (k.starts_with(prefix)) merged[k] = v;
      }
    }
    for (const auto& [k, v] : merged) {
      if (v) on_record(k, *v);
    }
  }

 private:
  const state::Store& store_;
  const Overlay& overlay_;
  int32_t partition_;
};

enum class TxnStep { kOk, kAbort, kFatal };

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

RunnerProbe::RunnerProbe(metrics::Registry& r, size_t max_event_series)
    : commands(r.counter("allot_processor_commands_total", "Commands decided, by outcome")),
      batch_size(r.histogram("allot_processor_batch_commands", "Commands per transaction",
                             {1, 10, 50, 100, 250, 500, 1000, 2500, 5000})
                     .with()),
      commit_seconds(
          r.histogram("allot_processor_commit_seconds", "Time from begin to commit of a transaction").with()),
      aborts(r.counter("allot_processor_aborts_total", "Transactions aborted").with()),
      poison(r.counter("allot_processor_poison_commands_total", "Undecodable commands skipped").with()),
      restores(r.counter("allot_processor_restores_total", "Partition restores from the changelog").with()),
      restored_records(r.counter("allot_processor_restored_records_total", "Changelog records restored").with()),
      restore_seconds(r.histogram("allot_processor_restore_seconds", "Duration of a restore").with()),
      state_resets(r.counter("allot_processor_state_resets_total",
                             "Partitions whose local state was dropped and fully restored (another cluster's, "
                             "or ahead of the changelog or of the group's offsets)")
                       .with()),
      lag(r.gauge("allot_processor_consumer_lag", "Commands not yet consumed, per partition")),
      assigned(r.gauge("allot_processor_assigned_partitions", "Partitions this instance owns").with()),
      event_stock(r.gauge("allot_event_stock", "Stock of an event, per event")),
      event_issued(r.gauge("allot_event_issued", "Units issued so far, per event")),
      max_event_series_(std::max<size_t>(max_event_series, 1)) {}

void RunnerProbe::set_event_levels(const std::string& event_id, int64_t stock, int64_t issued) {
  if (auto it = event_slot_.find(event_id); it != event_slot_.end()) {
    recent_events_.splice(recent_events_.begin(), recent_events_, it->second);
  } else {
    recent_events_.push_front(event_id);
    event_slot_[event_id] = recent_events_.begin();
    if (recent_events_.size() > max_event_series_) {
      const std::string& oldest = recent_events_.back();
      event_stock.remove({{"event_id", oldest}});
      event_issued.remove({{"event_id", oldest}});
      event_slot_.erase(oldest);
      recent_events_.pop_back();
    }
  }
  event_stock.with({{"event_id", event_id}}).set(static_cast<double>(stock));
  event_issued.with({{"event_id", event_id}}).set(static_cast<double>(issued));
}

struct Runner::Impl : RebalanceHandler {
  RunnerOptions opt;
  state::Store& store;
  RunnerProbe& probe;
  RunnerIo io;
  std::vector<InputRecord> batch;
  std::string fatal;  // set by any step; the loop exits with it

  Impl(RunnerOptions o, state::Store& s, RunnerProbe& p, RunnerIo i) : opt(std::move(o)), store(s), probe(p), io(i) {
    io.source.set_rebalance_handler(this);
  }
  ~Impl() override { io.source.set_rebalance_handler(nullptr); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // 1. Rebalance: restore before owning a partition; on revocation forget its uncommitted commands.
  void on_assigned(const std::vector<int32_t>& partitions) override {
    OffsetMap start;
    try {
      start = restore(partitions);
    } catch (const std::exception& e) {
      fatal = std::string("restore failed: ") + e.what();
      return;  // the loop exits and closes the consumer; the group reassigns the partitions
    }
    if (auto s = io.source.assign(start); !s.is_ok()) {
      fatal = "assign: " + s.message;
      return;
    }
    probe.assigned.set(static_cast<double>(partitions.size()));
    log_info(kLog, "assigned " + std::to_string(partitions.size()) + " partitions");
  }

  void on_revoked(const std::vector<int32_t>& partitions) override {
    std::set<int32_t> revoked(partitions.begin(), partitions.end());
    std::erase_if(batch, [&](const InputRecord& r) { return revoked.count(r.partition) > 0; });
    if (auto s = io.source.unassign(); !s.is_ok()) {
      fatal = "unassign: " + s.message;
      return;
    }
    probe.assigned.set(0);
    log_info(kLog, "revoked " + std::to_string(partitions.size()) + " partitions");
  }

  // Why the partition's local state cannot be trusted ("" when it can): it was restored from another
  // cluster (a purged or new broker) or another changelog topic (deleted and recreated: a new topic id),
  // or it claims more than the changelog or the group's offsets hold. Such state would make new requests
  // look decided, or decide without batches it never saw.
  static std::string distrust(const state::StoredOffsets& stored, const std::string& stored_lineage,
                              const std::string& lineage, int64_t changelog_end, int64_t committed) {
    bool has_state = stored.input_next > 0 || stored.changelog_next > 0;
    if (!has_state) return {};
    if (stored_lineage.empty()) return "its origin is unknown (written before lineage was recorded)";
    if (stored_lineage != lineage) return "it comes from " + stored_lineage + ", not " + lineage;
    if (stored.changelog_next > changelog_end) {
      return "it reflects changelog offset " + std::to_string(stored.changelog_next) + " but the changelog ends at " +
             std::to_string(changelog_end);
    }
    if (stored.input_next > std::max<int64_t>(committed, 0)) {
      return "it reflects command offset " + std::to_string(stored.input_next) + " but the group committed " +
             std::to_string(committed);
    }
    return {};
  }

  // Partitions whose restored state reflects fewer commands than the group committed ("" when none).
  // State written before the input marker existed has none: it is trusted as before.
  std::string changelog_behind(const std::vector<int32_t>& partitions, const OffsetMap& committed) const {
    std::string behind;
    for (int32_t p : partitions) {
      auto c = committed.find(p);
      auto mark = store.get(p, kInputNextKey);
      if (c == committed.end() || c->second < 0 || !mark) continue;
      if (int64_t restored = std::stoll(*mark); restored != c->second) {
        behind += (behind.empty() ? "" : ", ") + std::to_string(p) + ": restored to command " +
                  std::to_string(restored) + ", committed " + std::to_string(c->second);
      }
    }
    return behind;
  }

  // Brings the store up to date for `partitions` and returns where to start consuming each.
  // The order is Kafka Streams': first the group's committed offsets, stable (a previous owner's
  // transaction that already sent offsets for them has ended, so its changelog records are in the log);
  // then the changelog's end; then the restore up to it. Reading the end first could miss that owner's
  // last batch and then start consuming after it without its state: an oversell.
  OffsetMap restore(const std::vector<int32_t>& partitions) {
    auto started = std::chrono::steady_clock::now();
    OffsetMap committed;
    if (auto s = io.source.committed(partitions, committed); !s.is_ok()) {
      throw std::runtime_error("committed offsets: " + s.message);
    }
    OffsetMap end = io.changelog.end_offsets(partitions);
    const std::string lineage = io.source.cluster_id() + "/" + opt.changelog_topic + "/" + io.changelog.topic_id();
    OffsetMap from;
    for (int32_t p : partitions) {
      auto stored = store.offsets(p);
      auto stored_lineage = store.lineage(p);
      int64_t group = committed.count(p) ? committed[p] : -1;
      if (auto why = distrust(stored, stored_lineage, lineage, end[p], group); !why.empty()) {
        log_warn(kLog, "partition " + std::to_string(p) + ": dropping local state and restoring fully, because " + why);
        store.clear(p);
        probe.state_resets.inc();
        stored = {};
      }
      if (store.lineage(p) != lineage) store.set_lineage(p, lineage);
      from[p] = stored.changelog_next;
    }
    std::unordered_map<int32_t, std::vector<state::Record>> pending;
    auto flush = [&](int32_t p, int64_t changelog_next) {
      store.commit(p, pending[p], {store.offsets(p).input_next, changelog_next});
      pending[p].clear();
    };
    // The changelog's visible end can still lag the committed offsets: the transaction's commit markers
    // reach the offsets topic and the changelog's partitions separately, and a new partition leader can
    // answer a stale end. Read on until the restored state reflects every batch the group committed.
    int64_t n = 0;
    OffsetMap position = from;
    for (int attempt = 0;; ++attempt) {
      n += io.changelog.read(
          position, end, [&](int32_t p, int64_t offset, std::string_view key, std::optional<std::string_view> value) {
            // A tombstone (not yet compacted away) deletes the key, as a later value replaces it.
            pending[p].push_back({std::string(key), value ? std::optional<std::string>(*value) : std::nullopt});
            if (pending[p].size() >= 10000) flush(p, offset + 1);
          });
      for (int32_t p : partitions) {
        position[p] = std::max(end[p], position[p]);
        flush(p, position[p]);
      }
      auto behind = changelog_behind(partitions, committed);
      if (behind.empty()) break;
      if (seconds_since(started) * 1000 > opt.restore_timeout_ms) {
        throw std::runtime_error("the changelog still lags the group's committed offsets after " +
                                 std::to_string(opt.restore_timeout_ms) + " ms: " + behind);
      }
      if (attempt == 0)
        log_warn(kLog, "restore: the changelog lags the group's committed offsets (" + behind + "); reading on");
      std::this_thread::sleep_for(std::chrono::milliseconds(std::max(opt.retry_backoff_ms, 1)));
      if (auto s = io.source.committed(partitions, committed); !s.is_ok()) {
        throw std::runtime_error("committed offsets: " + s.message);
      }
      end = io.changelog.end_offsets(partitions);
    }
    OffsetMap start;
    for (int32_t p : partitions) {
      // The state now reflects every batch the group committed.
      int64_t group = committed.count(p) ? committed[p] : kFromBeginning;
      store.commit(p, {}, {std::max<int64_t>(group, 0), position[p]});
      start[p] = group;
    }
    double secs = seconds_since(started);
    probe.restores.inc();
    probe.restored_records.inc(static_cast<double>(n));
    probe.restore_seconds.observe(secs);
    log_info(kLog, "restored " + std::to_string(n) + " changelog records for " + std::to_string(partitions.size()) +
                       " partitions in " + std::to_string(secs) + " s");
    return start;
  }

  // 2. Collect a batch: up to batch_max_commands, or batch_max_ms after its first command, or sooner when
  //    nothing more comes for batch_idle_ms.
  void collect(const std::atomic<bool>& stop) {
    auto s = io.source.collect(batch, static_cast<size_t>(opt.batch_max_commands), opt.batch_max_ms, opt.batch_idle_ms,
                               [&] { return !stop && fatal.empty(); });
    if (s.is_ok()) return;
    log_warn(kLog, "consume: " + s.message);
    if (s.code == IoStatus::Code::kFatal && fatal.empty()) fatal = "consumer fatal error: " + s.message;
  }

  // Runs a transactional call, retrying while the error is retriable.
  template <typename Call>
  TxnStep txn_call(const char* what, Call call) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      IoStatus s = call();
      switch (s.code) {
        case IoStatus::Code::kOk:
          return TxnStep::kOk;
        case IoStatus::Code::kFatal:
          fatal = std::string(what) + ": " + s.message;
          return TxnStep::kFatal;
        case IoStatus::Code::kAbortable:
          log_warn(kLog, std::string(what) + " needs an abort: " + s.message);
          return TxnStep::kAbort;
        case IoStatus::Code::kRetriable:
          log_warn(kLog, std::string(what) + " retry: " + s.message);
          std::this_thread::sleep_for(std::chrono::milliseconds(opt.retry_backoff_ms));
          break;
      }
    }
    return TxnStep::kAbort;
  }

  // 3. On an abortable error: abort, forget the overlay (the caller drops it), rewind to the
  // committed offsets so the same commands are decided again.
  void abort_and_rewind() {
    probe.aborts.inc();
    batch.clear();
    if (txn_call("abort_transaction", [&] { return io.producer.abort(); }) != TxnStep::kOk) {
      if (fatal.empty()) fatal = "abort_transaction failed";
      return;
    }
    auto partitions = io.source.assignment();
    OffsetMap committed;
    if (auto s = io.source.committed(partitions, committed); !s.is_ok()) {
      fatal = "committed offsets: " + s.message;
      return;
    }
    for (int32_t p : partitions) {
      if (auto s = io.source.seek(p, committed.count(p) ? committed[p] : kFromBeginning); !s.is_ok()) {
        fatal = "seek: " + s.message;
        return;
      }
    }
    log_warn(kLog, "transaction aborted; rewound " + std::to_string(partitions.size()) + " partitions");
  }

  // 4. One batch, one transaction: decisions + emitted commands + changelog + input offsets; the store after
  //    the commit.
  void process_batch() {
    auto started = std::chrono::steady_clock::now();
    if (auto s = io.producer.begin(); !s.is_ok()) {
      fatal = "begin_transaction: " + s.message;
      return;
    }
    Overlay overlay;
    OffsetMap next_offset;
    std::map<std::string, int> outcomes;
    std::map<std::string, std::pair<int64_t, int64_t>> event_levels;  // event -> (stock, issued) after the batch
    IoStatus produced;
    for (const auto& m : batch) {
      int32_t p = m.partition;
      next_offset[p] = m.offset + 1;
      topics::Command command;
      try {
        command = topics::decode_command(m.value);
      } catch (const topics::DecodeError& e) {
        probe.poison.inc();
        log_warn(kLog, "skipping undecodable command at " + std::to_string(p) + "/" + std::to_string(m.offset) + ": " +
                           e.what());
        continue;
      }
      auto result = decide(OverlayView(store, overlay, p), command, {p, m.offset}, now_ms());
      if (!result) {
        ++outcomes["repeated_request"];
        continue;
      }
      if (result->publish) {
        produced = io.producer.produce_decision(p, command.key(), topics::encode(result->decision));
        ++outcomes[std::string(topics::to_string(result->decision.outcome))];
      }
      for (const auto& d : result->caused) {
        if (!produced.is_ok()) break;
        // Keyed like the command's own, unless it is about an event (an order's result is its wallet's).
        produced = io.producer.produce_decision(p, d.event_id.empty() ? command.key() : d.event_id, topics::encode(d));
        ++outcomes[std::string(topics::to_string(d.outcome))];
      }
      // In this transaction too: committed with the decision that caused them, or not at all.
      for (const auto& c : result->emitted) {
        if (!produced.is_ok()) break;
        produced = io.producer.produce_command(c.key(), topics::encode(c));
      }
      for (auto& w : result->writes) overlay[p][w.key] = std::move(w.value);
      if (!produced.is_ok()) break;
      // Only these decisions move an event's levels; both carry enough to know stock and issued.
      if (const auto& d = result->decision; d.outcome == topics::Outcome::kIssued && d.coupon_seq) {
        event_levels[d.event_id] = {*d.coupon_seq + d.remaining, *d.coupon_seq};
      } else if (d.event) {
        event_levels[d.event_id] = {d.event->stock, d.event->stock - d.remaining};
      }
    }
    for (const auto& [p, next] : next_offset) overlay[p][kInputNextKey] = std::to_string(next);
    // Each changed key once per batch, its last value (as Kafka Streams' cache does): the changelog is
    // compacted and restored in order, so the intermediate values of a batch would only cost.
    for (const auto& [p, changes] : overlay) {
      for (const auto& [key, value] : changes) {
        if (!produced.is_ok()) break;
        produced = io.producer.produce_changelog(p, key, value);
      }
    }
    if (!produced.is_ok()) {
      log_warn(kLog, "produce: " + produced.message);
      if (produced.code == IoStatus::Code::kFatal) {
        fatal = "produce: " + produced.message;
        return;
      }
      return abort_and_rewind();
    }

    auto step = txn_call("send_offsets_to_transaction", [&] { return io.producer.send_offsets(next_offset); });
    if (step == TxnStep::kOk) step = txn_call("commit_transaction", [&] { return io.producer.commit(); });
    if (step == TxnStep::kAbort) return abort_and_rewind();
    if (step == TxnStep::kFatal) return;

    // Committed: now, and only now, the store reflects the batch. A store failure from here on is
    // fatal: the restart restores this batch from the changelog (the stored offsets predate it).
    auto changelog_next = io.producer.changelog_next();
    for (const auto& [p, next] : next_offset) {
      std::vector<state::Record> records;
      for (auto& [k, v] : overlay[p]) records.push_back({k, std::move(v)});
      auto stored = store.offsets(p);
      auto cl = changelog_next.find(p);
      int64_t cl_next =
          cl == changelog_next.end() ? stored.changelog_next : std::max(stored.changelog_next, cl->second);
      store.commit(p, records, {next, cl_next});
    }
    io.source.record_progress(next_offset);
    for (const auto& [outcome, n] : outcomes) probe.commands.with({{"outcome", outcome}}).inc(n);
    for (const auto& [event, levels] : event_levels) probe.set_event_levels(event, levels.first, levels.second);
    probe.batch_size.observe(static_cast<double>(batch.size()));
    probe.commit_seconds.observe(seconds_since(started));
    batch.clear();
  }

  bool step(const std::atomic<bool>& stop) {
    try {
      collect(stop);
      if (!batch.empty() && fatal.empty()) process_batch();
    } catch (const std::exception& e) {
      if (fatal.empty()) fatal = e.what();
    }
    return fatal.empty();
  }

  int run(const std::atomic<bool>& stop) {
    log_info(kLog, "running as " + opt.instance_id + " in group " + opt.group_id);
    while (!stop && step(stop)) {
    }
    // Fatal or not, leave the group now: its partitions move at once instead of after a session timeout.
    // No transaction is open between batches (a fatal one is abandoned; the coordinator aborts it).
    io.source.close();
    if (!fatal.empty()) {
      log_error(kLog, "fatal: " + fatal + "; exiting for the supervisor to restart");
      return 1;
    }
    log_info(kLog, "stopped cleanly");
    return 0;
  }
};

Runner::Runner(RunnerOptions options, state::Store& store, RunnerProbe& probe, RunnerIo io)
    : impl_(std::make_unique<Impl>(std::move(options), store, probe, io)) {}
Runner::~Runner() = default;

int Runner::run(const std::atomic<bool>& stop) { return impl_->run(stop); }
bool Runner::step(const std::atomic<bool>& stop) { return impl_->step(stop); }
const std::string& Runner::fatal_error() const { return impl_->fatal; }

}  // namespace allot::processors
