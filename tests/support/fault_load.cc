#include "fault_load.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "topics/verify.h"

namespace allot::testsupport {

using namespace std::chrono_literals;

ClaimLoad::ClaimLoad(std::vector<std::string> events, int per_second, int max_requests, std::set<std::string> rooms)
    : events_(std::move(events)), rooms_(std::move(rooms)), per_second_(per_second), max_(max_requests) {
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
  HttpClient http(http_port(), http_host());
  auto next = FaultClock::now();
  for (int i = 0; i < max_ && !stop_; ++i) {
    const auto& event = events_[static_cast<size_t>(i) % events_.size()];
    const auto user = "load-" + std::to_string(i / static_cast<int>(events_.size()));
    const auto headers = as_user(user);  // signed before its turn, off the request's time
    // Paced; a load that fell behind (slow answers) starts again from now instead of catching up in a burst
    // (which, against an ingress restarting, turned one second of refused connections into thousands).
    next = std::max(next + std::chrono::microseconds(1000000 / per_second_), FaultClock::now() - 1s);
    std::this_thread::sleep_until(next);
    int status = 0;
    std::string id;
    try {
      auto r = http.post_json(request_path(event, rooms_), R"({"user_id":")" + user + "\"}", headers);
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
  HttpClient http(http_port(), http_host());
  for (int i = 0; i < n; ++i) {
    events.push_back(unique_id(prefix));
    auto r = http.post_json("/api/events",
                            nlohmann::json{{"event_id", events.back()}, {"title", "Fault"}, {"stock", stock}}.dump(),
                            {{"Authorization", "Bearer " + admin_token()}});
    EXPECT_EQ(r.status, 202) << r.body;
  }
  return events;
}

std::vector<std::string> create_mixed_events(int n, int stock, const std::string& prefix,
                                             std::set<std::string>& rooms) {
  std::vector<std::string> events;
  HttpClient http(http_port(), http_host());
  for (int i = 0; i < n; ++i) {
    events.push_back(unique_id(prefix));
    nlohmann::json body{{"event_id", events.back()}, {"title", "Fault"}, {"stock", stock}};
    if (i % 3 == 1) {
      body["mode"] = "hold";
      body["hold_ms"] = 5000;
    } else if (i % 3 == 2) {
      body["admit_per_s"] = 20;
      rooms.insert(events.back());
    }
    auto r = http.post_json("/api/events", body.dump(), {{"Authorization", "Bearer " + admin_token()}});
    EXPECT_EQ(r.status, 202) << r.body;
  }
  return events;
}

std::string request_path(const std::string& event, const std::set<std::string>& rooms) {
  return "/api/events/" + event + (rooms.count(event) ? "/queue" : "/claims");
}

double seconds_until_processing(DecisionLog& log, const std::string& event) {
  auto started = FaultClock::now();
  HttpClient http(http_port(), http_host());
  size_t before = log.decisions().size();
  for (int i = 0; i < 120; ++i) {  // the ingress may answer 503 while the broker comes back
    int status = 0;
    try {
      const auto user = "probe-" + std::to_string(i);
      status =
          http.post_json("/api/events/" + event + "/claims", R"({"user_id":")" + user + "\"}", as_user(user)).status;
    } catch (const std::exception&) {
      status = 0;  // the ingress itself restarting: try again
    }
    if (status == 202) break;
    std::this_thread::sleep_for(500ms);
  }
  log.wait_for({event}, before + 1, 120s);
  return std::chrono::duration<double>(FaultClock::now() - started).count();
}

double ProbeWatch::all_decided_since(FaultClock::time_point from, const std::vector<std::string>& events,
                                     std::string& missing) {
  HttpClient http(http_port(), http_host());
  std::map<std::string, std::string> id_of;  // event -> its probe's request id
  for (int round = 0; round < 240 && id_of.size() < events.size(); ++round) {
    for (const auto& e : events) {
      if (id_of.count(e)) continue;
      try {
        const auto user = "probe-" + std::to_string(++probes_);
        auto r = http.post_json(request_path(e, rooms_), R"({"user_id":")" + user + "\"}", as_user(user));
        if (r.status == 202) id_of[e] = nlohmann::json::parse(r.body).at("request_id").get<std::string>();
      } catch (const std::exception&) {
        // the ingress restarting: the next round tries again
      }
    }
    if (id_of.size() < events.size()) std::this_thread::sleep_for(500ms);
  }
  std::map<std::string, double> decided_s;  // probe request id -> seconds from `from` until its decision was read
  auto since_from = [&] { return std::chrono::duration<double>(FaultClock::now() - from).count(); };
  auto is_probe = [&](const std::string& id) {
    return std::any_of(id_of.begin(), id_of.end(), [&](const auto& kv) { return kv.second == id; });
  };
  auto all_seen = [&] {
    return std::all_of(id_of.begin(), id_of.end(), [&](const auto& kv) { return decided_s.count(kv.second) > 0; });
  };
  auto decision_id = [](const RdKafka::Message& m) {
    return topics::decode_decision(std::string_view(static_cast<const char*>(m.payload()), m.len())).request_id;
  };
  // Up to 120 s in four slices. A consumer can stay behind on a partition whose leader moved during the fault
  // (librdkafka 2.0.2) while the decision is in the log: after a slice without every probe, the tail goes on
  // with a fresh consumer from where it got.
  for (int slice = 0; slice < 4 && !all_seen(); ++slice) {
    if (slice > 0) {
      std::cerr << "ProbeWatch: probes undecided after " << 30 * slice << " s; reopening the tail's consumer\n";
      try {
        tail_.reopen();
      } catch (const std::exception& e) {
        std::cerr << "ProbeWatch: " << e.what() << "\n";
      }
    }
    tail_.read_until(
        [&](const RdKafka::Message& m) {
          auto id = decision_id(m);
          if (is_probe(id)) decided_s.try_emplace(id, since_from());
        },
        all_seen, 30s);
  }
  // For the message only: whether an undecided probe's decision is in the log after all (then the test's
  // consumer, not the system, is what failed), read again with a fresh consumer.
  std::set<std::string> in_log;
  std::string reread_error;
  if (!all_seen() && !id_of.empty()) {
    try {
      tail_.reread(
          [&](const RdKafka::Message& m) {
            auto id = decision_id(m);
            if (is_probe(id) && !decided_s.count(id)) in_log.insert(id);
          },
          30s);
    } catch (const std::exception& e) {
      reread_error = e.what();
    }
  }
  missing.clear();
  double latest = 0;
  for (const auto& e : events) {
    auto it = id_of.find(e);
    if (it == id_of.end()) {
      missing += " " + e + " (no 202)";
    } else if (auto d = decided_s.find(it->second); d != decided_s.end()) {
      latest = std::max(latest, d->second);
    } else if (in_log.count(it->second)) {
      missing += " " + e + " (undecided in time; in the log when read again)";
    } else {
      missing += " " + e + " (undecided; " + (reread_error.empty() ? "not in the log" : reread_error) + ")";
    }
  }
  return missing.empty() ? latest : -1;
}

namespace {

// Partitions processor-K owns now (its allot_processor_assigned_partitions gauge on the metrics port
// scripts/stack gives it), -1 when it does not answer.
int owned_partitions(int k) {
  const char* base = std::getenv("ALLOT_PROCESSOR_METRICS_BASE");
  try {
    HttpClient http((base && *base ? std::stoi(base) : 9100) + k);
    std::istringstream metrics(http.request("GET", "/metrics").body);
    for (std::string line; std::getline(metrics, line);) {
      if (line.rfind("allot_processor_assigned_partitions ", 0) == 0) return std::stoi(line.substr(line.rfind(' ')));
    }
  } catch (const std::exception&) {
    // stopped, or not serving yet
  }
  return -1;
}

// Waits (0.5 s apart, at most 180 times) until processors 1..n own all `partitions` between them, each at
// least one; returns the counts last read, "6 6" (a -1 or a short sum when that never happened).
std::string wait_balanced(int n, int partitions, bool& balanced) {
  std::ostringstream owned;
  balanced = false;
  for (int i = 0; i < 180 && !balanced; ++i) {
    if (i > 0) std::this_thread::sleep_for(500ms);
    owned.str("");
    int sum = 0;
    bool each = true;
    for (int k = 1; k <= n; ++k) {
      int p = owned_partitions(k);
      owned << (k > 1 ? " " : "") << p;
      sum += p;
      each = each && p > 0;
    }
    balanced = each && sum == partitions;
  }
  return owned.str();
}

}  // namespace

ScaleRun scale_processors_one_four_one(ProbeWatch& probes, const std::vector<std::string>& events) {
  struct Step {
    std::string what, command;
    int processors;  // running after the step: processor-1..N
  };
  const std::vector<Step> steps{
      {"processor-1 alone", "scripts/stack stop processor-2 processor-3 processor-4", 1},
      {"start processor-2", "scripts/stack start processor-2", 2},
      {"start processor-3", "scripts/stack start processor-3", 3},
      {"start processor-4", "scripts/stack start processor-4", 4},
      {"stop processor-4", "scripts/stack stop processor-4", 3},
      {"kill -9 processor-3", "scripts/stack stop --kill processor-3", 2},
      {"stop processor-2", "scripts/stack stop processor-2", 1},
  };
  auto producer = kafka::make_producer({{"bootstrap.servers", brokers()}});
  int partitions = kafka::partition_count(*producer, "allot.commands", 10s);
  ScaleRun run;
  std::ostringstream owned_text;
  for (const auto& step : steps) {
    auto at = FaultClock::now();
    if (sh(step.command + " >/dev/null") != 0) {
      ADD_FAILURE() << step.command << " failed";
      sh("scripts/stack stop processor-3 processor-4 >/dev/null");  // `up` would leave these extras running
      run.recovery = -1;
      break;
    }
    bool balanced = false;
    auto owned = wait_balanced(step.processors, partitions, balanced);
    EXPECT_TRUE(balanced) << "after " << step.what << ", processor-1.." << step.processors << " own " << owned << " of "
                          << partitions << " partitions";
    std::string missing;
    double decided = probes.all_decided_since(at, events, missing);
    EXPECT_GE(decided, 0) << "claims not decided again after " << step.what << ":" << missing;
    run.recovery = run.recovery < 0 || decided < 0 ? -1 : std::max(run.recovery, decided);
    std::cout << std::fixed << std::setprecision(1) << "SCALE | " << step.what << " | partitions owned " << owned
              << " | claims decided again " << decided << " s after |" << std::endl;
    owned_text << (owned_text.tellp() > 0 ? " | " : "") << owned;
    std::this_thread::sleep_until(at + 6s);  // a few seconds of load on this many processors
  }
  run.faults =
      "processors 1 -> 2 -> 3 -> 4 -> 3 (SIGTERM) -> 2 (kill -9) -> 1 (SIGTERM), ~6 s apart; "
      "partitions owned " +
      owned_text.str();
  return run;
}

bool verify_and_report(const std::string& scenario, const std::string& faults, DecisionLog& log,
                       const std::vector<std::string>& events, const ClaimLoad& load, double recovery_s,
                       bool extra_ok) {
  auto accepted = load.accepted();
  // What landed, read again from the start with a fresh consumer each time (the live tail lived through the
  // fault), until every accepted claim is decided: by request id, since probes add decisions too and a
  // count would stop while a backlog of accepted claims is still undecided. Bounded: 60 rounds.
  size_t undecided = accepted.size();
  for (int i = 0; i < 60 && undecided > 0; ++i) {
    log.reread(events, 120s);
    std::set<std::string> decided;
    for (const auto& d : log.decisions()) decided.insert(d.request_id);
    undecided = std::count_if(accepted.begin(), accepted.end(), [&](const auto& id) { return !decided.count(id); });
    if (undecided > 0) std::this_thread::sleep_for(3s);
  }
  bool all = undecided == 0;
  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(all) << undecided << " of " << accepted.size() << " accepted claims undecided";
  EXPECT_TRUE(report.ok()) << report.summary();
  bool clean = report.ok() && all && extra_ok;
  auto statuses = load.statuses();
  std::cout << std::fixed << std::setprecision(1) << "FAULTS | " << scenario << " | " << faults << " | sent "
            << load.sent() << ", 202: " << statuses[202] << ", 503: " << statuses[503] << ", refused: " << statuses[0]
            << " | " << (clean ? "clean" : "VIOLATED") << " (" << report.decisions << " decisions, "
            << report.violations.size() << " violations" << (extra_ok ? "" : ", projections differ") << ") | ";
  if (recovery_s < 0) {
    std::cout << "none: claims not decided again while faulted |\n" << std::flush;  // see the test's output
  } else {
    std::cout << recovery_s << " s |\n" << std::flush;
  }
  return clean;
}

bool projections_match(const std::vector<std::string>& events, const std::vector<std::string>& accepted, int attempts,
                       std::string* output) {
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
