// Faults while claims flow, modelled on Kafka's own transaction system tests (broker bounces, hard-killed
// clients, a read_committed verifier requiring 0 duplicates and output == input) and Jepsen's Kafka
// checker (lost, duplicated, aborted, unseen). After each fault: every request answered 202 has exactly
// one decision and every invariant of DESIGN §4 holds. Each scenario prints one FAULTS line that
// bench/run-faults collects into bench/FAULTS.md (the load and the check: tests/support/fault_load.h).
// Loopback only; every loop bounded.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "fault_load.h"
#include "support.h"
#include "topics/verify.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class Faults : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0); }
  void TearDown() override { ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0); }
};

void broker_bounce(const std::string& scenario, int signal) {
  DecisionLog log;
  auto events = create_events(4, 300, "bounce");
  ClaimLoad load(events, 200, 6000);
  std::this_thread::sleep_for(3s);
  int pid = signal_service("kafka", signal);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_gone(pid, 60s));
  auto down_from = Clock::now();
  // While the broker is down: /readyz says so, and no claim is answered 202.
  HttpClient http(http_port());
  int ready_status = 0;
  for (int i = 0; i < 40 && ready_status != 503; ++i) {
    ready_status = http.request("GET", "/readyz").status;
    if (ready_status != 503) std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(ready_status, 503) << "/readyz while the broker is down";
  std::this_thread::sleep_for(4s);
  // A 202 is only possible for a command the broker stored before it stopped (in flight at the kill).
  int accepted_while_down = load.accepted_between(down_from + 500ms, Clock::now());
  EXPECT_EQ(accepted_while_down, 0) << "202 answered while the broker was down";
  auto restart = Clock::now();
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
  double recovery =
      std::chrono::duration<double>(Clock::now() - restart).count() + seconds_until_processing(log, events[0]);
  std::this_thread::sleep_for(3s);
  load.stop();
  verify_and_report(scenario, signal == SIGKILL ? "kafka kill -9, restart" : "kafka SIGTERM, restart", log, events,
                    load, recovery);
}

TEST_F(Faults, BrokerBounceClean) { broker_bounce("broker bounce (clean)", SIGTERM); }
TEST_F(Faults, BrokerBounceKillNine) { broker_bounce("broker bounce (kill -9)", SIGKILL); }

TEST_F(Faults, ProcessorKilledThreeTimesAtDifferentPoints) {
  DecisionLog log;
  auto events = create_events(6, 400, "kill3");
  ClaimLoad load(events, 300, 9000);
  double recovery = 0;
  for (auto [name, wait] : {std::pair{"processor-1", 2s}, std::pair{"processor-2", 3s}, std::pair{"processor-1", 1s}}) {
    std::this_thread::sleep_for(wait);
    int pid = signal_service(name, SIGKILL);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(wait_gone(pid, 10s));
    std::this_thread::sleep_for(1s);
    auto restart = Clock::now();
    ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
    recovery = std::max(recovery, std::chrono::duration<double>(Clock::now() - restart).count() +
                                      seconds_until_processing(log, events[0]));
  }
  std::this_thread::sleep_for(2s);
  load.stop();
  verify_and_report("processor kill -9 x3", "kill -9 processor-1, -2, -1", log, events, load, recovery);
}

TEST_F(Faults, ASecondProcessorWithTheSameTransactionalIdFencesTheFirst) {
  DecisionLog log;
  auto events = create_events(4, 300, "fence");
  ClaimLoad load(events, 200, 5000);
  std::this_thread::sleep_for(2s);
  int old_pid = signal_service("processor-1", 0);
  ASSERT_GT(old_pid, 0);
  auto dir = std::filesystem::temp_directory_path() / unique_id("allot-fence");
  int impostor = spawn(std::string(ALLOT_BUILD_DIR) + "/processors/allot-processor",
                       {"ALLOT_INSTANCE_ID=processor-1", "ALLOT_STATE_DIR=" + dir.string(), "ALLOT_METRICS_PORT=9198",
                        "ALLOT_KAFKA_BROKERS=" + brokers()},
                       run_dir() + "/fence-test.log");
  // The old processor is fenced on its next transaction and exits non-zero; it writes nothing more.
  bool old_gone = wait_gone(old_pid, 60s);
  EXPECT_TRUE(old_gone) << "the fenced processor kept running";
  std::this_thread::sleep_for(3s);
  load.stop();
  auto accepted = load.accepted();
  log.wait_for(events, accepted.size() + events.size(), 120s);
  EXPECT_TRUE(stop_process(impostor, SIGTERM, 30s));
  std::filesystem::remove_all(dir);
  auto restart = Clock::now();
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
  double recovery =
      std::chrono::duration<double>(Clock::now() - restart).count() + seconds_until_processing(log, events[0]);
  verify_and_report("fencing", "second processor-1 (same transactional id)", log, events, load, recovery);
}

TEST_F(Faults, AProcessorStoppedPastTheTransactionTimeoutThenResumed) {
  DecisionLog log;
  auto events = create_events(4, 300, "sigstop");
  ClaimLoad load(events, 200, 8000);
  std::this_thread::sleep_for(2s);
  int pid = signal_service("processor-2", SIGSTOP);
  ASSERT_GT(pid, 0);
  std::this_thread::sleep_for(20s);  // past the session (10 s) and transaction (15 s) timeouts
  auto resumed = Clock::now();
  ::kill(pid, SIGCONT);
  double recovery = seconds_until_processing(log, events[0]);
  std::this_thread::sleep_for(3s);
  load.stop();
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);  // if the zombie exited (fenced), bring it back
  (void)resumed;
  verify_and_report("SIGSTOP 20 s, SIGCONT", "processor-2 paused past txn timeout", log, events, load, recovery);
}

TEST_F(Faults, DatabasesStoppedForAWhileTheSinksCatchUp) {
  DecisionLog log;
  auto events = create_events(3, 300, "dbdown");
  ClaimLoad load(events, 200, 5000);
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(sh("scripts/stack stop mariadb >/dev/null"), 0);
  std::this_thread::sleep_for(5s);
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
  ASSERT_EQ(sh("scripts/stack stop redis >/dev/null"), 0);
  std::this_thread::sleep_for(5s);
  auto restart = Clock::now();
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);
  load.stop();
  // The sinks lose nothing: once the databases are back, the projections equal the decisions.
  auto accepted = load.accepted();
  ASSERT_TRUE(log.wait_for(events, accepted.size() + events.size(), 120s));
  std::string list;
  for (const auto& e : events) list += (list.empty() ? "" : ",") + e;
  int rc = 1;
  for (int i = 0; i < 60 && rc != 0; ++i) {  // bounded: the sinks back off up to 5 s between retries
    rc = sh("build/topics/allotctl verify --projections --events " + list + " >/dev/null 2>&1");
    if (rc != 0) std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(rc, 0) << "projections did not catch up: run allotctl verify --projections --events " << list;
  double recovery = std::chrono::duration<double>(Clock::now() - restart).count();
  verify_and_report("MariaDB then Redis down 5 s each", "stop mariadb; stop redis", log, events, load, recovery);
}

// Processors scaled 1 -> 4 -> 1 while claims flow (as in cluster_faults_test, on one broker): the partitions
// move six times, one processor dies by kill -9; the ingress has no reason to answer 503.
TEST_F(Faults, ProcessorsScaledOneToFourToOneUnderLoad) {
  DecisionLog log;
  ProbeWatch probes;
  auto events = create_events(4, 300, "scale");
  ClaimLoad load(events, 200, 20000);
  std::this_thread::sleep_for(2s);
  auto run = scale_processors_one_four_one(probes, events);
  std::this_thread::sleep_for(2s);
  load.stop();
  EXPECT_EQ(load.statuses()[503], 0) << "503s while only processors changed";
  verify_and_report("processors scaled 1 -> 4 -> 1", run.faults, log, events, load, run.recovery);
}

}  // namespace
}  // namespace allot
