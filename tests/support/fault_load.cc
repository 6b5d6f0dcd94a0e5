#include "fault_load.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "topics/verify.h"

namespace allot::testsupport {

using namespace std::chrono_literals;

ClaimLoad::ClaimLoad(std::vector<std::string> events, int per_second, int max_requests)
    : events_(std::move(events)), per_second_(per_second), max_(max_requests) {
  thread_ = std::thread([this] { run(); });
}
ClaimLoad::~ClaimLoad() { stop(); }

void ClaimLoad::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> ClaimLoad::accepted() const {
  std::lock_guard lock(mu_);
  return accepted_;
}

std::map<int, int> ClaimLoad::statuses() const {
  std::lock_guard lock(mu_);
  return statuses_;
}

int ClaimLoad::accepted_between(FaultClock::time_point from, FaultClock::time_point to) const {
  return answered_between(202, from, to);
}

int ClaimLoad::answered_between(int status, FaultClock::time_point from, FaultClock::time_point to) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [t, s] : answered_at_) n += s == status && t >= from && t <= to;
  return n;
}

void ClaimLoad::run() {
  HttpClient http(http_port());
  auto next = FaultClock::now();
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
    answered_at_.emplace_back(FaultClock::now(), status);
    if (status == 202) accepted_.push_back(id);
  }
}

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

double seconds_until_processing(DecisionLog& log, const std::string& event) {
  auto started = FaultClock::now();
  HttpClient http(http_port());
  size_t before = log.decisions().size();
  for (int i = 0; i < 120; ++i) {  // the ingress may answer 503 while the broker comes back
    int status = 0;
    try {
      status = http.post_json("/api/events/" + event + "/claims", R"({"user_id":"probe-)" + std::to_string(i) + "\"}")
                   .status;
    } catch (const std::exception&) {
      status = 0;  // the ingress itself restarting: try again
    }
    if (status == 202) break;
    std::this_thread::sleep_for(500ms);
  }
  log.wait_for({event}, before + 1, 120s);
  return std::chrono::duration<double>(FaultClock::now() - started).count();
}

bool verify_and_report(const std::string& scenario, const std::string& faults, DecisionLog& log,
                       const std::vector<std::string>& events, const ClaimLoad& load, double recovery_s,
                       bool extra_ok) {
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
  bool clean = report.ok() && all && extra_ok;
  auto statuses = load.statuses();
  std::cout << std::fixed << std::setprecision(1) << "FAULTS | " << scenario << " | " << faults << " | sent "
            << load.sent() << ", 202: " << statuses[202] << ", 503: " << statuses[503]
            << ", refused: " << statuses[0] << " | " << (clean ? "clean" : "VIOLATED") << " (" << report.decisions
            << " decisions, " << report.violations.size() << " violations"
            << (extra_ok ? "" : ", projections differ") << ") | ";
  if (recovery_s < 0) {
    std::cout << "none: claims not decided again while faulted |\n" << std::flush;  // see the test's output
  } else {
    std::cout << recovery_s << " s |\n" << std::flush;
  }
  return clean;
}

bool projections_match(const std::vector<std::string>& events, const std::vector<std::string>& accepted,
                       int attempts, std::string* output) {
  std::string list;
  for (const auto& e : events) list += (list.empty() ? "" : ",") + e;
  auto base = std::filesystem::temp_directory_path() / unique_id("allot-verify");
  std::string accepted_file = base.string() + ".accepted", out_file = base.string() + ".out";
  std::string command = std::string(ALLOT_BUILD_DIR) + "/topics/allotctl verify --projections --events " + list;
  if (!accepted.empty()) {
    std::ofstream f(accepted_file);
    for (const auto& id : accepted) f << id << "\n";
    command += " --accepted " + accepted_file;
  }
  int rc = 1;
  for (int i = 0; i < attempts && rc != 0; ++i) {
    rc = sh(command + " >" + out_file + " 2>&1");
    if (rc != 0) std::this_thread::sleep_for(1s);
  }
  if (output) {
    std::ifstream in(out_file);
    std::stringstream s;
    s << in.rdbuf();
    *output = s.str();
  }
  std::filesystem::remove(accepted_file);
  std::filesystem::remove(out_file);
  return rc == 0;
}

}  // namespace allot::testsupport
