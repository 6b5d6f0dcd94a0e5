// The waiting room end to end on the real stack (issue 14): joins over HTTP -> allot.commands -> the
// processors admit in ticket order at admit_per_s -> allot.decisions; checked by reading what landed
// (topics::verify bounds the rate and re-derives the pre-queue's shuffle) and by replaying the commands
// through the pure core. The first test kills both processors with SIGKILL mid-admission.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fault_load.h"
#include "ingress/admission.h"
#include "processors/domain.h"
#include "processors/memory_state.h"
#include "stack_api.h"
#include "support.h"
#include "topics/verify.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;
using topics::Outcome;

json body_of(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

// Every user joins the event's queue (with the user's token), from many connections at once; returns each
// user's 202 body.
std::map<std::string, json> join_all(const std::string& event, const std::vector<std::string>& users) {
  constexpr size_t kThreads = 32;
  std::mutex mu;
  std::map<std::string, json> answers;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient http(http_port());
      for (size_t i = t; i < users.size(); i += kThreads) {
        auto r =
            http.post_json("/api/events/" + event + "/queue", json{{"user_id", users[i]}}.dump(), as_user(users[i]));
        EXPECT_EQ(r.status, 202) << users[i] << ": " << r.body;
        std::lock_guard lock(mu);
        answers[users[i]] = body_of(r);
      }
    });
  }
  for (auto& th : threads) th.join();
  return answers;
}

std::vector<std::string> users(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + "-" + std::to_string(i));
  return out;
}

std::string admission_key() {
  if (const char* k = std::getenv("ALLOT_ADMISSION_KEY"); k && *k) return k;
  std::ifstream in(run_dir() + "/admission-key");
  std::string key;
  std::getline(in, key);
  return key;
}

// A claim by signed-in `user` with the waiting room's admission `token` (none when empty).
HttpResponse claim(HttpClient& http, const std::string& event, const std::string& user, const std::string& token) {
  Headers headers = as_user(user);
  if (!token.empty()) headers.emplace_back("Admission-Token", token);
  return http.post_json("/api/events/" + event + "/claims?wait_ms=10000", json{{"user_id", user}}.dump(), headers);
}

class WaitingRoom : public ::testing::Test {
 protected:
  void TearDown() override { stack_up(); }
};

TEST_F(WaitingRoom, FiveThousandArriveAtOnceAreAdmittedInQueueOrderAtFiveHundredPerSecondAcrossAKillNine) {
  constexpr int kUsers = 5000, kRate = 500;
  DecisionLog log;
  const auto event = unique_id("room");
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", event}, {"title", "Room"}, {"stock", 100}, {"admit_per_s", kRate}}));
  ASSERT_TRUE(log.wait_for({event}, 1, 30s)) << "created";

  const auto crowd = users("crowd", kUsers);
  const auto started = std::chrono::steady_clock::now();
  auto answers = join_all(event, crowd);
  const double join_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<std::string> accepted;
  for (const auto& [user, j] : answers) accepted.push_back(j.value("request_id", ""));

  // 50 of them watch their place: it only goes down, until they are admitted with a token.
  std::vector<std::string> watched;
  std::map<std::string, Headers> watcher;  // join request id -> its user's token: a place is its user's to see
  for (size_t i = 0; i < crowd.size(); i += kUsers / 50) {
    watched.push_back(answers[crowd[i]].value("request_id", ""));
    watcher[watched.back()] = as_user(crowd[i]);
  }
  std::map<std::string, std::vector<int64_t>> positions;
  std::map<std::string, json> admitted_answer;
  HttpClient http(http_port());
  const auto watch_started = std::chrono::steady_clock::now();
  const auto deadline = watch_started + 120s;
  bool killed = false;
  while (admitted_answer.size() < watched.size() && std::chrono::steady_clock::now() < deadline) {
    if (!killed && std::chrono::steady_clock::now() - watch_started > 2s) {
      // Mid-admission, kill -9 of every processor: the open transactions abort, the restarted processors
      // restore the line from the changelog and go on admitting from the next ticket. (The seconds of
      // stream time the ticks measured meanwhile are admitted as they are caught up, each at most 500.)
      EXPECT_GT(signal_service("processor-1", SIGKILL), 0);
      EXPECT_GT(signal_service("processor-2", SIGKILL), 0);
      std::this_thread::sleep_for(1s);
      stack_up();
      killed = true;
    }
    for (const auto& id : watched) {
      if (admitted_answer.count(id)) continue;
      auto r = http.request("GET", "/api/queue/" + id, "", watcher.at(id));
      ASSERT_EQ(r.status, 200) << r.body;
      auto j = body_of(r);
      if (j["status"] == "admitted") {
        admitted_answer[id] = j;
      } else if (j["status"] == "queued" && j.contains("position")) {
        positions[id].push_back(j["position"].get<int64_t>());
        EXPECT_GE(j.value("estimated_wait_ms", 0), 1000);
      }
    }
    std::this_thread::sleep_for(300ms);
  }
  ASSERT_EQ(admitted_answer.size(), watched.size()) << "every watched user admitted within 120 s";
  size_t watched_moving = 0;
  for (const auto& [id, seen] : positions) {
    EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend())) << id << ": a position went up";
    if (seen.size() > 1 && seen.front() > seen.back()) ++watched_moving;
  }
  EXPECT_GT(watched_moving, 0u) << "somebody watched the line move";

  // What landed: one ticket each, admitted in ticket order, at most 500 per second of stream time.
  // Admissions arrive among the joins' own decisions: count the queued ones until every join is decided.
  size_t queued = 0;
  for (int round = 0; round < 10 && count_decisions(log.decisions(), "join", Outcome::kQueued) +
                                            count_decisions(log.decisions(), "join", Outcome::kAdmitted) <
                                        kUsers;
       ++round) {
    queued = count_decisions(log.decisions(), "join", Outcome::kQueued);
    log.wait_for({event}, 1 + kUsers + queued, 30s);
  }
  queued = count_decisions(log.decisions(), "join", Outcome::kQueued);
  ASSERT_TRUE(log.wait_for({event}, 1 + kUsers + queued, 120s)) << log.decisions().size() << " decisions";
  log.reread({event}, 60s);
  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(report.ok()) << report.summary();
  std::vector<const topics::Decision*> admissions;
  int64_t first_join = INT64_MAX;
  for (const auto& d : log.decisions()) {
    if (d.outcome == Outcome::kAdmitted) admissions.push_back(&d);
    if (d.type == "join") first_join = std::min(first_join, d.received_at);
  }
  ASSERT_EQ(admissions.size(), static_cast<size_t>(kUsers));
  // One command's admissions are one instant: a join admitted at once is published before the admissions
  // its command caused for the tickets ahead of it (decide() admitted those first).
  std::sort(admissions.begin(), admissions.end(), [](auto* a, auto* b) {
    return std::pair(a->command.offset, a->ticket) < std::pair(b->command.offset, b->ticket);
  });
  for (size_t i = 0; i < admissions.size(); ++i) {
    ASSERT_EQ(admissions[i]->ticket, static_cast<int64_t>(i) + 1)
        << "admission " << i << ": " << admissions[i]->type << " " << admissions[i]->request_id << " at "
        << admissions[i]->command.partition << "/" << admissions[i]->command.offset << ", the one before: "
        << (i ? admissions[i - 1]->type + " at " + std::to_string(admissions[i - 1]->command.offset) : "none");
  }
  // 10 seconds' worth of admissions: the last one is at least 9 whole seconds of stream time after the
  // opening (the create), whatever the machine's speed.
  const int64_t stream_span = admissions.back()->received_at - first_join;
  const int64_t wall_span = admissions.back()->decided_at - admissions.front()->decided_at;
  EXPECT_GE(admissions.back()->received_at - log.decisions().front().received_at, 9000);
  std::cout << "[ figures  ] " << kUsers << " joins accepted in " << join_s << " s; admitted over " << stream_span
            << " ms of stream time (" << wall_span << " ms wall clock, first to last admission); " << queued
            << " waited in line\n";

  // Claims: only with the token the user was given.
  const auto& first = *admitted_answer.begin();
  const auto user = first.second["user_id"].get<std::string>();
  const auto token = first.second["admission_token"].get<std::string>();
  auto no_token = claim(http, event, user, "");
  EXPECT_EQ(no_token.status, 403);
  EXPECT_EQ(body_of(no_token)["error"]["code"], "admission_required");
  auto forged = token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(body_of(claim(http, event, user, forged))["error"]["code"], "invalid_admission_token");
  EXPECT_EQ(body_of(claim(http, event, "someone-else", token))["error"]["code"], "invalid_admission_token");
  ingress::AdmissionTokens keyed(admission_key(), 600'000);
  auto expired = keyed.issue(event, user, now_ms() - 700'000);
  auto late = claim(http, event, user, expired);
  EXPECT_EQ(late.status, 403);
  EXPECT_EQ(body_of(late)["error"]["code"], "admission_expired");
  // A token the ingress's key did sign, for a user never admitted, passes the door; the processor, which
  // admitted nobody of that name, answers not_admitted.
  auto intruder = claim(http, event, "never-joined", keyed.issue(event, "never-joined", now_ms()));
  ASSERT_EQ(intruder.status, 200) << intruder.body;
  EXPECT_EQ(body_of(intruder)["status"], "not_admitted");
  auto good = claim(http, event, user, token);
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(body_of(good)["status"], "issued");
  // The refused claims never reached the log: the create, 5,000 joins, their admissions, and the two
  // claims that did (both answered above, so decided).
  std::this_thread::sleep_for(2s);
  log.reread({event}, 60s);
  EXPECT_EQ(log.decisions().size(), 1 + kUsers + queued + 2) << "a refused claim was published";
  std::string out;
  EXPECT_TRUE(projections_match({event}, {}, 60, &out)) << out;
}

TEST_F(WaitingRoom, EarlyArrivalsAreShuffledAtTheOpeningAndAReplayDealsTheSameTickets) {
  constexpr int kEarly = 300;
  DecisionLog log;
  TopicTail commands("allot.commands");
  const auto event = unique_id("prequeue");
  const int64_t opens_at = now_ms() + 6000;
  ASSERT_NO_FATAL_FAILURE(create_event(
      {{"event_id", event}, {"title", "Early"}, {"stock", 50}, {"admit_per_s", 40}, {"opens_at", opens_at}}));
  ASSERT_TRUE(log.wait_for({event}, 1, 30s));
  const int32_t partition = log.decisions().front().command.partition;

  const auto early = users("early", kEarly);
  auto answers = join_all(event, early);
  ASSERT_LT(now_ms(), opens_at) << "the machine took too long to pre-queue everyone before opens_at";
  HttpClient http(http_port());
  auto before =
      body_of(http.request("GET", "/api/queue/" + answers[early[0]].value("request_id", ""), "", as_user(early[0])));
  // Tickets 1..300 at the opening, then 40 admitted per second: 300 / 40 -> 8 seconds.
  ASSERT_TRUE(log.wait_for({event}, 1 + kEarly + kEarly + kEarly, 60s)) << log.decisions().size();
  log.reread({event}, 60s);
  EXPECT_EQ(count_decisions(log.decisions(), "join", Outcome::kPreQueued), static_cast<size_t>(kEarly));
  std::vector<std::string> by_ticket(kEarly);
  for (const auto& d : log.decisions()) {
    if (d.type == topics::kQueueTicket) by_ticket.at(static_cast<size_t>(*d.ticket - 1)) = d.user_id;
  }
  EXPECT_EQ(std::set<std::string>(by_ticket.begin(), by_ticket.end()).size(), static_cast<size_t>(kEarly));
  std::vector<std::string> arrival;
  for (const auto& d : log.decisions()) {
    if (d.type == "join") arrival.push_back(d.user_id);
  }
  EXPECT_NE(by_ticket, arrival) << "tickets in arrival order: refreshing early would pay";
  auto report = topics::verify({{}, log.decisions(), {}});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.shuffles[event], by_ticket) << "the shuffle re-derived from the log";
  EXPECT_TRUE(before["status"] == "pre_queued" || before["status"] == "queued" || before["status"] == "pending")
      << before.dump();

  // A replay: the partition's commands (this event's and the ticks) through the pure core deal the
  // same tickets.
  std::vector<topics::PositionedCommand> replay;
  commands.reread(
      [&](const RdKafka::Message& m) {
        if (m.partition() != partition) return;
        auto c = topics::decode_command(std::string_view(static_cast<const char*>(m.payload()), m.len()));
        if (c.event_id() == event || std::holds_alternative<topics::Tick>(c.body)) {
          replay.push_back({{m.partition(), m.offset()}, std::move(c)});
        }
      },
      60s);
  processors::MemoryState state;
  std::vector<std::string> replayed(kEarly);
  for (const auto& pc : replay) {
    auto r = processors::decide(state, pc.command, pc.position, 0);
    if (!r) continue;
    state.apply(r->writes);
    for (const auto& d : r->caused) {
      if (d.type == topics::kQueueTicket) replayed.at(static_cast<size_t>(*d.ticket - 1)) = d.user_id;
    }
  }
  EXPECT_EQ(replayed, by_ticket) << "a replay of allot.commands deals the tickets differently";
  std::string out;
  EXPECT_TRUE(projections_match({event}, {}, 60, &out)) << out;
}

TEST_F(WaitingRoom, BadJoinsGetClearErrors) {
  HttpClient http(http_port());
  const auto plain = unique_id("noroom");
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", plain}, {"title", "Plain"}, {"stock", 5}}));
  DecisionLog log;
  std::this_thread::sleep_for(2s);
  const auto u1 = as_user("u1");
  auto no_room = http.post_json("/api/events/" + plain + "/queue?wait_ms=5000", R"({"user_id":"u1"})", u1);
  // 409 once the ingress knows the event has no room; before, the processor answers no_waiting_room.
  EXPECT_TRUE(no_room.status == 409 || body_of(no_room)["status"] == "no_waiting_room") << no_room.body;
  // 404 when the ingress is sure the event does not exist; else the processor answers unknown_event.
  auto unknown = http.post_json("/api/events/nope-" + plain + "/queue?wait_ms=5000", R"({"user_id":"u1"})", u1);
  EXPECT_TRUE(unknown.status == 404 || body_of(unknown)["status"] == "unknown_event") << unknown.body;
  // (The user is the token's and a body's user_id optional, so a body without one is no longer an error.)
  EXPECT_EQ(http.post_json("/api/events/" + plain + "/queue", R"({"user_id":42})", u1).status, 400);
  EXPECT_EQ(http.request("GET", "/api/queue/not-a-join-id", "", u1).status, 404);
  EXPECT_EQ(http.request("GET", "/api/queue/bad$id", "", u1).status, 400);
  auto raffle = http.post_json("/api/events",
                               json{{"event_id", unique_id("r")},
                                    {"title", "R"},
                                    {"stock", 1},
                                    {"mode", "raffle"},
                                    {"closes_at", 4102444800000},
                                    {"admit_per_s", 5}}
                                   .dump(),
                               {{"Authorization", "Bearer " + admin_token()}});
  EXPECT_EQ(raffle.status, 400) << raffle.body;
}

}  // namespace
}  // namespace allot
