#pragma once
// The words of the published language, each spelled once: the `type` of commands and decisions, the
// outcomes (a claim's status on the read side), the event modes, and the states of the processors' hold
// and join records. Code compares and writes these names, never the literals; topics/messages.cc maps the
// Outcome and EventMode enums to them. They are the wire format (DESIGN §3): never change a value.
#include <string_view>

namespace allot::topics {

// A command's `type`, which its own decision carries; then the types of the decisions a later command
// causes about earlier claims and joins (topics::is_caused).
namespace decision_type {
inline constexpr std::string_view kCreateEvent = "create_event";
inline constexpr std::string_view kClaim = "claim";
inline constexpr std::string_view kCloseEvent = "close_event";
inline constexpr std::string_view kConfirm = "confirm";
inline constexpr std::string_view kCancel = "cancel";
inline constexpr std::string_view kTick = "tick";  // a command only: a tick has no decision of its own
inline constexpr std::string_view kDeleteEvent = "delete_event";
inline constexpr std::string_view kJoin = "join";
inline constexpr std::string_view kCharge = "charge";  // money into a user's wallet (no event)
inline constexpr std::string_view kReward = "reward";  // a unit's reward into its user's wallet
// An order and its saga's steps (README "Orders"); an order_result is caused by the order's last answer.
inline constexpr std::string_view kOrder = "order";
inline constexpr std::string_view kReserve = "reserve";
inline constexpr std::string_view kRedeem = "redeem";
inline constexpr std::string_view kOrderStep = "order_step";
inline constexpr std::string_view kFinalize = "finalize";
inline constexpr std::string_view kRelease = "release";
inline constexpr std::string_view kUnredeem = "unredeem";
inline constexpr std::string_view kRefund = "refund";
inline constexpr std::string_view kOrderResult = "order_result";
inline constexpr std::string_view kHoldExpired = "hold_expired";  // a held claim's expiry
inline constexpr std::string_view kDrawResult = "draw_result";    // a raffle entry's won or lost
inline constexpr std::string_view kQueueTicket = "queue_ticket";  // a pre-queued join's ticket at the opening
inline constexpr std::string_view kAdmission = "admission";       // a queued join's admission
}  // namespace decision_type

// A decision's `outcome` (topics::Outcome, whose comments say when each is given).
namespace outcome {
inline constexpr std::string_view kIssued = "issued";
inline constexpr std::string_view kSoldOut = "sold_out";
inline constexpr std::string_view kDuplicate = "duplicate";
inline constexpr std::string_view kNotOpen = "not_open";
inline constexpr std::string_view kClosed = "closed";
inline constexpr std::string_view kUnknownEvent = "unknown_event";
inline constexpr std::string_view kCreated = "created";
inline constexpr std::string_view kAlreadyExists = "already_exists";
inline constexpr std::string_view kEntered = "entered";
inline constexpr std::string_view kWon = "won";
inline constexpr std::string_view kLost = "lost";
inline constexpr std::string_view kDrawn = "drawn";
inline constexpr std::string_view kAlreadyClosed = "already_closed";
inline constexpr std::string_view kHeld = "held";
inline constexpr std::string_view kConfirmed = "confirmed";
inline constexpr std::string_view kCancelled = "cancelled";
inline constexpr std::string_view kExpired = "expired";
inline constexpr std::string_view kAlreadyEnded = "already_ended";
inline constexpr std::string_view kNotYours = "not_yours";
inline constexpr std::string_view kNotHeld = "not_held";
inline constexpr std::string_view kDeleted = "deleted";
inline constexpr std::string_view kAlreadyDeleted = "already_deleted";
inline constexpr std::string_view kPreQueued = "pre_queued";
inline constexpr std::string_view kQueued = "queued";
inline constexpr std::string_view kAdmitted = "admitted";
inline constexpr std::string_view kAlreadyQueued = "already_queued";
inline constexpr std::string_view kNoWaitingRoom = "no_waiting_room";
inline constexpr std::string_view kNotAdmitted = "not_admitted";
inline constexpr std::string_view kCredited = "credited";           // a charge: the wallet holds the amount more
inline constexpr std::string_view kBalanceLimit = "balance_limit";  // a charge that would pass kMaxBalance
// orders (topics::Outcome says when each is given)
inline constexpr std::string_view kPlaced = "placed";
inline constexpr std::string_view kPaid = "paid";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kReserved = "reserved";
inline constexpr std::string_view kNotForSale = "not_for_sale";
inline constexpr std::string_view kRedeemed = "redeemed";
inline constexpr std::string_view kNotACoupon = "not_a_coupon";
inline constexpr std::string_view kCouponUsed = "coupon_used";
inline constexpr std::string_view kCouponExpired = "coupon_expired";
inline constexpr std::string_view kSold = "sold";
inline constexpr std::string_view kReleased = "released";
inline constexpr std::string_view kUnredeemed = "unredeemed";
inline constexpr std::string_view kRefunded = "refunded";
inline constexpr std::string_view kOrderOnly = "order_only";
inline constexpr std::string_view kBalanceShort = "balance_short";
// seats (topics::Outcome says when each is given)
inline constexpr std::string_view kSeatRequired = "seat_required";
inline constexpr std::string_view kUnknownSeat = "unknown_seat";
inline constexpr std::string_view kSeatTaken = "seat_taken";
}  // namespace outcome

// A request's status on the read side (GET /api/claims/{id}) is its current outcome (topics/claim_status.h),
// or pending until its decision is projected.
namespace claim_status {
inline constexpr std::string_view kPending = "pending";
}  // namespace claim_status

// An event's `mode` (topics::EventMode).
namespace event_mode {
inline constexpr std::string_view kFcfs = "fcfs";
inline constexpr std::string_view kRaffle = "raffle";
inline constexpr std::string_view kHold = "hold";
inline constexpr std::string_view kSale = "sale";
}  // namespace event_mode

// The state of a hold's record in the processors' store (processors/records.h Hold): the claim's status.
namespace hold_state {
inline constexpr std::string_view kHeld = outcome::kHeld;
inline constexpr std::string_view kConfirmed = outcome::kConfirmed;
inline constexpr std::string_view kCancelled = outcome::kCancelled;
inline constexpr std::string_view kExpired = outcome::kExpired;
// A held seat an order is paying for: it no longer expires; the order's end confirms it (sold) or gives it
// back to its holder (held again, with its expiry).
inline constexpr std::string_view kReserved = outcome::kReserved;
}  // namespace hold_state

// The state of a seat (README "Seats"): in the processors' store (processors/records.h Seat) and on the
// read side (GET /api/events/{id}/seats shows free, held and sold; a reserved seat is held there).
namespace seat_state {
inline constexpr std::string_view kFree = "free";
inline constexpr std::string_view kHeld = outcome::kHeld;
inline constexpr std::string_view kReserved = outcome::kReserved;  // an order is paying for the hold
inline constexpr std::string_view kSold = outcome::kSold;
}  // namespace seat_state

// The state of a user's join record in the processors' store (processors/records.h JoinRecord).
namespace join_state {
inline constexpr std::string_view kPre = "pre";  // pre-queued: no ticket until the opening
inline constexpr std::string_view kQueued = outcome::kQueued;
inline constexpr std::string_view kAdmitted = outcome::kAdmitted;
}  // namespace join_state

}  // namespace allot::topics
