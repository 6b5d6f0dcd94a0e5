// Orders (README "Orders"): the saga over decide(), with its emitted commands delivered in a queue as the
// partitions would take them, and the verifier's order checks, both ways.
#include <gtest/gtest.h>

#include <deque>
#include <set>

#include "processors/domain.h"
#include "processors/memory_state.h"
#include "topics/orders.h"
#include "topics/topics.h"
#include "topics/verify.h"

namespace allot::processors {
namespace {

using topics::EventMode;
using topics::Outcome;

class OrdersTest : public ::testing::Test {
 protected:
  // Appends `c` to the log; drain() decides the log in order, each emitted command appended at its end
  // (so the steps of concurrent orders interleave, as on separate partitions).
  void send(topics::Command c) { queue_.push_back(std::move(c)); }
  bool step() {
    if (queue_.empty()) return false;
    auto c = std::move(queue_.front());
    queue_.pop_front();
    const topics::CommandPosition at{0, offset_++};
    input_.commands.push_back({at, c});
    auto r = decide(state_, c, at, 1000);
    if (!r) return true;
    state_.apply(r->writes);
    if (r->publish) input_.decisions.push_back(r->decision);
    input_.decisions.insert(input_.decisions.end(), r->caused.begin(), r->caused.end());
    for (auto& e : r->emitted) queue_.push_back(std::move(e));
    return true;
  }
  void drain() {
    for (int i = 0; i < 10'000 && step(); ++i) {
    }
    ASSERT_TRUE(queue_.empty());
  }
  void run(topics::Command c) {
    send(std::move(c));
    drain();
  }

  void create_product(const std::string& id, int64_t stock, int64_t price) {
    topics::CreateEvent e{id, "Product " + id, stock, 1, {}, {}};
    e.mode = EventMode::kSale;
    e.price = price;
    run({"c-" + id, 100, e});
  }
  // A coupon event: each unit issued is a coupon of `percent`% capped at `cap`, or `amount` off.
  void create_coupons(const std::string& id, int64_t stock, int64_t amount, int32_t percent, int64_t cap,
                      std::optional<int64_t> expires = std::nullopt) {
    topics::CreateEvent e{id, "Coupons " + id, stock, 1, {}, {}};
    e.discount_amount = amount;
    e.discount_percent = percent;
    e.discount_cap = cap;
    e.coupon_expires_at = expires;
    run({"c-" + id, 100, e});
  }
  void charge(const std::string& user, int64_t amount) {
    run({"pay-" + user + std::to_string(offset_), 200, topics::Charge{"", user, amount}});
  }
  topics::Command order(const std::string& id, const std::string& user, std::vector<topics::OrderItem> items,
                        std::optional<topics::OrderCoupon> coupon = std::nullopt, int64_t at = 1000) {
    return {id, at, topics::Order{"", user, std::move(items), std::move(coupon)}};
  }
  // The order's end (its order_result), or nullptr while it is open.
  const topics::Decision* result(const std::string& order_id) const {
    for (const auto& d : input_.decisions) {
      if (d.type == topics::decision_type::kOrderResult && d.request_id == order_id) return &d;
    }
    return nullptr;
  }
  int64_t balance(const std::string& user) const {
    auto v = state_.get(balance_key(user));
    return v ? std::stoll(*v) : 0;
  }
  EventState event(const std::string& id) const { return decode_event(*state_.get(event_key(id))); }
  std::string coupon_state(const std::string& event, const std::string& claim) const {
    return decode_coupon(*state_.get(coupon_key(event, claim))).state;
  }
  topics::VerifyReport verify() const { return topics::verify(input_); }

  MemoryState state_;
  std::deque<topics::Command> queue_;
  int64_t offset_ = 0;
  topics::VerifyInput input_;
};

TEST_F(OrdersTest, APaidOrderDebitsTheDiscountedTotalSellsTheUnitsAndUsesTheCoupon) {
  create_product("shoe", 5, 1500);
  create_coupons("sale20", 10, 0, 20, 500);  // 20% off, at most 5.00
  run({"claim-ann", 500, topics::Claim{"sale20", "ann"}});
  charge("ann", 10'000);
  run(order("o1", "ann", {{"shoe", 2}}, topics::OrderCoupon{"sale20", "claim-ann"}));

  const auto* end = result("o1");
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(end->outcome, Outcome::kPaid);
  EXPECT_EQ(*end->amount, 3000 - 500) << "20% of 30.00 is 6.00, capped at 5.00";
  EXPECT_EQ(*end->balance, 7500);
  EXPECT_EQ(balance("ann"), 7500);
  EXPECT_EQ(event("shoe").issued, 2) << "sold";
  EXPECT_EQ(event("shoe").held, 0);
  EXPECT_EQ(coupon_state("sale20", "claim-ann"), "redeemed");
  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.orders_paid, 1);
  EXPECT_EQ(report.units_sold, 2);
  EXPECT_EQ(report.money_paid, 2500);
  // The saga's request ids are the system's own and a client key may not take them.
  for (const auto& c : input_.commands) {
    if (c.command.request_id.starts_with("os-")) {
      EXPECT_TRUE(topics::is_reserved_request_id(c.command.request_id));
      EXPECT_TRUE(topics::valid_request_id(c.command.request_id));
    }
  }
}

TEST_F(OrdersTest, EveryRefusalFailsTheOrderWithItsReasonAndLeavesNothingTaken) {
  create_product("shoe", 3, 1000);
  create_product("hat", 1, 200);
  create_coupons("ten", 10, 100, 0, 0);
  create_coupons("old", 10, 100, 0, 0, 900);  // expired for orders at 1000
  run({"claim-ann", 500, topics::Claim{"ten", "ann"}});
  run({"claim-ben", 500, topics::Claim{"ten", "ben"}});
  run({"claim-ann-old", 500, topics::Claim{"old", "ann"}});
  charge("ann", 1500);
  charge("ben", 100);

  struct Case {
    std::string order_id, user;
    std::vector<topics::OrderItem> items;
    std::optional<topics::OrderCoupon> coupon;
    Outcome reason;
  };
  const std::vector<Case> cases{
      {"no-stock", "ann", {{"shoe", 4}}, std::nullopt, Outcome::kSoldOut},
      {"foreign", "ann", {{"shoe", 1}}, topics::OrderCoupon{"ten", "claim-ben"}, Outcome::kNotYours},
      {"expired", "ann", {{"shoe", 1}}, topics::OrderCoupon{"old", "claim-ann-old"}, Outcome::kCouponExpired},
      {"no-coupon", "ann", {{"shoe", 1}}, topics::OrderCoupon{"ten", "claim-nobody"}, Outcome::kNotACoupon},
      {"short", "ben", {{"shoe", 1}}, std::nullopt, Outcome::kBalanceShort},
      {"not-sold", "ann", {{"ten", 1}}, std::nullopt, Outcome::kNotForSale},
      {"unknown", "ann", {{"nothing", 1}, {"hat", 1}}, std::nullopt, Outcome::kUnknownEvent},
  };
  for (const auto& c : cases) {
    run(order(c.order_id, c.user, c.items, c.coupon));
    const auto* end = result(c.order_id);
    ASSERT_NE(end, nullptr) << c.order_id;
    EXPECT_EQ(end->outcome, Outcome::kFailed) << c.order_id;
    EXPECT_EQ(end->reason, c.reason) << c.order_id << " failed for "
                                     << topics::to_string(end->reason.value_or(Outcome::kPaid));
    EXPECT_EQ(event("shoe").held, 0) << c.order_id << ": its reservation was released";
    EXPECT_EQ(event("hat").held, 0) << c.order_id;
    EXPECT_EQ(coupon_state("ten", "claim-ann"), "unused") << c.order_id;
  }
  EXPECT_EQ(balance("ann"), 1500);
  EXPECT_EQ(balance("ben"), 100);

  // The coupon used once is refused the second time; the first order took it.
  run(order("first", "ann", {{"shoe", 1}}, topics::OrderCoupon{"ten", "claim-ann"}));
  EXPECT_EQ(result("first")->outcome, Outcome::kPaid);
  run(order("second", "ann", {{"hat", 1}}, topics::OrderCoupon{"ten", "claim-ann"}));
  EXPECT_EQ(result("second")->reason, Outcome::kCouponUsed);
  EXPECT_EQ(event("hat").held, 0);
  EXPECT_EQ(balance("ann"), 1500 - 900);

  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.orders_failed, static_cast<int64_t>(cases.size()) + 1);
  EXPECT_EQ(report.orders_open, 0);
}

TEST_F(OrdersTest, AUsersConcurrentOrdersCannotOverspend) {
  create_product("ticket", 100, 1000);
  charge("ann", 2500);
  // Three orders in flight at once: every reservation is taken before any order is paid.
  for (const char* id : {"a", "b", "c"}) send(order(id, "ann", {{"ticket", 1}}));
  drain();
  int paid = 0, short_of_money = 0;
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_NE(result(id), nullptr);
    paid += result(id)->outcome == Outcome::kPaid;
    short_of_money += result(id)->reason == Outcome::kBalanceShort;
  }
  EXPECT_EQ(paid, 2);
  EXPECT_EQ(short_of_money, 1);
  EXPECT_EQ(balance("ann"), 500);
  EXPECT_EQ(event("ticket").issued, 2);
  EXPECT_EQ(event("ticket").held, 0);
  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST_F(OrdersTest, ALineWhoseProductIsDeletedAfterPaymentIsRefundedOnce) {
  create_product("gone", 5, 700);
  charge("ann", 1000);
  send(order("o", "ann", {{"gone", 1}}));
  // Decide until the order is paid, then delete the product before its finalize is decided.
  for (int i = 0; i < 10 && !result("o"); ++i) step();
  ASSERT_NE(result("o"), nullptr);
  ASSERT_EQ(result("o")->outcome, Outcome::kPaid);
  EXPECT_EQ(balance("ann"), 300);
  send({"del", 2000, topics::DeleteEvent{"gone"}});
  std::rotate(queue_.begin(), queue_.end() - 1, queue_.end());  // the delete first
  drain();
  EXPECT_EQ(balance("ann"), 1000) << "refunded";
  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.money_refunded, 700);
}

TEST_F(OrdersTest, ARefundGivesBackWhatTheLinePaidNotItsPrice) {
  create_product("gone", 5, 700);
  create_product("kept", 5, 300);
  create_coupons("half", 10, 800, 0, 0);  // 8.00 off an order of 10.00
  run({"claim-ann", 500, topics::Claim{"half", "ann"}});
  charge("ann", 1000);
  send(order("o", "ann", {{"gone", 1}, {"kept", 1}}, topics::OrderCoupon{"half", "claim-ann"}));
  for (int i = 0; i < 20 && !result("o"); ++i) step();
  send({"del", 2000, topics::DeleteEvent{"gone"}});
  std::rotate(queue_.begin(), queue_.end() - 1, queue_.end());  // the delete before the finalizes
  drain();
  ASSERT_EQ(result("o")->outcome, Outcome::kPaid);
  EXPECT_EQ(balance("ann"), 1000 - 200) << "paid 2.00 for both lines; the deleted line paid 0 of it and gets 0 back";
  EXPECT_EQ(topics::line_payments({700, 300}, 800), (std::vector<int64_t>{0, 200}));
  EXPECT_NE(topics::order_request_id("ann", "k", topics::OrderStepKind::kReserve, 1),
            topics::order_request_id("ben", "k", topics::OrderStepKind::kReserve, 1))
      << "two users' orders under one key are two sagas";
  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST_F(OrdersTest, TheVerifierCatchesAWrongTotalASecondEndAndAReservationPastTheStock) {
  create_product("shoe", 1, 1000);
  charge("ann", 5000);
  run(order("o1", "ann", {{"shoe", 1}}));
  ASSERT_TRUE(verify().ok()) << verify().summary();

  auto with = [&](auto&& change) {
    auto input = input_;
    change(input.decisions);
    return topics::verify(input);
  };
  auto find = [](std::vector<topics::Decision>& ds, std::string_view type) -> topics::Decision& {
    return *std::find_if(ds.begin(), ds.end(), [&](const topics::Decision& d) { return d.type == type; });
  };
  auto wrong_total = with([&](auto& ds) {
    auto& end = find(ds, topics::decision_type::kOrderResult);
    *end.amount = 900;
    *end.balance = 4100;
  });
  EXPECT_FALSE(wrong_total.ok());
  auto twice = with([&](auto& ds) { ds.push_back(find(ds, topics::decision_type::kOrderResult)); });
  EXPECT_FALSE(twice.ok());
  auto oversold = with([&](auto& ds) {
    auto extra = find(ds, topics::decision_type::kReserve);
    extra.order_id = "o2";
    extra.command.offset += 1;
    ds.push_back(extra);
  });
  EXPECT_FALSE(oversold.ok());
  auto not_released = with([&](auto& ds) {
    auto& end = find(ds, topics::decision_type::kOrderResult);
    end.outcome = Outcome::kFailed;
    end.reason = Outcome::kSoldOut;
  });
  EXPECT_FALSE(not_released.ok()) << "failed with no step refused, and the units were sold";

  // Only the wallets read (allotctl verify --wallets ann): the order is counted, its unread steps not judged.
  auto wallets_only = input_;
  std::erase_if(wallets_only.decisions, [](const topics::Decision& d) { return !topics::is_wallet_keyed(d); });
  std::erase_if(wallets_only.commands, [](const topics::PositionedCommand& c) { return !c.command.wallet_user(); });
  wallets_only.events_read.emplace();
  wallets_only.wallet_users = std::set<std::string>{"ann"};
  auto report = topics::verify(wallets_only);
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.orders_paid, 1);
}

// Seats (README "Seats"): a hold event with a seat map and a price.
class SeatsTest : public OrdersTest {
 protected:
  void SetUp() override {
    topics::CreateEvent e{"hall", "Hall", 3, 2, {}, {}};
    e.mode = EventMode::kHold;
    e.hold_ms = 60'000;
    e.price = 2500;
    e.seats = {"A-1", "A-2", "B-1"};
    run({"c-hall", 100, e});
  }
  const topics::Decision& claim(const std::string& id, const std::string& user, const std::string& seat,
                                int64_t at = 500) {
    run({id, at, topics::Claim{"hall", user, seat}});
    return answer(id);
  }
  const topics::Decision& answer(const std::string& request_id) const {
    for (const auto& d : input_.decisions) {
      if (d.request_id == request_id && !topics::is_caused(d)) return d;
    }
    static const topics::Decision kNone;
    ADD_FAILURE() << "no decision for " << request_id;
    return kNone;
  }
  Seat seat(const std::string& name) const { return decode_seat(*state_.get(seat_key("hall", name))); }
};

TEST_F(SeatsTest, ASeatHasOneHolderAndIsPaidForByAnOrderThatSellsIt) {
  EXPECT_EQ(claim("ann-a1", "ann", "A-1").outcome, Outcome::kHeld);
  EXPECT_EQ(claim("bob-a1", "bob", "A-1").outcome, Outcome::kSeatTaken);
  EXPECT_EQ(claim("bob-z9", "bob", "Z-9").outcome, Outcome::kUnknownSeat);
  EXPECT_EQ(claim("bob-none", "bob", "").outcome, Outcome::kSeatRequired);
  EXPECT_EQ(answer("bob-a1").seat, "A-1");
  EXPECT_EQ(seat("A-1").state, "held");
  EXPECT_EQ(seat("A-1").user_id, "ann");
  run({"ann-confirm", 600, topics::Confirm{{"hall", "ann-a1", "ann"}}});
  EXPECT_EQ(answer("ann-confirm").outcome, Outcome::kOrderOnly) << "a seat with a price is paid for by an order";

  charge("ann", 10'000);
  run(order("o-ann", "ann", {{"hall", 1, "A-1"}}));
  ASSERT_NE(result("o-ann"), nullptr);
  EXPECT_EQ(result("o-ann")->outcome, Outcome::kPaid);
  EXPECT_EQ(*result("o-ann")->amount, 2500);
  EXPECT_EQ(balance("ann"), 7500);
  EXPECT_EQ(seat("A-1").state, "sold");
  EXPECT_EQ(seat("A-1").order_id, "o-ann");
  EXPECT_EQ(event("hall").issued, 1);
  EXPECT_EQ(event("hall").held, 0);
  EXPECT_EQ(decode_hold(*state_.get(hold_key("hall", "ann-a1"))).state, "confirmed");

  // Bob's order of the sold seat and of a free one he does not hold: both refused, nothing taken.
  charge("bob", 10'000);
  run(order("o-bob", "bob", {{"hall", 1, "A-1"}}));
  EXPECT_EQ(result("o-bob")->outcome, Outcome::kFailed);
  EXPECT_EQ(*result("o-bob")->reason, Outcome::kSeatTaken);
  run(order("o-bob2", "bob", {{"hall", 1, "A-2"}}));
  EXPECT_EQ(*result("o-bob2")->reason, Outcome::kNotHeld) << "a seat is claimed (held) before it is bought";
  EXPECT_EQ(balance("bob"), 10'000);
  EXPECT_EQ(claim("bob-a1-again", "bob", "A-1", 700).outcome, Outcome::kSeatTaken) << "sold stays taken";

  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.orders_paid, 1);
  EXPECT_EQ(report.issued, 1);
}

TEST_F(SeatsTest, AFailedOrderGivesTheHoldBackAndAnExpiredHoldFreesTheSeat) {
  EXPECT_EQ(claim("ann-a2", "ann", "A-2").outcome, Outcome::kHeld);  // expires at 500 + 60,000
  run(order("o-poor", "ann", {{"hall", 1, "A-2"}}, std::nullopt, 1000));
  EXPECT_EQ(*result("o-poor")->reason, Outcome::kBalanceShort);
  EXPECT_EQ(seat("A-2").state, "held") << "back to its holder";
  EXPECT_EQ(seat("A-2").order_id, "");
  EXPECT_EQ(decode_hold(*state_.get(hold_key("hall", "ann-a2"))).state, "held");
  EXPECT_EQ(event("hall").held, 1);

  // While an order pays for it, the hold does not expire and its holder cannot cancel it.
  charge("ann", 5000);
  send(order("o-slow", "ann", {{"hall", 1, "A-2"}}, std::nullopt, 2000));
  step();  // placed
  step();  // reserved
  EXPECT_EQ(seat("A-2").state, "reserved");
  run({"ann-cancel", 70'000, topics::Cancel{{"hall", "ann-a2", "ann"}}});
  EXPECT_EQ(answer("ann-cancel").outcome, Outcome::kReserved);
  EXPECT_EQ(seat("A-2").state, "sold") << "the order ended paid: the seat is ann's";

  // An unpaid hold past its expiry frees its seat for the next claimant.
  EXPECT_EQ(claim("bob-b1", "bob", "B-1", 80'000).outcome, Outcome::kHeld);
  EXPECT_EQ(claim("cy-b1", "cy", "B-1", 80'000 + 60'000).outcome, Outcome::kHeld) << "bob's hold expired";
  EXPECT_EQ(seat("B-1").user_id, "cy");
  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST_F(SeatsTest, EdgeCasesAgreeWithTheVerifier) {
  // A seat named where there is no seat map: a claim on fcfs and raffle events, an order line on a product.
  create_product("shoe", 5, 1000);
  run({"c-coupons", 100, topics::CreateEvent{"coupons", "Coupons", 5, 1, {}, {}}});
  topics::CreateEvent raffle{"draw", "Draw", 1, 1, {}, std::optional<int64_t>(1'000'000)};
  raffle.mode = EventMode::kRaffle;
  run({"c-draw", 100, raffle});
  run({"fcfs-seat", 500, topics::Claim{"coupons", "ann", "A-1"}});
  run({"raffle-seat", 500, topics::Claim{"draw", "ann", "A-1"}});
  EXPECT_EQ(answer("fcfs-seat").outcome, Outcome::kUnknownSeat);
  EXPECT_EQ(answer("raffle-seat").outcome, Outcome::kUnknownSeat);
  charge("ann", 100'000);
  run(order("o-shoe-seat", "ann", {{"shoe", 1, "A-1"}}));
  EXPECT_EQ(*result("o-shoe-seat")->reason, Outcome::kUnknownSeat);
  run(order("o-no-seat", "ann", {{"hall", 1, "Z-9"}}));
  EXPECT_EQ(*result("o-no-seat")->reason, Outcome::kUnknownSeat);

  // A priced seat sold, then confirmed by its holder: already ended (not order_only).
  claim("ann-a1", "ann", "A-1");
  run(order("o-a1", "ann", {{"hall", 1, "A-1"}}));
  ASSERT_EQ(result("o-a1")->outcome, Outcome::kPaid);
  run({"late-confirm", 900, topics::Confirm{{"hall", "ann-a1", "ann"}}});
  EXPECT_EQ(answer("late-confirm").outcome, Outcome::kAlreadyEnded);
  EXPECT_EQ(*state_.get(hold_key("hall", "ann-a1")), "confirmed|ann|61000") << "the form older binaries read";
  EXPECT_EQ(*state_.get(hold_seat_key("hall", "ann-a1")), "A-1");

  // A hold given back by a failed order after ticks moved stream time past its expiry ends at once.
  claim("bob-a2", "bob", "A-2", 1000);  // expires at 61,000
  send(order("o-bob", "bob", {{"hall", 1, "A-2"}}, std::nullopt, 2000));
  step();  // placed
  step();  // reserved: the hold stops expiring
  run({"tick-late", 90'000, topics::Tick{}});
  EXPECT_EQ(*result("o-bob")->reason, Outcome::kBalanceShort);
  EXPECT_EQ(seat("A-2").state, "free") << "given back past its expiry: expired at once";
  EXPECT_EQ(decode_hold(*state_.get(hold_key("hall", "bob-a2"))).state, "expired");
  auto report = verify();
  EXPECT_TRUE(report.ok()) << report.summary();

  // The verifier: a seat's line answered reserved on a product, and a given-back hold expired before the
  // partition's time reached its expiry, are caught.
  auto tampered = input_;
  for (auto& d : tampered.decisions) {
    if (d.type == "reserve" && d.order_id == "o-shoe-seat") d.outcome = Outcome::kReserved, d.amount = 1000;
  }
  EXPECT_FALSE(topics::verify(tampered).ok()) << "a product sold by a seat's line";
  tampered = input_;
  std::erase_if(tampered.commands,
                [](const topics::PositionedCommand& c) { return c.command.request_id == "tick-late"; });
  EXPECT_FALSE(topics::verify(tampered).ok()) << "expired at 2,000 of a hold that runs to 61,000";
}

TEST_F(SeatsTest, AHoldOrAReservationOfTheFirstSeatRecordsStillEndsWithItsSeat) {
  // 761bd4e..98ab079 wrote a held seat's hold as "state|user|expires_at|seat" and no hs/ record.
  EXPECT_EQ(claim("ann-a1", "ann", "A-1").outcome, Outcome::kHeld);
  const auto held = decode_hold(*state_.get(hold_key("hall", "ann-a1")));
  state_.kv[hold_key("hall", "ann-a1")] =
      held.state + "|" + held.user_id + "|" + std::to_string(held.expires_at) + "|A-1";
  state_.kv.erase(hold_seat_key("hall", "ann-a1"));
  EXPECT_EQ(decode_hold(state_.kv[hold_key("hall", "ann-a1")]).seat, "A-1");
  EXPECT_EQ(decode_reservation("reserved|ann|1|A-1").seat, "A-1");
  EXPECT_EQ(decode_reservation("reserved|ann|3").qty, 3);
  run({"ann-cancel", 600, topics::Cancel{{"hall", "ann-a1", "ann"}}});
  EXPECT_EQ(answer("ann-cancel").outcome, Outcome::kCancelled);
  EXPECT_EQ(answer("ann-cancel").seat, "A-1");
  EXPECT_EQ(seat("A-1").state, "free");
}

TEST_F(SeatsTest, TheVerifierCatchesASeatHeldTwiceAndAWrongSeatRefusal) {
  claim("ann-a1", "ann", "A-1");
  claim("bob-a1", "bob", "A-1");
  claim("cy-b1", "cy", "B-1");
  ASSERT_TRUE(verify().ok()) << verify().summary();
  for (auto& d : input_.decisions) {
    if (d.request_id == "bob-a1") d.outcome = Outcome::kHeld, d.hold_expires_at = 60'500;
  }
  EXPECT_FALSE(verify().ok()) << "two holders of A-1";
  for (auto& d : input_.decisions) {
    if (d.request_id == "bob-a1") d.outcome = Outcome::kSeatTaken, d.hold_expires_at.reset();
    if (d.request_id == "cy-b1") d.outcome = Outcome::kSeatTaken, d.hold_expires_at.reset();
  }
  EXPECT_FALSE(verify().ok()) << "B-1 was free";
}

TEST(SeatMessages, SeatsClaimsAndLinesRoundTripAndBadMapsAreRefused) {
  topics::CreateEvent hall{"hall", "Hall", 2, 1, {}, {}};
  hall.mode = EventMode::kHold;
  hall.hold_ms = 1000;
  hall.price = 100;
  hall.seats = {"A-1", "A-2"};
  EXPECT_FALSE(topics::commerce_error(hall).has_value());
  auto back = std::get<topics::CreateEvent>(topics::decode_command(topics::encode({"c", 1, hall})).body);
  EXPECT_EQ(back.seats, hall.seats);
  topics::Decision created;
  created.type = "create_event";
  created.event = hall;
  EXPECT_EQ(topics::decode_decision(topics::encode(created)).event->seats, hall.seats);
  auto claim =
      std::get<topics::Claim>(topics::decode_command(topics::encode({"r", 1, topics::Claim{"hall", "u", "A-2"}})).body);
  EXPECT_EQ(claim.seat, "A-2");
  topics::Reserve reserve;
  static_cast<topics::OrderPart&>(reserve) = {"hall", "u", "o", 1};
  reserve.qty = 1;
  reserve.seat = "A-1";
  EXPECT_EQ(std::get<topics::Reserve>(topics::decode_command(topics::encode({"s", 1, reserve})).body).seat, "A-1");

  auto refused = [](auto change) {
    topics::CreateEvent e{"hall", "Hall", 2, 1, {}, {}};
    e.mode = EventMode::kHold;
    e.hold_ms = 1000;
    e.seats = {"A-1", "A-2"};
    change(e);
    return topics::commerce_error(e).has_value();
  };
  EXPECT_FALSE(refused([](topics::CreateEvent&) {}));
  EXPECT_TRUE(refused([](topics::CreateEvent& e) { e.mode = EventMode::kFcfs, e.hold_ms = 0; })) << "hold only";
  EXPECT_TRUE(refused([](topics::CreateEvent& e) { e.stock = 3; })) << "stock is the number of seats";
  EXPECT_TRUE(refused([](topics::CreateEvent& e) { e.seats = {"A-1", "A-1"}; })) << "a seat listed twice";
  EXPECT_TRUE(refused([](topics::CreateEvent& e) { e.seats = {"A 1", "A-2"}; })) << "a seat's name";
  EXPECT_TRUE(refused([](topics::CreateEvent& e) { e.discount_amount = 100; })) << "no coupons";
  for (
      const char* bad : {
          R"({"type":"claim","request_id":"r","received_at":1,"event_id":"hall","user_id":"u","seat":""})",
          R"({"type":"claim","request_id":"r","received_at":1,"event_id":"hall","user_id":"u","seat":"A/1"})",
          R"({"type":"order","request_id":"o","received_at":1,"user_id":"u","items":[{"event_id":"h","seat":"A-1","qty":2}]})",
      }) {
    EXPECT_THROW(topics::decode_command(bad), topics::DecodeError) << bad;
  }
}

TEST(OrderRules, DiscountsAndStepIds) {
  EXPECT_EQ(topics::discount_off({300, 0, 0}, 1000), 300);
  EXPECT_EQ(topics::discount_off({3000, 0, 0}, 1000), 1000) << "never more than the order";
  EXPECT_EQ(topics::discount_off({0, 10, 0}, 1000), 100);
  EXPECT_EQ(topics::discount_off({0, 50, 200}, 1000), 200);
  EXPECT_NE(topics::order_request_id("u", "o", topics::OrderStepKind::kReserve, 1),
            topics::order_request_id("u", "o", topics::OrderStepKind::kReserve, 2));
  EXPECT_NE(topics::order_request_id("u", "o", topics::OrderStepKind::kAnswer, 1, topics::OrderStepKind::kReserve),
            topics::order_request_id("u", "o", topics::OrderStepKind::kAnswer, 1, topics::OrderStepKind::kRedeem));
  EXPECT_TRUE(topics::valid_request_id(topics::order_request_id(std::string(64, 'u'), std::string(64, 'x'),
                                                                topics::OrderStepKind::kAnswer, 10,
                                                                topics::OrderStepKind::kReserve)));
}

TEST(OrderMessages, OrdersAndTheirStepsRoundTripAndBadOnesAreRefused) {
  topics::Command order{"o1", 5, topics::Order{"", "ann", {{"shoe", 2}, {"hat", 1}}, topics::OrderCoupon{"ten", "c1"}}};
  auto back = topics::decode_command(topics::encode(order));
  EXPECT_EQ(back.key(), topics::wallet_key("ann"));
  const auto& o = std::get<topics::Order>(back.body);
  ASSERT_EQ(o.items.size(), 2u);
  EXPECT_EQ(o.items[0].qty, 2);
  EXPECT_EQ(o.coupon->claim_request_id, "c1");
  topics::OrderStep step;
  static_cast<topics::OrderPart&>(step) = {"", "ann", "o1", 0};
  step.outcome = Outcome::kRedeemed;
  step.discount = {0, 20, 500};
  auto step_back = std::get<topics::OrderStep>(topics::decode_command(topics::encode({"s", 5, step})).body);
  EXPECT_EQ(step_back.discount.percent, 20);
  EXPECT_EQ(step_back.discount.cap, 500);
  EXPECT_EQ(step_back.outcome, Outcome::kRedeemed);
  for (const char* bad : {
           R"({"type":"order","request_id":"o","received_at":1,"user_id":"ann","items":[]})",
           R"({"type":"order","request_id":"o","received_at":1,"user_id":"ann","items":[{"event_id":"a","qty":0}]})",
           R"({"type":"order","request_id":"o","received_at":1,"user_id":"ann","items":[{"event_id":"A"}]})",
           R"({"type":"order","request_id":"o","received_at":1,"user_id":"ann","items":[{"event_id":"a","qty":101}]})",
           R"({"type":"order","request_id":"o","received_at":1,"user_id":"ann","items":[{"event_id":"a","qty":2.9}]})",
           R"({"type":"order","request_id":"o","received_at":1,"user_id":"ann","items":[{"event_id":"a","qty":true}]})",
       }) {
    EXPECT_THROW(topics::decode_command(bad), topics::DecodeError) << bad;
  }
  topics::CreateEvent sale{"p", "P", 1, 1, {}, {}};
  sale.mode = EventMode::kSale;
  EXPECT_TRUE(topics::commerce_error(sale).has_value()) << "a sale needs a price";
  sale.price = 100;
  EXPECT_FALSE(topics::commerce_error(sale).has_value());
  sale.discount_percent = 10;
  EXPECT_TRUE(topics::commerce_error(sale).has_value()) << "a product gives no coupons";
  topics::CreateEvent coupons{"c", "C", 1, 1, {}, {}};
  coupons.discount_amount = 100;
  coupons.discount_percent = 10;
  EXPECT_TRUE(topics::commerce_error(coupons).has_value()) << "amount or percent, not both";
  coupons.discount_percent = 0;
  coupons.partitions = 4;
  EXPECT_TRUE(topics::commerce_error(coupons).has_value()) << "a mega event's coupons could not be named";
}

}  // namespace
}  // namespace allot::processors
