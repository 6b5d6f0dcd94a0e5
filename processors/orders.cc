#include "processors/orders.h"

#include <nlohmann/json.hpp>
#include <numeric>

#include "processors/seats.h"
#include "processors/wallet.h"
#include "topics/orders.h"

namespace allot::processors::detail {

namespace {

using nlohmann::json;
using topics::EventMode;
using topics::OrderStepKind;
using topics::Outcome;

// An order's record (key "o/<order_id>", on its wallet's partition). JSON rather than the flat text of the
// claim path's records: an order is read a few times in its life, and its lines vary in number.
//   {"state": placed|paid|failed, "user", "answered": steps answered, "reason": the first refusal,
//    "lines": [{"event", "qty", "outcome": the reservation's answer, "amount"}],
//    "coupon": null | {"event", "claim", "outcome", "discount": [amount, percent, cap]}}
json load_order(const Changes& st, const std::string& order_id) {
  auto v = st.get(order_key(order_id));
  return v ? json::parse(*v) : json();
}

topics::Command command(const Ctx& x, const std::string& user_id, const std::string& order_id, OrderStepKind step,
                        int32_t line, topics::Command::Body body) {
  return {topics::order_request_id(user_id, order_id, step, line), x.c.received_at, std::move(body)};
}

// The answer of a reservation or a redemption, for the order's wallet partition.
void answer(Ctx& x, const topics::OrderPart& part, OrderStepKind step, const topics::Decision& d,
            topics::Discount discount = {}) {
  topics::OrderStep reply;
  static_cast<topics::OrderPart&>(reply) = {"", part.user_id, part.order_id, part.line};
  reply.outcome = d.outcome;
  reply.amount = d.amount.value_or(0);
  reply.discount = discount;
  x.emitted.push_back({topics::order_request_id(part.user_id, part.order_id, OrderStepKind::kAnswer, part.line, step),
                       x.c.received_at, std::move(reply)});
}

topics::Decision part_decision(const Ctx& x, const topics::OrderPart& part) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = part.user_id;
  d.order_id = part.order_id;
  d.line = part.line;
  return d;
}

// The window of a sale: not before opens_at, not at or after closes_at or a close_event.
std::optional<Outcome> sale_window(const EventState& e, int64_t received_at) {
  if (e.spec.opens_at && received_at < *e.spec.opens_at) return Outcome::kNotOpen;
  if ((e.spec.closes_at && received_at >= *e.spec.closes_at) || e.closed) return Outcome::kClosed;
  return std::nullopt;
}

// Ends the order line's live reservation on `e` (of `seat` on a seat's line): sold (the units become issued)
// or released (back to stock, a seat's hold back to its holder); not_held when there is none live.
void end_reservation(Ctx& x, EventState& e, const topics::OrderPart& part, const std::string& seat, Outcome end,
                     topics::Decision& d) {
  const auto key = reservation_key(part.event_id, part.order_id, part.line);
  auto record = x.st.get(key);
  auto r = record ? decode_reservation(*record) : Reservation{};
  if (r.state == topics::outcome::kReserved) {
    if (const auto& line_seat = seat.empty() ? r.seat : seat; !line_seat.empty()) {
      end_seat_reservation(x, e, line_seat, end, d);
    } else {
      e.held -= r.qty;
      if (end == Outcome::kSold) {
        e.issued += r.qty;
        d.coupon_seq = e.issued;  // units sold so far: the popular-products ranking
      }
      save_event(x, e);
      d.qty = r.qty;
    }
    x.st.put(key, encode_reservation({std::string(topics::to_string(end)), r.user_id, r.qty}));
    d.outcome = end;
  } else {
    d.outcome = Outcome::kNotHeld;
  }
  d.remaining = remaining_of(e);
}

// The order's last answer came: pay (debit the total, sell the units) or fail (give back what was taken).
void end_order(Ctx& x, json& order, const std::string& order_id) {
  const std::string user = order["user"];
  auto d = base_decision(x.c, x.position, x.now);
  d.type = std::string(topics::decision_type::kOrderResult);
  d.request_id = order_id;
  d.event_id.clear();
  d.user_id = user;
  d.order_id = order_id;
  auto reason = topics::outcome_from_string(order["reason"].get<std::string>());
  std::vector<int64_t> amounts;  // each line's price x qty
  for (const auto& line : order["lines"]) amounts.push_back(line["amount"].get<int64_t>());
  const int64_t gross = std::accumulate(amounts.begin(), amounts.end(), int64_t{0});
  int64_t total = gross;
  if (order["coupon"].is_object()) {
    const auto& rule = order["coupon"]["discount"];
    total -= topics::discount_off({rule[0].get<int64_t>(), rule[1].get<int32_t>(), rule[2].get<int64_t>()}, gross);
  }
  d.amount = total;
  if (!reason) {
    if (auto balance = debit(x, user, total)) {
      d.balance = *balance;
    } else {
      reason = Outcome::kBalanceShort;
    }
  }
  if (!reason) {
    d.outcome = Outcome::kPaid;
    const auto paid = topics::line_payments(amounts, gross - total);
    for (int32_t n = 1; n <= static_cast<int32_t>(paid.size()); ++n) {
      const auto& line = order["lines"][static_cast<size_t>(n - 1)];
      x.emitted.push_back(
          command(x, user, order_id, OrderStepKind::kFinalize, n,
                  topics::Finalize{
                      {line["event"], user, order_id, n}, paid[static_cast<size_t>(n - 1)], line.value("seat", "")}));
    }
  } else {
    d.outcome = Outcome::kFailed;
    d.reason = reason;
    d.balance = wallet_balance(x, user);
    int32_t n = 0;
    for (const auto& line : order["lines"]) {
      ++n;
      if (line["outcome"] != topics::outcome::kReserved) continue;
      x.emitted.push_back(command(x, user, order_id, OrderStepKind::kRelease, n,
                                  topics::Release{{line["event"], user, order_id, n}, line.value("seat", "")}));
    }
    const auto& coupon = order["coupon"];
    if (coupon.is_object() && coupon["outcome"] == topics::outcome::kRedeemed) {
      x.emitted.push_back(command(x, user, order_id, OrderStepKind::kUnredeem, 0,
                                  topics::Unredeem{{coupon["event"], user, order_id, 0}, coupon["claim"]}));
    }
  }
  order["state"] = topics::to_string(d.outcome);
  x.caused.push_back(std::move(d));
}

}  // namespace

void start_terms(Ctx& x, const topics::CreateEvent& spec) {
  if (spec.price == 0 && !spec.has_coupons() && !spec.seated()) return;
  x.st.put(terms_key(spec.event_id), encode_terms({spec.price, topics::discount_of(spec), spec.coupon_expires_at,
                                                   static_cast<int64_t>(spec.seats.size())}));
  start_seats(x, spec);
}

void unit_issued(Ctx& x, const EventState& e, const std::string& user_id, const std::string& claim_request_id,
                 int64_t n) {
  reward_unit(x, e, user_id, claim_request_id, n);
  // Terms without a discount (a seated event's price) issue no coupon.
  if (auto terms = x.st.get(terms_key(e.spec.event_id)); terms && decode_terms(*terms).discount.any()) {
    x.st.put(coupon_key(e.spec.event_id, claim_request_id), encode_coupon({std::string(kCouponUnused), user_id, ""}));
  }
}

topics::Decision decide_order(Ctx& x, const topics::Order& order) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = order.user_id;
  d.order_id = x.c.request_id;
  d.outcome = Outcome::kPlaced;
  json lines = json::array();
  int32_t n = 0;
  for (const auto& item : order.items) {
    ++n;
    lines.push_back({{"event", item.event_id}, {"qty", item.qty}, {"outcome", ""}, {"amount", 0}, {"seat", item.seat}});
    topics::Reserve reserve;
    static_cast<topics::OrderPart&>(reserve) = {item.event_id, order.user_id, x.c.request_id, n};
    reserve.qty = item.qty;
    reserve.seat = item.seat;
    x.emitted.push_back(command(x, order.user_id, x.c.request_id, OrderStepKind::kReserve, n, std::move(reserve)));
  }
  json coupon;  // null: none
  if (order.coupon) {
    coupon = {{"event", order.coupon->event_id}, {"claim", order.coupon->claim_request_id}, {"outcome", ""}};
    topics::Redeem redeem;
    static_cast<topics::OrderPart&>(redeem) = {order.coupon->event_id, order.user_id, x.c.request_id, 0};
    redeem.claim_request_id = order.coupon->claim_request_id;
    x.emitted.push_back(command(x, order.user_id, x.c.request_id, OrderStepKind::kRedeem, 0, std::move(redeem)));
  }
  json record{{"state", topics::outcome::kPlaced}, {"user", order.user_id},      {"answered", 0}, {"reason", ""},
              {"lines", std::move(lines)},         {"coupon", std::move(coupon)}};
  x.st.put(order_key(x.c.request_id), record.dump());
  return d;
}

topics::Decision decide_reserve(Ctx& x, const topics::Reserve& reserve) {
  auto d = part_decision(x, reserve);
  d.qty = reserve.qty;
  if (auto event = load_live_event(x, reserve.event_id, d)) {
    EventState& e = *event;
    d.remaining = remaining_of(e);
    if (!reserve.seat.empty()) {
      reserve_seat(x, e, reserve, d);
    } else if (e.spec.mode != EventMode::kSale) {
      d.outcome = Outcome::kNotForSale;
    } else if (auto refused = sale_window(e, x.c.received_at)) {
      d.outcome = *refused;
    } else if (remaining_of(e) < reserve.qty) {
      d.outcome = Outcome::kSoldOut;
    } else {
      const auto terms = decode_terms(x.st.get(terms_key(e.spec.event_id)).value_or("0 0 0 0 -1"));
      e.held += reserve.qty;
      save_event(x, e);
      x.st.put(reservation_key(e.spec.event_id, reserve.order_id, reserve.line),
               encode_reservation({std::string(topics::outcome::kReserved), reserve.user_id, reserve.qty}));
      d.outcome = Outcome::kReserved;
      d.amount = terms.price * reserve.qty;
      d.remaining = remaining_of(e);
    }
  }
  answer(x, reserve, OrderStepKind::kReserve, d);
  return d;
}

topics::Decision decide_redeem(Ctx& x, const topics::Redeem& redeem) {
  auto d = part_decision(x, redeem);
  d.claim_request_id = redeem.claim_request_id;
  topics::Discount discount;
  if (auto event = load_live_event(x, redeem.event_id, d)) {
    d.remaining = remaining_of(*event);
    const auto key = coupon_key(redeem.event_id, redeem.claim_request_id);
    auto record = x.st.get(key);
    auto terms = x.st.get(terms_key(redeem.event_id));
    if (!record || !terms) {
      d.outcome = Outcome::kNotACoupon;
    } else {
      auto coupon = decode_coupon(*record);
      const auto t = decode_terms(*terms);
      if (coupon.user_id != redeem.user_id) {
        d.outcome = Outcome::kNotYours;
      } else if (coupon.state != kCouponUnused) {
        d.outcome = Outcome::kCouponUsed;
      } else if (t.coupon_expires_at && x.c.received_at >= *t.coupon_expires_at) {
        d.outcome = Outcome::kCouponExpired;
      } else {
        x.st.put(key, encode_coupon({std::string(topics::outcome::kRedeemed), coupon.user_id, redeem.order_id}));
        d.outcome = Outcome::kRedeemed;
        discount = t.discount;
      }
    }
  }
  answer(x, redeem, OrderStepKind::kRedeem, d, discount);
  return d;
}

topics::Decision decide_order_step(Ctx& x, const topics::OrderStep& step) {
  auto d = part_decision(x, step);
  d.outcome = step.outcome;  // the step's answer, as the order records it
  if (step.amount > 0) d.amount = step.amount;
  auto order = load_order(x.st, step.order_id);
  if (!order.is_object() || order["state"] != topics::outcome::kPlaced) return d;  // cannot happen: one answer each
  const bool coupon = step.line == 0;
  auto& part = coupon ? order["coupon"] : order["lines"][static_cast<size_t>(step.line - 1)];
  part["outcome"] = topics::to_string(step.outcome);
  if (coupon) {
    part["discount"] = {step.discount.amount, step.discount.percent, step.discount.cap};
  } else {
    part["amount"] = step.amount;
  }
  const auto ok = coupon ? Outcome::kRedeemed : Outcome::kReserved;
  if (step.outcome != ok && order["reason"] == "") order["reason"] = topics::to_string(step.outcome);
  const auto answered = order["answered"].get<size_t>() + 1;
  order["answered"] = answered;
  if (answered == order["lines"].size() + (order["coupon"].is_object() ? 1 : 0)) end_order(x, order, step.order_id);
  x.st.put(order_key(step.order_id), order.dump());
  return d;
}

topics::Decision decide_finalize(Ctx& x, const topics::Finalize& finalize) {
  auto d = part_decision(x, finalize);
  d.amount = finalize.amount;
  if (auto event = load_live_event(x, finalize.event_id, d)) {
    end_reservation(x, *event, finalize, finalize.seat, Outcome::kSold, d);
  }
  if (d.outcome != Outcome::kSold) {
    // Paid but not sold (its event was deleted): the line's money goes back, exactly once.
    x.emitted.push_back(
        command(x, finalize.user_id, finalize.order_id, OrderStepKind::kRefund, finalize.line,
                topics::Refund{{"", finalize.user_id, finalize.order_id, finalize.line}, finalize.amount}));
  }
  return d;
}

topics::Decision decide_release(Ctx& x, const topics::Release& release) {
  auto d = part_decision(x, release);
  if (auto event = load_live_event(x, release.event_id, d)) {
    end_reservation(x, *event, release, release.seat, Outcome::kReleased, d);
  }
  return d;
}

topics::Decision decide_unredeem(Ctx& x, const topics::Unredeem& unredeem) {
  auto d = part_decision(x, unredeem);
  d.claim_request_id = unredeem.claim_request_id;
  if (auto event = load_live_event(x, unredeem.event_id, d)) {
    d.remaining = remaining_of(*event);
    const auto key = coupon_key(unredeem.event_id, unredeem.claim_request_id);
    auto record = x.st.get(key);
    auto c = record ? decode_coupon(*record) : Coupon{};
    if (c.state == topics::outcome::kRedeemed && c.order_id == unredeem.order_id) {
      x.st.put(key, encode_coupon({std::string(kCouponUnused), c.user_id, ""}));
      d.outcome = Outcome::kUnredeemed;
    } else {
      d.outcome = Outcome::kNotHeld;
    }
  }
  return d;
}

}  // namespace allot::processors::detail
