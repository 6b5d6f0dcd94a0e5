// The exactly-once claim pipeline end to end on the real stack: HTTP ingress -> allot.commands ->
// processors (RocksDB + Kafka transactions) -> allot.decisions, checked by reading what landed.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support.h"
#include "topics/verify.h"

namespace allot {
namespace {

using namespace testsupport;
using topics::Outcome;

std::string create_event_body(const std::string& id, int64_t stock, int64_t limit = 1) {
  return nlohmann::json{{"event_id", id}, {"title", "Test " + id}, {"stock", stock}, {"per_user_limit", limit}}.dump();
}

// Creates an event through the ingress; fails the test unless it is accepted.
void create_event(const std::string& id, int64_t stock, int64_t limit = 1) {
  HttpClient http(http_port());
  auto r = http.post_json("/api/events", create_event_body(id, stock, limit),
                          {{"Authorization", "Bearer " + admin_token()}});
  ASSERT_EQ(r.status, 202) << r.body;
}

TEST(Pipeline, TenThousandUsersClaimOneEventOfStock100) {
  constexpr int kUsers = 10000, kStock = 100, kThreads = 32;
  DecisionLog log;
  const auto event = unique_id("flash");
  ASSERT_NO_FATAL_FAILURE(create_event(event, kStock));

  std::mutex mu;
  std::vector<std::string> accepted;
  std::map<int, int> statuses;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient http(http_port());
      for (int u = t; u < kUsers; u += kThreads) {
        const auto user = "user-" + std::to_string(u);
        auto r = http.post_json("/api/events/" + event + "/claims", R"({"user_id":")" + user + "\"}", as_user(user));
        std::lock_guard lock(mu);
        ++statuses[r.status];
        if (r.status == 202) accepted.push_back(nlohmann::json::parse(r.body).at("request_id").get<std::string>());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(statuses[202], kUsers) << "every claim should be accepted while the broker is up";

  ASSERT_TRUE(log.wait_for({event}, kUsers + 1, std::chrono::seconds(180)))
      << "only " << log.decisions().size() << " decisions arrived";
  EXPECT_FALSE(log.wait_for({event}, kUsers + 2, std::chrono::seconds(3))) << "a decision arrived twice";

  auto report = topics::verify({{}, log.decisions(), accepted});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.outcomes["issued"], kStock);
  EXPECT_EQ(report.outcomes["sold_out"], kUsers - kStock);

  // The issued ones are exactly the first 100 claims in partition order, numbered 1..100.
  std::vector<topics::Decision> claims;
  for (const auto& d : log.decisions()) {
    if (d.type == "claim") claims.push_back(d);
  }
  std::sort(claims.begin(), claims.end(), [](auto& a, auto& b) { return a.command.offset < b.command.offset; });
  ASSERT_EQ(claims.size(), static_cast<size_t>(kUsers));
  for (size_t i = 0; i < claims.size(); ++i) {
    if (i < kStock) {
      EXPECT_EQ(claims[i].outcome, Outcome::kIssued) << i;
      EXPECT_EQ(claims[i].coupon_seq, static_cast<int64_t>(i + 1));
    } else {
      EXPECT_EQ(claims[i].outcome, Outcome::kSoldOut) << i;
    }
  }
}

TEST(Pipeline, OneUserClaimingFiveTimesWithLimitOneGetsOneCoupon) {
  DecisionLog log;
  const auto event = unique_id("limit");
  ASSERT_NO_FATAL_FAILURE(create_event(event, 10));
  HttpClient http(http_port());
  for (int i = 0; i < 5; ++i) {
    auto r = http.post_json("/api/events/" + event + "/claims", R"({"user_id":"same-user"})", as_user("same-user"));
    ASSERT_EQ(r.status, 202) << r.body;
  }
  ASSERT_TRUE(log.wait_for({event}, 6, std::chrono::seconds(60)));
  std::map<Outcome, int> outcomes;
  for (const auto& d : log.decisions()) ++outcomes[d.outcome];
  EXPECT_EQ(outcomes[Outcome::kIssued], 1);
  EXPECT_EQ(outcomes[Outcome::kDuplicate], 4);
  auto report = topics::verify({{}, log.decisions(), {}});
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST(Pipeline, ARetryWithTheSameIdempotencyKeyGetsOneDecision) {
  DecisionLog log;
  const auto event = unique_id("idem");
  ASSERT_NO_FATAL_FAILURE(create_event(event, 10));
  HttpClient http(http_port());
  const auto key = unique_id("key");
  for (int i = 0; i < 3; ++i) {
    auto r = http.post_json("/api/events/" + event + "/claims", R"({"user_id":"retrier"})",
                            as_user("retrier", {{"Idempotency-Key", key}}));
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body).at("request_id"), key);
  }
  auto other =
      http.post_json("/api/events/" + event + "/claims", R"({"user_id":"someone-else"})", as_user("someone-else"));
  ASSERT_EQ(other.status, 202);
  ASSERT_TRUE(log.wait_for({event}, 3, std::chrono::seconds(60)));
  EXPECT_FALSE(log.wait_for({event}, 4, std::chrono::seconds(3))) << "the retries were decided again";
  auto report = topics::verify({{}, log.decisions(), {key}});
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST(Pipeline, AClaimThatReachesTheProcessorBeforeItsEventIsUnknownEvent) {
  DecisionLog log;
  const auto event = unique_id("ghost");
  CommandProducer producer;  // straight to Kafka: the ingress would answer 404 once it is sure
  producer.send({unique_id("early"), now_ms(), topics::Claim{event, "early-bird"}});
  producer.flush();
  ASSERT_TRUE(log.wait_for({event}, 1, std::chrono::seconds(60)));
  EXPECT_EQ(log.decisions()[0].outcome, Outcome::kUnknownEvent);
}

TEST(Ingress, ClaimsForAnEventThatDoesNotExistAnswer404OnceTheIngressIsSure) {
  // The ingress is sure once the projection lacks the event and the processors and the Redis sink
  // have caught up; until then it forwards the claim (decided unknown_event). Bounded: 30 tries.
  const auto event = unique_id("nowhere");
  HttpClient http(http_port());
  int status = 0;
  for (int i = 0; i < 30 && status != 404; ++i) {
    status = http.post_json("/api/events/" + event + "/claims", R"({"user_id":"u"})", as_user("u")).status;
    if (status != 404) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(status, 404);
}

TEST(Ingress, RejectsBadRequestsWithJsonErrors) {
  HttpClient http(http_port());
  auto expect_error = [](const HttpResponse& r, int status, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << what << ": not JSON: " << r.body;
    EXPECT_TRUE(body.contains("error") && body["error"].contains("code") && body["error"].contains("message")) << what;
  };
  // A signed-in user's claims (a valid token of "u"), refused for their body, ids or headers.
  const auto u = as_user("u");
  expect_error(http.post_json("/api/events/e1/claims", "{not json", u), 400, "malformed JSON");
  expect_error(http.post_json("/api/events/e1/claims", R"({"user_id":42})", u), 400, "wrong type");
  // The user is the token's (the body's user_id is optional): without one the claim is nobody's.
  expect_error(http.post_json("/api/events/e1/claims", R"({})"), 401, "no user token");
  expect_error(http.post_json("/api/events/Bad_Id/claims", R"({"user_id":"u"})", u), 400, "bad event id");
  expect_error(http.request("POST", "/api/events/e1/claims", R"({"user_id":"u"})",
                            as_user("u", {{"Content-Type", "text/plain"}})),
               415, "content type");
  expect_error(http.post_json("/api/events/e1/claims", R"({"user_id":")" + std::string(10000, 'a') + "\"}", u), 413,
               "oversize");
  expect_error(
      http.post_json("/api/events/e1/claims", R"({"user_id":"u"})", as_user("u", {{"Idempotency-Key", "bad key!"}})),
      400, "bad idempotency key");
  expect_error(http.post_json("/api/events", create_event_body("x1", 1)), 401, "no token");
  expect_error(http.post_json("/api/events", create_event_body("x1", 1), {{"Authorization", "Bearer wrong"}}), 401,
               "wrong token");
  expect_error(http.request("GET", "/api/nothing-here"), 404, "unknown route");
  for (const char* method : {"PUT", "DELETE", "PATCH"}) {
    auto r = http.request(method, "/api/events/e1/claims", R"({"user_id":"u"})",
                          as_user("u", {{"Content-Type", "application/json"}}));
    expect_error(r, 405, std::string(method) + " on a POST-only path");
    EXPECT_EQ(r.headers["allow"], "POST") << method;
  }
}

TEST(Ingress, AFloodingUserIsRateLimitedWhileOthersGetThrough) {
  const auto event = unique_id("flood");
  ASSERT_NO_FATAL_FAILURE(create_event(event, 1000));
  HttpClient flooder(http_port()), other(http_port());
  int limited = 0;
  std::string retry_after;
  const auto flooding = as_user("flooder");
  for (int i = 0; i < 200; ++i) {  // far above the per-user burst (ALLOT_BURST_PER_USER, 40)
    auto r = flooder.post_json("/api/events/" + event + "/claims", R"({"user_id":"flooder"})", flooding);
    if (r.status == 429) {
      ++limited;
      retry_after = r.headers["retry-after"];
      EXPECT_NE(r.body.find("rate_limited"), std::string::npos);
    }
  }
  EXPECT_GT(limited, 100);
  EXPECT_FALSE(retry_after.empty()) << "429 without Retry-After";
  EXPECT_EQ(other.post_json("/api/events/" + event + "/claims", R"({"user_id":"patient"})", as_user("patient")).status,
            202);
}

TEST(Ingress, HealthAndReadiness) {
  HttpClient http(http_port());
  EXPECT_EQ(http.request("GET", "/healthz").status, 200);
  auto ready = http.request("GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(nlohmann::json::parse(ready.body).at("broker"), "up");
  auto metrics = http.request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("allot_ingress_requests_total"), std::string::npos);
}

}  // namespace
}  // namespace allot
