#include "processors/domain.h"

#include <algorithm>
#include <string>

#include "processors/decide_context.h"
#include "processors/hold.h"
#include "processors/orders.h"
#include "processors/raffle.h"
#include "processors/room.h"
#include "processors/seats.h"
#include "processors/wallet.h"

// decide() and the dispatch to each command's rules; the first-come rules (claims), create, close, delete
// and ticks. The modes' own rules: hold.cc, raffle.cc, room.cc (the waiting room); the wallet: wallet.cc;
// orders and coupons: orders.cc.
namespace allot::processors {

using detail::Ctx;
using topics::EventMode;
using topics::Outcome;

namespace detail {

// Here rather than in a mode's file: it runs every mode's rules in turn.
bool advance(Ctx& x, EventState& e, int64_t t) {
  e.stream_time = std::max(e.stream_time, t);
  if (e.spec.mode == EventMode::kHold && e.held > 0) expire_holds(x, e);
  if (e.spec.admit_per_s > 0) advance_room(x, e);
  const bool raffle_due = e.spec.closes_at && e.stream_time >= *e.spec.closes_at;
  if (e.spec.mode == EventMode::kRaffle && !e.closed && raffle_due) {
    draw(x, e);
    return true;
  }
  return false;
}

}  // namespace detail

namespace {

using namespace detail;

// Whether the event's commands move its stream time (an fcfs event without a waiting room never needs it).
bool timed(const EventState& e) {
  const bool untimed_mode = e.spec.mode == EventMode::kFcfs || e.spec.mode == EventMode::kSale;
  return !untimed_mode || e.spec.admit_per_s > 0;
}

topics::Decision decide_create(Ctx& x, const topics::CreateEvent& create) {
  auto d = base_decision(x.c, x.position, x.now);
  if (auto existing = load_event(x.st, create.event_id)) {
    d.outcome = Outcome::kAlreadyExists;
    d.remaining = remaining_of(*existing);
    d.event = existing->spec;
  } else {
    d.outcome = Outcome::kCreated;
    d.remaining = create.stock;
    d.event = create;
    EventState e{create};
    e.stream_time = x.c.received_at;
    if (create.admit_per_s > 0 && (!create.opens_at || *create.opens_at <= e.stream_time)) {
      e.queue_open = true;  // nobody can have pre-queued
      e.queue_start = create.opens_at.value_or(e.stream_time);
    }
    save_event(x, e);
    start_rewards(x, create);
    start_terms(x, create);
    if (waits_for_time(e)) add_timer(x, create.event_id);
  }
  return d;
}

// The order of the checks is the contract: window first (and an event closed by close_event), then the
// waiting room's admission, then the user's limit, then stock (then, on a seated event, the seat:
// judge_seat). A raffle takes one entry per user and no stock check: the draw decides.
Outcome judge_claim(const EventState& e, int64_t user_count, int64_t received_at, bool admitted) {
  if (e.spec.mode == EventMode::kSale) return Outcome::kOrderOnly;  // a product is sold by orders
  if (e.spec.opens_at && received_at < *e.spec.opens_at) return Outcome::kNotOpen;
  if ((e.spec.closes_at && received_at >= *e.spec.closes_at) || e.closed) return Outcome::kClosed;
  if (e.spec.admit_per_s > 0 && !admitted) return Outcome::kNotAdmitted;
  switch (e.spec.mode) {
    case EventMode::kRaffle:
      return user_count >= 1 ? Outcome::kDuplicate : Outcome::kEntered;
    case EventMode::kHold:
      if (user_count >= e.spec.per_user_limit) return Outcome::kDuplicate;
      return remaining_of(e) <= 0 ? Outcome::kSoldOut : Outcome::kHeld;
    case EventMode::kFcfs:
    case EventMode::kSale:
      break;
  }
  if (user_count >= e.spec.per_user_limit) return Outcome::kDuplicate;
  if (e.issued >= e.spec.stock) return Outcome::kSoldOut;
  return Outcome::kIssued;
}

topics::Decision decide_claim(Ctx& x, const topics::Claim& claim) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = claim.user_id;
  auto event = load_live_event(x, claim.event_id, d);
  if (!event) return d;
  EventState& e = *event;
  const bool moves_time = timed(e);
  if (moves_time) advance(x, e, x.c.received_at);
  const auto ukey = user_key(claim.event_id, claim.user_id);
  int64_t user_count = std::stoll(x.st.get(ukey).value_or("0"));
  const bool admitted = e.spec.admit_per_s > 0 && is_admitted(x, claim.event_id, claim.user_id);
  d.outcome = judge_claim(e, user_count, x.c.received_at, admitted);
  d.seat = claim.seat;
  auto takes_a_unit = [](Outcome o) { return o == Outcome::kIssued || o == Outcome::kEntered || o == Outcome::kHeld; };
  if (takes_a_unit(d.outcome)) d.outcome = judge_seat(x, e, claim.seat).value_or(d.outcome);
  if (d.outcome == Outcome::kIssued) {
    e.issued += 1;
    d.coupon_seq = e.issued;
    unit_issued(x, e, claim.user_id, x.c.request_id, e.issued);
  } else if (d.outcome == Outcome::kEntered) {
    enter(x, e, claim.user_id);
  } else if (d.outcome == Outcome::kHeld) {
    d.hold_expires_at = hold_unit(x, e, claim.user_id, claim.seat);
  }
  const bool counted = takes_a_unit(d.outcome);
  if (counted) x.st.put(ukey, std::to_string(user_count + 1));
  if (counted || moves_time) save_event(x, e);
  d.remaining = remaining_of(e);
  return d;
}

topics::Decision decide_close(Ctx& x, const topics::CloseEvent& close) {
  auto d = base_decision(x.c, x.position, x.now);
  auto event = load_live_event(x, close.event_id, d);
  if (!event) return d;
  EventState& e = *event;
  bool drew = timed(e) && advance(x, e, x.c.received_at);
  if (!drew && e.closed) {
    d.outcome = Outcome::kAlreadyClosed;
  } else {
    if (!drew && e.spec.mode == EventMode::kRaffle) {
      draw(x, e);
      drew = true;
    }
    e.closed = true;
    d.outcome = drew ? Outcome::kDrawn : Outcome::kClosed;
  }
  if (drew) d.entries = e.entries;
  save_event(x, e);
  d.remaining = remaining_of(e);
  return d;
}

// Tombstones every record the event owns (keys.h kEventKinds) but its own: the many of a kind found by a
// scan of the state (this call's writes so far are the event's record only), the one of a kind if it exists.
void erase_records(Ctx& x, const std::string& event_id) {
  for (const auto& kind : kEventKinds) {
    if (!kind.erased) continue;
    if (!kind.many) {
      if (auto key = kind.under(event_id); x.st.get(key)) x.st.erase(std::move(key));
      continue;
    }
    std::vector<std::string> doomed;
    auto collect = [&](const std::string& key, const std::string&) { doomed.push_back(key); };
    x.st.scan(kind.under(event_id), collect);
    for (auto& key : doomed) x.st.erase(std::move(key));
  }
}

// delete_event: the event's record stays with its counters, marked deleted; every other record of the
// event (keys.h kEventKinds: per-user counts, raffle entries, holds, the hold queue, waiting room places)
// holds a user id and is tombstoned, and the event leaves the timers. Nothing is expired or drawn first:
// a deleted event decides nothing more.
topics::Decision decide_delete(Ctx& x, const topics::DeleteEvent& del) {
  auto d = base_decision(x.c, x.position, x.now);
  auto event = load_event(x.st, del.event_id);
  if (!event) {
    d.outcome = Outcome::kUnknownEvent;
    return d;
  }
  EventState& e = *event;
  d.remaining = remaining_of(e);
  if (e.deleted) {
    d.outcome = Outcome::kAlreadyDeleted;
    return d;
  }
  e.deleted = true;
  save_event(x, e);
  erase_records(x, del.event_id);
  if (auto timers = x.st.get(kTimersKey)) {
    std::string still;
    for (const auto& id : split_lines(timers)) {
      if (id != del.event_id) still += id + "\n";
    }
    if (still != *timers) x.st.put(kTimersKey, still);
  }
  d.outcome = Outcome::kDeleted;
  return d;
}

// A tick moves stream time for every event of this partition that waits for it.
void decide_tick(Ctx& x) {
  auto timers = x.st.get(kTimersKey);
  std::string still;
  for (const auto& id : split_lines(timers)) {
    auto e = load_event(x.st, id);
    if (!e || e->deleted) continue;
    advance(x, *e, x.c.received_at);
    save_event(x, *e);
    if (waits_for_time(*e)) still += id + "\n";
  }
  if (timers && still != *timers) x.st.put(kTimersKey, still);
}

}  // namespace

std::optional<Result> decide(const StateView& state, const topics::Command& command, topics::CommandPosition position,
                             int64_t now) {
  Ctx x{Changes(state), command, position, now, {}, {}};
  Result r;
  if (std::holds_alternative<topics::Tick>(command.body)) {
    // Ticks repeat by nature (many ingresses append them, each harmless): no request record.
    decide_tick(x);
    r.publish = false;
  } else {
    const auto rkey = request_key(command.request_id);
    if (state.get(rkey)) return std::nullopt;
    r.decision = std::visit(
        [&](const auto& body) -> topics::Decision {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, topics::CreateEvent>) return decide_create(x, body);
          if constexpr (std::is_same_v<T, topics::Claim>) return decide_claim(x, body);
          if constexpr (std::is_same_v<T, topics::Confirm>) return decide_hold_action(x, body, true);
          if constexpr (std::is_same_v<T, topics::Cancel>) return decide_hold_action(x, body, false);
          if constexpr (std::is_same_v<T, topics::CloseEvent>) return decide_close(x, body);
          if constexpr (std::is_same_v<T, topics::DeleteEvent>) return decide_delete(x, body);
          if constexpr (std::is_same_v<T, topics::Join>) return decide_join(x, body);
          if constexpr (std::is_same_v<T, topics::Charge>) return decide_charge(x, body);
          if constexpr (std::is_same_v<T, topics::Reward>) return decide_reward(x, body);
          if constexpr (std::is_same_v<T, topics::Refund>) return decide_refund(x, body);
          if constexpr (std::is_same_v<T, topics::Order>) return decide_order(x, body);
          if constexpr (std::is_same_v<T, topics::Reserve>) return decide_reserve(x, body);
          if constexpr (std::is_same_v<T, topics::Redeem>) return decide_redeem(x, body);
          if constexpr (std::is_same_v<T, topics::OrderStep>) return decide_order_step(x, body);
          if constexpr (std::is_same_v<T, topics::Finalize>) return decide_finalize(x, body);
          if constexpr (std::is_same_v<T, topics::Release>) return decide_release(x, body);
          if constexpr (std::is_same_v<T, topics::Unredeem>) return decide_unredeem(x, body);
          return {};  // a Tick, handled above
        },
        command.body);
    // Remember the request so a retry with the same Idempotency-Key gets no second decision.
    x.st.put(rkey, std::string(topics::to_string(r.decision.outcome)));
  }
  r.caused = std::move(x.caused);
  r.emitted = std::move(x.emitted);
  r.writes = x.st.take();
  return r;
}

}  // namespace allot::processors
