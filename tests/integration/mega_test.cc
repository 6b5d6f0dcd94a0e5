// Mega events end to end on the real stack (issue 14, part 2): one event split into 4 slices on 4 partitions,
// served by 2 processors, 10,000 claims through the HTTP ingress while a processor is killed with kill -9;
// then checked from what landed (allot.decisions read_committed, MySQL, Redis). See README "Mega events".
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fault_load.h"
#include "stack_api.h"
#include "support.h"
#include "topics/slices.h"
#include "topics/verify.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;
using topics::Outcome;

HttpResponse admin(const std::string& method, const std::string& path, const json& body = nullptr) {
  HttpClient http(http_port());
  std::vector<std::pair<std::string, std::string>> headers{{"Authorization", "Bearer " + admin_token()}};
  if (body.is_null()) return http.request(method, path, "", headers);
  headers.emplace_back("Content-Type", "application/json");
  return http.request(method, path, body.dump(), headers);
}

std::vector<std::string> slice_ids(const std::string& event, int k) {
  std::vector<std::string> ids;
  for (int s = 0; s < k; ++s) ids.push_back(topics::slice_id(event, s));
  return ids;
}

class Mega : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0) << "scripts/stack up failed"; }
};

// 4,000 users claim 1 to 4 times each (10,000 claims, per_user_limit 2) for 3,000 units split into 4 slices;
// kill -9 of processor-1 a third of the way in. The claims start right after the create's 202.
TEST_F(Mega, FourSlicesTwoProcessorsKillNineChangesNothing) {
  constexpr int kUsers = 4000, kStock = 3000, kLimit = 2, kSlices = 4;
  DecisionLog log;
  const auto event = unique_id("mega");
  auto created = admin(
      "POST", "/api/events",
      {{"event_id", event}, {"title", "Mega"}, {"stock", kStock}, {"per_user_limit", kLimit}, {"partitions", kSlices}});
  ASSERT_EQ(created.status, 202) << created.body;
  const auto slices = slice_ids(event, kSlices);

  // User u claims 1 + u % 4 times, one user after the other (so users reach their limit while stock lasts
  // and the later ones find it sold out), from 16 threads.
  std::vector<std::string> claims;  // user per claim, in sending order
  for (int u = 0; u < kUsers; ++u) {
    for (int n = 0; n <= u % 4; ++n) claims.push_back("user-" + std::to_string(u));
  }
  ASSERT_EQ(claims.size(), 10000u);
  std::mutex mu;
  std::vector<std::string> accepted;
  std::map<std::string, std::string> user_of;  // request id -> user
  std::map<int, int> statuses;
  std::atomic<size_t> next{0};
  std::atomic<bool> killed{false};
  const int victim = signal_service("processor-1", 0);
  ASSERT_GT(victim, 0) << "processor-1 runs";
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      HttpClient http(http_port());
      for (size_t i = next++; i < claims.size(); i = next++) {
        if (i == claims.size() / 3 && !killed.exchange(true)) {
          EXPECT_GT(signal_service("processor-1", SIGKILL), 0) << "kill -9 processor-1";
        }
        HttpResponse r;
        const auto headers = as_user(claims[i]);
        for (int attempt = 0; attempt < 50; ++attempt) {  // 503 (broker busy) and 429 are retried
          r = http.post_json("/api/events/" + event + "/claims", json{{"user_id", claims[i]}}.dump(), headers);
          if (r.status != 503 && r.status != 429) break;
          std::this_thread::sleep_for(100ms);
        }
        std::lock_guard lock(mu);
        ++statuses[r.status];
        if (r.status == 202) {
          accepted.push_back(json_field(r, "request_id"));
          user_of[accepted.back()] = claims[i];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(statuses[202], 10000) << "every claim accepted";
  EXPECT_TRUE(wait_gone(victim, 10s)) << "processor-1 was killed";
  ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0);  // the supervisor may have restarted it already
  EXPECT_NE(signal_service("processor-1", 0), victim) << "a new processor-1 runs";

  const size_t total = kSlices + accepted.size();
  ASSERT_TRUE(log.wait_for(slices, total, 120s)) << log.decisions().size() << " of " << total << " decisions";
  EXPECT_FALSE(log.wait_for(slices, total + 1, 3s)) << "more decisions than commands";
  log.reread(slices, 60s);  // what landed, read again from scratch (read_committed)
  const auto& ds = log.decisions();

  // Promises 1-4 per slice, and the mega event as a whole (topics/verify_slices.h).
  auto report = topics::verify({{}, ds, accepted});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.mega_events, 1);
  std::cout << "verify: " << report.summary() << "\n";

  // The same, checked here directly from the decisions.
  std::map<std::string, int> decided;              // request id -> decisions
  std::map<std::string, int64_t> issued_per_user;  // over all slices
  std::map<int, std::vector<int64_t>> seqs;        // slice -> coupon_seq in partition order
  std::map<int, std::set<int32_t>> partitions;     // slice -> partitions of its decisions
  std::map<int, int64_t> stock_of;
  for (const auto& d : ds) {
    auto ref = topics::parse_slice_id(d.event_id);
    ASSERT_TRUE(ref) << d.event_id;
    ASSERT_EQ(ref->parent, event);
    partitions[ref->slice].insert(d.command.partition);
    if (d.type == "create_event") {
      ASSERT_EQ(d.outcome, Outcome::kCreated);
      stock_of[ref->slice] = d.event->stock;
      continue;
    }
    ++decided[d.request_id];
    EXPECT_EQ(topics::user_slice(d.user_id, kSlices), ref->slice) << d.user_id << " on the wrong slice";
    EXPECT_EQ(user_of[d.request_id], d.user_id);
    if (d.outcome == Outcome::kIssued) {
      ++issued_per_user[d.user_id];
      seqs[ref->slice].push_back(*d.coupon_seq);
    }
  }
  for (const auto& id : accepted) EXPECT_EQ(decided[id], 1) << "request " << id;
  EXPECT_EQ(decided.size(), accepted.size());
  for (const auto& [user, n] : issued_per_user) EXPECT_LE(n, kLimit) << user;
  int64_t issued = 0, stock = 0;
  std::set<int32_t> used;
  for (int s = 0; s < kSlices; ++s) {
    EXPECT_EQ(partitions[s].size(), 1u) << "slice " << s << " on one partition";
    used.insert(partitions[s].begin(), partitions[s].end());
    EXPECT_EQ(stock_of[s], topics::slice_stock(kStock, kSlices, s));
    auto& q = seqs[s];
    std::sort(q.begin(), q.end());
    for (size_t i = 0; i < q.size(); ++i)
      ASSERT_EQ(q[i], static_cast<int64_t>(i) + 1) << "slice " << s << " gap or repeat";
    EXPECT_LE(static_cast<int64_t>(q.size()), stock_of[s]);
    issued += static_cast<int64_t>(q.size());
    stock += stock_of[s];
  }
  EXPECT_EQ(used.size(), static_cast<size_t>(kSlices)) << "4 distinct partitions";
  EXPECT_EQ(stock, kStock);
  // Demand (7,000 claims a limit of 2 allows) exceeds each slice's stock: every slice sells out.
  EXPECT_EQ(issued, kStock);
  EXPECT_GT(report.outcomes["duplicate"], 0) << "the per-user limit was reached";
  EXPECT_GT(report.outcomes["sold_out"], 0);

  // MySQL and Redis equal the decisions; the API shows the event as a whole.
  std::string out;
  EXPECT_TRUE(projections_match({event}, accepted, 90, &out)) << out;
  HttpClient http(http_port());
  auto got = json::parse(http.request("GET", "/api/events/" + event).body, nullptr, false);
  ASSERT_TRUE(got.is_object());
  EXPECT_EQ(got.value("partitions", 0), kSlices);
  EXPECT_EQ(got.value("stock", 0), kStock);
  EXPECT_EQ(got.value("issued", 0), kStock);
  EXPECT_EQ(got.value("remaining", -1), 0);
  auto ranking = json::parse(http.request("GET", "/api/events/" + event + "/ranking?limit=8").body, nullptr, false);
  ASSERT_TRUE(ranking.is_array());
  EXPECT_EQ(ranking.size(), 8u);
  auto claim =
      json::parse(http.request("GET", "/api/claims/" + accepted.front(), "", as_user(user_of[accepted.front()])).body,
                  nullptr, false);
  EXPECT_EQ(claim.value("event_id", ""), event) << claim.dump();
  EXPECT_EQ(claim.value("slice", -1), topics::user_slice(user_of[accepted.front()], kSlices)) << claim.dump();
}

// Bad `partitions` are refused; closing and deleting a mega event act on every slice.
TEST_F(Mega, BadPartitionsAreRefusedAndCloseAndDeleteReachEverySlice) {
  const auto bad = [](const json& extra) {
    json body{{"event_id", unique_id("megabad")}, {"title", "Bad"}, {"stock", 100}};
    body.update(extra);
    return admin("POST", "/api/events", body);
  };
  for (const auto& extra : {json{{"partitions", 0}}, json{{"partitions", 13}}, json{{"partitions", "4"}},
                            json{{"partitions", 2}, {"mode", "hold"}, {"hold_ms", 1000}},
                            json{{"partitions", 2}, {"mode", "raffle"}, {"closes_at", 4102444800000}},
                            json{{"partitions", 2}, {"admit_per_s", 100}}}) {
    auto r = bad(extra);
    EXPECT_EQ(r.status, 400) << extra.dump() << ": " << r.body;
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
  }

  DecisionLog log;
  const auto event = unique_id("megadel");
  const auto slices = slice_ids(event, 3);
  ASSERT_EQ(
      admin("POST", "/api/events", {{"event_id", event}, {"title", "M"}, {"stock", 30}, {"partitions", 3}}).status,
      202);
  HttpClient http(http_port());
  std::vector<std::string> accepted;
  for (int u = 0; u < 12; ++u) {
    const auto user = "u" + std::to_string(u);
    auto r =
        http.post_json("/api/events/" + event + "/claims?wait_ms=10000", json{{"user_id", user}}.dump(), as_user(user));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json_field(r, "status"), "issued") << r.body;
    EXPECT_EQ(json_field(r, "event_id"), event) << r.body;
    accepted.push_back(json_field(r, "request_id"));
  }
  auto closed = admin("POST", "/api/events/" + event + "/close");
  ASSERT_EQ(closed.status, 202) << closed.body;
  auto late = http.post_json("/api/events/" + event + "/claims?wait_ms=10000", json{{"user_id", "late"}}.dump(),
                             as_user("late"));
  EXPECT_EQ(json_field(late, "status"), "closed") << late.body;
  accepted.push_back(json_field(late, "request_id"));
  auto deleted = admin("DELETE", "/api/events/" + event);
  ASSERT_EQ(deleted.status, 202) << deleted.body;
  // 3 creates, 12 claims, 3 closes, 1 late claim, 3 deletes
  ASSERT_TRUE(log.wait_for(slices, 22, 60s)) << log.decisions().size() << " decisions";
  size_t closes = 0, deletes = 0;
  for (const auto& d : log.decisions()) {
    if (d.type == "close_event" && d.outcome == Outcome::kClosed) ++closes;
    if (d.type == "delete_event" && d.outcome == Outcome::kDeleted) ++deletes;
  }
  EXPECT_EQ(closes, 3u);
  EXPECT_EQ(deletes, 3u);
  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(report.ok()) << report.summary();
  auto after = http.post_json("/api/events/" + event + "/claims", json{{"user_id", "later"}}.dump(), as_user("later"));
  EXPECT_EQ(after.status, 404) << after.body;
  for (int attempt = 0; attempt < 60; ++attempt) {
    auto got = json::parse(http.request("GET", "/api/events/" + event).body, nullptr, false);
    if (got.is_object() && got.value("deleted", false)) {
      EXPECT_EQ(got.value("issued", 0), 12);
      return;
    }
    std::this_thread::sleep_for(500ms);
  }
  ADD_FAILURE() << "GET /api/events/" << event << " never showed deleted";
}

// An ingress that did not accept the create (here: the same one, restarted) learns K from the projection
// and routes every claim to its user's slice; until it can, no claim is issued on a wrong slice.
TEST_F(Mega, AnIngressRestartedAfterTheCreateLearnsTheSlicesFromTheProjection) {
  DecisionLog log;
  const auto event = unique_id("megarestart");
  const auto slices = slice_ids(event, 4);
  ASSERT_EQ(
      admin("POST", "/api/events", {{"event_id", event}, {"title", "M"}, {"stock", 40}, {"partitions", 4}}).status,
      202);
  ASSERT_TRUE(log.wait_for(slices, 4, 60s)) << "the 4 slices were not created";
  HttpClient http(http_port());
  for (int i = 0; i < 120; ++i) {  // projected: the API shows the whole event
    auto got = json::parse(http.request("GET", "/api/events/" + event).body, nullptr, false);
    if (got.is_object() && got.value("partitions", 0) == 4) break;
    std::this_thread::sleep_for(250ms);
  }
  // The list (and so the web page) shows the event once, as the sum of its slices, and no slice by its id
  // (the Redis sink lists the parent in events:created; the ingress sums its slices).
  auto list = json::parse(http.request("GET", "/api/events").body, nullptr, false);
  ASSERT_TRUE(list.is_array()) << list.dump();
  int listed = 0;
  for (const auto& e : list) {
    const auto id = e.value("event_id", "");
    EXPECT_FALSE(topics::parse_slice_id(id).has_value()) << "a slice listed as an event: " << id;
    if (id == event) {
      ++listed;
      EXPECT_EQ(e.value("stock", 0), 40) << e.dump();
      EXPECT_EQ(e.value("partitions", 0), 4) << e.dump();
    }
  }
  EXPECT_EQ(listed, 1) << list.dump();
  ASSERT_EQ(sh("scripts/stack stop ingress >/dev/null && scripts/stack up >/dev/null"), 0);
  HttpClient fresh(http_port());
  std::vector<std::string> accepted;
  for (int u = 0; u < 20; ++u) {
    const auto user = "r" + std::to_string(u);
    auto r = fresh.post_json("/api/events/" + event + "/claims?wait_ms=10000", json{{"user_id", user}}.dump(),
                             as_user(user));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json_field(r, "status"), "issued") << r.body;
    auto j = json::parse(r.body);
    EXPECT_EQ(j.value("slice", -1), topics::user_slice(user, 4)) << r.body;
    accepted.push_back(json_field(r, "request_id"));
  }
  ASSERT_TRUE(log.wait_for(slices, 24, 60s));
  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(report.ok()) << report.summary();
}

}  // namespace
}  // namespace allot
