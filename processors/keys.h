#pragma once
// Every key of a partition's state store, built in one place, and the list of the kinds of record an event
// owns. An event's records are "<prefix><event_id>" (one record per event) or "<prefix><event_id>/<rest>"
// (many: per user, per claim, per place in line). delete_event works from kEventKinds, so a new per-event
// record listed there cannot outlive its event's deletion (tests/unit/keys_test.cc checks that every key
// decide() writes is either listed or belongs to no event).
//
// The keys are part of the stored format (RocksDB and the compacted changelog): never change a prefix.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace allot::processors {

// How the records of one kind sit under an event, and what delete_event does with them.
struct EventKeyKind {
  std::string_view prefix;
  bool many = false;    // "<prefix><event>/<rest>", found by a scan; else the one record "<prefix><event>"
  bool erased = false;  // delete_event tombstones them; the event's own record stays (marked deleted)

  // The record's key (one) or the scan prefix of the event's records (many).
  std::string under(std::string_view event_id) const;
  // Whether `key` is a record of this kind belonging to `event_id` (not to an event whose id extends it).
  bool covers(std::string_view event_id, std::string_view key) const;
};

namespace key_kind {
// e/<event>: the EventState (records.h), counters and all; kept, marked deleted, by delete_event
inline constexpr EventKeyKind kEvent{"e/", false, false};
// u/<event>/<user>: how many of the user's claims count against per_user_limit
inline constexpr EventKeyKind kUser{"u/", true, true};
// en/<event>/<i>: raffle entry i, "request_id user_id"
inline constexpr EventKeyKind kEntry{"en/", true, true};
// h/<event>/<claim request_id>: a Hold (records.h)
inline constexpr EventKeyKind kHold{"h/", true, true};
// w/<event>/<user>: the user's JoinRecord (records.h)
inline constexpr EventKeyKind kJoin{"w/", true, true};
// wp/<event>/<i>: pre-queued join i, "request_id user_id", until the opening
inline constexpr EventKeyKind kPrequeue{"wp/", true, true};
// wq/<event>/<ticket>: a ticket in line, "request_id user_id", until its admission
inline constexpr EventKeyKind kTicket{"wq/", true, true};
// hq/<event>: the live holds in expiry order (records.h QueuedHold)
inline constexpr EventKeyKind kHoldQueue{"hq/", false, true};
// rw/<event>: an event's rewards (records.h RewardsRecord); only on an event with rewards
inline constexpr EventKeyKind kRewards{"rw/", false, true};
// pr/<event>: a sale event's price, an event's coupon terms (records.h Terms); only on events with them
inline constexpr EventKeyKind kTerms{"pr/", false, true};
// rs/<event>/<order_id>/<line>: an order's reservation of a sale event's units (records.h Reservation)
inline constexpr EventKeyKind kReservation{"rs/", true, true};
// cp/<event>/<claim request_id>: a coupon issued by an event with a discount (records.h Coupon)
inline constexpr EventKeyKind kCoupon{"cp/", true, true};
// se/<event>/<seat>: a seat of a seated event (records.h Seat), one for each seat from the creation on
inline constexpr EventKeyKind kSeat{"se/", true, true};
// hs/<event>/<claim request_id>: the name of the seat a hold holds (a seated event's holds only)
inline constexpr EventKeyKind kHoldSeat{"hs/", true, true};
}  // namespace key_kind

// Every kind of record an event owns, in the order delete_event writes its tombstones.
inline constexpr std::array<EventKeyKind, 14> kEventKinds{
    key_kind::kEvent,       key_kind::kUser,   key_kind::kEntry,     key_kind::kHold,     key_kind::kJoin,
    key_kind::kPrequeue,    key_kind::kTicket, key_kind::kHoldQueue, key_kind::kRewards,  key_kind::kTerms,
    key_kind::kReservation, key_kind::kCoupon, key_kind::kSeat,      key_kind::kHoldSeat,
};

// Keys that belong to no event: a request's marker (its outcome, so a retry is not decided twice) and the
// partition's list of events that wait for time (one line per event id, see topics::Tick).
inline constexpr std::string_view kRequestPrefix = "r/";
inline constexpr char kTimersKey[] = "t/timers";  // a char array: std::string keys are built from it
// A user's wallet (processors/wallet.h): "b/<user>", the balance in cents as a decimal. It lives on the
// partition of topics::wallet_key(user), and no event owns it.
inline constexpr std::string_view kBalancePrefix = "b/";
// An order (processors/orders.h): "o/<order_id>", on the partition of its user's wallet; no event owns it.
inline constexpr std::string_view kOrderPrefix = "o/";

std::string event_key(std::string_view event_id);
std::string user_key(std::string_view event_id, std::string_view user_id);
std::string request_key(std::string_view request_id);
std::string entry_key(std::string_view event_id, int64_t index);
std::string hold_key(std::string_view event_id, std::string_view request_id);
std::string hold_queue_key(std::string_view event_id);
// The waiting room: a user's join, the pre-queue in arrival order, the line by ticket.
std::string join_key(std::string_view event_id, std::string_view user_id);
std::string prequeue_key(std::string_view event_id, int64_t index);
std::string ticket_key(std::string_view event_id, int64_t ticket);
std::string balance_key(std::string_view user_id);
std::string rewards_key(std::string_view event_id);
std::string terms_key(std::string_view event_id);
std::string reservation_key(std::string_view event_id, std::string_view order_id, int32_t line);
std::string coupon_key(std::string_view event_id, std::string_view claim_request_id);
std::string seat_key(std::string_view event_id, std::string_view seat);
std::string hold_seat_key(std::string_view event_id, std::string_view claim_request_id);
std::string order_key(std::string_view order_id);

}  // namespace allot::processors
