// The read side on the real stack: MySQL and Redis agree exactly with allot.decisions after a flash
// sale, after kill -9 of the sinks in mid-batch, and after a full replay (scripts/replay projections).
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "common/kafka.h"
#include "projection_match.h"
#include "stack_api.h"
#include "support.h"
#include "topics/admin.h"
#include "topics/projection_check.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;

void load(CommandProducer& producer, const std::string& event, int stock, int claims, const std::string& users) {
  producer.send({unique_id("create"), now_ms(), topics::CreateEvent{event, "Projection test", stock, 1, {}, {}}});
  for (int i = 0; i < claims; ++i)
    producer.send({unique_id("c"), now_ms(), topics::Claim{event, users + std::to_string(i % (claims * 9 / 10))}});
}

// "ok", or what a transactional call of librdkafka failed with.
std::string ok(RdKafka::Error* e) {
  kafka::ErrorPtr owned(e);
  return owned ? owned->str() : std::string("ok");
}

// A transactional producer (a fresh transactional.id from `prefix`) with its transactions initialised.
std::unique_ptr<RdKafka::Producer> transactional_producer(const std::string& prefix) {
  auto conf = kafka::make_conf({{"bootstrap.servers", brokers()}, {"transactional.id", unique_id(prefix)}});
  std::string errstr;
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), errstr));
  if (!producer) throw std::runtime_error("transactional producer: " + errstr);
  if (auto e = ok(producer->init_transactions(30000)); e != "ok") throw std::runtime_error("init_transactions: " + e);
  return producer;
}

class Projections : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(service_alive("sink-mysql") && service_alive("sink-redis")) << "the stack's sinks must run";
  }
  void TearDown() override { ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0); }
};

TEST_F(Projections, AgreeWithTheDecisionsAfterAFlashSaleAKillNineOfTheSinksAndAFullReplay) {
  DecisionLog log;
  CommandProducer producer;
  const auto sale = unique_id("proj-sale");
  load(producer, sale, 100, 10000, "user-");  // 10,000 claims (10% repeated users) for 100 coupons
  producer.flush();
  ASSERT_TRUE(log.wait_for({sale}, 10001, 180s));
  expect_projections_match(log.decisions(), sale);

  // kill -9 both sinks while a second event's 20,000 claims are being projected
  const auto second = unique_id("proj-kill");
  load(producer, second, 5000, 20000, "k-");
  producer.flush();
  ASSERT_TRUE(log.wait_for({sale, second}, 10001 + 20001, 180s));
  std::this_thread::sleep_for(100ms);
  EXPECT_GT(signal_service("sink-mysql", SIGKILL), 0);
  EXPECT_GT(signal_service("sink-redis", SIGKILL), 0);
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
  expect_projections_match(log.decisions(), second);

  // Empty both projections and replay allot.decisions from the beginning: the same again.
  ASSERT_EQ(sh("scripts/replay projections"), 0);
  expect_projections_match(log.decisions(), sale);
  expect_projections_match(log.decisions(), second);
}

// Every partition of allot.decisions ends with an aborted transaction (a processor killed in mid-batch leaves
// one): its records and the abort marker are never handed to a read_committed consumer. The sinks must still
// count as caught up (`allotctl groups wait`, which every replay and many tests wait on) and report no lag.
TEST_F(Projections, SinksCountAsCaughtUpWhenEveryPartitionEndsWithAnAbortedTransaction) {
  auto producer = transactional_producer("aborted-tail");
  const int32_t partitions = kafka::partition_count(*producer, "allot.decisions", 10s);
  ASSERT_EQ(ok(producer->begin_transaction()), "ok");
  const std::string junk = "aborted: never read";
  for (int32_t p = 0; p < partitions; ++p) {
    ASSERT_EQ(producer->produce("allot.decisions", p, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(junk.data()),
                                junk.size(), nullptr, 0, 0, nullptr),
              RdKafka::ERR_NO_ERROR);
  }
  ASSERT_EQ(producer->flush(30000), RdKafka::ERR_NO_ERROR);  // the records are in the log before the abort
  ASSERT_EQ(ok(producer->abort_transaction(30000)), "ok");

  pipeline_caught_up(60);
  // librdkafka's lag (end minus committed offset, every 2 s in the statistics) reaches 0 on every partition.
  for (int port : {9201, 9202}) {
    HttpClient http(port);
    std::string lagging;
    for (int i = 0; i < 30; ++i) {
      lagging.clear();
      std::istringstream lines(http.request("GET", "/metrics").body);
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("allot_sink_consumer_lag{", 0) == 0 && line.substr(line.rfind(' ') + 1) != "0")
          lagging += line + "\n";
      }
      if (lagging.empty()) break;
      std::this_thread::sleep_for(1s);
    }
    EXPECT_EQ(lagging, "") << "port " << port;
  }
}

// `allotctl groups wait` on a topic of its own: a group committed up to a transaction's marker, with an
// aborted transaction after it, has consumed everything; committed before a committed record, it has not.
TEST_F(Projections, GroupsWaitCountsMarkersAndAbortedRecordsAsConsumedButNotACommittedRecord) {
  const auto topic = unique_id("allot-it-lag"), group = unique_id("allot-it-lag-group");
  topics::apply_specs(brokers(), {topics::TopicSpec{topic, 1, {}}}, 30000);
  auto producer = transactional_producer("lag");
  auto produce = [&](std::string value) {
    ASSERT_EQ(
        producer->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(), nullptr, 0, 0, nullptr),
        RdKafka::ERR_NO_ERROR);
  };
  ASSERT_EQ(ok(producer->begin_transaction()), "ok");
  produce("committed");  // offset 0, its commit marker 1
  ASSERT_EQ(ok(producer->commit_transaction(30000)), "ok");
  ASSERT_EQ(ok(producer->begin_transaction()), "ok");
  produce("aborted");  // offset 2, the abort marker 3
  ASSERT_EQ(producer->flush(30000), RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(ok(producer->abort_transaction(30000)), "ok");

  auto commit = [&](int64_t offset) {
    auto consumer = kafka::make_consumer({{"bootstrap.servers", brokers()}, {"group.id", group}});
    kafka::PartitionList at;
    at.items.push_back(RdKafka::TopicPartition::create(topic, 0, offset));
    ASSERT_EQ(consumer->commitSync(at.items), RdKafka::ERR_NO_ERROR);
    EXPECT_EQ(consumer->close(), RdKafka::ERR_NO_ERROR);
  };
  const std::string wait =
      std::string(ALLOT_BUILD_DIR) + "/topics/allotctl groups wait " + group + " " + topic + " --brokers " + brokers();
  commit(1);
  EXPECT_EQ(sh(wait + " --timeout 20"), 0) << "past offset 1 there are only a marker and an aborted record";
  commit(0);
  EXPECT_NE(sh(wait + " --timeout 2"), 0) << "offset 0 is a committed record nobody consumed";
  topics::delete_groups(brokers(), {group}, 15000);
  topics::delete_topics(brokers(), {topic}, 15000);
}

// Raffle and hold events next to a first-come one, through the real processors and the stack's sinks:
// every claim's current status, the requests, the counters and `allotctl verify --projections`, which
// must also catch a status that is wrong.
TEST_F(Projections, MixedModesAgreeWithTheDecisionsAndVerifyCatchesAWrongStatus) {
  DecisionLog log;
  CommandProducer producer;
  const auto tag = unique_id("proj-modes");
  const std::string fcfs = tag + "-f", raffle = tag + "-r", hold = tag + "-h", long_hold = tag + "-l";
  const int64_t t = now_ms();
  auto create = [&](const std::string& id, int64_t stock, topics::EventMode mode, int64_t hold_ms) {
    topics::CreateEvent e{
        id, "Modes", stock, 1, {}, mode == topics::EventMode::kRaffle ? std::optional(t + 3'600'000) : std::nullopt};
    e.mode = mode;
    e.hold_ms = hold_ms;
    producer.send({unique_id("create"), now_ms(), e});
  };
  auto send = [&](decltype(topics::Command::body) body) {
    auto id = unique_id("m");
    producer.send({id, now_ms(), std::move(body)});
    return id;
  };
  create(fcfs, 2, topics::EventMode::kFcfs, 0);
  create(raffle, 2, topics::EventMode::kRaffle, 0);
  create(hold, 2, topics::EventMode::kHold, 2000);            // its holds expire within the test, by ticks
  create(long_hold, 1, topics::EventMode::kHold, 3'600'000);  // its hold stays held
  for (const char* u : {"a", "b", "c"}) send(topics::Claim{fcfs, u});
  for (const char* u : {"u1", "u2", "u3", "u4"}) send(topics::Claim{raffle, u});
  const auto h1 = send(topics::Claim{hold, "h1"});
  const auto h2 = send(topics::Claim{hold, "h2"});
  send(topics::Claim{hold, "h3"});  // sold_out: both units held
  send(topics::Confirm{{hold, h1, "h1"}});
  send(topics::Cancel{{hold, h2, "h2"}});
  send(topics::Claim{hold, "h3"});  // held, until the ingress's ticks expire it
  send(topics::Claim{long_hold, "k1"});
  send(topics::CloseEvent{raffle});  // drawn: four draw results
  producer.flush();
  // 4 creates, 3 + 4 + 4 + 1 claims, confirm, cancel, close, 4 draw results, h3's expiry.
  ASSERT_TRUE(log.wait_for({fcfs, raffle, hold, long_hold}, 24, 120s))
      << "only " << log.decisions().size() << " decisions arrived (h3's hold expires by the ingress's ticks)";
  for (const auto& e : {fcfs, raffle, hold, long_hold}) expect_projections_match(log.decisions(), e);

  const std::string verify = std::string(ALLOT_BUILD_DIR) + "/topics/allotctl verify --projections --events " + fcfs +
                             "," + raffle + "," + hold + "," + long_hold + " --brokers " + brokers() + " >/dev/null";
  EXPECT_EQ(sh(verify), 0);
  const std::string redis = "redis-cli -p " +
                            std::string(std::getenv("ALLOT_REDIS_PORT") ? std::getenv("ALLOT_REDIS_PORT") : "16379") +
                            " HSET allot:claim:" + h1 + " status ";
  ASSERT_EQ(sh(redis + "held >/dev/null"), 0);  // h1 was confirmed
  EXPECT_NE(sh(verify), 0) << "allotctl verify --projections did not catch a wrong status";
  ASSERT_EQ(sh(redis + "confirmed >/dev/null"), 0);
  EXPECT_EQ(sh(verify), 0);
}

TEST_F(Projections, ProcessorStateReplayedFromTheChangelogDecidesTheSame) {
  DecisionLog log;
  CommandProducer producer;
  const auto event = unique_id("state-replay");
  producer.send({unique_id("create"), now_ms(), topics::CreateEvent{event, "State replay", 20, 1, {}, {}}});
  for (int i = 0; i < 10; ++i) producer.send({unique_id("c"), now_ms(), topics::Claim{event, "a" + std::to_string(i)}});
  producer.flush();
  ASSERT_TRUE(log.wait_for({event}, 11, 60s));
  ASSERT_EQ(sh("scripts/replay state processor-1 && scripts/replay state processor-2"), 0);
  // Both processors lost their RocksDB: what they decide now shows what they restored.
  for (int i = 0; i < 5; ++i) producer.send({unique_id("c"), now_ms(), topics::Claim{event, "a" + std::to_string(i)}});
  for (int i = 0; i < 15; ++i) producer.send({unique_id("c"), now_ms(), topics::Claim{event, "b" + std::to_string(i)}});
  producer.flush();
  ASSERT_TRUE(log.wait_for({event}, 31, 180s));
  std::map<std::string, topics::Decision> last;
  for (size_t i = 11; i < log.decisions().size(); ++i) last[log.decisions()[i].user_id] = log.decisions()[i];
  for (int i = 0; i < 5; ++i) EXPECT_EQ(last["a" + std::to_string(i)].outcome, topics::Outcome::kDuplicate);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(last["b" + std::to_string(i)].coupon_seq, 11 + i);
  for (int i = 10; i < 15; ++i) EXPECT_EQ(last["b" + std::to_string(i)].outcome, topics::Outcome::kSoldOut);
}

}  // namespace
}  // namespace allot
