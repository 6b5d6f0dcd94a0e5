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
  // A held seat sold by the order that paid for it: its claim ends confirmed (README "Seats").
  if (d.type == decision_type::kFinalize && d.outcome == Outcome::kSold && !d.seat.empty()) {
    return ClaimEnding{d.claim_request_id, Outcome::kConfirmed, d.coupon_seq};
  }
  return std::nullopt;
}

std::optional<std::string_view> seat_status(const Decision& d) {
  if (d.seat.empty()) return std::nullopt;
  namespace type = decision_type;
  if (d.type == type::kClaim && d.outcome == Outcome::kHeld) return seat_state::kHeld;
  const bool freed = d.type == type::kHoldExpired || (d.type == type::kCancel && d.outcome == Outcome::kCancelled);
  if (freed) return seat_state::kFree;
  if ((d.type == type::kConfirm && d.outcome == Outcome::kConfirmed) ||
      (d.type == type::kFinalize && d.outcome == Outcome::kSold)) {
    return seat_state::kSold;
  }
  return std::nullopt;
}

std::string join_seat_map(const std::vector<std::string>& seats) {
  std::string out;
  for (const auto& seat : seats) out += (out.empty() ? "" : ",") + seat;
  return out;
}

std::vector<std::string> split_seat_map(std::string_view text) {
  std::vector<std::string> seats;
  while (!text.empty()) {
    auto comma = text.find(',');
    seats.emplace_back(text.substr(0, comma));
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
  }
  return seats;
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
