#include "processors/hold.h"

#include "processors/orders.h"
#include "processors/seats.h"

#include <algorithm>

#include "topics/vocabulary.h"

namespace allot::processors::detail {

namespace {

using topics::EventMode;
using topics::Outcome;
namespace decision_type = topics::decision_type;
namespace hold_state = topics::hold_state;

// A held unit goes back to stock (cancelled or expired), and its seat with it: the holder may claim again.
// Returns the seat.
std::string release(Ctx& x, EventState& e, const std::string& request_id, const std::string& user_id,
                    int64_t expires_at, std::string_view state) {
  e.held -= 1;
  const auto ukey = user_key(e.spec.event_id, user_id);
  int64_t user_count = std::stoll(x.st.get(ukey).value_or("0"));
  x.st.put(ukey, std::to_string(std::max<int64_t>(0, user_count - 1)));
  auto seat = seat_of_hold(x, e.spec.event_id, request_id);  // before the hold's record is rewritten
  x.st.put(hold_key(e.spec.event_id, request_id), encode_hold({std::string(state), user_id, expires_at}));
  end_seat(x, e.spec.event_id, seat, state);
  return seat;
}

}  // namespace

int64_t hold_unit(Ctx& x, EventState& e, const std::string& user_id, const std::string& seat) {
  const auto& id = e.spec.event_id;
  const int64_t expires_at = e.stream_time + e.spec.hold_ms;
  e.held += 1;
  x.st.put(hold_key(id, x.c.request_id), encode_hold({std::string(hold_state::kHeld), user_id, expires_at}));
  if (!seat.empty()) take_seat(x, id, user_id, x.c.request_id, seat);
  auto queue = x.st.get(hold_queue_key(id)).value_or("");
  x.st.put(hold_queue_key(id), queue + encode_queue({{expires_at, x.c.request_id, user_id}}));
  add_timer(x, id);
  return expires_at;
}

void expire_holds(Ctx& x, EventState& e) {
  auto queue = decode_queue(x.st.get(hold_queue_key(e.spec.event_id)));
  size_t n = 0;
  while (n < queue.size() && queue[n].expires_at <= e.stream_time) {
    const auto& h = queue[n++];
    auto seat = release(x, e, h.request_id, h.user_id, h.expires_at, hold_state::kExpired);
    auto d = caused_decision(x, decision_type::kHoldExpired, e, h.request_id, h.user_id, Outcome::kExpired);
    d.remaining = remaining_of(e);
    d.seat = std::move(seat);
    x.caused.push_back(std::move(d));
  }
  if (n == 0) return;
  queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
  x.st.put(hold_queue_key(e.spec.event_id), encode_queue(queue));
}

topics::Decision decide_hold_action(Ctx& x, const topics::HoldAction& a, bool confirm) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = a.user_id;
  d.claim_request_id = a.claim_request_id;
  auto event = load_live_event(x, a.event_id, d);
  if (!event) return d;
  EventState& e = *event;
  if (e.spec.mode == EventMode::kHold) {
    advance(x, e, x.c.received_at);
    save_event(x, e);
  }
  d.remaining = remaining_of(e);
  const auto hkey = hold_key(a.event_id, a.claim_request_id);
  auto record = e.spec.mode == EventMode::kHold ? x.st.get(hkey) : std::nullopt;
  if (!record) {
    d.outcome = Outcome::kNotHeld;
    return d;
  }
  Hold h = decode_hold(*record);
  const auto seat = seat_of_hold(x, a.event_id, a.claim_request_id);
  d.seat = seat;
  if (h.user_id != a.user_id) {
    d.outcome = Outcome::kNotYours;
  } else if (h.state == hold_state::kExpired) {
    d.outcome = Outcome::kExpired;
  } else if (h.state == hold_state::kReserved) {
    d.outcome = Outcome::kReserved;  // an order is paying for the seat: its end decides
  } else if (h.state != hold_state::kHeld) {
    d.outcome = Outcome::kAlreadyEnded;
  } else if (confirm && !seat.empty() && seat_price(x, e).value_or(0) > 0) {
    d.outcome = Outcome::kOrderOnly;  // a seat with a price is paid for by an order
  } else {
    auto queue = decode_queue(x.st.get(hold_queue_key(a.event_id)));
    std::erase_if(queue, [&](const QueuedHold& q) { return q.request_id == a.claim_request_id; });
    x.st.put(hold_queue_key(a.event_id), encode_queue(queue));
    if (confirm) {
      e.held -= 1;
      e.issued += 1;
      d.coupon_seq = e.issued;
      unit_issued(x, e, h.user_id, a.claim_request_id, e.issued);
      x.st.put(hkey, encode_hold({std::string(hold_state::kConfirmed), h.user_id, h.expires_at}));
      end_seat(x, a.event_id, seat, topics::outcome::kSold);
      d.outcome = Outcome::kConfirmed;
    } else {
      release(x, e, a.claim_request_id, h.user_id, h.expires_at, hold_state::kCancelled);
      d.outcome = Outcome::kCancelled;
    }
    save_event(x, e);
    d.remaining = remaining_of(e);
  }
  return d;
}

}  // namespace allot::processors::detail
