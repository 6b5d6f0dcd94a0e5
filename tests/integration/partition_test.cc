// Network partitions of the 3-node cluster (issue 22), in the network lab (bench/netlab): every Kafka node, the
// ingress and each processor on a host of its own, links cut while claims and joins flow through the ingress at
// 150/s over six events: two first come first served, two hold (5 s holds, expired by the ticks), two with a
// waiting room (joins, 20 admitted a second). Each scenario holds its fault for a bounded time, heals it, and ends like
// the cluster fault tests: every 202 decided exactly once and every invariant of DESIGN §4
// (tests/support/fault_load.h), plus `allotctl verify --projections --accepted`, and one FAULTS line for
// bench/FAULTS.md (bench/run-faults --partitions): requests sent, 202s, 503s, the seconds after the heal until a fresh
// claim on every event is decided again. A 503 is allowed while the cluster cannot commit; a 202 that is then lost is
// not.
//
// Label `partition` (and `cluster`: CI's one-broker stack excludes both). Run in the lab, or the test FAILS:
//   bench/run-faults --partitions     (brings the lab up, runs these, writes bench/FAULTS.md, takes it down)
//   eval "$(bench/netlab env)"; bench/netlab up; ctest -L partition; bench/netlab down
// The one test here that needs no lab, Netlab.LeavesNothingBehind..., runs everywhere (label integration).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "cluster.h"
#include "fault_load.h"
#include "support.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using Clock = FaultClock;

// bench/netlab with `args`; its output goes to the test's log.
int netlab(const std::string& args) { return sh("bench/netlab " + args); }

// The two brokers other than `node`: kafka-N names.
std::vector<std::string> other_brokers(int node) {
  std::vector<std::string> out;
  for (int other = 1; other <= 3; ++other) {
    if (other != node) out.push_back(kafka_service(other));
  }
  return out;
}

// bench/netlab `verb` (cut, oneway) between `node` and each of the other two brokers.
std::vector<std::string> against_other_brokers(const std::string& verb, int node) {
  std::vector<std::string> faults;
  for (const auto& other : other_brokers(node)) faults.push_back(verb + " " + kafka_service(node) + " " + other);
  return faults;
}

bool in_the_lab() {
  const char* v = std::getenv("ALLOT_NETLAB");
  return v && std::string(v) == "1";
}

class Partitions : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(in_the_lab()) << "partition_test runs in the network lab: bench/run-faults --partitions, or "
                                 "eval \"$(bench/netlab env)\" && bench/netlab up && ctest -L partition";
    lab_ = true;
    ASSERT_EQ(netlab("heal >/dev/null"), 0);
    ASSERT_EQ(netlab("leaders-restore >/dev/null"), 0);  // what a scenario's leaders-away moved
    ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
    auto v = read_cluster();
    ASSERT_GE(v.brokers.size(), 3u) << "the lab's cluster has " << v.brokers.size()
                                    << " broker(s): " << v.not_replicated;
    std::string why;
    ASSERT_GE(wait_fully_replicated(180s, &why), 0) << "not fully replicated before the fault: " << why;
    // Each scenario starts balanced, whatever the last one moved: every broker leads a third of allot.commands
    // (the lab's controller restores the preferred leaders every 5 s).
    std::map<int32_t, int> led;
    for (int i = 0; i < 120; ++i) {
      led = read_cluster().commands_leading;
      if (led.size() == 3 && std::all_of(led.begin(), led.end(), [](const auto& b) { return b.second == 4; })) break;
      std::this_thread::sleep_for(500ms);
    }
    ASSERT_EQ(led.size(), 3u) << "not every broker leads partitions of allot.commands after 60 s";
    for (const auto& [broker, n] : led) EXPECT_EQ(n, 4) << "kafka-" << broker << " leads " << n << " of 12";
  }
  void TearDown() override {
    if (!lab_) return;
    if (load_) load_->stop();
    EXPECT_EQ(netlab("heal >/dev/null"), 0);
    EXPECT_EQ(netlab("leaders-restore >/dev/null"), 0);
    ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
    std::string why;
    EXPECT_GE(wait_fully_replicated(180s, &why), 0) << "not fully replicated after the scenario: " << why;
  }

  void start_load(const std::string& prefix) {
    log_ = std::make_unique<DecisionLog>();
    std::set<std::string> rooms;
    events_ = create_mixed_events(6, 500, prefix, rooms);
    probes_ = std::make_unique<ProbeWatch>(rooms);
    load_ = std::make_unique<ClaimLoad>(events_, 150, 100000, rooms);
    std::this_thread::sleep_for(3s);
    restarts_ = service_restarts();
  }

  // Applies `faults` (bench/netlab commands, in turn), holds them until `hold` after the first, heals, and
  // returns the seconds after the heal until a fresh claim on every event was decided (-1: not within the
  // probes' bounds). `during` runs just before the heal (a check that the fault bit).
  double hold_and_heal(const std::vector<std::string>& faults, std::chrono::seconds hold,
                       const std::function<void()>& during = {}) {
    fault_at_ = Clock::now();
    for (const auto& f : faults) EXPECT_EQ(netlab(f + " >/dev/null"), 0) << f;
    std::this_thread::sleep_until(fault_at_ + hold);
    if (during) during();
    n503_ = load_->answered_between(503, fault_at_, Clock::now());
    accepted_during_ = load_->accepted_between(fault_at_, Clock::now());
    heal_at_ = Clock::now();
    EXPECT_EQ(netlab("heal >/dev/null"), 0);
    std::string missing;
    double recovery = probes_->all_decided_since(heal_at_, events_, missing);
    EXPECT_GE(recovery, 0) << "claims not decided again after the heal:" << missing;
    std::string why;
    replicated_ = wait_fully_replicated(180s, &why);
    EXPECT_GE(replicated_, 0) << "not fully replicated after the heal: " << why;
    return recovery;
  }

  void finish(const std::string& scenario, const std::string& fault, double recovery) {
    std::this_thread::sleep_for(3s);
    load_->stop();
    std::ostringstream faults;
    faults << std::fixed << std::setprecision(1) << fault << " (during it: " << accepted_during_ << " x 202, " << n503_
           << " x 503; after the heal: " << decided_text(recovery) << ", ISR full " << replicated_
           << " s later; services restarted by their supervisor: " << service_restarts() - restarts_ << ")";
    std::cout << "PARTITION | " << scenario << " | " << faults.str() << " |" << std::endl;
    std::string out;
    bool projections = projections_match(events_, load_->accepted(), 90, &out);
    EXPECT_TRUE(projections) << "allotctl verify --projections --accepted:\n" << out;
    verify_and_report(scenario, faults.str(), *log_, events_, *load_, recovery, projections);
  }

  bool lab_ = false;
  std::unique_ptr<DecisionLog> log_;
  std::unique_ptr<ProbeWatch> probes_;
  std::vector<std::string> events_;
  std::unique_ptr<ClaimLoad> load_;
  int restarts_ = 0;
  Clock::time_point fault_at_, heal_at_;
  int n503_ = 0, accepted_during_ = 0;
  double replicated_ = 0;
};

// The broker that leads the most partitions of allot.commands, cut off from every other host for 20 s:
// the controller fences it (broker session 9 s) and its partitions get new leaders among the other two.
TEST_F(Partitions, TheBusiestLeaderIsolated) {
  start_load("pisol");
  const int node = fault_order(true).front();
  const auto name = kafka_service(node);
  double recovery = hold_and_heal({"isolate " + name}, 20s, [&] {
    auto view = read_cluster();
    EXPECT_EQ(view.brokers.size(), 2u) << "the metadata does not show the two brokers left (" << view.not_replicated
                                       << ")";
    EXPECT_EQ(view.brokers.count(node), 0u) << name << " is still in the cluster's metadata, isolated";
  });
  finish("partition: busiest leader isolated 20 s", "isolate " + name + " 20 s", recovery);
}

// The minority side: the busiest leader cut from the other two brokers only, while the ingress, the
// processors and the sinks still reach it. Its partitions cannot reach min.insync.replicas (2) there, so its
// producers' writes wait, and it is fenced from the controller quorum: leadership moves to the majority side.
TEST_F(Partitions, TheBusiestLeaderCutFromTheOtherBrokersOnly) {
  start_load("pminor");
  const int node = fault_order(true).front();
  const auto name = kafka_service(node);
  const auto cuts = against_other_brokers("cut", node);
  const int majority = node % 3 + 1;  // a broker of the majority side, whose metadata is the cluster's
  double recovery = hold_and_heal(cuts, 20s, [&] {
    auto view = read_cluster(broker_address(majority));
    int led = 0;
    for (const auto& [broker, n] : view.commands_leading) led += n;
    EXPECT_EQ(led, 12) << "the majority's metadata does not show a leader for every partition of allot.commands";
    EXPECT_EQ(view.commands_leading[node], 0) << name << " still leads partitions of allot.commands there";
  });
  finish("partition: busiest leader cut from the other brokers 20 s",
         name + " cut from both other brokers 20 s (clients still reach it)", recovery);
}

// Each broker in turn isolated for 12 s, while the ingress still reaches the other two: /readyz stays 200 (and
// so no claim is refused for want of a broker), whichever broker the ingress's readiness probe had been asking.
TEST_F(Partitions, TheIngressStaysReadyWhileAnyOneBrokerIsIsolated) {
  start_load("pready");
  ReadyzWatch readyz;
  std::ostringstream faults;
  double worst = 0;
  for (int node = 1; node <= 3; ++node) {
    const auto name = kafka_service(node);
    double recovery = hold_and_heal({"isolate " + name}, 12s);
    worst = worst < 0 || recovery < 0 ? -1 : std::max(worst, recovery);
    const int not_ready = readyz.not_ready_between(fault_at_, heal_at_);
    EXPECT_EQ(not_ready, 0) << "/readyz answered 503 with " << name << " isolated and two brokers up";
    faults << name << " isolated 12 s: /readyz " << not_ready << " x 503, " << n503_ << " x 503 to claims; ";
  }
  finish("partition: each broker isolated in turn 12 s, ingress readiness", faults.str(), worst);
}

// processor-1 cut from the broker that coordinates its transactions (transactional.id allot-processor-1) while it
// still reaches every partition leader and its group's coordinator: before the cut that broker hands the
// leadership of every partition of allot.* and __consumer_offsets to the other two (bench/netlab leaders-away;
// it keeps __transaction_state's, so it stays the coordinator). processor-1 fetches and writes, but cannot commit:
// its transaction times out and it is fenced (a new epoch) before it commits anything, never a zombie.
TEST_F(Partitions, AProcessorCutFromItsTransactionCoordinator) {
  const int coordinator = transaction_coordinator("allot-processor-1");
  ASSERT_GE(coordinator, 1) << "no coordinator for allot-processor-1 in the metadata";
  const auto name = kafka_service(coordinator);
  ASSERT_EQ(netlab("leaders-away " + name + " >/dev/null"), 0);
  auto led_by_coordinator = [&](const ClusterView& v) {
    auto it = v.leading.find(coordinator);
    return it == v.leading.end() ? 0 : it->second;
  };
  ClusterView view;
  for (int i = 0; i < 120; ++i) {  // bounded: until the metadata shows it leads none of them (<= 60 s)
    view = read_cluster();
    if (led_by_coordinator(view) == 0 && view.brokers.size() == 3) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(led_by_coordinator(view), 0) << name << " still leads partitions of allot.* or __consumer_offsets";
  ASSERT_EQ(transaction_coordinator("allot-processor-1"), coordinator) << "the coordinator moved with the leaders";
  ASSERT_NE(group_coordinator("allot-processor"), coordinator);

  start_load("pcoord");
  double recovery = hold_and_heal({"cut processor-1 " + name}, 30s, [&] {
    EXPECT_EQ(led_by_coordinator(read_cluster()), 0)
        << name << " led a partition again during the cut: processor-1 did not reach every leader";
  });
  finish("partition: processor cut from its transaction coordinator 30 s",
         "processor-1 cut from " + name + " (its transaction coordinator) 30 s", recovery);
}

// The ingress cut from two brokers of three: a claim whose partition is led there cannot be written (503 at
// the delivery timeout), the others go on; nothing it answered 202 may be lost.
TEST_F(Partitions, TheIngressCutFromTwoBrokersOfThree) {
  start_load("pingress");
  double recovery = hold_and_heal({"cut ingress kafka-1", "cut ingress kafka-2"}, 20s);
  finish("partition: ingress cut from kafka-1 and kafka-2 20 s", "ingress cut from kafka-1 and kafka-2 20 s", recovery);
}

// Asymmetric: the busiest leader reaches the other brokers, they cannot reach its listening ports (so its
// followers cannot fetch from it, nor the controller's side call it), 20 s.
TEST_F(Partitions, TheBusiestLeaderReachesTheOthersButTheyCannotReachIt) {
  start_load("poneway");
  const int node = fault_order(true).front();
  const auto name = kafka_service(node);
  double recovery = hold_and_heal(against_other_brokers("oneway", node), 20s);
  finish("partition: one way, the others cannot reach the busiest leader 20 s",
         name + " reaches the other brokers, they cannot reach its ports, 20 s", recovery);
}

// 10% of the packets every host sends into the lab dropped, 30 s.
TEST_F(Partitions, TenPercentLossOnEveryLink) {
  start_load("ploss");
  double recovery = hold_and_heal({"loss 10"}, 30s);
  finish("partition: 10% loss on every link 30 s", "10% packet loss on every link 30 s", recovery);
}

// 100 ms +- 20 ms on every packet every host sends into the lab (allot-netdelay behind NFQUEUE: this kernel
// has no netem), 30 s: a round trip of ~200 ms between any two hosts.
TEST_F(Partitions, HundredMillisecondsDelayWithJitterOnEveryLink) {
  start_load("pdelay");
  double recovery = hold_and_heal({"delay 100 20"}, 30s);
  finish("partition: 100 ms +- 20 ms delay on every link 30 s", "100 ms +- 20 ms delay on every link 30 s", recovery);
}

// A flapping link: the busiest leader cut from the other brokers for 3 s, whole for 3 s, five times.
TEST_F(Partitions, TheBusiestLeadersLinksFlapping) {
  start_load("pflap");
  const int node = fault_order(true).front();
  const auto name = kafka_service(node);
  const auto others = other_brokers(node);
  // bench/netlab flap returns after the fifth cut has healed (~27 s).
  double recovery = hold_and_heal({"flap " + name + " " + others[0] + "," + others[1] + " 3 3 5"}, 0s);
  finish("partition: busiest leader's links flapping 3 s cut / 3 s whole x 5",
         name + " cut from both other brokers 3 s, whole 3 s, five times", recovery);
}

// The harness cleans up after itself: a scenario that fails (exit 7) or is interrupted (SIGTERM) inside
// `bench/netlab run` leaves no namespace, veth, bridge or rule table behind. Needs root, not the lab's stack.
TEST(Netlab, LeavesNothingBehindAfterAFailingOrInterruptedScenario) {
  ASSERT_FALSE(in_the_lab()) << "this test tears the lab down: run it outside it (ctest -L integration)";
  ASSERT_EQ(sh("bench/netlab leftovers"), 0) << "a lab is up already (bench/netlab down removes it)";
  const std::string seen = run_dir() + "/netlab-leftovers-during.txt";
  int status =
      sh("bench/netlab run --network-only -- bash -c 'bench/netlab cut kafka-1 kafka-2 && bench/netlab "
         "oneway ingress kafka-3 && bench/netlab loss 10 && bench/netlab delay 50 10 && (bench/netlab leftovers >" +
         seen + "; exit 7)' >/dev/null");
  EXPECT_EQ(status, 7) << "bench/netlab run does not pass the scenario's failure on";
  std::ifstream during(seen);
  std::string text((std::istreambuf_iterator<char>(during)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("namespace allot-kafka-1"), std::string::npos) << "the lab was not up during the scenario:\n"
                                                                     << text;
  EXPECT_NE(text.find("rules table"), std::string::npos) << "no rules during the scenario:\n" << text;
  EXPECT_NE(text.find("delayer"), std::string::npos) << "no delayer during the scenario:\n" << text;
  EXPECT_EQ(sh("bench/netlab leftovers"), 0) << "left behind after a failing scenario";

  status = sh("timeout -s TERM 5 bench/netlab run --network-only -- sleep 60 >/dev/null");
  EXPECT_EQ(status, 124) << "the run was not interrupted by timeout's SIGTERM";
  EXPECT_EQ(sh("bench/netlab leftovers"), 0) << "left behind after an interrupted scenario";
}

}  // namespace
}  // namespace allot
