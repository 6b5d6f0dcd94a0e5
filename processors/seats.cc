#include "processors/seats.h"

#include <algorithm>

#include "topics/vocabulary.h"

namespace allot::processors::detail {

namespace {

using topics::EventMode;
using topics::Outcome;
namespace hold_state = topics::hold_state;
namespace seat_state = topics::seat_state;

std::optional<Terms> seat_terms(const Ctx& x, const EventState& e) {
  if (e.spec.mode != EventMode::kHold) return std::nullopt;
  auto terms = x.st.get(terms_key(e.spec.event_id));
  if (!terms) return std::nullopt;
  auto t = decode_terms(*terms);
  if (t.seats == 0) return std::nullopt;
  return t;
}

std::string free_seat() { return encode_seat({std::string(seat_state::kFree), "", "", ""}); }

// A hold back in the event's queue, in expiry order.
void requeue(Ctx& x, const std::string& event_id, QueuedHold hold) {
  auto queue = decode_queue(x.st.get(hold_queue_key(event_id)));
  auto at = std::upper_bound(queue.begin(), queue.end(), hold.expires_at,
                             [](int64_t t, const QueuedHold& q) { return t < q.expires_at; });
  queue.insert(at, std::move(hold));
  x.st.put(hold_queue_key(event_id), encode_queue(queue));
  add_timer(x, event_id);
}

}  // namespace

void start_seats(Ctx& x, const topics::CreateEvent& spec) {
  for (const auto& seat : spec.seats) x.st.put(seat_key(spec.event_id, seat), free_seat());
}

std::optional<Outcome> judge_seat(const Ctx& x, const EventState& e, const std::string& seat) {
  if (!seat_terms(x, e)) return seat.empty() ? std::nullopt : std::optional(Outcome::kUnknownSeat);
  if (seat.empty()) return Outcome::kSeatRequired;
  auto record = x.st.get(seat_key(e.spec.event_id, seat));
  if (!record) return Outcome::kUnknownSeat;
  if (decode_seat(*record).state != seat_state::kFree) return Outcome::kSeatTaken;
  return std::nullopt;
}

void take_seat(Ctx& x, const std::string& event_id, const std::string& user_id, const std::string& claim_request_id,
               const std::string& seat) {
  x.st.put(hold_seat_key(event_id, claim_request_id), seat);
  x.st.put(seat_key(event_id, seat), encode_seat({std::string(seat_state::kHeld), user_id, claim_request_id, ""}));
}

std::string seat_of_hold(const Ctx& x, const std::string& event_id, const std::string& claim_request_id) {
  if (auto seat = x.st.get(hold_seat_key(event_id, claim_request_id))) return *seat;
  auto hold = x.st.get(hold_key(event_id, claim_request_id));
  return hold ? decode_hold(*hold).seat : "";  // a hold of 761bd4e..98ab079 named it in its own record
}

void end_seat(Ctx& x, const std::string& event_id, const std::string& seat, std::string_view state) {
  if (seat.empty()) return;
  const auto key = seat_key(event_id, seat);
  if (state != seat_state::kSold) {
    x.st.put(key, free_seat());
    return;
  }
  auto s = decode_seat(x.st.get(key).value_or("|||"));
  s.state = state;
  x.st.put(key, encode_seat(s));
}

std::optional<int64_t> seat_price(const Ctx& x, const EventState& e) {
  auto t = seat_terms(x, e);
  return t ? std::optional(t->price) : std::nullopt;
}

void reserve_seat(Ctx& x, EventState& e, const topics::Reserve& reserve, topics::Decision& d) {
  const auto& id = e.spec.event_id;
  d.seat = reserve.seat;
  if (e.spec.mode == EventMode::kHold) {
    // Like every command of a hold event, first the expiries: a hold that ran out by the time the order was
    // placed is not the order's to pay for.
    advance(x, e, x.c.received_at);
    save_event(x, e);
    d.remaining = remaining_of(e);
  }
  auto terms = seat_terms(x, e);
  auto record = terms ? x.st.get(seat_key(id, reserve.seat)) : std::nullopt;
  if (!record) {
    d.outcome = Outcome::kUnknownSeat;  // no seat map, or no such seat in it
    return;
  }
  if (terms->price == 0) {
    d.outcome = Outcome::kNotForSale;  // a free seat is confirmed, not bought
    return;
  }
  auto seat = decode_seat(*record);
  if (seat.state == seat_state::kFree) {
    d.outcome = Outcome::kNotHeld;  // claim it first
    return;
  }
  if (seat.state != seat_state::kHeld || seat.user_id != reserve.user_id) {
    d.outcome = Outcome::kSeatTaken;
    return;
  }
  const auto hkey = hold_key(id, seat.claim_request_id);
  auto hold = decode_hold(x.st.get(hkey).value_or("||0"));
  hold.state = hold_state::kReserved;
  x.st.put(hkey, encode_hold(hold));
  x.st.put(hold_seat_key(id, seat.claim_request_id), reserve.seat);  // a hold of 761bd4e..98ab079 had none
  auto queue = decode_queue(x.st.get(hold_queue_key(id)));
  std::erase_if(queue, [&](const QueuedHold& q) { return q.request_id == seat.claim_request_id; });
  x.st.put(hold_queue_key(id), encode_queue(queue));
  seat.state = seat_state::kReserved;
  seat.order_id = reserve.order_id;
  x.st.put(seat_key(id, reserve.seat), encode_seat(seat));
  x.st.put(reservation_key(id, reserve.order_id, reserve.line),
           encode_reservation({std::string(topics::outcome::kReserved), reserve.user_id, 1}));
  d.outcome = Outcome::kReserved;
  d.claim_request_id = seat.claim_request_id;
  d.amount = terms->price;
}

void end_seat_reservation(Ctx& x, EventState& e, const std::string& seat_name, Outcome end, topics::Decision& d) {
  const auto& id = e.spec.event_id;
  d.seat = seat_name;
  d.qty = 1;
  const auto skey = seat_key(id, seat_name);
  auto seat = decode_seat(x.st.get(skey).value_or("|||"));
  const auto hkey = hold_key(id, seat.claim_request_id);
  auto hold = decode_hold(x.st.get(hkey).value_or("||0"));
  d.claim_request_id = seat.claim_request_id;
  if (end == Outcome::kSold) {
    e.held -= 1;
    e.issued += 1;
    d.coupon_seq = e.issued;
    hold.state = hold_state::kConfirmed;
    seat.state = seat_state::kSold;
  } else {
    hold.state = hold_state::kHeld;
    seat.state = seat_state::kHeld;
    seat.order_id.clear();
    requeue(x, id, {hold.expires_at, seat.claim_request_id, hold.user_id});
  }
  x.st.put(hkey, encode_hold(hold));
  x.st.put(skey, encode_seat(seat));
  advance(x, e, x.c.received_at);  // like every command of a hold event; a hold given back past its expiry ends now
  save_event(x, e);
  d.remaining = remaining_of(e);
}

}  // namespace allot::processors::detail
