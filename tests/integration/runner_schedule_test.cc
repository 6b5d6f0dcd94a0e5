// Exactly-once schedules that a real broker produces only rarely, forced on purpose. Real Kafka, the
// real runner and its librdkafka I/O, RocksDB state; fresh topics per test so the stack's own
// processors never see these commands.
//
// Issue 15.1: the previous owner A has sent its batch's offsets to its transaction while that batch's
// changelog records still sit in its producer queue (a long linger keeps them there); A stops polling
// for longer than max.poll.interval.ms, so the group hands the partition to B; A commits only after
// that. B must wait for A's transaction before it reads the changelog's end, or it restores without
// A's batch, starts after it (A's committed offsets) and issues the unit A already issued.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/clock.h"
#include "common/kafka.h"
#include "processors/domain.h"
#include "processors/kafka_io.h"
#include "processors/runner.h"
#include "state/store.h"
#include "support.h"
#include "topics/admin.h"

namespace allot {
namespace {

using namespace std::chrono_literals;
using processors::IoStatus;
using processors::OffsetMap;

// Passes everything to the real producer, except that one commit waits until released: the moment
// between send_offsets_to_transaction and commit_transaction, held open.
class PausingProducer : public processors::TxnProducer {
 public:
  explicit PausingProducer(processors::TxnProducer& inner) : inner_(inner) {}
  std::atomic<bool> pause_next_commit{false};
  std::atomic<bool> paused{false};
  std::atomic<bool> release{false};

  IoStatus begin() override { return inner_.begin(); }
  IoStatus produce_decision(int32_t p, std::string_view k, std::string_view v) override {
    return inner_.produce_decision(p, k, v);
  }
  IoStatus produce_command(std::string_view k, std::string_view v) override { return inner_.produce_command(k, v); }
  IoStatus produce_changelog(int32_t p, std::string_view k, std::optional<std::string_view> v) override {
    return inner_.produce_changelog(p, k, v);
  }
  IoStatus send_offsets(const OffsetMap& next) override { return inner_.send_offsets(next); }
  IoStatus commit() override {
    if (pause_next_commit.exchange(false)) {
      paused = true;
      for (int i = 0; i < 1200 && !release; ++i) std::this_thread::sleep_for(50ms);  // at most 60 s
    }
    return inner_.commit();
  }
  IoStatus abort() override { return inner_.abort(); }
  OffsetMap changelog_next() const override { return inner_.changelog_next(); }

 private:
  processors::TxnProducer& inner_;
};

struct Topics {
  std::string commands, decisions, changelog, group;
};

class RunnerScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto id = testsupport::unique_id("sched");
    t_ = {id + ".commands", id + ".decisions", id + ".changelog", id + "-group"};
    topics::apply_specs(
        testsupport::brokers(),
        {{t_.commands, 1, {}}, {t_.decisions, 1, {}}, {t_.changelog, 1, {{"cleanup.policy", "compact"}}}}, 15000);
    dir_ = std::filesystem::temp_directory_path() / id;
    producer_ = kafka::make_producer({{"bootstrap.servers", testsupport::brokers()}, {"enable.idempotence", "true"}});
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    topics::delete_topics(testsupport::brokers(), {t_.commands, t_.decisions, t_.changelog}, 15000);
  }

  processors::RunnerOptions options(const std::string& instance) {
    processors::RunnerOptions o;
    o.brokers = testsupport::brokers();
    o.group_id = t_.group;
    o.instance_id = t_.group + "-" + instance;
    o.commands_topic = t_.commands;
    o.decisions_topic = t_.decisions;
    o.changelog_topic = t_.changelog;
    o.batch_max_ms = 20;
    o.transaction_timeout_ms = 90000;  // A's transaction must outlive its pause
    return o;
  }

  void send(const topics::Command& c) {
    auto v = topics::encode(c);
    ASSERT_EQ(producer_->produce(t_.commands, 0, RdKafka::Producer::RK_MSG_COPY, v.data(), v.size(),
                                 c.event_id().data(), c.event_id().size(), 0, nullptr),
              RdKafka::ERR_NO_ERROR);
    ASSERT_EQ(producer_->flush(10000), RdKafka::ERR_NO_ERROR);
  }

  std::vector<topics::Decision> decisions() {
    std::vector<topics::Decision> out;
    kafka::read_all_committed(
        testsupport::brokers(), t_.decisions,
        [&](const RdKafka::Message& m) {
          out.push_back(topics::decode_decision(std::string_view(static_cast<const char*>(m.payload()), m.len())));
        },
        30s);
    return out;
  }

  bool wait_for_decisions(size_t n, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (decisions().size() >= n) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }

  Topics t_;
  std::filesystem::path dir_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

TEST_F(RunnerScheduleTest, NewOwnerRestoresThePreviousOwnersLastBatchBeforeConsumingAfterIt) {
  send({"create-ev", now_ms(), topics::CreateEvent{"ev", "t", 1, 1, {}, {}}});

  // A: changelog records linger in its queue until the commit flushes them; it is dropped from the
  // group after 10 s without collecting.
  metrics::Registry ra;
  processors::RunnerProbe probe_a(ra);
  auto store_a = state::StateStore::open((dir_ / "a").string());
  auto opt_a = options("a");
  processors::KafkaIo io_a(opt_a, probe_a, {.linger_ms = 30000, .max_poll_interval_ms = 10000});
  PausingProducer pausing(io_a.producer());
  processors::Runner runner_a(opt_a, *store_a, probe_a, {io_a.source(), pausing, io_a.changelog()});
  std::atomic<bool> stop_a{false};
  std::thread thread_a([&] { runner_a.run(stop_a); });
  ASSERT_TRUE(wait_for_decisions(1, 60s)) << "A decides the creation";

  pausing.pause_next_commit = true;
  send({"claim-first", now_ms(), topics::Claim{"ev", "first"}});
  for (int i = 0; i < 600 && !pausing.paused; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(pausing.paused) << "A reached its commit with the offsets sent";

  // B joins; the group waits for A, drops it after max.poll.interval.ms and gives B the partition.
  metrics::Registry rb;
  processors::RunnerProbe probe_b(rb);
  auto store_b = state::StateStore::open((dir_ / "b").string());
  auto opt_b = options("b");
  std::atomic<bool> stop_b{false};
  std::thread thread_b([&] { processors::run_processor(opt_b, *store_b, probe_b, stop_b); });
  // Long enough for B's assignment and restore to happen while A still holds its transaction open.
  for (int i = 0; i < 500 && probe_b.restores.value() < 1; ++i) std::this_thread::sleep_for(50ms);
  std::this_thread::sleep_for(5s);
  // A commits and then stops (it would otherwise rejoin and might get the partition back, and the
  // schedule would not test B).
  stop_a = true;
  pausing.release = true;
  thread_a.join();

  send({"claim-second", now_ms(), topics::Claim{"ev", "second"}});
  bool all = wait_for_decisions(3, 90s);
  stop_b = true;
  thread_b.join();
  ASSERT_TRUE(all) << "three commands, three decisions";

  auto d = decisions();
  ASSERT_EQ(d.size(), 3u);
  int issued = 0;
  for (const auto& x : d) issued += x.outcome == topics::Outcome::kIssued ? 1 : 0;
  EXPECT_EQ(issued, 1) << "stock 1: one unit, issued once";
  EXPECT_EQ(d[1].user_id, "first");
  EXPECT_EQ(d[1].outcome, topics::Outcome::kIssued);
  EXPECT_EQ(d[2].user_id, "second");
  EXPECT_EQ(d[2].outcome, topics::Outcome::kSoldOut) << "B decided on A's last batch";
  EXPECT_EQ(probe_b.commands.with({{"outcome", "sold_out"}}).value(), 1) << "B decided the second claim";
}

// Issue 15.2: a processor's RocksDB folder survived while the broker was purged (new cluster, new
// topics). Its old state says the event exists and is sold out; the new cluster's log says nothing of
// the sort. The processor must drop that state and decide from the new log alone.
TEST_F(RunnerScheduleTest, StateFromAnotherClusterIsDroppedNotTrusted) {
  auto store = state::StateStore::open((dir_ / "survivor").string());
  processors::EventState old{topics::CreateEvent{"ev", "old", 1, 1, {}, {}}, 1};
  store->commit(
      0,
      {{processors::event_key("ev"), processors::encode_event(old)}, {processors::request_key("create-ev"), "created"}},
      {40, 90});
  store->set_lineage(0, "a-purged-cluster/" + t_.changelog);

  send({"create-ev", now_ms(), topics::CreateEvent{"ev", "t", 2, 1, {}, {}}});
  send({"claim-a", now_ms(), topics::Claim{"ev", "a"}});
  metrics::Registry r;
  processors::RunnerProbe probe(r);
  std::atomic<bool> stop{false};
  std::thread worker([&] { processors::run_processor(options("p"), *store, probe, stop); });
  bool decided = wait_for_decisions(2, 60s);
  stop = true;
  worker.join();
  ASSERT_TRUE(decided) << "both commands decided (a trusted stale r/create-ev would leave one pending forever)";
  auto d = decisions();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].outcome, topics::Outcome::kCreated);
  EXPECT_EQ(d[1].outcome, topics::Outcome::kIssued);
  EXPECT_EQ(probe.state_resets.value(), 1);
  EXPECT_NE(store->lineage(0).find(t_.changelog), std::string::npos);
  EXPECT_NE(store->lineage(0), "a-purged-cluster/" + t_.changelog);
}

// The changelog's identity comes from a raw Metadata request (librdkafka 2.0 has no topic ids).
TEST_F(RunnerScheduleTest, TopicIdIsStableForATopicAndNewWhenItIsRecreated) {
  auto first = kafka::topic_id(testsupport::brokers(), t_.changelog, 10s);
  EXPECT_EQ(first.size(), 22u) << first;  // 16 bytes, base64url without padding, as Kafka prints them
  EXPECT_EQ(kafka::topic_id(testsupport::brokers(), t_.changelog, 10s), first);
  EXPECT_NE(kafka::topic_id(testsupport::brokers(), t_.decisions, 10s), first);
  topics::delete_topics(testsupport::brokers(), {t_.changelog}, 15000);
  bool gone = false;  // the deletion reaches the broker's metadata cache a moment later
  for (int i = 0; i < 100 && !gone; ++i) {
    try {
      (void)kafka::topic_id(testsupport::brokers(), t_.changelog, 10s);
      std::this_thread::sleep_for(100ms);
    } catch (const std::runtime_error&) {
      gone = true;
    }
  }
  EXPECT_TRUE(gone) << "a deleted topic has no id";
  topics::apply_specs(testsupport::brokers(), {{t_.changelog, 1, {{"cleanup.policy", "compact"}}}}, 15000);
  std::string again;
  for (int i = 0; i < 50 && again.empty(); ++i) {
    try {
      again = kafka::topic_id(testsupport::brokers(), t_.changelog, 10s);
    } catch (const std::exception&) {
      std::this_thread::sleep_for(100ms);  // the new topic's metadata reaches the broker's cache
    }
  }
  EXPECT_EQ(again.size(), 22u);
  EXPECT_NE(again, first);
}

// A SIGSTOPped broker: the kernel completes the connection (backlog) and nobody ever answers. First in
// the list, it held the restore's topic id for the whole timeout (two minutes in the controller-pause
// test); the next broker must be asked after a short attempt.
TEST_F(RunnerScheduleTest, TopicIdAsksTheNextBrokerWhenTheFirstNeverAnswers) {
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(silent, 16), 0);  // never accepted, never read
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string paused = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  auto expected = kafka::topic_id(testsupport::brokers(), t_.changelog, 10s);
  auto started = std::chrono::steady_clock::now();
  std::string id;
  EXPECT_NO_THROW(id = kafka::topic_id(paused + "," + testsupport::brokers(), t_.changelog, 60s));
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(id, expected);
  // One short attempt on the silent broker, not the whole 60 s.
  EXPECT_LT(waited, 20s) << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms";
  // Only silent brokers: the timeout still bounds the whole call.
  started = std::chrono::steady_clock::now();
  EXPECT_THROW((void)kafka::topic_id(paused, t_.changelog, 7s), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  ::close(silent);
}

}  // namespace
}  // namespace allot
