// The read side on the real stack: MySQL and Redis agree exactly with allot.decisions after a flash
// sale, after kill -9 of the sinks in mid-batch, and after a full replay (scripts/replay projections).
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <memory>
#include <thread>

#include "projection_match.h"
#include "support.h"
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
