// The seed experiment's baselines on the real MariaDB and Redis: under concurrent load each strategy
// issues exactly its stock, once per user, numbered without gaps, in its own accounting.
#include <gtest/gtest.h>
#include <mysql.h>

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/mysql.h"
#include "support.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;

struct Landed {
  int64_t issued = 0;
  std::set<int64_t> seqs;
  std::set<std::string> issued_users;
  int64_t rows = 0;
};

mysql::Result query(const std::string& sql) {
  mysql::ConnectOptions options;  // the stack's root on 127.0.0.1
  if (const char* port = std::getenv("ALLOT_MYSQL_PORT")) options.port = std::stoi(port);
  options.database = "allot";
  auto db = mysql::connect(options);
  return mysql::query(db.get(), sql);
}

// What the strategy's own table says about the event.
Landed landed(const std::string& table, const std::string& event) {
  auto res =
      query("SELECT user_id, outcome, COALESCE(coupon_seq, 0) FROM " + table + " WHERE event_id='" + event + "'");
  Landed l;
  while (MYSQL_ROW r = mysql_fetch_row(res.get())) {
    ++l.rows;
    if (std::string(r[1]) == "issued") {
      ++l.issued;
      l.seqs.insert(std::stoll(r[2]));
      l.issued_users.insert(r[0]);
    }
  }
  return l;
}

// Waits (bounded) until both projections have the event: v1 starts from MySQL's, v2 from Redis's.
void create_projected_event(const std::string& event, int stock) {
  HttpClient http(http_port());
  auto r = http.post_json("/api/events",
                          nlohmann::json{{"event_id", event}, {"title", "Baselines"}, {"stock", stock}}.dump(),
                          {{"Authorization", "Bearer " + admin_token()}});
  ASSERT_EQ(r.status, 202) << r.body;
  auto in_mysql = [&] {
    return mysql_num_rows(query("SELECT 1 FROM events WHERE event_id='" + event + "'").get()) == 1;
  };
  for (int i = 0; i < 240 && !(http.request("GET", "/api/events/" + event).status == 200 && in_mysql()); ++i) {
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(http.request("GET", "/api/events/" + event).status, 200) << "the event never reached Redis";
  ASSERT_TRUE(in_mysql()) << "the event never reached MySQL";
}

TEST(Baselines, EachStrategyIssuesExactlyItsStockOncePerUserUnderConcurrency) {
  constexpr int kStock = 100, kClaims = 2000, kThreads = 16;
  const auto event = unique_id("baseline");
  ASSERT_NO_FATAL_FAILURE(create_projected_event(event, kStock));
  for (const std::string version : {"v1", "v2"}) {
    std::mutex mu;
    std::map<int, int> statuses;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        HttpClient http(http_port());
        for (int i = t; i < kClaims; i += kThreads) {
          // every user claims twice: the second must never issue
          auto user = "u" + std::to_string(i / 2);
          auto r = http.post_json("/api/" + version + "/events/" + event + "/claims", R"({"user_id":")" + user + "\"}",
                                  as_user(user));
          std::lock_guard lock(mu);
          ++statuses[r.status];
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(statuses[200], kStock) << version;
    EXPECT_EQ(statuses[409], kClaims - kStock) << version;
    auto l = landed(version + "_claims", event);
    EXPECT_EQ(l.rows, kClaims) << version;
    EXPECT_EQ(l.issued, kStock) << version;
    EXPECT_EQ(l.issued_users.size(), static_cast<size_t>(kStock)) << version << ": a user got two coupons";
    EXPECT_EQ(l.seqs.size(), static_cast<size_t>(kStock)) << version;
    EXPECT_EQ(*l.seqs.begin(), 1) << version;
    EXPECT_EQ(*l.seqs.rbegin(), kStock) << version << ": gap in the sequence";
    // The event's view shows what this strategy issued by its own accounting, next to allot's untouched own.
    auto view = nlohmann::json::parse(HttpClient(http_port()).request("GET", "/api/events/" + event).body);
    EXPECT_EQ(view["baselines"][version]["issued"], kStock) << version << ": " << view.dump();
    EXPECT_EQ(view["baselines"][version]["remaining"], 0) << version;
    EXPECT_EQ(view["issued"], 0) << "allot's own counters are not the baselines'";
  }
}

TEST(Baselines, UnknownEventsAndBadInputAnswerLikeV3) {
  HttpClient http(http_port());
  for (const std::string version : {"v1", "v2"}) {
    EXPECT_EQ(http.post_json("/api/" + version + "/events/" + unique_id("none") + "/claims", R"({"user_id":"u"})",
                             as_user("u"))
                  .status,
              404);
    EXPECT_EQ(http.post_json("/api/" + version + "/events/e1/claims", "{oops", as_user("u")).status, 400);
    EXPECT_EQ(http.request("POST", "/api/" + version + "/events/e1/claims", R"({"user_id":"u"})",
                           as_user("u", {{"Content-Type", "text/plain"}}))
                  .status,
              415);
  }
}

}  // namespace
}  // namespace allot
