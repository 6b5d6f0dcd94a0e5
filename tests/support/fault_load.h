#pragma once
// Shared by the fault tests (tests/integration/faults_test.cc, one broker; cluster_faults_test.cc, three):
// claims flowing through the HTTP ingress while a fault is injected, the time until claims are decided
// again, and the end-of-scenario check that prints one FAULTS line for bench/run-faults (bench/FAULTS.md).
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
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
  // `rooms`: the events with a waiting room, which get joins (POST .../queue) instead of claims.
  ClaimLoad(std::vector<std::string> events, int per_second, int max_requests, std::set<std::string> rooms = {});
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
  std::set<std::string> rooms_;
  int per_second_, max_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  mutable std::mutex mu_;
  std::vector<std::string> accepted_;
  std::vector<std::pair<FaultClock::time_point, int>> answered_at_;  // (when, status) of every answer
  std::map<int, int> statuses_;
  std::thread thread_;
};

// Decisions of the probes' own request ids, from allot.decisions (read_committed), from construction on.
class ProbeWatch {
 public:
  // `rooms`: events with a waiting room, probed with a join instead of a claim.
  explicit ProbeWatch(std::set<std::string> rooms = {}) : tail_("allot.decisions"), rooms_(std::move(rooms)) {}
  // Seconds from `from` until a fresh claim on every one of `events` has been decided: one claim per event,
  // each retried (0.5 s apart, at most 240 rounds) until answered 202, then all awaited together (up to
  // 120 s). -1 when one was not; `missing` then names the events whose claim was not accepted or decided.
  // The tail's consumer is replaced every 30 s of that wait in which a probe stays undecided (one left behind
  // on a partition is not the system's delay); `missing` says whether an undecided one is in the log after all.
  double all_decided_since(FaultClock::time_point from, const std::vector<std::string>& events, std::string& missing);

 private:
  TopicTail tail_;
  std::set<std::string> rooms_;
  int probes_ = 0;
};

// What scale_processors_one_four_one() did: the faults text of the FAULTS line, and the worst time from a
// step until claims on every event were decided again (-1: after some step they were not).
struct ScaleRun {
  std::string faults;
  double recovery = 0;
};

// Scales the processors 1 -> 4 -> 1 while claims flow (issue 12), so the partitions of allot.commands move
// six times: stops all but processor-1, starts processor-2, -3, -4 one at a time (scripts/stack start), then
// stops processor-4 (SIGTERM), processor-3 (kill -9, no restart: its partitions wait for the session timeout)
// and processor-2 (SIGTERM). After each step it waits until the running processors own every partition
// between them, each at least one, and a fresh claim on every event is decided; EXPECTs both.
// Leaves processor-1 alone running (and no extra processor, also when a step fails); `scripts/stack up`
// brings back the others.
ScaleRun scale_processors_one_four_one(ProbeWatch& probes, const std::vector<std::string>& events);

// Creates `n` events of `stock` units through the admin API; EXPECTs each 202.
std::vector<std::string> create_events(int n, int stock, const std::string& prefix);

// Creates `n` events of `stock` units in turn first come first served, hold (holds of 5 s, which the ticks
// expire) and with a waiting room (20 admitted a second); adds the waiting rooms to `rooms`. EXPECTs each 202.
std::vector<std::string> create_mixed_events(int n, int stock, const std::string& prefix, std::set<std::string>& rooms);

// The path of a load's request on `event`: a join when it has a waiting room, else a claim.
std::string request_path(const std::string& event, const std::set<std::string>& rooms);

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
bool projections_match(const std::vector<std::string>& events, const std::vector<std::string>& accepted, int attempts,
                       std::string* output = nullptr);

}  // namespace allot::testsupport
