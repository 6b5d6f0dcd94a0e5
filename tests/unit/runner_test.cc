// The runner's batch state machine, driven through fakes of its I/O (processors/io.h): no broker.
// The fakes model just what exactly-once depends on: committed records and group offsets appear only
// when a transaction commits, and a committed-offset fetch waits for a transaction that already sent
// offsets (KIP-447's stable offsets). The store is the real RocksDB one in a temporary folder.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "processors/domain.h"
#include "processors/runner.h"
#include "state/store.h"

namespace allot::processors {
namespace {

// The topics and the group, as committed.
struct FakeCluster {
  struct Record {
    std::string key;
    std::optional<std::string> value;  // none: a tombstone
  };
  struct Txn {
    std::map<int32_t, std::vector<Record>> changelog;
    std::map<int32_t, std::vector<std::string>> decisions;
    std::vector<std::string> emitted;  // commands for other partitions
    OffsetMap offsets;
  };
  std::string cluster_id = "cluster-a";
  std::string changelog_id = "topic-1";
  std::map<int32_t, std::vector<std::string>> commands;
  std::map<int32_t, std::vector<Record>> changelog;
  std::map<int32_t, std::vector<std::string>> decisions;
  std::vector<std::string> emitted;
  OffsetMap group_offsets;
  std::optional<Txn> pending;  // a transaction that sent offsets and has not committed yet

  void apply(const Txn& t) {
    for (const auto& [p, records] : t.changelog)
      changelog[p].insert(changelog[p].end(), records.begin(), records.end());
    for (const auto& [p, values] : t.decisions) decisions[p].insert(decisions[p].end(), values.begin(), values.end());
    for (const auto& [p, next] : t.offsets) group_offsets[p] = next;
    emitted.insert(emitted.end(), t.emitted.begin(), t.emitted.end());
  }
  // The pending transaction's commit reaches the coordinator.
  void settle() {
    if (pending) apply(*pending);
    pending.reset();
  }
  void append(int32_t partition, const topics::Command& c) { commands[partition].push_back(topics::encode(c)); }

  std::vector<topics::Decision> all_decisions() const {
    std::vector<topics::Decision> out;
    for (const auto& [p, values] : decisions) {
      for (const auto& v : values) out.push_back(topics::decode_decision(v));
    }
    return out;
  }
};

// A scripted event inside collect(): after `after_records` records of this call, run `action`.
struct CollectEvent {
  size_t after_records = 0;
  std::function<void(RebalanceHandler&)> action;
};

class FakeSource : public CommandSource {
 public:
  explicit FakeSource(FakeCluster& c) : c_(c) {}
  void set_rebalance_handler(RebalanceHandler* h) override { handler_ = h; }

  // Events run at the next collect() call, in order.
  std::deque<CollectEvent> events;

  IoStatus collect(std::vector<InputRecord>& batch, size_t max_records, int /*max_ms*/, int /*idle_ms*/,
                   const std::function<bool()>& keep_going) override {
    size_t added = 0;
    auto run_due = [&] {
      while (!events.empty() && events.front().after_records <= added && handler_) {
        auto e = std::move(events.front());
        events.pop_front();
        e.action(*handler_);
      }
    };
    run_due();
    for (bool progress = true; progress && batch.size() < max_records && keep_going();) {
      progress = false;
      for (int32_t p : assigned_) {
        auto& pos = position_[p];
        const auto& log = c_.commands[p];
        if (pos < static_cast<int64_t>(log.size()) && batch.size() < max_records) {
          batch.push_back({p, pos, log[static_cast<size_t>(pos)]});
          ++pos;
          ++added;
          progress = true;
          run_due();
        }
      }
    }
    run_due();
    return IoStatus::ok();
  }

  IoStatus committed(const std::vector<int32_t>& partitions, OffsetMap& out) override {
    ++committed_fetches;
    c_.settle();  // a stable fetch waits until the open transaction with offsets has ended
    for (int32_t p : partitions) {
      if (auto it = c_.group_offsets.find(p); it != c_.group_offsets.end()) out[p] = it->second;
    }
    return IoStatus::ok();
  }
  IoStatus assign(const OffsetMap& start) override {
    assigned_.clear();
    for (const auto& [p, offset] : start) {
      assigned_.push_back(p);
      position_[p] = offset == kFromBeginning ? 0 : offset;
    }
    return assign_status;
  }
  IoStatus unassign() override {
    assigned_.clear();
    return IoStatus::ok();
  }
  IoStatus seek(int32_t partition, int64_t offset) override {
    position_[partition] = offset == kFromBeginning ? 0 : offset;
    return IoStatus::ok();
  }
  std::vector<int32_t> assignment() override { return assigned_; }
  std::string cluster_id() override { return c_.cluster_id; }
  void close() override { closed = true; }

  bool closed = false;
  int committed_fetches = 0;
  IoStatus assign_status;

 private:
  FakeCluster& c_;
  RebalanceHandler* handler_ = nullptr;
  std::vector<int32_t> assigned_;
  std::map<int32_t, int64_t> position_;
};

class FakeProducer : public TxnProducer {
 public:
  explicit FakeProducer(FakeCluster& c) : c_(c) {}
  // Statuses to answer, per call name, before behaving normally.
  std::map<std::string, std::deque<IoStatus>> inject;
  // Commit leaves the transaction pending in the cluster (a previous owner about to commit).
  bool hold_commit = false;

  IoStatus begin() override {
    if (auto s = injected("begin"); !s.is_ok()) return s;
    txn_ = FakeCluster::Txn{};
    open_ = true;
    return IoStatus::ok();
  }
  IoStatus produce_decision(int32_t p, std::string_view, std::string_view value) override {
    if (auto s = injected("produce"); !s.is_ok()) return s;
    EXPECT_TRUE(open_);
    txn_.decisions[p].emplace_back(value);
    return IoStatus::ok();
  }
  IoStatus produce_command(std::string_view, std::string_view value) override {
    EXPECT_TRUE(open_);
    txn_.emitted.emplace_back(value);
    return IoStatus::ok();
  }
  IoStatus produce_changelog(int32_t p, std::string_view key, std::optional<std::string_view> value) override {
    EXPECT_TRUE(open_);
    txn_.changelog[p].push_back({std::string(key), value ? std::optional<std::string>(*value) : std::nullopt});
    return IoStatus::ok();
  }
  IoStatus send_offsets(const OffsetMap& next) override {
    if (auto s = injected("send_offsets"); !s.is_ok()) return s;
    txn_.offsets = next;
    return IoStatus::ok();
  }
  IoStatus commit() override {
    if (auto s = injected("commit"); !s.is_ok()) return s;
    EXPECT_TRUE(open_);
    last_changelog_next_.clear();
    for (const auto& [p, records] : txn_.changelog) {
      // offsets the records get once committed (after any transaction committed before this one)
      size_t before = c_.changelog[p].size() + (c_.pending ? c_.pending->changelog[p].size() : 0);
      last_changelog_next_[p] = static_cast<int64_t>(before + records.size());
    }
    if (hold_commit) {
      c_.pending = txn_;
    } else {
      c_.apply(txn_);
    }
    open_ = false;
    ++commits;
    return IoStatus::ok();
  }
  IoStatus abort() override {
    if (auto s = injected("abort"); !s.is_ok()) return s;
    open_ = false;
    ++aborts;
    return IoStatus::ok();
  }
  OffsetMap changelog_next() const override { return last_changelog_next_; }

  int commits = 0;
  int aborts = 0;

 private:
  IoStatus injected(const std::string& call) {
    auto it = inject.find(call);
    if (it == inject.end() || it->second.empty()) return IoStatus::ok();
    auto s = it->second.front();
    it->second.pop_front();
    return s;
  }
  FakeCluster& c_;
  FakeCluster::Txn txn_;
  bool open_ = false;
  OffsetMap last_changelog_next_;
};

class FakeChangelog : public ChangelogReader {
 public:
  explicit FakeChangelog(FakeCluster& c) : c_(c) {}
  std::string topic_id() override { return c_.changelog_id; }
  OffsetMap end_offsets(const std::vector<int32_t>& partitions) override {
    OffsetMap end;
    for (int32_t p : partitions) {
      int64_t visible = static_cast<int64_t>(c_.changelog[p].size());
      if (stale_ends > 0) visible -= hidden_records;
      end[p] = std::max<int64_t>(visible, 0);
    }
    if (stale_ends > 0) --stale_ends;
    ++end_fetches;
    return end;
  }
  // The next `stale_ends` end fetches leave out the last `hidden_records` records of each partition, as
  // an end read before the commit marker reached the changelog (or from a new leader) does.
  int stale_ends = 0;
  int64_t hidden_records = 0;
  int end_fetches = 0;
  int64_t read(const OffsetMap& from, const OffsetMap& to, const OnRecord& on_record) override {
    int64_t n = 0;
    for (const auto& [p, start] : from) {
      int64_t end = to.count(p) ? to.at(p) : 0;
      for (int64_t o = start; o < end && o < static_cast<int64_t>(c_.changelog[p].size()); ++o) {
        const auto& r = c_.changelog[p][static_cast<size_t>(o)];
        on_record(p, o, r.key, r.value);
        ++n;
      }
    }
    return n;
  }

 private:
  FakeCluster& c_;
};

// A store whose next commit fails (a full disk, say), to test what follows a Kafka commit.
class FailingStore : public state::Store {
 public:
  explicit FailingStore(state::Store& inner) : inner_(inner) {}
  bool fail_next_commit = false;
  std::optional<std::string> get(int32_t p, std::string_view k) const override { return inner_.get(p, k); }
  state::StoredOffsets offsets(int32_t p) const override { return inner_.offsets(p); }
  void scan(int32_t p, std::string_view prefix, const OnRecord& on_record) const override {
    inner_.scan(p, prefix, on_record);
  }
  void commit(int32_t p, const std::vector<state::Record>& r, state::StoredOffsets o) override {
    if (fail_next_commit) {
      fail_next_commit = false;
      throw state::StateError("rocksdb write: IO error: No space left on device");
    }
    inner_.commit(p, r, o);
  }
  void clear(int32_t p) override { inner_.clear(p); }
  std::string lineage(int32_t p) const override { return inner_.lineage(p); }
  void set_lineage(int32_t p, std::string_view l) override { inner_.set_lineage(p, l); }

 private:
  state::Store& inner_;
};

// One processor instance: its store, its I/O and its runner.
struct Instance {
  Instance(FakeCluster& c, state::Store& store, metrics::Registry& registry)
      : source(c),
        producer(c),
        changelog(c),
        probe(registry),
        runner(options(), store, probe, {source, producer, changelog}) {}
  static RunnerOptions options() {
    RunnerOptions o;
    o.batch_max_commands = 100;
    o.retry_backoff_ms = 0;
    return o;
  }
  void assign_at_next_collect(const std::vector<int32_t>& partitions) {
    source.events.push_back({0, [partitions](RebalanceHandler& h) { h.on_assigned(partitions); }});
  }
  bool step() { return runner.step(stop); }
  FakeSource source;
  FakeProducer producer;
  FakeChangelog changelog;
  RunnerProbe probe;
  std::atomic<bool> stop{false};
  Runner runner;
};

topics::Command create(const std::string& event, int64_t stock) {
  return {"create-" + event, 1, topics::CreateEvent{event, "t", stock, 1, {}, {}}};
}
topics::Command claim(const std::string& event, const std::string& user) {
  return {"claim-" + event + "-" + user, 1, topics::Claim{event, user}};
}

// DESIGN §4 on what the fake cluster committed: one decision per request, issued <= stock,
// sequences 1..issued.
void expect_exactly_once(const FakeCluster& c, const std::map<std::string, int64_t>& stock) {
  std::map<std::string, int> per_request;
  std::map<std::string, std::set<int64_t>> seqs;
  std::map<std::string, int64_t> issued;
  for (const auto& d : c.all_decisions()) {
    ++per_request[d.request_id];
    if (d.outcome == topics::Outcome::kIssued) {
      ++issued[d.event_id];
      EXPECT_TRUE(seqs[d.event_id].insert(*d.coupon_seq).second) << "coupon " << *d.coupon_seq << " issued twice";
    }
  }
  size_t commands = 0;
  for (const auto& [p, log] : c.commands) commands += log.size();
  EXPECT_EQ(per_request.size(), commands) << "every command decided";
  for (const auto& [id, n] : per_request) EXPECT_EQ(n, 1) << id << " decided " << n << " times";
  for (const auto& [event, n] : issued) {
    EXPECT_LE(n, stock.at(event)) << event << " oversold";
    EXPECT_EQ(*seqs[event].rbegin(), n) << event << " sequences have gaps";
  }
}

// Stock 1, "first" issued by the previous owner: the new owner must find it sold out for "second".
void expect_second_claim_sold_out(const FakeCluster& c) {
  expect_exactly_once(c, {{"ev", 1}});
  auto decisions = c.all_decisions();
  ASSERT_EQ(decisions.size(), 3u);
  EXPECT_EQ(decisions.back().user_id, "second");
  EXPECT_EQ(decisions.back().outcome, topics::Outcome::kSoldOut);
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::filesystem::temp_directory_path() /
            ("allot-runner-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(base_);
    std::filesystem::create_directories(base_);
  }
  void TearDown() override { std::filesystem::remove_all(base_); }
  std::unique_ptr<state::StateStore> open_store(const std::string& name) {
    return state::StateStore::open((base_ / name).string());
  }
  std::filesystem::path base_;
  metrics::Registry registry_;
};

TEST(RunnerProbeTest, KeepsPerEventSeriesOnlyForTheMostRecentlyDecidedEvents) {
  metrics::Registry registry;
  RunnerProbe probe(registry, 2);
  probe.set_event_levels("a", 10, 1);
  probe.set_event_levels("b", 10, 2);
  probe.set_event_levels("a", 10, 3);  // a is now the most recent: b goes first
  probe.set_event_levels("c", 10, 4);
  auto text = registry.render();
  EXPECT_NE(text.find("allot_event_issued{event_id=\"a\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("allot_event_issued{event_id=\"c\"} 4\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("event_id=\"b\""), std::string::npos) << text;
  EXPECT_EQ(probe.event_stock.series().size(), 2U);
  EXPECT_EQ(probe.event_issued.series().size(), 2U);
}

TEST_F(RunnerTest, ABatchCommitsDecisionsChangelogAndOffsetsThenTheStore) {
  FakeCluster c;
  c.append(0, create("ev", 2));
  for (auto u : {"a", "b", "c"}) c.append(0, claim("ev", u));
  auto store = open_store("a");
  Instance a(c, *store, registry_);
  a.assign_at_next_collect({0});
  ASSERT_TRUE(a.step());
  EXPECT_EQ(a.producer.commits, 1);
  EXPECT_EQ(c.group_offsets[0], 4);
  EXPECT_EQ(store->offsets(0).input_next, 4);
  EXPECT_EQ(store->offsets(0).changelog_next, static_cast<int64_t>(c.changelog[0].size()));
  EXPECT_EQ(store->lineage(0), "cluster-a/allot.changelog/topic-1");
  expect_exactly_once(c, {{"ev", 2}});
}

// Issue 14.3: a delete_event tombstones its users' records on the changelog and in RocksDB, those of
// its own batch included (the overlay's), and a restore from that changelog holds none of them either.
TEST_F(RunnerTest, ADeleteTombstonesTheUsersRecordsInTheChangelogTheStoreAndARestore) {
  FakeCluster c;
  c.append(0, create("ev", 5));
  for (auto u : {"a", "b"}) c.append(0, claim("ev", u));
  auto store_a = open_store("a");
  Instance a(c, *store_a, registry_);
  a.assign_at_next_collect({0});
  ASSERT_TRUE(a.step());
  c.append(0, claim("ev", "c"));  // decided in the delete's batch: its record is only in the overlay
  c.append(0, {"delete-ev", 2, topics::DeleteEvent{"ev"}});
  c.append(0, claim("ev", "d"));
  ASSERT_TRUE(a.step());
  std::set<std::string> tombstones;
  for (const auto& r : c.changelog[0]) {
    if (!r.value) tombstones.insert(r.key);
  }
  EXPECT_EQ(tombstones, (std::set<std::string>{"u/ev/a", "u/ev/b", "u/ev/c"}));
  auto users = [](const state::Store& s) {
    int n = 0;
    s.scan(0, "u/ev/", [&](std::string_view, std::string_view) { ++n; });
    return n;
  };
  EXPECT_EQ(users(*store_a), 0);
  auto decisions = c.all_decisions();
  ASSERT_EQ(decisions.size(), 6u);
  EXPECT_EQ(decisions[4].outcome, topics::Outcome::kDeleted);
  EXPECT_EQ(decisions[5].outcome, topics::Outcome::kDeleted) << "the claim after the delete";

  auto store_b = open_store("b");
  metrics::Registry rb;
  Instance b(c, *store_b, rb);
  b.assign_at_next_collect({0});
  ASSERT_TRUE(b.step());
  EXPECT_EQ(users(*store_b), 0) << "the restore applied the tombstones";
  ASSERT_TRUE(store_b->get(0, "e/ev"));
  EXPECT_TRUE(decode_event(*store_b->get(0, "e/ev")).deleted);
}

// Issue 15.1: the previous owner A sent its offsets to a transaction whose changelog records have
// not reached the log yet; B is assigned meanwhile. B must not read the changelog's end before the
// committed offsets are settled, or it starts after A's batch without A's state and oversells.
TEST_F(RunnerTest, RestoreWaitsForThePreviousOwnersTransactionBeforeReadingTheChangelogEnd) {
  FakeCluster c;
  c.append(0, create("ev", 1));
  auto store_a = open_store("a");
  Instance a(c, *store_a, registry_);
  a.assign_at_next_collect({0});
  ASSERT_TRUE(a.step());  // the event exists, committed
  c.append(0, claim("ev", "first"));
  a.producer.hold_commit = true;
  ASSERT_TRUE(a.step());  // A issues the only unit; its transaction has sent offsets, not committed
  ASSERT_TRUE(c.pending.has_value());

  auto store_b = open_store("b");
  metrics::Registry rb;
  Instance b(c, *store_b, rb);
  b.assign_at_next_collect({0});
  c.append(0, claim("ev", "second"));
  ASSERT_TRUE(b.step());
  ASSERT_TRUE(b.step());
  expect_second_claim_sold_out(c);
}

// Issue 12 (3-node cluster, controller paused): the group's offsets already include the previous owner's
// last batch while the changelog's end does not show that batch's records yet. Restoring to that end and
// consuming after the batch would decide without its state: the one unit issued a second time.
TEST_F(RunnerTest, RestoreReadsOnWhileTheChangelogEndLagsTheCommittedOffsets) {
  FakeCluster c;
  c.append(0, create("ev", 1));
  auto store_a = open_store("a");
  Instance a(c, *store_a, registry_);
  a.assign_at_next_collect({0});
  ASSERT_TRUE(a.step());  // the event exists
  c.append(0, claim("ev", "first"));
  size_t before = c.changelog[0].size();
  ASSERT_TRUE(a.step());  // the only unit issued, committed with its offsets
  int64_t last_batch = static_cast<int64_t>(c.changelog[0].size() - before);
  ASSERT_GT(last_batch, 0);

  auto store_b = open_store("b");
  metrics::Registry rb;
  Instance b(c, *store_b, rb);
  b.changelog.stale_ends = 3;
  b.changelog.hidden_records = last_batch;
  b.assign_at_next_collect({0});
  c.append(0, claim("ev", "second"));
  ASSERT_TRUE(b.step());
  ASSERT_TRUE(b.step());
  EXPECT_GE(b.changelog.end_fetches, 4) << "the restore read on until the end showed the last batch";
  expect_second_claim_sold_out(c);
}

// A new instance owns partition 0 and decides what is there in one batch; returns how many times it
// dropped the partition's local state.
double decide_once(FakeCluster& c, state::Store& store) {
  metrics::Registry registry;
  Instance instance(c, store, registry);
  instance.assign_at_next_collect({0});
  EXPECT_TRUE(instance.step());
  return instance.probe.state_resets.value();
}

// The cluster's two commands (a create, then a claim) were decided on its own log alone.
void expect_created_then_issued(const FakeCluster& c) {
  auto d = c.all_decisions();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].outcome, topics::Outcome::kCreated);
  EXPECT_EQ(d[1].outcome, topics::Outcome::kIssued);
}

// Issue 15.2: a store that survived while the topics were recreated on another cluster must not be
// trusted: here its old event would make the new event's creation "already_exists".
TEST_F(RunnerTest, StateFromAnotherClusterIsDroppedAndRestoredFromThisOne) {
  auto store = open_store("a");
  FakeCluster old;
  old.cluster_id = "cluster-old";
  old.append(0, create("spring-sale", 1));
  old.append(0, claim("spring-sale", "a"));
  EXPECT_EQ(decide_once(old, *store), 0);
  ASSERT_GT(store->offsets(0).input_next, 0);
  FakeCluster fresh;  // a purged broker: new cluster id, empty topics, same event id again
  fresh.append(0, create("spring-sale", 5));
  fresh.append(0, claim("spring-sale", "a"));
  EXPECT_EQ(decide_once(fresh, *store), 1);
  expect_created_then_issued(fresh);
  EXPECT_EQ(store->lineage(0), "cluster-a/allot.changelog/topic-1");
}

// Same cluster and topic, but the stored offsets point past the changelog's end and the group's
// offsets (the broker lost its tail: an unclean leader election, a restored backup).
TEST_F(RunnerTest, StateAheadOfTheChangelogIsDroppedAndRestored) {
  auto store = open_store("a");
  store->commit(0, {{event_key("ev"), encode_event({topics::CreateEvent{"ev", "t", 1, 1, {}, {}}, 1})}}, {50, 70});
  store->set_lineage(0, "cluster-a/allot.changelog/topic-1");
  FakeCluster c;
  c.append(0, create("ev", 3));
  c.append(0, claim("ev", "a"));
  EXPECT_EQ(decide_once(c, *store), 1);
  expect_created_then_issued(c);
}

// Same cluster, the changelog deleted and created again under the same name: a new topic id.
TEST_F(RunnerTest, StateOfARecreatedChangelogTopicIsDroppedAndRestored) {
  auto store = open_store("a");
  FakeCluster c;
  c.append(0, create("ev", 1));
  c.append(0, claim("ev", "a"));
  EXPECT_EQ(decide_once(c, *store), 0);
  FakeCluster recreated;
  recreated.changelog_id = "topic-2";
  recreated.append(0, create("ev", 1));
  recreated.append(0, claim("ev", "a"));
  EXPECT_EQ(decide_once(recreated, *store), 1);
  expect_created_then_issued(recreated);
}

TEST_F(RunnerTest, StoreWithoutLineageIsRestoredFullyOnceAndThenTrusted) {
  auto store = open_store("a");
  FakeCluster c;
  c.append(0, create("ev", 3));
  {
    Instance a(c, *store, registry_);
    a.assign_at_next_collect({0});
    ASSERT_TRUE(a.step());
  }
  store->set_lineage(0, "");  // as written before lineage existed
  c.append(0, claim("ev", "a"));
  const auto restorable = static_cast<double>(c.changelog[0].size());
  metrics::Registry r2;
  Instance b(c, *store, r2);
  b.assign_at_next_collect({0});
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.probe.state_resets.value(), 1);
  EXPECT_EQ(b.probe.restored_records.value(), restorable) << "from offset 0";
  expect_exactly_once(c, {{"ev", 3}});
  metrics::Registry r3;
  Instance again(c, *store, r3);
  again.assign_at_next_collect({0});
  ASSERT_TRUE(again.step());
  EXPECT_EQ(again.probe.state_resets.value(), 0);
  EXPECT_EQ(again.probe.restored_records.value(), 0);
}

// A rebalance inside collect() revokes both partitions and gives back only partition 1: nothing of
// partition 0 is decided here, partition 1 is read again from its committed offset.
TEST_F(RunnerTest, RevokeMidBatchDropsTheRevokedCommandsAndTheNewOwnerDecidesThem) {
  FakeCluster c;
  c.append(0, create("e0", 5));
  c.append(1, create("e1", 5));
  for (auto u : {"a", "b", "c"}) {
    c.append(0, claim("e0", u));
    c.append(1, claim("e1", u));
  }
  auto store = open_store("a");
  Instance a(c, *store, registry_);
  a.assign_at_next_collect({0, 1});
  a.source.events.push_back({3, [](RebalanceHandler& h) {
                               h.on_revoked({0, 1});
                               h.on_assigned({1});
                             }});
  ASSERT_TRUE(a.step());
  ASSERT_TRUE(a.step());
  EXPECT_EQ(c.decisions[0].size(), 0u);
  EXPECT_EQ(c.decisions[1].size(), 4u);
  EXPECT_EQ(c.group_offsets.count(0), 0u);

  auto store_b = open_store("b");
  metrics::Registry rb;
  Instance b(c, *store_b, rb);
  b.assign_at_next_collect({0});
  ASSERT_TRUE(b.step());
  expect_exactly_once(c, {{"e0", 5}, {"e1", 5}});
}

TEST_F(RunnerTest, AnAbortableProduceErrorAbortsRewindsAndDecidesTheSameCommandsOnce) {
  FakeCluster c;
  c.append(0, create("ev", 2));
  for (auto u : {"a", "b", "c"}) c.append(0, claim("ev", u));
  auto store = open_store("a");
  Instance a(c, *store, registry_);
  a.producer.inject["produce"] = {IoStatus::ok(), IoStatus::abortable("Local: Message timed out")};
  a.assign_at_next_collect({0});
  ASSERT_TRUE(a.step());
  EXPECT_EQ(a.producer.aborts, 1);
  EXPECT_EQ(store->offsets(0).input_next, 0) << "nothing stored for an aborted batch";
  ASSERT_TRUE(a.step());
  EXPECT_EQ(a.producer.commits, 1);
  expect_exactly_once(c, {{"ev", 2}});
}

TEST_F(RunnerTest, CommitFailingAfterSendOffsetsAbortsAndTheBatchIsDecidedAgainOnce) {
  FakeCluster c;
  c.append(0, create("ev", 1));
  c.append(0, claim("ev", "a"));
  c.append(0, claim("ev", "b"));
  auto store = open_store("a");
  Instance a(c, *store, registry_);
  a.producer.inject["commit"] = {IoStatus::retriable("Coordinator load in progress"),
                                 IoStatus::abortable("Broker: Producer attempted an operation with an old epoch")};
  a.assign_at_next_collect({0});
  ASSERT_TRUE(a.step());
  EXPECT_EQ(a.producer.aborts, 1);
  EXPECT_TRUE(c.group_offsets.empty());
  ASSERT_TRUE(a.step());
  expect_exactly_once(c, {{"ev", 1}});
  EXPECT_EQ(c.all_decisions()[1].outcome, topics::Outcome::kIssued);
  EXPECT_EQ(c.all_decisions()[2].outcome, topics::Outcome::kSoldOut);
}

TEST_F(RunnerTest, FencedDuringCommitExitsClosesTheConsumerAndTheRestartDecidesOnce) {
  FakeCluster c;
  c.append(0, create("ev", 1));
  c.append(0, claim("ev", "a"));
  auto store = open_store("a");
  {
    Instance a(c, *store, registry_);
    a.producer.inject["commit"] = {IoStatus::fatal("Broker: Producer fenced by a newer instance")};
    a.assign_at_next_collect({0});
    std::atomic<bool> stop{false};
    EXPECT_EQ(a.runner.run(stop), 1);
    EXPECT_TRUE(a.source.closed) << "a fatal exit leaves the group at once";
    EXPECT_NE(a.runner.fatal_error().find("fenced"), std::string::npos);
  }
  EXPECT_EQ(store->offsets(0).input_next, 0);
  metrics::Registry r2;
  Instance again(c, *store, r2);
  again.assign_at_next_collect({0});
  ASSERT_TRUE(again.step());
  expect_exactly_once(c, {{"ev", 1}});
}

// Kafka committed the batch, then RocksDB failed: the process exits, and the restart must take the
// batch's state from the changelog (the stored offsets predate it), not decide on without it.
TEST_F(RunnerTest, StoreFailingAfterTheKafkaCommitIsRepairedFromTheChangelogOnRestart) {
  FakeCluster c;
  c.append(0, create("ev", 1));
  c.append(0, claim("ev", "a"));
  auto rocks = open_store("a");
  FailingStore store(*rocks);
  {
    Instance a(c, store, registry_);
    a.assign_at_next_collect({0});
    ASSERT_TRUE(a.step());  // the event
    c.append(0, claim("ev", "b"));
    store.fail_next_commit = true;
    EXPECT_FALSE(a.step());
    EXPECT_NE(a.runner.fatal_error().find("No space left"), std::string::npos);
  }
  EXPECT_EQ(c.group_offsets[0], 3) << "Kafka has the batch";
  EXPECT_LT(rocks->offsets(0).input_next, 3) << "the store does not";
  c.append(0, claim("ev", "c"));
  metrics::Registry r2;
  Instance again(c, store, r2);
  again.assign_at_next_collect({0});
  ASSERT_TRUE(again.step());
  expect_exactly_once(c, {{"ev", 1}});
  EXPECT_EQ(c.all_decisions().back().outcome, topics::Outcome::kSoldOut);
}

// A rebalance while a batch is in hand (records collected, nothing decided yet): the batch's records
// of the revoked partition go, the newly assigned partition is restored from another owner's changelog,
// and every command is then decided once, on the right state.
TEST_F(RunnerTest, AssignmentWhileABatchIsInHandRestoresWithoutDisturbingIt) {
  FakeCluster c;
  c.append(1, create("e1", 1));
  {
    auto other = open_store("other");
    metrics::Registry r;
    Instance o(c, *other, r);
    o.assign_at_next_collect({1});
    ASSERT_TRUE(o.step());
  }
  c.append(0, create("e0", 1));
  c.append(0, claim("e0", "a"));
  c.append(1, claim("e1", "a"));
  c.append(1, claim("e1", "b"));
  auto store = open_store("a");
  Instance a(c, *store, registry_);
  a.assign_at_next_collect({0});
  a.source.events.push_back({2, [](RebalanceHandler& h) {
                               h.on_revoked({0});
                               h.on_assigned({0, 1});
                             }});
  ASSERT_TRUE(a.step());
  ASSERT_TRUE(a.step());
  expect_exactly_once(c, {{"e0", 1}, {"e1", 1}});
  EXPECT_EQ(c.all_decisions().back().outcome, topics::Outcome::kSoldOut) << "e1's state came from the restore";
}

TEST_F(RunnerTest, AFailedAssignIsFatal) {
  FakeCluster c;
  auto store = open_store("a");
  Instance a(c, *store, registry_);
  a.source.assign_status = IoStatus::fatal("Local: Erroneous state");
  a.assign_at_next_collect({0});
  EXPECT_FALSE(a.step());
  EXPECT_NE(a.runner.fatal_error().find("assign"), std::string::npos);
}

}  // namespace
}  // namespace allot::processors
