// Faults while claims flow, modelled on Kafka's own transaction system tests (broker bounces, hard-killed
// clients, a read_committed verifier requiring 0 duplicates and output == input) and Jepsen's Kafka
// checker (lost, duplicated, aborted, unseen). After each fault: every request answered 202 has exactly
// one decision and every invariant of DESIGN §4 holds. Each scenario prints one FAULTS line that
// bench/run-faults collects into bench/FAULTS.md. Loopback only; every loop bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support.h"
#include "topics/verify.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Claims through the HTTP ingress from a background thread, paced, over a few events, recording
// every answer. Bounded by `max_requests` and by stop().
class ClaimLoad {
 public:
  ClaimLoad(std::vector<std::string> events, int per_second, int max_requests)
      : events_(std::move(events)), per_second_(per_second), max_(max_requests) {
    thread_ = std::thread([this] { run(); });
  }
  ~ClaimLoad() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  std::map<int, int> statuses() const {
    std::lock_guard lock(mu_);
    return statuses_;
  }
  // 202s answered between `from` and `to` (by the time the answer came back).
  int accepted_between(Clock::time_point from, Clock::time_point to) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (auto t : accepted_at_) n += t >= from && t <= to;
    return n;
  }
  int sent() const { return sent_.load(); }

 private:
  void run() {
    HttpClient http(http_port());
    auto next = Clock::now();
    for (int i = 0; i < max_ && !stop_; ++i) {
      next += std::chrono::microseconds(1000000 / per_second_);
      std::this_thread::sleep_until(next);
      const auto& event = events_[static_cast<size_t>(i) % events_.size()];
      int status = 0;
      std::string id;
      try {
        auto r = http.post_json("/api/events/" + event + "/claims",
                                R"({"user_id":"load-)" + std::to_string(i / static_cast<int>(events_.size())) + "\"}");
        status = r.status;
        if (status == 202) id = nlohmann::json::parse(r.body).at("request_id").get<std::string>();
      } catch (const std::exception&) {
        status = 0;  // connection refused/reset: never a 202
      }
      ++sent_;
      std::lock_guard lock(mu_);
      ++statuses_[status];
      if (status == 202) {
        accepted_.push_back(id);
        accepted_at_.push_back(Clock::now());
      }
    }
  }
  std::vector<std::string> events_;
  int per_second_, max_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  mutable std::mutex mu_;
  std::vector<std::string> accepted_;
  std::vector<Clock::time_point> accepted_at_;
  std::map<int, int> statuses_;
  std::thread thread_;
};

std::vector<std::string> create_events(int n, int stock, const std::string& prefix) {
  std::vector<std::string> events;
  HttpClient http(http_port());
  for (int i = 0; i < n; ++i) {
    events.push_back(unique_id(prefix));
    auto r = http.post_json("/api/events",
                            nlohmann::json{{"event_id", events.back()}, {"title", "Fault"}, {"stock", stock}}.dump(),
                            {{"Authorization", "Bearer " + admin_token()}});
    EXPECT_EQ(r.status, 202) << r.body;
  }
  return events;
}

// Time until a fresh claim is decided: the system is processing again.
double seconds_until_processing(DecisionLog& log, const std::string& event) {
  auto started = Clock::now();
  HttpClient http(http_port());
  size_t before = log.decisions().size();
  for (int i = 0; i < 120; ++i) {  // the ingress may answer 503 while the broker comes back
    auto r = http.post_json("/api/events/" + event + "/claims", R"({"user_id":"probe-)" + std::to_string(i) + "\"}");
    if (r.status == 202) break;
    std::this_thread::sleep_for(500ms);
  }
  log.wait_for({event}, before + 1, 120s);
  return std::chrono::duration<double>(Clock::now() - started).count();
}

// Waits for every accepted claim's decision, checks the invariants, prints the FAULTS line.
void verify_and_report(const std::string& scenario, const std::string& faults, DecisionLog& log,
                       const std::vector<std::string>& events, const ClaimLoad& load, double recovery_s) {
  auto accepted = load.accepted();
  size_t creates = events.size();
  // Probes add decisions too; wait until at least every accepted claim and create is decided.
  // What landed, read again from the start with a fresh consumer each time (the live tail lived through the
  // fault), until every accepted claim is decided. Bounded: 60 rounds.
  bool all = false;
  for (int i = 0; i < 60 && !all; ++i) {
    log.reread(events, 120s);
    all = log.decisions().size() >= accepted.size() + creates;
    if (!all) std::this_thread::sleep_for(3s);
  }
  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(all) << log.decisions().size() << " decisions for " << accepted.size() << " accepted";
  EXPECT_TRUE(report.ok()) << report.summary();
  auto statuses = load.statuses();
  std::cout << std::fixed << std::setprecision(1) << "FAULTS | " << scenario << " | " << faults << " | sent "
            << load.sent() << ", 202: " << statuses[202] << ", 503: " << statuses[503]
            << ", refused: " << statuses[0] << " | " << (report.ok() && all ? "clean" : "VIOLATED") << " ("
            << report.decisions << " decisions, " << report.violations.size() << " violations) | " << recovery_s
            << " s |\n";
}

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
  double recovery = std::chrono::duration<double>(Clock::now() - restart).count() +
                    seconds_until_processing(log, events[0]);
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
  double recovery = std::chrono::duration<double>(Clock::now() - restart).count() + seconds_until_processing(log, events[0]);
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

}  // namespace
}  // namespace allot
