#pragma once
// Shared by the fault tests (tests/integration/faults_test.cc, one broker; cluster_faults_test.cc, three):
// claims flowing through the HTTP ingress while a fault is injected, the time until claims are decided
// again, and the end-of-scenario check that prints one FAULTS line for bench/run-faults (bench/FAULTS.md).
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support.h"

namespace allot::testsupport {

using FaultClock = std::chrono::steady_clock;

// Claims through the HTTP ingress from a background thread, paced, over a few events, recording
// every answer. Bounded by `max_requests` and by stop().
class ClaimLoad {
 public:
  ClaimLoad(std::vector<std::string> events, int per_second, int max_requests);
  ~ClaimLoad();
  ClaimLoad(const ClaimLoad&) = delete;
  ClaimLoad& operator=(const ClaimLoad&) = delete;
  void stop();
  std::vector<std::string> accepted() const;
  std::map<int, int> statuses() const;
  // 202s answered between `from` and `to` (by the time the answer came back).
  int accepted_between(FaultClock::time_point from, FaultClock::time_point to) const;
  // Answers with `status` between `from` and `to` (0: the connection was refused or reset).
  int answered_between(int status, FaultClock::time_point from, FaultClock::time_point to) const;
  int sent() const { return sent_.load(); }

 private:
  void run();
  std::vector<std::string> events_;
  int per_second_, max_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  mutable std::mutex mu_;
  std::vector<std::string> accepted_;
  std::vector<std::pair<FaultClock::time_point, int>> answered_at_;  // (when, status) of every answer
  std::map<int, int> statuses_;
  std::thread thread_;
};

// Creates `n` events of `stock` units through the admin API; EXPECTs each 202.
std::vector<std::string> create_events(int n, int stock, const std::string& prefix);

// Time until a fresh claim is decided: the system is processing again. Probes (at most 120, 0.5 s apart)
// until one is answered 202, then waits up to 120 s for its decision.
double seconds_until_processing(DecisionLog& log, const std::string& event);

// Waits for every accepted claim's decision (reading allot.decisions again from the start with a fresh
// consumer), checks every invariant of DESIGN §4 (topics::verify), EXPECTs them and prints the FAULTS
// line: "FAULTS | scenario | faults | sent N, 202: a, 503: b, refused: c | verdict (...) | recovery s |".
// `extra_ok` false (e.g. the projections did not match) also makes the verdict VIOLATED.
// A negative `recovery_s` (the system never decided claims again during the fault) prints "none: ...".
// Returns whether the verdict is clean.
bool verify_and_report(const std::string& scenario, const std::string& faults, DecisionLog& log,
                       const std::vector<std::string>& events, const ClaimLoad& load, double recovery_s,
                       bool extra_ok = true);

// `allotctl verify --projections` over `events`, retried (1 s apart, at most `attempts`) until MySQL and
// Redis equal the decisions: the sinks back off up to 5 s between retries. With `accepted` non-empty its
// ids go to --accepted too. Returns whether it passed; the last run's output goes to `output`.
bool projections_match(const std::vector<std::string>& events, const std::vector<std::string>& accepted,
                       int attempts, std::string* output = nullptr);

}  // namespace allot::testsupport
