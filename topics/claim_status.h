#pragma once
// What each decision does to the read side: a claim's current status, which requests are records of
// their own, which decisions close an event. Shared by both sinks (sinks/) and the projection check
// (topics/projection_check.h), so that the projections and their check cannot read the modes differently.
//
// A claim's status starts as its own decision's outcome. Only held and entered go on:
//   held    -> confirmed (a confirm decision, claim_request_id) | cancelled (a cancel decision) |
//              expired (a hold_expired decision, request_id = the claim)
//   entered -> won (coupon_seq = draw rank) | lost (draw_result decisions, request_id = the claim)
//              | confirmed (a finalize that sold the held seat to the order paying for it, README "Seats")
// Each of those ends a claim once; every other status is final from the start.
#include <optional>
#include <string>

#include "topics/messages.h"

namespace allot::topics {

// The claim a decision ends, and how.
struct ClaimEnding {
  std::string claim_request_id;
  Outcome status = Outcome::kExpired;
  std::optional<int64_t> coupon_seq;  // confirmed, won
};
std::optional<ClaimEnding> claim_ending(const Decision& d);

// A claim status that no later decision changes (everything but held and entered).
inline bool is_final(Outcome status) { return status != Outcome::kHeld && status != Outcome::kEntered; }

// The statuses that hold an issued unit, ranked by coupon_seq: issued (fcfs), confirmed (hold), won (raffle).
inline bool is_issued(Outcome status) {
  return status == Outcome::kIssued || status == Outcome::kConfirmed || status == Outcome::kWon;
}

// confirm, cancel, close_event, delete_event and join answer their own request: projected as a request
// record (status = its own outcome; a join's later ticket and admission are fields of that record).
inline bool is_request_record(const Decision& d) {
  using namespace decision_type;
  return d.type == kConfirm || d.type == kCancel || d.type == kCloseEvent || d.type == kDeleteEvent || d.type == kJoin;
}

// A join's place in line and its admission, as the read side shows them on the join's record (request id
// join_request_id): from the join's own decision (queued or admitted; an already_queued answer repeats the
// first join's ticket, which stays that join's), or from a later queue_ticket (the pre-queue's shuffle at
// the opening) or admission decision. nullopt for every other decision.
struct JoinPlace {
  std::string join_request_id;
  std::optional<int64_t> ticket;
  std::optional<int64_t> admitted_at;  // the admitting decision's decided_at
};
std::optional<JoinPlace> join_place(const Decision& d);

// The delete_event that deleted the event: from then on its claims and requests keep their statuses and
// counts but no user id, and its ranking is gone (README "Deleting an event").
inline bool deletes_event(const Decision& d) {
  return d.type == decision_type::kDeleteEvent && d.outcome == Outcome::kDeleted;
}

// The user id a projection stores for the decision: none for a command answered deleted (the event's
// users are erased, and a late claim is not recorded under its user either).
inline const std::string& projected_user(const Decision& d) {
  static const std::string kNobody;
  return d.outcome == Outcome::kDeleted ? kNobody : d.user_id;
}

// The event takes no more claims after it: a close_event that closed or drew it, or a draw result.
inline bool closes_event(const Decision& d) {
  const bool closed = d.outcome == Outcome::kClosed || d.outcome == Outcome::kDrawn;
  return d.type == decision_type::kDrawResult || (d.type == decision_type::kCloseEvent && closed);
}

// A decision that reserves a sale event's units for an order, or ends the reservation (sold, released): a
// sale event's issued (sold) and held (reserved) units are its reservations' (README "Orders"). The units of
// reservation (order_id, line) are "<order_id>/<line>/<k>", k = 1..qty, where a projection counts units.
inline bool moves_reservation(const Decision& d) {
  if (!d.seat.empty()) return false;  // a seat's line moves its hold instead (claim_ending, seat_status)
  return (d.type == decision_type::kReserve && d.outcome == Outcome::kReserved) ||
         (d.type == decision_type::kFinalize && d.outcome == Outcome::kSold) ||
         (d.type == decision_type::kRelease && d.outcome == Outcome::kReleased);
}

// A seat on the read side (README "Seats"): what a decision makes of its seat (topics::seat_state free,
// held or sold: a claim that holds it, a hold's end, the sale to an order); nullopt when it leaves the seat
// as it was (a refusal, an order's reservation or release: the seat stays held).
std::optional<std::string_view> seat_status(const Decision& d);
// A seat map's names in its order as Redis keeps them (`event:<id>:seat_map`): joined by commas (a seat's
// name has none, topics::valid_seat), and split back.
std::string join_seat_map(const std::vector<std::string>& seats);
std::vector<std::string> split_seat_map(std::string_view text);

// The newest wallet decisions the Redis projection keeps in a wallet's ledger (MySQL keeps them all).
inline constexpr int64_t kRedisLedgerKept = 50;

}  // namespace allot::topics
