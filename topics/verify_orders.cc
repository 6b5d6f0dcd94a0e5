#include "topics/verify_orders.h"

#include <algorithm>
#include <map>
#include <set>

#include "topics/orders.h"
#include "topics/verify_wallets.h"

namespace allot::topics {

namespace {

using Steps = std::map<int32_t, std::vector<const Decision*>>;  // line -> the step's decisions

struct OrderTrack {
  const Decision* placed = nullptr;
  std::vector<const Decision*> results;
  Steps reserves, redeems, finalizes, releases, unredeems, refunds;
};

// Each step's decisions, and which event walk they also belong to (a product's units or a coupon's use).
enum class Walk { kSale, kCoupon };
struct StepKind {
  std::string_view type;
  Steps OrderTrack::*steps;
  std::optional<Walk> events;
};
const StepKind kStepKinds[] = {
    {decision_type::kReserve, &OrderTrack::reserves, Walk::kSale},
    {decision_type::kFinalize, &OrderTrack::finalizes, Walk::kSale},
    {decision_type::kRelease, &OrderTrack::releases, Walk::kSale},
    {decision_type::kRedeem, &OrderTrack::redeems, Walk::kCoupon},
    {decision_type::kUnredeem, &OrderTrack::unredeems, Walk::kCoupon},
    {decision_type::kRefund, &OrderTrack::refunds, std::nullopt},
};

std::string order_at(const std::string& order_id, const std::string& what) { return "order " + order_id + ": " + what; }

const Decision* only(const Steps& steps, int32_t line) {
  auto it = steps.find(line);
  return it == steps.end() || it->second.size() != 1 ? nullptr : it->second.front();
}

void by_offset(std::vector<const Decision*>& v) {
  std::stable_sort(v.begin(), v.end(),
                   [](const Decision* a, const Decision* b) { return a->command.offset < b->command.offset; });
}

// A sale event's units in partition order: reserved + sold never pass the stock, every reservation ends once.
void check_sale_units(const std::string& event, const CreateEvent& spec, std::vector<const Decision*>& steps,
                      VerifyReport& r) {
  by_offset(steps);
  int64_t held = 0, sold = 0;
  std::map<std::pair<std::string, int32_t>, std::pair<std::string, int64_t>> reservations;  // -> (state, qty)
  for (const auto* d : steps) {
    if (d->outcome == Outcome::kDeleted || d->outcome == Outcome::kUnknownEvent) continue;
    const std::string at =
        event + " offset " + std::to_string(d->command.offset) + " (" + d->type + " of order " + d->order_id + ")";
    const std::pair key{d->order_id, d->line.value_or(-1)};
    const int64_t qty = d->qty.value_or(0);
    if (d->type == decision_type::kReserve) {
      if (d->outcome == Outcome::kReserved) {
        if (reservations.count(key)) r.violations.push_back(at + ": reserved twice");
        reservations[key] = {"reserved", qty};
        held += qty;
        if (d->amount != spec.price * qty) r.violations.push_back(at + ": amount is not price x qty");
        if (held + sold > spec.stock) r.violations.push_back(at + ": reserved beyond the stock");
      } else if (d->outcome == Outcome::kSoldOut && spec.stock - held - sold >= qty) {
        r.violations.push_back(at + ": sold_out with " + std::to_string(spec.stock - held - sold) + " units left");
      }
      if (!d->seat.empty() && d->outcome != Outcome::kUnknownSeat) {
        r.violations.push_back(at + ": a seat's line on a product, " + std::string(to_string(d->outcome)));
      }
    } else if (d->outcome == Outcome::kSold || d->outcome == Outcome::kReleased) {
      auto it = reservations.find(key);
      if (it == reservations.end() || it->second.first != "reserved") {
        r.violations.push_back(at + ": ends a reservation that is not live");
        continue;
      }
      it->second.first = std::string(to_string(d->outcome));
      held -= it->second.second;
      if (d->outcome == Outcome::kSold) sold += it->second.second;
    }
    if (d->remaining != spec.stock - held - sold) {
      r.violations.push_back(at + ": remaining " + std::to_string(d->remaining) + " where the log gives " +
                             std::to_string(spec.stock - held - sold));
    }
  }
  r.units_sold += sold;
}

// An event's coupons in partition order: issued to one user, redeemed by that user while unused and
// unexpired, given back only by the order that redeemed it; every refusal true when it was given.
void check_coupons(const std::string& event, const CreateEvent& spec, std::vector<const Decision*>& steps,
                   VerifyReport& r) {
  by_offset(steps);
  std::map<std::string, std::string> owner;     // claim request id -> the user it was issued to
  std::map<std::string, std::string> redeemer;  // claim request id -> the order holding it
  for (const auto* d : steps) {
    if (auto issue = issue_of(*d)) {
      owner[issue->claim_request_id] = issue->user_id;
      continue;
    }
    if (d->outcome == Outcome::kDeleted || d->outcome == Outcome::kUnknownEvent) continue;
    const std::string at = event + " offset " + std::to_string(d->command.offset) + " (" + d->type + " of coupon " +
                           d->claim_request_id + " by order " + d->order_id + ")";
    auto who = owner.find(d->claim_request_id);
    auto held = redeemer.find(d->claim_request_id);
    if (d->type == decision_type::kUnredeem) {
      if (d->outcome == Outcome::kUnredeemed) {
        if (held == redeemer.end() || held->second != d->order_id) {
          r.violations.push_back(at + ": gives back a coupon the order does not hold");
        } else {
          redeemer.erase(held);
        }
      }
      continue;
    }
    const bool expired = spec.coupon_expires_at && d->received_at >= *spec.coupon_expires_at;
    Outcome want = !spec.has_coupons() || who == owner.end() ? Outcome::kNotACoupon
                   : who->second != d->user_id               ? Outcome::kNotYours
                   : held != redeemer.end()                  ? Outcome::kCouponUsed
                   : expired                                 ? Outcome::kCouponExpired
                                                             : Outcome::kRedeemed;
    if (d->outcome != want) {
      r.violations.push_back(at + ": " + std::string(to_string(d->outcome)) + ", the contract says " +
                             std::string(to_string(want)));
    }
    if (d->outcome == Outcome::kRedeemed) redeemer[d->claim_request_id] = d->order_id;
  }
}

void check_paid(const std::string& id, const Order& order, OrderTrack& t,
                const std::map<std::string, CreateEvent>& specs, const Decision& result, VerifyReport& r) {
  if (!t.releases.empty() || !t.unredeems.empty()) r.violations.push_back(order_at(id, "paid, yet gave back a step"));
  int64_t gross = 0;
  std::vector<int64_t> amounts;
  const auto lines = static_cast<int32_t>(order.items.size());
  for (int32_t line = 1; line <= lines; ++line) {
    const auto* reserve = only(t.reserves, line);
    amounts.push_back(reserve ? reserve->amount.value_or(0) : 0);
    gross += amounts.back();
  }
  int64_t total = gross;
  if (order.coupon) {
    const auto* redeem = only(t.redeems, 0);
    auto spec = specs.find(order.coupon->event_id);
    if (!redeem || redeem->outcome != Outcome::kRedeemed || spec == specs.end()) {
      r.violations.push_back(order_at(id, "paid without its coupon redeemed once"));
    } else {
      total -= discount_off(discount_of(spec->second), gross);
    }
  }
  // Each line: reserved, finalized once with its share of what was paid; refunded exactly that if unsold.
  const auto paid = line_payments(amounts, gross - total);
  for (int32_t line = 1; line <= lines; ++line) {
    const auto* reserve = only(t.reserves, line);
    const auto* finalize = only(t.finalizes, line);
    if (!reserve || reserve->outcome != Outcome::kReserved || !finalize) {
      r.violations.push_back(
          order_at(id, "paid, but line " + std::to_string(line) + " was not reserved and finalized once"));
      continue;
    }
    if (finalize->amount != paid[static_cast<size_t>(line - 1)]) {
      r.violations.push_back(
          order_at(id, "line " + std::to_string(line) + " finalized for another amount than it paid"));
    }
    if (finalize->outcome == Outcome::kSold) continue;
    const auto* refund = only(t.refunds, line);
    if (!refund || refund->amount != finalize->amount) {
      r.violations.push_back(order_at(id, "line " + std::to_string(line) + " paid, not sold and not refunded once"));
    }
  }
  if (result.amount != total) {
    r.violations.push_back(order_at(id, "paid " + std::to_string(result.amount.value_or(0)) +
                                            " where its lines and coupon give " + std::to_string(total)));
  }
}

// Whether the input holds every decision of the events `order` names (VerifyInput::events_read).
bool steps_read(const VerifyInput& in, const Order& order) {
  auto read = [&](const std::string& event) { return !in.events_read || in.events_read->count(event) > 0; };
  if (order.coupon && !read(order.coupon->event_id)) return false;
  return std::all_of(order.items.begin(), order.items.end(), [&](const OrderItem& i) { return read(i.event_id); });
}

void check_failed(const std::string& id, OrderTrack& t, const Decision& result, VerifyReport& r) {
  if (!t.finalizes.empty()) r.violations.push_back(order_at(id, "failed, yet sold a line"));
  if (!result.reason) r.violations.push_back(order_at(id, "failed without a reason"));
  if (result.reason && *result.reason != Outcome::kBalanceShort) {
    bool refused = false;
    for (const auto* steps : {&t.reserves, &t.redeems}) {
      for (const auto& [line, ds] : *steps) {
        for (const auto* d : ds) refused = refused || d->outcome == *result.reason;
      }
    }
    if (!refused) r.violations.push_back(order_at(id, "failed for a refusal no step gave"));
  }
  // Nothing stays taken: each reservation released, the coupon given back (or its event deleted).
  auto given_back = [&](const Steps& taken, Outcome ok, const Steps& back, Outcome undone) {
    for (const auto& [line, ds] : taken) {
      if (ds.size() != 1 || ds.front()->outcome != ok) continue;
      const auto* d = only(back, line);
      if (!d || (d->outcome != undone && d->outcome != Outcome::kDeleted)) {
        r.violations.push_back(order_at(id, "failed, and line " + std::to_string(line) + " was not given back once"));
      }
    }
  };
  given_back(t.reserves, Outcome::kReserved, t.releases, Outcome::kReleased);
  given_back(t.redeems, Outcome::kRedeemed, t.unredeems, Outcome::kUnredeemed);
}

}  // namespace

void check_orders(const VerifyInput& in, VerifyReport& r) {
  std::map<std::string, CreateEvent> specs;
  std::map<std::string, const Order*> commands;
  for (const auto& c : in.commands) {
    if (const auto* order = std::get_if<Order>(&c.command.body)) commands[c.command.request_id] = order;
  }
  std::map<std::string, OrderTrack> orders;
  std::map<std::string, std::vector<const Decision*>> sale_steps, coupon_steps;
  for (const auto& d : in.decisions) {
    if (d.type == decision_type::kCreateEvent && d.outcome == Outcome::kCreated && d.event)
      specs[d.event_id] = *d.event;
  }
  for (const auto& d : in.decisions) {
    if (d.type == decision_type::kOrder) {
      orders[d.request_id].placed = &d;
    } else if (d.type == decision_type::kOrderResult) {
      orders[d.request_id].results.push_back(&d);
    } else if (auto kind = std::find_if(std::begin(kStepKinds), std::end(kStepKinds),
                                        [&](const StepKind& k) { return k.type == d.type; });
               kind != std::end(kStepKinds)) {
      (orders[d.order_id].*(kind->steps))[d.line.value_or(0)].push_back(&d);
      if (kind->events) ((*kind->events == Walk::kSale ? sale_steps : coupon_steps)[d.event_id]).push_back(&d);
    } else if (issue_of(d)) {
      coupon_steps[d.event_id].push_back(&d);  // a coupon's issue starts its walk
    }
  }
  for (auto& [event, steps] : sale_steps) {
    auto spec = specs.find(event);
    if (spec == specs.end()) continue;
    if (spec->second.mode == EventMode::kSale) {
      check_sale_units(event, spec->second, steps, r);
      continue;
    }
    // Any other event sells nothing by a line of units, and a seat only on a hold event's map (check_hold).
    for (const auto* d : steps) {
      const bool judged_here = d->type == decision_type::kReserve &&
                               !(spec->second.mode == EventMode::kHold && !d->seat.empty()) &&
                               d->outcome != Outcome::kDeleted && d->outcome != Outcome::kUnknownEvent;
      const Outcome want = d->seat.empty() ? Outcome::kNotForSale : Outcome::kUnknownSeat;
      if (judged_here && d->outcome != want) {
        r.violations.push_back(event + " offset " + std::to_string(d->command.offset) + " (reserve of order " +
                               d->order_id + "): " + std::string(to_string(d->outcome)) + ", expected " +
                               std::string(to_string(want)));
      }
    }
  }
  for (auto& [event, steps] : coupon_steps) {
    if (auto spec = specs.find(event); spec != specs.end()) check_coupons(event, spec->second, steps, r);
  }
  for (auto& [id, t] : orders) {
    if (!t.placed) {
      // Its steps without the order: a violation when every wallet was read, else the order was not.
      if (!in.wallet_users) r.violations.push_back(order_at(id, "steps of an order never placed"));
      continue;
    }
    ++r.orders;
    if (t.results.size() > 1)
      r.violations.push_back(order_at(id, "ended " + std::to_string(t.results.size()) + " times"));
    if (t.results.empty()) {
      ++r.orders_open;
      continue;
    }
    const auto& result = *t.results.front();
    auto command = commands.find(id);
    const Order* order = command == commands.end() ? nullptr : command->second;
    // Its steps are checked when the input holds them: the order's command and every event it names.
    const bool checked = order && steps_read(in, *order);
    if (result.outcome == Outcome::kPaid) {
      ++r.orders_paid;
      if (checked) check_paid(id, *order, t, specs, result, r);
    } else if (result.outcome == Outcome::kFailed) {
      ++r.orders_failed;
      if (checked) check_failed(id, t, result, r);
    } else {
      r.violations.push_back(order_at(id, "ended " + std::string(to_string(result.outcome))));
    }
  }
}

}  // namespace allot::topics
