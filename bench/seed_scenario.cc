// allot-seed: the seed scenario through the real HTTP ingress: N distinct users claim one event of
// stock S at once; waits for every decision, checks the invariants on what landed, prints a report.
//
//   allot-seed [--users 10000] [--stock 100] [--concurrency 64]
//
// Needs the stack up (scripts/stack up). Every user's token is signed with the stack's secret before the
// clock starts (testsupport::as_user). Accept latency is the HTTP 202 (the broker has the command);
// decision latency is from the request's send to the decision's decided_at.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support.h"
#include "topics/verify.h"

namespace {

using namespace allot;
using namespace allot::testsupport;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int users = 10000, stock = 100, concurrency = 64;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--users") users = std::stoi(args[i + 1]);
    else if (args[i] == "--stock") stock = std::stoi(args[i + 1]);
    else if (args[i] == "--concurrency") concurrency = std::stoi(args[i + 1]);
  }
  try {
    DecisionLog log;
    const auto event = unique_id("seed");
    HttpClient admin(http_port());
    auto created = admin.post_json(
        "/api/events", nlohmann::json{{"event_id", event}, {"title", "Seed scenario"}, {"stock", stock}}.dump(),
        {{"Authorization", "Bearer " + admin_token()}});
    if (created.status != 202) throw std::runtime_error("create event: " + created.body);

    // Each user's signed token, made before the timed part.
    std::vector<Headers> auth;
    auth.reserve(static_cast<size_t>(users));
    for (int u = 0; u < users; ++u) auth.push_back(as_user("seed-user-" + std::to_string(u)));

    std::mutex mu;
    std::vector<std::string> accepted;
    std::vector<double> accept_ms;
    std::map<std::string, int64_t> sent_at;  // request id -> wall-clock ms at send
    std::map<int, int> statuses;
    int64_t last_accepted_wall = 0;  // wall-clock ms when the last 202 arrived
    auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < concurrency; ++t) {
      threads.emplace_back([&, t] {
        HttpClient http(http_port());
        for (int u = t; u < users; u += concurrency) {
          int64_t wall = now_ms();
          auto t0 = Clock::now();
          HttpResponse r;
          try {
            r = http.post_json("/api/events/" + event + "/claims",
                               R"({"user_id":"seed-user-)" + std::to_string(u) + "\"}", auth[static_cast<size_t>(u)]);
          } catch (const std::exception&) {
            r.status = 0;  // connection error
          }
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          std::lock_guard lock(mu);
          ++statuses[r.status];
          if (r.status == 202) {
            auto id = nlohmann::json::parse(r.body).at("request_id").get<std::string>();
            accepted.push_back(id);
            accept_ms.push_back(ms);
            sent_at[id] = wall;
            last_accepted_wall = std::max(last_accepted_wall, now_ms());
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    double accept_secs = std::chrono::duration<double>(Clock::now() - started).count();
    bool all = log.wait_for({event}, accepted.size() + 1, std::chrono::seconds(300));
    double answer_secs = std::chrono::duration<double>(Clock::now() - started).count();
    log.wait_for({event}, accepted.size() + 2, std::chrono::seconds(2));  // catch any duplicate decision

    std::vector<double> decision_ms;
    int64_t last_decided_at = 0;
    for (const auto& d : log.decisions()) {
      if (auto it = sent_at.find(d.request_id); it != sent_at.end()) {
        decision_ms.push_back(static_cast<double>(d.decided_at - it->second));
        last_decided_at = std::max(last_decided_at, d.decided_at);
      }
    }
    auto report = topics::verify({{}, log.decisions(), accepted});
    std::cout << std::fixed << std::setprecision(1);
    std::cout << "seed scenario: event " << event << ", " << users << " users, stock " << stock << ", " << concurrency
              << " concurrent HTTP connections\n\n"
              << "| figure | value |\n|---|---:|\n"
              << "| claims accepted (202) | " << accepted.size() << " of " << users << " |\n";
    for (const auto& [status, n] : statuses) {
      if (status != 202)
        std::cout << "| answered " << (status ? std::to_string(status) : "connection error") << " | " << n << " |\n";
    }
    std::cout << "| accepted/s | " << static_cast<double>(accepted.size()) / accept_secs << " |\n"
              << "| answered (decided)/s, end to end | " << static_cast<double>(log.decisions().size()) / answer_secs
              << " |\n"
              << "| accept latency p50 / p95 / p99 (ms) | " << percentile(accept_ms, 0.5) << " / "
              << percentile(accept_ms, 0.95) << " / " << percentile(accept_ms, 0.99) << " |\n"
              << "| decision latency p50 / p95 / p99 (ms) | " << percentile(decision_ms, 0.5) << " / "
              << percentile(decision_ms, 0.95) << " / " << percentile(decision_ms, 0.99) << " |\n"
              << "| all decided after (s) | " << answer_secs << " |\n"
              << "| last 202 to last decision (ms; decided_at is the processor's clock, the same machine) | "
              << static_cast<double>(last_decided_at - last_accepted_wall) << " |\n"
              << "| issued / sold_out / duplicate | " << report.outcomes["issued"] << " / "
              << report.outcomes["sold_out"] << " / " << report.outcomes["duplicate"] << " |\n\n"
              << "integrity: " << report.summary() << "\n";
    return all && report.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "allot-seed: " << e.what() << "\n";
    return 1;
  }
}
