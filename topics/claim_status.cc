#include "topics/claim_status.h"

namespace allot::topics {

std::optional<ClaimEnding> claim_ending(const Decision& d) {
  // A hold's expiry and a draw result name the claim as their request id; a confirm or cancel that took
  // effect names it in claim_request_id (its other outcomes leave the claim as it was). The waiting room's
  // caused decisions (a ticket, an admission) are about joins, not claims.
  if (d.type == decision_type::kHoldExpired || d.type == decision_type::kDrawResult) {
    return ClaimEnding{d.request_id, d.outcome, d.coupon_seq};
  }
  if ((d.type == decision_type::kConfirm && d.outcome == Outcome::kConfirmed) ||
      (d.type == decision_type::kCancel && d.outcome == Outcome::kCancelled)) {
    return ClaimEnding{d.claim_request_id, d.outcome, d.coupon_seq};
  }
  return std::nullopt;
}

std::optional<JoinPlace> join_place(const Decision& d) {
  const bool admitted = d.outcome == Outcome::kAdmitted || d.type == decision_type::kAdmission;
  std::optional<int64_t> admitted_at = admitted ? std::optional<int64_t>(d.decided_at) : std::nullopt;
  if (d.type == decision_type::kJoin) {
    return JoinPlace{d.request_id, d.outcome == Outcome::kAlreadyQueued ? std::nullopt : d.ticket, admitted_at};
  }
  if (d.type == decision_type::kQueueTicket || d.type == decision_type::kAdmission) {
    return JoinPlace{d.request_id, d.ticket.value_or(0), admitted_at};
  }
  return std::nullopt;
}

}  // namespace allot::topics
