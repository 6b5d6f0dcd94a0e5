// Exactly-once under crashes: kill -9 of processors mid-run, restarts, and a processor rebuilding its
// RocksDB from allot.changelog. Loads go straight to allot.commands (faster than HTTP); every
// invariant of DESIGN §4 is checked on the commands and decisions that actually landed.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "stack_api.h"
#include "support.h"
#include "topics/verify.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using topics::Outcome;

topics::Command create_command(const std::string& event, int64_t stock) {
  return {unique_id("create"), now_ms(), topics::CreateEvent{event, "Fault test", stock, 1, {}, {}}};
}
topics::Command claim_command(const std::string& event, const std::string& user) {
  return {unique_id("c"), now_ms(), topics::Claim{event, user}};
}

// Restarts whatever stack service is down (scripts/stack up is idempotent).

void expect_clean(const std::vector<topics::PositionedCommand>& commands, const DecisionLog& log) {
  auto report = topics::verify({commands, log.decisions(), {}});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.decisions, static_cast<int64_t>(commands.size()));
  std::cout << "verifier: " << report.summary() << "\n";
}

class PipelineFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(service_alive("processor-1") && service_alive("processor-2")) << "the stack's processors must run";
  }
  // Leave the stack as we found it, whatever happened.
  void TearDown() override { stack_up(); }
};

TEST_F(PipelineFaults, KillNineOfAProcessorDuring100000ClaimsOver20Events) {
  constexpr int kEvents = 20, kClaims = 100000, kStock = 2000, kUsers = 3000;
  DecisionLog log;
  CommandProducer producer;
  std::vector<std::string> events;
  for (int e = 0; e < kEvents; ++e) {
    events.push_back(unique_id("kill9-e" + std::to_string(e)));
    producer.send(create_command(events.back(), kStock));
  }
  auto commands = producer.flush();
  // Users repeat (about 1.7 claims per user and event), so duplicates are decided too.
  for (int i = 0; i < kClaims; ++i) {
    producer.send(claim_command(events[i % kEvents], "user-" + std::to_string((i / kEvents) % kUsers)));
  }
  auto claims = producer.flush();
  commands.insert(commands.end(), claims.begin(), claims.end());

  const size_t total = commands.size();
  ASSERT_TRUE(log.wait_for(events, total / 4, 120s)) << "processing did not start";
  int killed = signal_service("processor-1", SIGKILL);
  ASSERT_GT(killed, 0);
  ASSERT_TRUE(wait_gone(killed, 10s));
  std::cout << "killed processor-1 (pid " << killed << ") after " << log.decisions().size() << " decisions\n";
  ASSERT_TRUE(log.wait_for(events, total / 2, 120s)) << "the surviving processor did not take over";
  stack_up();
  EXPECT_TRUE(service_alive("processor-1"));

  ASSERT_TRUE(log.wait_for(events, total, 300s)) << log.decisions().size() << " of " << total << " decided";
  EXPECT_FALSE(log.wait_for(events, total + 1, 5s)) << "more decisions than commands";
  expect_clean(commands, log);
}

TEST_F(PipelineFaults, TwoProcessorsShareOneIsKilledAndRestartedWhileClaimsFlow) {
  constexpr int kEvents = 12, kStock = 500, kRounds = 30, kPerRound = 1000;
  DecisionLog log;
  CommandProducer producer;
  std::vector<std::string> events;
  for (int e = 0; e < kEvents; ++e) {
    events.push_back(unique_id("share-e" + std::to_string(e)));
    producer.send(create_command(events.back(), kStock));
  }
  auto commands = producer.flush();
  // Claims flow in rounds of 1,000 every 200 ms; processor-2 dies in round 8 and comes back in round 16.
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kPerRound; ++i) {
      producer.send(
          claim_command(events[static_cast<size_t>(i % kEvents)], "u" + std::to_string(round * kPerRound + i)));
    }
    auto sent = producer.flush();
    commands.insert(commands.end(), sent.begin(), sent.end());
    if (round == 8) {
      ASSERT_GT(signal_service("processor-2", SIGKILL), 0);
    }
    if (round == 16) {
      stack_up();
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(log.wait_for(events, commands.size(), 300s)) << log.decisions().size() << " of " << commands.size();
  EXPECT_FALSE(log.wait_for(events, commands.size() + 1, 5s)) << "more decisions than commands";
  expect_clean(commands, log);
}

TEST_F(PipelineFaults, AProcessorWithoutItsRocksDbRebuildsItFromTheChangelog) {
  DecisionLog log;
  CommandProducer producer;
  const auto event = unique_id("rebuild");
  producer.send(create_command(event, 50));
  for (int i = 0; i < 30; ++i) producer.send(claim_command(event, "a" + std::to_string(i)));
  auto commands = producer.flush();
  ASSERT_TRUE(log.wait_for({event}, 31, 60s));

  // Stop the stack's processors so that one fresh processor with an empty state folder owns everything.
  for (const char* name : {"processor-1", "processor-2"}) {
    int pid = signal_service(name, SIGTERM);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(wait_gone(pid, 30s)) << name << " did not stop";
  }
  auto state_dir = std::filesystem::temp_directory_path() / unique_id("allot-rebuild");
  std::filesystem::remove_all(state_dir);
  int fresh = spawn(std::string(ALLOT_BUILD_DIR) + "/processors/allot-processor",
                    {"ALLOT_INSTANCE_ID=" + unique_id("rebuild"), "ALLOT_STATE_DIR=" + state_dir.string(),
                     "ALLOT_METRICS_PORT=9199", "ALLOT_KAFKA_BROKERS=" + brokers()},
                    run_dir() + "/rebuild-test.log");

  // The same users again (must be duplicates: the state remembers them) and 30 new ones
  // (20 left in stock, numbered 31..50, then sold out): what an intact processor would decide.
  for (int i = 0; i < 10; ++i) producer.send(claim_command(event, "a" + std::to_string(i)));
  for (int i = 0; i < 30; ++i) producer.send(claim_command(event, "b" + std::to_string(i)));
  auto more = producer.flush();
  commands.insert(commands.end(), more.begin(), more.end());
  bool decided = log.wait_for({event}, 71, 180s);
  EXPECT_TRUE(stop_process(fresh, SIGTERM, 30s));
  std::filesystem::remove_all(state_dir);
  ASSERT_TRUE(decided) << log.decisions().size() << " of 71 decided";

  std::map<std::string, topics::Decision> by_user;
  for (size_t i = 31; i < log.decisions().size(); ++i) by_user[log.decisions()[i].user_id] = log.decisions()[i];
  for (int i = 0; i < 10; ++i) EXPECT_EQ(by_user["a" + std::to_string(i)].outcome, Outcome::kDuplicate) << i;
  for (int i = 0; i < 20; ++i) {
    const auto& d = by_user["b" + std::to_string(i)];
    EXPECT_EQ(d.outcome, Outcome::kIssued) << i;
    EXPECT_EQ(d.coupon_seq, 31 + i);
  }
  for (int i = 20; i < 30; ++i) EXPECT_EQ(by_user["b" + std::to_string(i)].outcome, Outcome::kSoldOut) << i;
  expect_clean(commands, log);
}

}  // namespace
}  // namespace allot
