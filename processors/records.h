#pragma once
// The values of a partition's state records (their keys: processors/keys.h), encoded as flat text: only
// processors read them, from RocksDB and the changelog, and a claim reads some on every command, so they
// are parsed far faster than JSON would be. They are a stored format: a new field goes where older
// binaries still read the record, and every older form stays readable. Decoding a corrupt record throws.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topics/messages.h"

namespace allot::processors {

// An event's state record (keys.h key_kind::kEvent).
struct EventState {
  topics::CreateEvent spec;
  int64_t issued = 0;       // fcfs: claims issued; hold: holds confirmed; raffle: winners drawn
  int64_t held = 0;         // hold: units held, waiting for confirm (issued + held <= stock)
  int64_t entries = 0;      // raffle: entries so far
  int64_t stream_time = 0;  // the latest received_at of the event's commands (and ticks): holds expire by it
  bool closed = false;      // close_event (or a raffle's draw): no more claims
  bool deleted = false;     // delete_event: every later command answers deleted; the counters stay
  // The waiting room (spec.admit_per_s > 0), README "Waiting room":
  bool queue_open = false;      // false while joins are pre-queued (before opens_at)
  int64_t queue_start = 0;      // stream time the queue opened: opens_at, or the creation
  int64_t prequeued = 0;        // joins before the opening, shuffled into tickets 1..prequeued then
  int64_t tickets = 0;          // tickets handed out
  int64_t admitted = 0;         // tickets admitted, in order (1..admitted)
  int64_t window = 0;           // the current admission second, (stream time - queue_start) / 1000
  int64_t window_admitted = 0;  // admitted in that second (at most admit_per_s)
};
std::string encode_event(const EventState& e);
EventState decode_event(std::string_view value);

// A hold's record (key_kind::kHold), "state|user_id|expires_at", state one of topics::hold_state. A held
// seat's name is a record of its own (key_kind::kHoldSeat), so that this one keeps the form older binaries read.
struct Hold {
  std::string state;
  std::string user_id;
  int64_t expires_at = 0;
  std::string seat{};  // read from a record 761bd4e..98ab079 wrote as "...|seat"; never written (hs/ has it)
};
std::string encode_hold(const Hold& h);
Hold decode_hold(std::string_view v);

// An event's live holds in expiry order (key_kind::kHoldQueue), one "expires_at request_id user_id" line
// each. Expiries are stream time + hold_ms and stream time never goes back, so claims append in order. At
// most `stock` lines.
struct QueuedHold {
  int64_t expires_at = 0;
  std::string request_id, user_id;
};
std::vector<QueuedHold> decode_queue(const std::optional<std::string>& v);
std::string encode_queue(const std::vector<QueuedHold>& q);

// A user's join record (key_kind::kJoin), "state|join_request_id|ticket": state one of topics::join_state,
// ticket 0 while pre-queued.
struct JoinRecord {
  std::string state, request_id;
  int64_t ticket = 0;
};
std::string encode_join(const JoinRecord& j);
JoinRecord decode_join(std::string_view v);

// An event's rewards (key_kind::kRewards), "reward_average count sum": the average it was created with
// (the event record does not carry it) and the rewards paid so far.
struct RewardsRecord {
  int64_t average = 0, count = 0, sum = 0;
};
std::string encode_rewards(const RewardsRecord& r);
RewardsRecord decode_rewards(std::string_view v);

// An event's commerce terms (key_kind::kTerms), "price discount_amount discount_percent discount_cap
// coupon_expires_at" (-1: no expiry), then " seats" on a seated event: the event record does not carry them.
struct Terms {
  int64_t price = 0;
  topics::Discount discount;
  std::optional<int64_t> coupon_expires_at;
  int64_t seats = 0;  // the size of the seat map (0: the event has none)
};
std::string encode_terms(const Terms& t);
Terms decode_terms(std::string_view v);

// An order's reservation of a sale event's units (key_kind::kReservation), "state|user_id|qty": state one
// of reserved, sold, released (topics::outcome). A seat's line (qty 1) names its seat in the order's commands.
struct Reservation {
  std::string state, user_id;
  int64_t qty = 0;
  std::string seat{};  // as Hold::seat: only in a record of 761bd4e..98ab079
};
std::string encode_reservation(const Reservation& r);
Reservation decode_reservation(std::string_view v);

// A coupon (key_kind::kCoupon), "state|user_id|order_id": unused (order_id empty) or redeemed by the order.
struct Coupon {
  std::string state, user_id, order_id;
};
inline constexpr std::string_view kCouponUnused = "unused";
std::string encode_coupon(const Coupon& c);
Coupon decode_coupon(std::string_view v);

// A seat of a seated event (key_kind::kSeat), "state|user_id|claim_request_id|order_id": free (the rest
// empty), held by the claim, reserved by the order paying for that hold, or sold (topics::seat_state).
struct Seat {
  std::string state, user_id, claim_request_id, order_id;
};
std::string encode_seat(const Seat& s);
Seat decode_seat(std::string_view v);

// A raffle entry, a pre-queued join and a ticket in line (key_kind::kEntry, kPrequeue, kTicket) each hold
// "request_id user_id" until the draw, the opening or the admission uses them.
std::string encode_place(std::string_view request_id, std::string_view user_id);

// The lines of a list record (the timers: one event id a line), empty lines skipped; none when absent.
std::vector<std::string> split_lines(const std::optional<std::string>& v);

}  // namespace allot::processors
