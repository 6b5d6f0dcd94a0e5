// Raffles and holds end to end on the real stack (issue 13): HTTP ingress -> allot.commands -> processors ->
// allot.decisions, checked by reading what landed (topics::verify re-derives the draw and replays the holds).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fault_load.h"
#include "stack_api.h"
#include "support.h"
#include "topics/verify.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;
using topics::Outcome;

// POSTs {"user_id": user} to `path` for every user, with the user's token, from a few threads; returns each
// user's answer.
std::map<std::string, HttpResponse> post_for_each(const std::vector<std::string>& users,
                                                  const std::function<std::string(const std::string&)>& path) {
  constexpr size_t kThreads = 16;
  std::mutex mu;
  std::map<std::string, HttpResponse> answers;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient http(http_port());
      for (size_t i = t; i < users.size(); i += kThreads) {
        auto r = http.post_json(path(users[i]), json{{"user_id", users[i]}}.dump(), as_user(users[i]));
        std::lock_guard lock(mu);
        answers[users[i]] = r;
      }
    });
  }
  for (auto& th : threads) th.join();
  return answers;
}

std::vector<std::string> user_range(int from, int to) {
  std::vector<std::string> users;
  for (int i = from; i < to; ++i) users.push_back("user-" + std::to_string(i));
  return users;
}

class Modes : public ::testing::Test {
 protected:
  void TearDown() override { stack_up(); }
};

TEST_F(Modes, TenThousandEnterARaffleOfOneHundredAndAKillNineDuringTheDrawChangesNothing) {
  constexpr int kUsers = 10000, kStock = 100;
  DecisionLog log;
  const auto event = unique_id("raffle");
  ASSERT_NO_FATAL_FAILURE(create_event(
      {{"event_id", event}, {"title", "Raffle"}, {"stock", kStock}, {"mode", "raffle"}, {"closes_at", 4102444800000}}));
  auto answers =
      post_for_each(user_range(0, kUsers), [&](const std::string&) { return "/api/events/" + event + "/claims"; });
  std::vector<std::string> accepted;
  for (const auto& [user, r] : answers) {
    ASSERT_EQ(r.status, 202) << user << ": " << r.body;
    accepted.push_back(json_field(r, "request_id"));
  }
  ASSERT_TRUE(log.wait_for({event}, kUsers + 1, 180s)) << log.decisions().size() << " decisions";
  EXPECT_EQ(count_decisions(log.decisions(), "claim", Outcome::kEntered), static_cast<size_t>(kUsers));

  // The close and, at once, kill -9 of every processor: whichever owns the event dies during the draw
  // (or before it), and its transaction is aborted or never begun; the restarted processors draw again.
  HttpClient http(http_port());
  auto closed =
      http.request("POST", "/api/events/" + event + "/close", "", {{"Authorization", "Bearer " + admin_token()}});
  ASSERT_EQ(closed.status, 202) << closed.body;
  accepted.push_back(json_field(closed, "request_id"));
  std::this_thread::sleep_for(50ms);
  EXPECT_GT(signal_service("processor-1", SIGKILL), 0);
  EXPECT_GT(signal_service("processor-2", SIGKILL), 0);
  std::this_thread::sleep_for(1s);
  stack_up();

  const size_t total = kUsers + 1 + 1 + kUsers;  // create, entries, close, one draw result per entry
  ASSERT_TRUE(log.wait_for({event}, total, 180s)) << log.decisions().size() << " of " << total << " decisions";
  EXPECT_FALSE(log.wait_for({event}, total + 1, 5s)) << "a second draw, or a decision twice";
  log.reread({event}, 60s);  // what landed, read again from scratch

  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(report.ok()) << report.summary();
  std::set<std::string> winners;
  for (const auto& d : log.decisions()) {
    if (d.type == topics::kDrawResult && d.outcome == Outcome::kWon) winners.insert(d.user_id);
  }
  EXPECT_EQ(winners.size(), static_cast<size_t>(kStock)) << "exactly stock distinct winners";
  EXPECT_EQ(count_decisions(log.decisions(), "draw_result", Outcome::kLost), static_cast<size_t>(kUsers - kStock));
  // Re-deriving the draw from the log alone gives the same winners.
  const auto& rederived = report.draws[event];
  EXPECT_EQ(std::set<std::string>(rederived.begin(), rederived.end()), winners);
  EXPECT_EQ(count_decisions(log.decisions(), "close_event", Outcome::kDrawn), 1u);
  std::string out;
  EXPECT_TRUE(projections_match({event}, accepted, 60, &out)) << "entries and winners in MySQL and Redis: " << out;
}

// 1,000 users want 100 units held for 8 s: 30 holders confirm, 40 cancel, 30 let the hold expire; the
// released units go to users who were sold out before, and they confirm.
TEST_F(Modes, HoldsConfirmedCancelledAndExpiredEndOnceAndReleasedUnitsGoToLaterUsers) {
  constexpr int kUsers = 1000, kStock = 100, kHoldMs = 8000;
  DecisionLog log;
  const auto event = unique_id("hold");
  ASSERT_NO_FATAL_FAILURE(create_event(
      {{"event_id", event}, {"title", "Seats"}, {"stock", kStock}, {"mode", "hold"}, {"hold_ms", kHoldMs}}));
  const auto claims_path = [&](const std::string&) { return "/api/events/" + event + "/claims?wait_ms=10000"; };
  std::vector<std::string> accepted;
  std::map<std::string, std::string> hold_of;  // user -> held claim
  std::vector<std::string> sold_out;
  for (const auto& [user, r] : post_for_each(user_range(0, kUsers), claims_path)) {
    ASSERT_EQ(r.status, 200) << user << ": " << r.body;  // decided within the wait
    accepted.push_back(json_field(r, "request_id"));
    if (json_field(r, "status") == "held") hold_of[user] = json_field(r, "request_id");
    if (json_field(r, "status") == "sold_out") sold_out.push_back(user);
  }
  ASSERT_EQ(hold_of.size(), static_cast<size_t>(kStock));
  ASSERT_EQ(sold_out.size(), static_cast<size_t>(kUsers - kStock));

  std::vector<std::string> holders;
  for (const auto& [user, id] : hold_of) holders.push_back(user);
  const std::vector<std::string> confirming(holders.begin(), holders.begin() + 30);
  const std::vector<std::string> cancelling(holders.begin() + 30, holders.begin() + 70);
  auto act = [&](const std::vector<std::string>& users, const char* action) {
    for (const auto& [user, r] : post_for_each(users, [&](const std::string& u) {
           return "/api/claims/" + hold_of.at(u) + "/" + action + "?wait_ms=10000";
         })) {
      EXPECT_EQ(r.status, 200) << user << " " << action << ": " << r.body;
      EXPECT_EQ(json_field(r, "status"), std::string(action) == "confirm" ? "confirmed" : "cancelled") << r.body;
      accepted.push_back(json_field(r, "request_id"));
    }
  };
  act(confirming, "confirm");
  act(cancelling, "cancel");

  // 40 units are back: the first 40 sold-out users claim again and hold them, then confirm.
  auto later_claims = [&](const std::vector<std::string>& users) {
    for (const auto& [user, r] : post_for_each(users, claims_path)) {
      EXPECT_EQ(json_field(r, "status"), "held") << user << ": " << r.body;
      accepted.push_back(json_field(r, "request_id"));
      hold_of[user] = json_field(r, "request_id");
    }
    act(users, "confirm");
  };
  later_claims({sold_out.begin(), sold_out.begin() + 40});

  // The last 30 holds expire by the ticks (no other command of the event comes meanwhile).
  const size_t before_expiry =
      1 + kUsers + 30 + 40 + 40 + 40;  // create, claims, confirms, cancels, re-claims, confirms
  ASSERT_TRUE(log.wait_for({event}, before_expiry, 60s)) << log.decisions().size() << " of " << before_expiry;
  ASSERT_TRUE(log.wait_for({event}, before_expiry + 30, 60s)) << "the 30 unpaid holds did not expire";
  EXPECT_EQ(count_decisions(log.decisions(), "hold_expired", Outcome::kExpired), 30u);
  later_claims({sold_out.begin() + 40, sold_out.begin() + 70});

  const size_t total = 1 + kUsers + 30 + 40 + 40 + 40 + 30 + 30 + 30;
  ASSERT_TRUE(log.wait_for({event}, total, 60s)) << log.decisions().size() << " of " << total;
  EXPECT_FALSE(log.wait_for({event}, total + 1, 3s)) << "more decisions than expected";
  log.reread({event}, 60s);
  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.issued, kStock);
  EXPECT_EQ(report.live_holds, 0);
  EXPECT_EQ(count_decisions(log.decisions(), "claim", Outcome::kHeld), 170u);
  EXPECT_EQ(count_decisions(log.decisions(), "confirm", Outcome::kConfirmed), 100u);
  EXPECT_EQ(count_decisions(log.decisions(), "cancel", Outcome::kCancelled), 40u);

  // MySQL and Redis show every claim's current status (held ones ended), and again after a replay.
  std::string out;
  EXPECT_TRUE(projections_match({event}, accepted, 60, &out)) << out;
  ASSERT_EQ(sh("scripts/replay projections >/dev/null"), 0);
  EXPECT_TRUE(projections_match({event}, accepted, 120, &out)) << "after the replay: " << out;
}

// Confirm and cancel that cannot act get a clear answer and change nothing.
TEST_F(Modes, ConfirmOrCancelOfAClaimThatHoldsNothingIsRefusedAndChangesNothing) {
  DecisionLog log;
  const auto event = unique_id("hold-bad");
  const auto fcfs = unique_id("fcfs-bad");
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", event}, {"title", "Seats"}, {"stock", 5}, {"mode", "hold"}, {"hold_ms", 1000}}));
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", fcfs}, {"title", "Coupons"}, {"stock", 5}}));
  HttpClient http(http_port());
  auto claim = [&](const std::string& ev, const std::string& user) {
    auto r =
        http.post_json("/api/events/" + ev + "/claims?wait_ms=10000", json{{"user_id", user}}.dump(), as_user(user));
    EXPECT_EQ(r.status, 200) << r.body;
    return json_field(r, "request_id");
  };
  // `user` says it in the body; the token is `signed_in`'s (by default the same user).
  auto act = [&](const std::string& claim_id, const std::string& action, const std::string& user,
                 const std::string& signed_in = "") {
    return http.post_json("/api/claims/" + claim_id + "/" + action + "?wait_ms=10000", json{{"user_id", user}}.dump(),
                          as_user(signed_in.empty() ? user : signed_in));
  };
  auto expect_error = [](const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], code) << r.body;
  };
  const auto held = claim(event, "alice");
  const auto issued = claim(fcfs, "bob");

  expect_error(act("no-such-claim", "confirm", "alice"), 404, "unknown_claim");
  expect_error(act(held, "confirm", "mallory"), 403, "not_yours");
  expect_error(act(held, "cancel", "mallory"), 403, "not_yours");
  expect_error(act(issued, "confirm", "bob"), 409, "not_held");
  // alice's token, and a body whose user_id no user can have.
  expect_error(act(held, "confirm", "bad user!", "alice"), 400, "invalid_request");

  // Past its expiry the hold is gone: the ingress refuses it once the projection shows it, else the processor
  // answers expired. Either way nothing is confirmed.
  std::this_thread::sleep_for(2500ms);
  auto late = act(held, "confirm", "alice");
  if (late.status == 200) {
    EXPECT_EQ(json_field(late, "status"), "expired") << late.body;
  } else {
    expect_error(late, 409, "not_held");
  }
  auto again = claim(event, "carol");  // the unit came back
  auto ok = act(again, "confirm", "carol");
  EXPECT_EQ(json_field(ok, "status"), "confirmed") << ok.body;
  auto twice = act(again, "cancel", "carol");  // ended already
  if (twice.status == 200) {
    EXPECT_EQ(json_field(twice, "status"), "already_ended") << twice.body;
  } else {
    expect_error(twice, 409, "not_held");
  }

  log.reread({event, fcfs}, 60s);
  auto report = topics::verify({{}, log.decisions(), {}});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(count_decisions(log.decisions(), "confirm", Outcome::kConfirmed), 1u)
      << "only carol's confirm issued a unit";
  EXPECT_EQ(count_decisions(log.decisions(), "cancel", Outcome::kCancelled), 0u);
  EXPECT_EQ(report.issued, 2);  // bob's coupon and carol's seat
}

}  // namespace
}  // namespace allot
