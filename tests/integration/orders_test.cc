// README "Orders" against the running stack: each refusal (no stock, a coupon used, someone else's or
// expired, a balance short) ends the order failed with its reason and nothing left reserved; a paid order
// debits the discounted total and sells its units; 2,000 concurrent orders, with both processors killed
// -9 in the middle of their sagas, each end exactly once and `allotctl verify --projections` is clean.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "stack_api.h"
#include "support.h"
#include "topics/messages.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;

class Orders : public ::testing::Test {
 protected:
  HttpClient http_{http_port()};
  const std::string allotctl_ = std::string(ALLOT_BUILD_DIR) + "/topics/allotctl";

  json order(const std::string& user, const json& body) {
    auto r = http_.post_json("/api/orders?wait_ms=20000", body.dump(), as_user(user));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  // The coupon `user` won on `event` (an fcfs claim), by its claim's request id.
  std::string win_coupon(const std::string& event, const std::string& user) {
    auto r = http_.post_json("/api/events/" + event + "/claims?wait_ms=10000", "{}", as_user(user));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json_field(r, "status"), "issued") << r.body;
    return json_field(r, "request_id");
  }
  void charge(const std::string& user, int64_t amount) {
    auto r = http_.post_json("/api/wallet/charge?wait_ms=10000", json{{"user_id", user}, {"amount", amount}}.dump(),
                             as_admin());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  int64_t remaining(const std::string& event) {
    auto r = http_.request("GET", "/api/events/" + event, "", {});
    return json::parse(r.body, nullptr, false).value("remaining", int64_t{-1});
  }
};

TEST_F(Orders, EachRefusalFailsWithNothingReservedAndAPaidOrderSellsItsUnits) {
  const auto product = unique_id("shoe"), coupons = unique_id("save"), stale = unique_id("stale");
  const auto ann = unique_id("o-ann"), ben = unique_id("o-ben");
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", product}, {"title", "Shoe"}, {"stock", 3}, {"mode", "sale"}, {"price", 1000}}));
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", coupons},
                                        {"title", "20% off, at most 3.00"},
                                        {"stock", 10},
                                        {"discount_percent", 20},
                                        {"discount_cap", 300}}));
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", stale},
                                        {"title", "Expired"},
                                        {"stock", 10},
                                        {"discount_amount", 100},
                                        {"coupon_expires_at", now_ms() - 1000}}));
  const auto ann_coupon = win_coupon(coupons, ann), ben_coupon = win_coupon(coupons, ben);
  const auto ann_stale = win_coupon(stale, ann);
  charge(ann, 5000);
  charge(ben, 100);

  // Paid: 2 x 10.00, less 20% capped at 3.00.
  auto paid = order(ann, {{"items", {{{"event_id", product}, {"qty", 2}}}},
                          {"coupon", {{"event_id", coupons}, {"claim_request_id", ann_coupon}}}});
  EXPECT_EQ(paid["status"], "paid") << paid.dump();
  EXPECT_EQ(paid["type"], "order");
  EXPECT_EQ(paid["amount"], 1700);
  EXPECT_EQ(paid["balance"], 3300);

  // Each refusal: failed, its reason, and nothing of it stays taken.
  struct Refused {
    std::string user;
    json body;
    std::string reason;
  };
  const std::vector<Refused> refusals{
      {ann,
       {{"items", {{{"event_id", product}, {"qty", 1}}}},
        {"coupon", {{"event_id", coupons}, {"claim_request_id", ann_coupon}}}},
       "coupon_used"},
      {ann,
       {{"items", {{{"event_id", product}}}}, {"coupon", {{"event_id", coupons}, {"claim_request_id", ben_coupon}}}},
       "not_yours"},
      {ann,
       {{"items", {{{"event_id", product}}}}, {"coupon", {{"event_id", stale}, {"claim_request_id", ann_stale}}}},
       "coupon_expired"},
      {ann, {{"items", {{{"event_id", product}, {"qty", 2}}}}}, "sold_out"},
      {ben, {{"items", {{{"event_id", product}}}}}, "balance_short"},
  };
  std::vector<std::string> failed_ids;
  for (const auto& r : refusals) {
    auto end = order(r.user, r.body);
    EXPECT_EQ(end["status"], "failed") << end.dump();
    EXPECT_EQ(end["reason"], r.reason) << end.dump();
    failed_ids.push_back(end.value("request_id", ""));
  }
  // Refused at the door: nothing published.
  EXPECT_EQ(http_.post_json("/api/orders", R"({"items":[]})", as_user(ann)).status, 400);
  EXPECT_EQ(
      http_.post_json("/api/orders", json{{"items", {{{"event_id", product}, {"qty", 101}}}}}.dump(), as_user(ann))
          .status,
      400);
  EXPECT_EQ(http_.post_json("/api/orders", json{{"items", {{{"event_id", product}}}}}.dump(), {}).status, 401);
  EXPECT_EQ(
      http_.post_json("/api/orders", json{{"items", {{{"event_id", product}}}}, {"user_id", ben}}.dump(), as_user(ann))
          .status,
      403);

  // One unit left of three: the two sold and nothing held by the failed orders (sold_out held none; the
  // others released theirs).
  ASSERT_NO_FATAL_FAILURE(pipeline_caught_up());
  EXPECT_EQ(remaining(product), 1);
  auto popular = json::parse(http_.request("GET", "/api/products/popular?limit=1000", "", {}).body, nullptr, false);
  bool listed = false;
  for (const auto& p : popular) listed = listed || (p.value("event_id", "") == product && p.value("sold", 0) == 2);
  EXPECT_TRUE(listed) << "the popular products list the product with its 2 units sold: " << popular.dump();
  auto read = http_.request("GET", "/api/orders/" + paid["request_id"].get<std::string>(), "", as_user(ann));
  EXPECT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(json_field(read, "status"), "paid") << read.body;
  EXPECT_EQ(http_.request("GET", "/api/orders/" + paid["request_id"].get<std::string>(), "", as_user(ben)).status, 404)
      << "someone else's order";
  EXPECT_EQ(sh(allotctl_ + " verify --events " + product + "," + coupons + "," + stale + " --wallets " + ann + "," +
               ben + " --projections --brokers " + brokers() + " > /tmp/allot-orders-verify.txt"),
            0)
      << "see /tmp/allot-orders-verify.txt";
  EXPECT_EQ(sh("grep -q 'orders=6 paid=1 failed=5 open=0 units_sold=2' /tmp/allot-orders-verify.txt"), 0)
      << "see /tmp/allot-orders-verify.txt";
  // The projections compared every order too (MySQL `orders`, Redis `claim:<id>`).
  EXPECT_EQ(sh("grep -q 'projections: OK: .* orders=6 differing=0' /tmp/allot-orders-verify.txt"), 0)
      << "see /tmp/allot-orders-verify.txt";
}

// README "Seats": one seat, one holder; a held seat paid for by an order is sold (its claim confirmed), an
// order of a seat someone else holds fails seat_taken, a failed order gives the hold back, and an unpaid
// hold that expires frees its seat; the seat map, the log and both stores agree.
TEST_F(Orders, ASeatHasOneHolderIsSoldByAnOrderAndAnExpiredHoldFreesIt) {
  const auto hall = unique_id("hall"), ann = unique_id("s-ann"), ben = unique_id("s-ben");
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", hall},
                                        {"title", "Hall"},
                                        {"mode", "hold"},
                                        {"hold_ms", 5000},
                                        {"price", 2500},
                                        {"seats", {{"rows", {"A"}}, {"per_row", 3}}}}));
  auto claim = [&](const std::string& user, const json& body) {
    auto r = http_.post_json("/api/events/" + hall + "/claims?wait_ms=10000", body.dump(), as_user(user));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  };
  auto ann_a1 = claim(ann, {{"seat", "A-1"}});
  EXPECT_EQ(ann_a1["status"], "held") << ann_a1.dump();
  EXPECT_EQ(ann_a1["seat"], "A-1");
  EXPECT_EQ(claim(ben, {{"seat", "A-1"}})["status"], "seat_taken");
  EXPECT_EQ(claim(ben, {{"seat", "Z-9"}})["status"], "unknown_seat");
  EXPECT_EQ(claim(ben, json::object())["status"], "seat_required");
  EXPECT_EQ(http_.post_json("/api/events/" + hall + "/claims", R"({"seat":"A 1"})", as_user(ben)).status, 400);
  auto ben_a2 = claim(ben, {{"seat", "A-2"}});
  EXPECT_EQ(ben_a2["status"], "held") << ben_a2.dump();

  charge(ann, 5000);
  auto paid = order(ann, {{"items", {{{"event_id", hall}, {"seat", "A-1"}}}}});
  EXPECT_EQ(paid["status"], "paid") << paid.dump();
  EXPECT_EQ(paid["amount"], 2500);
  EXPECT_EQ(paid["balance"], 2500);
  auto taken = order(ben, {{"items", {{{"event_id", hall}, {"seat", "A-1"}}}}});
  EXPECT_EQ(taken["reason"], "seat_taken") << taken.dump();
  auto short_of_money = order(ben, {{"items", {{{"event_id", hall}, {"seat", "A-2"}}}}});
  EXPECT_EQ(short_of_money["reason"], "balance_short") << short_of_money.dump();

  // Ben's hold, given back by his failed order, runs out (ticks move stream time every second).
  const auto ben_claim = "/api/claims/" + ben_a2["request_id"].get<std::string>();
  std::string status;
  for (int i = 0; i < 100 && status != "expired"; ++i) {
    std::this_thread::sleep_for(200ms);
    status = json_field(http_.request("GET", ben_claim, "", as_user(ben)), "status");
  }
  EXPECT_EQ(status, "expired");
  ASSERT_NO_FATAL_FAILURE(pipeline_caught_up());
  auto sold = http_.request("GET", "/api/claims/" + ann_a1["request_id"].get<std::string>(), "", as_user(ann));
  EXPECT_EQ(json_field(sold, "status"), "confirmed") << sold.body;
  auto map = http_.request("GET", "/api/events/" + hall + "/seats", "", {});
  ASSERT_EQ(map.status, 200) << map.body;
  const auto seats = json::parse(map.body, nullptr, false);
  EXPECT_EQ(seats["price"], 2500);
  EXPECT_EQ(seats["seats"], json::parse(R"([{"seat":"A-1","status":"sold"},{"seat":"A-2","status":"free"},
                                              {"seat":"A-3","status":"free"}])"));
  EXPECT_EQ(http_.request("GET", "/api/events/" + hall + "-none/seats", "", {}).status, 404);
  EXPECT_EQ(sh(allotctl_ + " verify --events " + hall + " --wallets " + ann + "," + ben + " --projections --brokers " +
               brokers() + " > /tmp/allot-seats-verify.txt"),
            0)
      << "see /tmp/allot-seats-verify.txt";
  EXPECT_EQ(sh("grep -q 'orders=3 paid=1 failed=2 open=0' /tmp/allot-seats-verify.txt"), 0)
      << "see /tmp/allot-seats-verify.txt";
}

// GET /api/orders/{id}?wait_ms waits for the order's end also when the projection already has it placed (it
// answered "placed" at once): orders are read without waiting until one is seen placed, then read with a wait.
// An order is placed for some 10-60 ms here, so a few of the orders are caught placed (about a third of them).
TEST_F(Orders, AWaitedReadOfAPlacedOrderAnswersItsEnd) {
  const auto product = unique_id("mug");
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", product}, {"title", "Mug"}, {"stock", 100}, {"mode", "sale"}, {"price", 100}}));
  int caught_placed = 0;
  for (int i = 0; i < 40 && caught_placed < 3; ++i) {
    const auto user = unique_id("o-reader");
    charge(user, 1000);
    auto placed =
        http_.post_json("/api/orders", json{{"items", {{{"event_id", product}, {"qty", 1}}}}}.dump(), as_user(user));
    ASSERT_EQ(placed.status, 202) << placed.body;
    const auto path = "/api/orders/" + json_field(placed, "request_id");
    std::string status = "pending";
    for (int k = 0; k < 2000 && (status == "pending" || status == "placed"); ++k) {
      status = json_field(http_.request("GET", path, "", as_user(user)), "status");
      if (status != "placed") continue;
      ++caught_placed;
      auto waited = http_.request("GET", path + "?wait_ms=10000", "", as_user(user));
      ASSERT_EQ(waited.status, 200) << waited.body;
      EXPECT_EQ(json_field(waited, "status"), "paid") << waited.body;
      break;
    }
  }
  EXPECT_GE(caught_placed, 1) << "no order was seen placed: each ended before a read could see it";
}

// 2,000 orders of 1,000 users on one hot product, half with a coupon, 500 of them also paying for a held
// seat, both processors killed -9 while the sagas run: every order ends exactly once, no unit or seat is
// sold twice, no wallet goes below zero, and the verifier finds the log and both stores in agreement.
TEST_F(Orders, TwoThousandConcurrentOrdersEndExactlyOnceAcrossKillNineOfTheProcessors) {
  constexpr int kUsers = 1000, kOrders = 2000, kSeats = 500;
  const auto product = unique_id("hot"), coupons = unique_id("cp"), hall = unique_id("hall");
  const auto prefix = unique_id("buyer");
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", product}, {"title", "Hot"}, {"stock", 1500}, {"mode", "sale"}, {"price", 100}}));
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", coupons}, {"title", "1.00 off"}, {"stock", kUsers}, {"discount_amount", 100}}));
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", hall},
                                        {"title", "Hall"},
                                        {"mode", "hold"},
                                        {"hold_ms", 600000},
                                        {"price", 50},
                                        {"seats", {{"rows", {"A", "B", "C", "D", "E"}}, {"per_row", 100}}}}));
  auto seat_of = [](int i) {
    return std::string(1, static_cast<char>('A' + i / 100)) + "-" + std::to_string(i % 100 + 1);
  };
  std::vector<std::string> users;
  for (int i = 0; i < kUsers; ++i) users.push_back(prefix + "-" + std::to_string(i));
  TopicTail decisions("allot.decisions");
  CommandProducer producer;
  // Each user: a coupon, 1.50 in the wallet, then two orders at once (2 units with the coupon, 1 unit
  // without), each 1.00: the wallet pays one, the other is balance_short (or sold_out: 3,000 units asked).
  // The first 500 users also hold a seat (0.50), which their first order pays for too (1.50 then): sold when
  // that order is paid, given back to its holder when it fails.

  for (int i = 0; i < kUsers; ++i) {
    producer.send({prefix + "-c-" + std::to_string(i), now_ms(), topics::Claim{coupons, users[i]}});
    producer.send({prefix + "-pay-" + std::to_string(i), now_ms(), topics::Charge{"", users[i], 150}});
    if (i < kSeats)
      producer.send({prefix + "-s-" + std::to_string(i), now_ms(), topics::Claim{hall, users[i], seat_of(i)}});
  }
  producer.flush();
  std::set<std::string> order_ids;
  for (int i = 0; i < kUsers; ++i) {
    const auto a = prefix + "-a-" + std::to_string(i), b = prefix + "-b-" + std::to_string(i);
    std::vector<topics::OrderItem> items{{product, 2}};
    if (i < kSeats) items.push_back({hall, 1, seat_of(i)});
    producer.send(
        {a, now_ms(),
         topics::Order{"", users[i], items, topics::OrderCoupon{coupons, prefix + "-c-" + std::to_string(i)}}});
    producer.send({b, now_ms(), topics::Order{"", users[i], {{product, 1}}, std::nullopt}});
    order_ids.insert(a);
    order_ids.insert(b);
  }
  producer.flush();
  for (const char* processor : {"processor-1", "processor-2"}) {
    std::this_thread::sleep_for(400ms);
    EXPECT_GT(signal_service(processor, SIGKILL), 0) << processor;
  }
  std::this_thread::sleep_for(1s);
  ASSERT_NO_FATAL_FAILURE(stack_up());

  // Every order's end, once: 2,000 order_results, and nothing more within a few seconds after.
  std::map<std::string, int> ends;
  std::map<std::string, int> by_outcome;
  size_t seen = 0;
  auto collect = [&](const RdKafka::Message& m) {
    auto d = topics::decode_decision(std::string_view(static_cast<const char*>(m.payload()), m.len()));
    if (d.type != topics::decision_type::kOrderResult || !order_ids.count(d.request_id)) return;
    ++ends[d.request_id];
    ++by_outcome[std::string(topics::to_string(d.outcome)) +
                 (d.reason ? "/" + std::string(topics::to_string(*d.reason)) : "")];
    ++seen;
  };
  decisions.read_until(
      collect, [&] { return seen >= static_cast<size_t>(kOrders); }, 240s);
  decisions.read_until(
      collect, [] { return false; }, 3s);
  EXPECT_EQ(ends.size(), static_cast<size_t>(kOrders)) << "every order ended";
  for (const auto& [id, n] : ends) EXPECT_EQ(n, 1) << id << " ended " << n << " times";
  std::string outcomes;
  for (const auto& [o, n] : by_outcome) outcomes += o + "=" + std::to_string(n) + " ";
  std::cout << "orders: " << outcomes << "\n";
  EXPECT_GT(by_outcome["paid"], 0) << outcomes;
  EXPECT_GT(by_outcome["failed/balance_short"], 0) << "a user's concurrent orders cannot overspend: " << outcomes;

  ASSERT_NO_FATAL_FAILURE(pipeline_caught_up());
  std::string wallets;
  for (const auto& u : users) wallets += (wallets.empty() ? "" : ",") + u;
  EXPECT_EQ(sh(allotctl_ + " verify --events " + product + "," + coupons + "," + hall + " --wallets " + wallets +
               " --projections --brokers " + brokers() + " > /tmp/allot-orders-kill-verify.txt"),
            0)
      << "see /tmp/allot-orders-kill-verify.txt";
  EXPECT_EQ(sh("grep -q 'orders=2000 paid=' /tmp/allot-orders-kill-verify.txt"), 0)
      << "see /tmp/allot-orders-kill-verify.txt";
  EXPECT_EQ(sh("grep -q 'open=0 ' /tmp/allot-orders-kill-verify.txt"), 0) << "see /tmp/allot-orders-kill-verify.txt";
}

}  // namespace
}  // namespace allot
