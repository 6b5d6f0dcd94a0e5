#include "topics/claim_status.h"

namespace allot::topics {

std::optional<ClaimEnding> claim_ending(const Decision& d) {
  // A hold's expiry and a draw result name the claim as their request id; a confirm or cancel that took
  // effect names it in claim_request_id (its other outcomes leave the claim as it was). The waiting room's
  // caused decisions (a ticket, an admission) are about joins, not claims.
  if (d.type == kHoldExpired || d.type == kDrawResult) return ClaimEnding{d.request_id, d.outcome, d.coupon_seq};
  if ((d.type == "confirm" && d.outcome == Outcome::kConfirmed) ||
      (d.type == "cancel" && d.outcome == Outcome::kCancelled)) {
    return ClaimEnding{d.claim_request_id, d.outcome, d.coupon_seq};
  }
  return std::nullopt;
}

}  // namespace allot::topics
