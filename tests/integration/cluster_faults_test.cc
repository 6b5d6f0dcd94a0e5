// Faults of a 3-node KRaft cluster (ALLOT_KAFKA_NODES=3 scripts/stack up) while claims flow through the
// HTTP ingress (issue 12): each broker restarted cleanly in turn, each broker killed (-9) in turn (the
// leaders of allot.commands first), the active controller paused past the broker session timeout, and a
// sink killed while a broker is down. Topics have replication 3 and min.insync.replicas 2, so one broker
// down must cost no accepted claim: 503s are allowed while a partition has no leader (the ingress's
// readiness is one metadata request with a 1 s timeout), a 202 that is then lost is not. Every scenario
// ends with the fault tests' check (tests/support/fault_load.h: every 202 decided exactly once, no
// oversell, gap-free sequences, per-user limits, first come first served) plus `allotctl verify
// --projections --accepted` (MySQL and Redis equal the decisions), and prints one FAULTS line for
// bench/run-faults --nodes 3 (bench/FAULTS.md).
//
// Labels `fault` and `cluster`: scripts/test (one broker) excludes `cluster`. Pointed at fewer than three
// brokers the test FAILS (it does not skip). Environment as for the stack: ALLOT_RUN_DIR, the ports,
// ALLOT_KAFKA_NODES=3 and ALLOT_KAFKA_BROKERS=$(scripts/stack brokers). Loopback only; every loop bounded.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cluster.h"
#include "common/kafka.h"
#include "fault_load.h"
#include "support.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ClusterFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    int nodes = configured_nodes();
    ASSERT_GE(nodes, 3) << "cluster_faults_test needs a 3-node Kafka cluster and this stack has " << nodes
                        << " node(s): ALLOT_KAFKA_NODES=3 scripts/stack up (a separate ALLOT_RUN_DIR and ports), "
                           "ALLOT_KAFKA_BROKERS=$(scripts/stack brokers), or bench/run-faults --nodes 3";
    cluster_ = true;
    ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
    auto v = read_cluster();
    ASSERT_GE(v.brokers.size(), 3u)
        << "ALLOT_KAFKA_BROKERS=" << brokers() << " reaches a cluster of " << v.brokers.size() << " broker(s) ("
        << v.not_replicated << "); cluster_faults_test needs 3: export ALLOT_KAFKA_BROKERS=$(scripts/stack brokers)";
    std::string why;
    ASSERT_GE(wait_fully_replicated(180s, &why), 0) << "the cluster is not fully replicated before the fault: " << why;
  }
  void TearDown() override {
    if (!cluster_) return;  // never start a stack the test refused
    if (load_) load_->stop();
    for (int node = 1; node <= 3; ++node) signal_service(kafka_service(node), SIGCONT);  // a paused node, if failed
    ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
    std::string why;
    EXPECT_GE(wait_fully_replicated(180s, &why), 0) << "not fully replicated after the scenario: " << why;
  }

  // The scenario's start: `n` fresh events of 500 units, claims on them at 150/s, 3 s of it before the fault.
  void start_load(int n, const std::string& prefix) {
    log_ = std::make_unique<DecisionLog>();  // both read allot.decisions from here on
    probes_ = std::make_unique<ProbeWatch>();
    events_ = create_events(n, 500, prefix);
    load_ = std::make_unique<ClaimLoad>(events_, 150, 100000);
    readyz_ = std::make_unique<ReadyzWatch>();
    std::this_thread::sleep_for(3s);
    restarts_ = service_restarts();
  }

  // Verifies the scenario (the fault tests' check and the projections) and prints its FAULTS line.
  void finish(const std::string& scenario, const std::string& faults, double recovery) {
    load_->stop();
    int restarts = service_restarts() - restarts_;
    std::string out;
    bool projections = projections_match(events_, load_->accepted(), 90, &out);
    EXPECT_TRUE(projections) << "allotctl verify --projections --accepted:\n" << out;
    std::cout << "allotctl verify: " << out;
    verify_and_report(scenario, faults + "; allot services restarted by their supervisor: " + std::to_string(restarts),
                      *log_, events_, *load_, recovery, projections);
  }

  // Each broker in turn: `signal` (SIGTERM: a controlled shutdown; SIGKILL: none), down for 15 s
  // (past the broker session timeout, 9 s), `scripts/stack up`, then fully replicated again before the next.
  void each_broker(const std::string& scenario, int signal, bool leaders_first, const std::string& prefix) {
    start_load(8, prefix);
    double recovery = 0;
    std::ostringstream faults;
    faults << std::fixed << std::setprecision(1) << (signal == SIGKILL ? "kill -9" : "SIGTERM");
    for (int node : fault_order(leaders_first)) {
      auto name = kafka_service(node);
      auto fault_at = Clock::now();
      int pid = signal_service(name, signal);
      ASSERT_GT(pid, 0) << name;
      ASSERT_TRUE(wait_gone(pid, 60s)) << name << " did not exit";
      double gone = since(fault_at);
      // With two of three brokers the claims go on: a fresh claim on every event decided again.
      std::string missing;
      double decided = probes_->all_decided_since(fault_at, events_, missing);
      EXPECT_GE(decided, 0) << "claims not decided again with " << name << " down:" << missing;
      recovery = recovery < 0 || decided < 0 ? -1 : std::max(recovery, decided);
      std::this_thread::sleep_until(fault_at + 15s);  // load on two brokers, past the session timeout
      int n503 = load_->answered_between(503, fault_at, Clock::now());
      // Two brokers hold every partition: the ingress stays ready (503s come only from commands whose
      // partition lost its leader, at the delivery timeout).
      int not_ready = readyz_->not_ready_between(fault_at, Clock::now());
      EXPECT_EQ(not_ready, 0) << "/readyz answered 503 with " << name << " down and two brokers up";
      auto restart = Clock::now();
      ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
      double rejoined = since(restart);
      std::string why;
      double replicated = wait_fully_replicated(180s, &why);
      ASSERT_GE(replicated, 0) << name << " back, but the cluster is not fully replicated: " << why;
      std::cout << std::fixed << std::setprecision(1) << "CLUSTER | " << scenario << " | " << name << " | exited "
                << gone << " s | claims " << decided_text(decided) << " after the fault | 503: " << n503
                << " while down | /readyz 503: " << not_ready << " | up again " << rejoined << " s, ISR full "
                << replicated + rejoined << " s after the restart |"
                << (missing.empty() ? "" : " not decided:" + missing) << std::endl;
      faults << " " << name << " (" << n503 << " x 503, /readyz " << not_ready << " x 503, " << decided_text(decided)
             << ", ISR full " << replicated + rejoined << " s after restart);";
    }
    std::this_thread::sleep_for(3s);
    finish(scenario, faults.str() + " restart each with scripts/stack up", recovery);
  }

  bool cluster_ = false;
  std::unique_ptr<DecisionLog> log_;
  std::unique_ptr<ProbeWatch> probes_;
  std::vector<std::string> events_;
  std::unique_ptr<ClaimLoad> load_;
  std::unique_ptr<ReadyzWatch> readyz_;
  int restarts_ = 0;  // service_restarts() when the fault began
};

TEST_F(ClusterFaults, EachBrokerRestartedCleanlyInTurn) {
  each_broker("3 nodes: each broker SIGTERM, restart", SIGTERM, false, "cterm");
}

TEST_F(ClusterFaults, EachBrokerKilledInTurnCommandLeadersFirst) {
  each_broker("3 nodes: each broker kill -9, restart", SIGKILL, true, "ckill");
}

TEST_F(ClusterFaults, ActiveControllerPausedPastTheSessionTimeout) {
  start_load(8, "cstop");
  int controller = active_controller();
  ASSERT_GE(controller, 1) << "no active controller in the nodes' quorum-state files under " << run_dir();
  auto name = kafka_service(controller);
  auto paused_at = Clock::now();
  int pid = signal_service(name, SIGSTOP);
  ASSERT_GT(pid, 0) << name;
  std::string missing;
  double decided = probes_->all_decided_since(paused_at, events_, missing);
  EXPECT_GE(decided, 0) << "claims not decided again with the controller " << name << " paused:" << missing;
  std::this_thread::sleep_until(paused_at + 20s);  // past broker.session.timeout.ms (9 s): fenced
  int successor = active_controller();
  EXPECT_NE(successor, controller) << "no other node took over as the active controller";
  int n503 = load_->answered_between(503, paused_at, Clock::now());
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  std::string why;
  double replicated = wait_fully_replicated(180s, &why);
  ASSERT_GE(replicated, 0) << name << " resumed, but the cluster is not fully replicated: " << why;
  std::this_thread::sleep_for(3s);
  std::ostringstream faults;
  faults << std::fixed << std::setprecision(1) << "SIGSTOP active controller " << name << " 20 s, SIGCONT (" << n503
         << " x 503, " << decided_text(decided) << ", controller now kafka-" << successor << ", ISR full " << replicated
         << " s after SIGCONT)";
  std::cout << "CLUSTER | controller pause | " << faults.str() << " |" << std::endl;
  finish("3 nodes: active controller paused 20 s", faults.str(), decided);
}

TEST_F(ClusterFaults, ASinkKilledWhileABrokerIsDown) {
  start_load(6, "csink");
  int node = fault_order(true).front();
  auto name = kafka_service(node);
  auto fault_at = Clock::now();
  int pid = signal_service(name, SIGKILL);
  ASSERT_GT(pid, 0) << name;
  ASSERT_TRUE(wait_gone(pid, 60s));
  std::this_thread::sleep_for(3s);
  // The sinks' supervisor restarts them a second later: they rejoin their groups with a broker missing.
  int mysql = signal_service("sink-mysql", SIGKILL), redis = signal_service("sink-redis", SIGKILL);
  ASSERT_GT(mysql, 0);
  ASSERT_GT(redis, 0);
  std::string missing;
  double decided = probes_->all_decided_since(fault_at, events_, missing);
  EXPECT_GE(decided, 0) << "claims not decided again with " << name << " down:" << missing;
  std::this_thread::sleep_until(fault_at + 15s);
  int n503 = load_->answered_between(503, fault_at, Clock::now());
  auto restart = Clock::now();
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
  std::string why;
  double replicated = wait_fully_replicated(180s, &why);
  ASSERT_GE(replicated, 0) << name << " back, but the cluster is not fully replicated: " << why;
  double back = since(restart);
  std::this_thread::sleep_for(3s);
  std::ostringstream faults;
  faults << std::fixed << std::setprecision(1) << "kill -9 " << name
         << ", 3 s later kill -9 sink-mysql and sink-redis (" << n503 << " x 503, " << decided_text(decided)
         << "), restart " << name << " (ISR full " << back << " s after)";
  finish("3 nodes: sinks killed while a broker is down", faults.str(), decided);
}

// Processors scaled 1 -> 4 -> 1 while claims flow (three brokers): the partitions move six times, one
// processor dies by kill -9; no claim accepted may be lost or decided twice, and no ingress 503 is expected.
TEST_F(ClusterFaults, ProcessorsScaledOneToFourToOneUnderLoad) {
  start_load(8, "cscale");
  auto run = scale_processors_one_four_one(*probes_, events_);
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(load_->statuses()[503], 0) << "503s while only processors changed";
  finish("3 nodes: processors scaled 1 -> 4 -> 1", run.faults, run.recovery);
}

}  // namespace
}  // namespace allot
