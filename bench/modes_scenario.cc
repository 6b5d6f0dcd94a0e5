// allot-seed-modes: the seed scenario for the other event modes, through the real HTTP ingress.
//
//   allot-seed-modes --mode raffle [--users 10000] [--stock 100] [--concurrency 64]
//       every user enters once, then the admin closes the raffle: entries/s, the draw's time, the winners.
//   allot-seed-modes --mode hold [--users 10000] [--stock 100] [--hold-ms 2000] [--unpaid 0.3] [--concurrency 64]
//       every user claims at once; holders confirm, except a fixed share (`unpaid`) who never pay; when
//       their holds expire, the next sold-out users in line (in the order they were decided) claim again,
//       round after round, until the whole stock is confirmed.
//   allot-seed-modes --mode room [--users 10000] [--stock 100] [--admit-per-s 1000] [--concurrency 64]
//       every user joins the event's waiting room at once; once all are admitted (at admit_per_s), each
//       asks for its admission token and claims with it; admission latency comes from the log.
//
// All end with topics::verify over what landed in allot.decisions (held + issued <= stock at every
// offset, every hold ends once, the draw re-derived from the log). Needs the stack up (scripts/stack up).
// Every user's token is signed with the stack's secret once, before the timed part (testsupport::as_user).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "support.h"
#include "topics/verify.h"

namespace {

using namespace allot;
using namespace allot::testsupport;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string mode;
  int users = 10000, stock = 100, concurrency = 64, hold_ms = 2000, admit_per_s = 1000;
  double unpaid = 0.3;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs session(http, i) for every user i over `concurrency` connections.
void for_each_user(size_t users, int concurrency, const std::function<void(HttpClient&, size_t)>& session) {
  std::vector<std::thread> threads;
  for (size_t t = 0; t < static_cast<size_t>(concurrency); ++t) {
    threads.emplace_back([&, t] {
      HttpClient http(http_port());
      for (size_t i = t; i < users; i += static_cast<size_t>(concurrency)) session(http, i);
    });
  }
  for (auto& th : threads) th.join();
}

// Every user's Authorization header, signed once before the timed part and reused.
class Tokens {
 public:
  explicit Tokens(const std::vector<std::string>& users) {
    for (const auto& u : users) headers_.emplace(u, as_user(u));
  }
  const Headers& of(const std::string& user) const { return headers_.at(user); }

 private:
  std::unordered_map<std::string, Headers> headers_;
};

// POSTs {"user_id": user} to `path` as `user` (`auth`: its token); a connection error is status 0.
HttpResponse post_user(HttpClient& http, const std::string& path, const std::string& user, const Headers& auth) {
  try {
    return http.post_json(path, json{{"user_id", user}}.dump(), auth);
  } catch (const std::exception&) {
    return {};
  }
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string body_field(const HttpResponse& r, const char* name) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains(name) && j.at(name).is_string() ? j.at(name).get<std::string>() : "";
}

void create(const json& body) {
  HttpClient admin(http_port());
  auto r = admin.post_json("/api/events", body.dump(), {{"Authorization", "Bearer " + admin_token()}});
  if (r.status != 202) throw std::runtime_error("create event: " + r.body);
}

size_t count(const DecisionLog& log, std::string_view type, topics::Outcome outcome) {
  const auto& ds = log.decisions();
  return static_cast<size_t>(
      std::count_if(ds.begin(), ds.end(), [&](const auto& d) { return d.type == type && d.outcome == outcome; }));
}

int raffle(const Options& o) {
  DecisionLog log;
  const auto event = unique_id("seed-raffle");
  create({{"event_id", event},
          {"title", "Seed raffle"},
          {"stock", o.stock},
          {"mode", "raffle"},
          {"closes_at", 4102444800000}});
  std::vector<std::string> users, accepted;
  for (int u = 0; u < o.users; ++u) users.push_back("seed-user-" + std::to_string(u));
  const Tokens tokens(users);
  auto started = Clock::now();
  std::vector<HttpResponse> answers(users.size());
  std::vector<double> accept_ms(users.size());
  for_each_user(users.size(), o.concurrency, [&](HttpClient& http, size_t i) {
    auto t0 = Clock::now();
    answers[i] = post_user(http, "/api/events/" + event + "/claims", users[i], tokens.of(users[i]));
    accept_ms[i] = ms_since(t0);
  });
  double accept_s = seconds_since(started);
  for (const auto& r : answers) {
    if (r.status == 202) accepted.push_back(body_field(r, "request_id"));
  }
  bool all = log.wait_for({event}, accepted.size() + 1, std::chrono::seconds(300));
  double entered_s = seconds_since(started);

  HttpClient admin(http_port());
  auto close_started = Clock::now();
  int64_t close_wall = now_ms();
  auto closed = admin.request("POST", "/api/events/" + event + "/close?wait_ms=30000", "",
                              {{"Authorization", "Bearer " + admin_token()}});
  double close_answer_ms = seconds_since(close_started) * 1000;
  if (closed.status == 200 || closed.status == 202) accepted.push_back(body_field(closed, "request_id"));
  const size_t total = 1 + accepted.size() + accepted.size() - 1;  // create, entries, close, a result per entry
  all = log.wait_for({event}, total, std::chrono::seconds(300)) && all;
  int64_t last_result = 0;
  for (const auto& d : log.decisions()) {
    if (d.type == topics::kDrawResult) last_result = std::max(last_result, d.decided_at);
  }
  auto report = topics::verify({{}, log.decisions(), accepted});
  std::cout << std::fixed << std::setprecision(1) << "raffle: event " << event << ", " << o.users << " users, stock "
            << o.stock << ", " << o.concurrency << " concurrent HTTP connections\n\n"
            << "| figure | value |\n|---|---:|\n"
            << "| entries accepted (202) | " << accepted.size() - 1 << " of " << o.users << " |\n"
            << "| entries accepted/s | " << static_cast<double>(accepted.size() - 1) / accept_s << " |\n"
            << "| accept latency p50 / p99 (ms) | " << percentile(accept_ms, 0.5) << " / "
            << percentile(accept_ms, 0.99) << " |\n"
            << "| all entries decided after (s) | " << entered_s << " |\n"
            << "| close answered (with the drawn decision) after (ms) | " << close_answer_ms << " |\n"
            << "| close sent to the last draw result decided (ms) | " << static_cast<double>(last_result - close_wall)
            << " |\n"
            << "| entered / won / lost | " << count(log, "claim", topics::Outcome::kEntered) << " / "
            << count(log, topics::kDrawResult, topics::Outcome::kWon) << " / "
            << count(log, topics::kDrawResult, topics::Outcome::kLost) << " |\n"
            << "| winners re-derived from the log | " << report.draws[event].size() << " |\n\n"
            << "integrity: " << report.summary() << "\n";
  return all && report.ok() && closed.status == 200 ? 0 : 1;
}

int hold(const Options& o) {
  DecisionLog log;
  const auto event = unique_id("seed-hold");
  create({{"event_id", event}, {"title", "Seed holds"}, {"stock", o.stock}, {"mode", "hold"}, {"hold_ms", o.hold_ms}});
  // A user never pays when the hash of their id falls in the unpaid share: fixed, so runs compare.
  auto pays = [&](const std::string& user) {
    return static_cast<double>(std::hash<std::string>{}(user) % 1000) >= o.unpaid * 1000;
  };
  std::vector<std::string> users, accepted, line;  // line: sold-out users in decision order
  for (int u = 0; u < o.users; ++u) users.push_back("seed-user-" + std::to_string(u));
  const Tokens tokens(users);
  const std::string claims = "/api/events/" + event + "/claims?wait_ms=10000";
  std::mutex mu;
  std::vector<std::pair<int64_t, std::string>> sold_out;  // (decided_at, user): the order they were answered
  std::vector<double> first_ms;
  size_t claims_sent = 0, holds = 0, unpaid = 0, confirmed = 0, answered = 0;
  // One user's visit: claim; when held, pay at once (confirm) unless this user never pays.
  auto visit = [&](HttpClient& http, const std::string& user, bool first_wave) {
    const auto& auth = tokens.of(user);
    auto t0 = Clock::now();
    auto r = post_user(http, claims, user, auth);
    double ms = ms_since(t0);
    auto status = body_field(r, "status");
    HttpResponse paid;
    if (status == "held" && pays(user)) {
      paid = post_user(http, "/api/claims/" + body_field(r, "request_id") + "/confirm?wait_ms=10000", user, auth);
    }
    std::lock_guard lock(mu);
    if (first_wave) first_ms.push_back(ms);
    ++claims_sent;
    answered += r.status == 200;
    accepted.push_back(body_field(r, "request_id"));
    if (status == "sold_out")
      sold_out.emplace_back(json::parse(r.body, nullptr, false).value("decided_at", int64_t{0}), user);
    if (status != "held") return;
    ++holds;
    if (paid.status == 0) {
      ++unpaid;
      return;
    }
    accepted.push_back(body_field(paid, "request_id"));
    confirmed += body_field(paid, "status") == "confirmed";
  };
  auto started = Clock::now();
  for_each_user(users.size(), o.concurrency, [&](HttpClient& http, size_t i) { visit(http, users[i], true); });
  double claimed_s = seconds_since(started);
  std::sort(sold_out.begin(), sold_out.end());
  for (const auto& [at, user] : sold_out) line.push_back(user);
  // Round after round: the unpaid holds expire (by the ticks), and as many users as came free step up
  // from the line, in the order they were turned away.
  int rounds = 0;
  size_t next_in_line = 0, expired_seen = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(300);
  while (confirmed < static_cast<size_t>(o.stock) && next_in_line < line.size() && Clock::now() < deadline &&
         rounds < 200) {
    ++rounds;
    while (count(log, topics::kHoldExpired, topics::Outcome::kExpired) < unpaid && Clock::now() < deadline) {
      log.wait_for({event}, log.decisions().size() + 1, std::chrono::seconds(1));
    }
    size_t freed = count(log, topics::kHoldExpired, topics::Outcome::kExpired) - expired_seen;
    expired_seen += freed;
    size_t end = std::min(line.size(), next_in_line + freed);
    for_each_user(end - next_in_line, o.concurrency,
                  [&](HttpClient& http, size_t i) { visit(http, line[next_in_line + i], false); });
    next_in_line = end;
  }
  double sold_s = seconds_since(started);
  // Every request's decision, and an expiry for every hold that was not confirmed.
  const size_t total = 1 + accepted.size() + holds - confirmed;
  bool all = log.wait_for({event}, total, std::chrono::seconds(120));
  log.wait_for({event}, total + 1, std::chrono::seconds(2));  // a decision too many would show here
  auto report = topics::verify({{}, log.decisions(), accepted});
  std::cout << std::fixed << std::setprecision(1) << "hold: event " << event << ", " << o.users << " users, stock "
            << o.stock << ", hold_ms " << o.hold_ms << ", " << o.unpaid * 100 << "% of holders never pay, "
            << o.concurrency << " concurrent HTTP connections\n\n"
            << "| figure | value |\n|---|---:|\n"
            << "| claims answered with their decision (200) | " << answered << " of " << claims_sent << " |\n"
            << "| first wave: users/s (claim, then confirm when held), claim answer p50 / p99 (ms) | "
            << static_cast<double>(o.users) / claimed_s << ", " << percentile(first_ms, 0.5) << " / "
            << percentile(first_ms, 0.99) << " |\n"
            << "| rounds until the stock was confirmed | " << rounds << " |\n"
            << "| holds made / confirmed / expired (unpaid) | " << holds << " / " << confirmed << " / "
            << count(log, topics::kHoldExpired, topics::Outcome::kExpired) << " |\n"
            << "| holds of a unit an expiry had released (the next arrivals took it) | "
            << (holds > static_cast<size_t>(o.stock) ? holds - static_cast<size_t>(o.stock) : 0) << " |\n"
            << "| sold-out users called back from the line after the first wave | " << next_in_line << " |\n"
            << "| whole stock confirmed after (s) | " << sold_s << " |\n\n"
            << "integrity: " << report.summary() << "\n";
  return all && confirmed == static_cast<size_t>(o.stock) && report.ok() ? 0 : 1;
}

// The waiting room: everyone joins at once, is admitted at admit_per_s, then claims with its token.
int room(const Options& o) {
  DecisionLog log;
  const auto event = unique_id("seed-room");
  create({{"event_id", event}, {"title", "Seed room"}, {"stock", o.stock}, {"admit_per_s", o.admit_per_s}});
  if (!log.wait_for({event}, 1, std::chrono::seconds(60))) throw std::runtime_error("the event was not created");
  std::vector<std::string> users, joins(static_cast<size_t>(o.users)), accepted;
  for (int u = 0; u < o.users; ++u) users.push_back("seed-user-" + std::to_string(u));
  const Tokens tokens(users);
  auto started = Clock::now();
  std::vector<double> join_ms(users.size());
  for_each_user(users.size(), o.concurrency, [&](HttpClient& http, size_t i) {
    auto t0 = Clock::now();
    auto r = post_user(http, "/api/events/" + event + "/queue", users[i], tokens.of(users[i]));
    join_ms[i] = ms_since(t0);
    if (r.status == 202) joins[i] = body_field(r, "request_id");
  });
  const double join_s = seconds_since(started);
  for (const auto& id : joins) {
    if (!id.empty()) accepted.push_back(id);
  }
  // Every join decided, then every queued one admitted. Admissions arrive among the joins' own decisions,
  // so the queued joins are counted only once every join is decided.
  auto joins_decided = [&] {
    const auto& ds = log.decisions();
    return static_cast<size_t>(std::count_if(ds.begin(), ds.end(), [](const auto& d) { return d.type == "join"; }));
  };
  for (int round = 0; round < 300 && joins_decided() < accepted.size(); ++round) {
    (void)log.wait_for({event}, 1 + accepted.size() + count(log, "join", topics::Outcome::kQueued),
                       std::chrono::seconds(1));
  }
  bool all = joins_decided() == accepted.size();
  const size_t queued = count(log, "join", topics::Outcome::kQueued);
  all = log.wait_for({event}, 1 + accepted.size() + queued, std::chrono::seconds(300)) && all;
  const double admitted_s = seconds_since(started);
  std::map<std::string, int64_t> joined_at;
  std::vector<const topics::Decision*> admissions;
  for (const auto& d : log.decisions()) {
    if (d.type == "join") joined_at[d.request_id] = d.received_at;
    if (d.outcome == topics::Outcome::kAdmitted) admissions.push_back(&d);
  }
  std::vector<double> wait_ms;
  // Second of stream time since the opening (the create: no opens_at) -> admissions, the processor's windows.
  std::map<int64_t, int64_t> per_second;
  int64_t opened = 0;
  for (const auto& d : log.decisions()) {
    if (d.type == "create_event") opened = d.received_at;
  }
  const int64_t first =
      joined_at.empty() ? 0 : std::min_element(joined_at.begin(), joined_at.end(), [](auto& a, auto& b) {
                                return a.second < b.second;
                              })->second;
  int64_t last_admission = first;
  for (const auto* d : admissions) {
    wait_ms.push_back(static_cast<double>(d->decided_at - joined_at[d->request_id]));
    ++per_second[(d->received_at - opened) / 1000];
    last_admission = std::max(last_admission, d->received_at);
  }
  int64_t busiest = 0;
  for (const auto& [second, n] : per_second) busiest = std::max(busiest, n);

  // Each admitted user fetches its token and claims with it; a sample without one is refused.
  std::vector<HttpResponse> claims(users.size());
  std::vector<double> claim_ms(users.size());
  std::atomic<int> refused{0};
  auto claims_started = Clock::now();
  for_each_user(users.size(), o.concurrency, [&](HttpClient& http, size_t i) {
    if (joins[i].empty()) return;
    try {
      const auto& auth = tokens.of(users[i]);
      auto status = json::parse(http.request("GET", "/api/queue/" + joins[i], "", auth).body, nullptr, false);
      if (!status.is_object() || status.value("status", "") != "admitted") return;
      const std::string path = "/api/events/" + event + "/claims";
      if (i % 100 == 0 && http.post_json(path, json{{"user_id", users[i]}}.dump(), auth).status == 403) ++refused;
      Headers admitted = auth;
      admitted.emplace_back("Admission-Token", status.value("admission_token", ""));
      auto t0 = Clock::now();
      claims[i] = http.post_json(path + "?wait_ms=10000", json{{"user_id", users[i]}}.dump(), admitted);
      claim_ms[i] = ms_since(t0);
    } catch (const std::exception&) {
    }
  });
  const double claims_s = seconds_since(claims_started);
  size_t issued = 0, sold_out = 0, decided = 0;
  for (const auto& r : claims) {
    auto st = body_field(r, "status");
    if (r.status == 200 || r.status == 202) accepted.push_back(body_field(r, "request_id"));
    if (r.status == 200) ++decided;
    issued += st == "issued";
    sold_out += st == "sold_out";
  }
  all = log.wait_for({event}, 1 + joins.size() + queued + accepted.size() - joins.size(), std::chrono::seconds(300)) &&
        all;
  auto report = topics::verify({{}, log.decisions(), accepted});
  std::cout << std::fixed << std::setprecision(1) << "room: event " << event << ", " << o.users << " users, stock "
            << o.stock << ", admit_per_s " << o.admit_per_s << ", " << o.concurrency
            << " concurrent HTTP connections\n\n"
            << "| figure | value |\n|---|---:|\n"
            << "| joins accepted (202) | " << joins.size() - std::count(joins.begin(), joins.end(), "") << " of "
            << o.users << " |\n"
            << "| joins accepted/s | " << static_cast<double>(o.users) / join_s << " |\n"
            << "| join accept latency p50 / p99 (ms) | " << percentile(join_ms, 0.5) << " / "
            << percentile(join_ms, 0.99) << " |\n"
            << "| admitted at once / waited in line | " << count(log, "join", topics::Outcome::kAdmitted) << " / "
            << queued << " |\n"
            << "| first join to last admission, stream time (s) | "
            << static_cast<double>(last_admission - first) / 1000 << " (ideal "
            << static_cast<double>(o.users) / o.admit_per_s - 1 << " to "
            << static_cast<double>(o.users) / o.admit_per_s << ") |\n"
            << "| most admitted in one second of stream time | " << busiest << " (admit_per_s " << o.admit_per_s
            << ") |\n"
            << "| join to admission p50 / p99 / max (ms, from the log) | " << percentile(wait_ms, 0.5) << " / "
            << percentile(wait_ms, 0.99) << " / " << percentile(wait_ms, 1.0) << " |\n"
            << "| everyone admitted after (s, wall clock from the first join) | " << admitted_s << " |\n"
            << "| claims with the token: decided within the wait / issued / sold_out | " << decided << " / " << issued
            << " / " << sold_out << " |\n"
            << "| claims with the token: claims/s (token fetch + claim), p50 / p99 (ms) | "
            << static_cast<double>(decided) / claims_s << ", " << percentile(claim_ms, 0.5) << " / "
            << percentile(claim_ms, 0.99) << " |\n"
            << "| claims without a token refused 403 (1 in 100 users tried) | " << refused.load() << " |\n\n"
            << "integrity: " << report.summary() << "\n";
  return all && issued == static_cast<size_t>(o.stock) && report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Options o;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--mode") o.mode = args[i + 1];
    else if (args[i] == "--users") o.users = std::stoi(args[i + 1]);
    else if (args[i] == "--stock") o.stock = std::stoi(args[i + 1]);
    else if (args[i] == "--concurrency") o.concurrency = std::stoi(args[i + 1]);
    else if (args[i] == "--hold-ms") o.hold_ms = std::stoi(args[i + 1]);
    else if (args[i] == "--unpaid") o.unpaid = std::stod(args[i + 1]);
    else if (args[i] == "--admit-per-s") o.admit_per_s = std::stoi(args[i + 1]);
  }
  try {
    if (o.mode == "raffle") return raffle(o);
    if (o.mode == "hold") return hold(o);
    if (o.mode == "room") return room(o);
    std::cerr << "usage: allot-seed-modes --mode raffle|hold|room [--users N] [--stock N] [--hold-ms N] [--unpaid F]"
                 " [--admit-per-s N]\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "allot-seed-modes: " << e.what() << "\n";
    return 1;
  }
}
