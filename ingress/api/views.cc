#include "ingress/api/views.h"

#include <algorithm>

#include "common/clock.h"
#include "topics/slices.h"
#include "topics/vocabulary.h"

namespace allot::ingress::api {

using nlohmann::json;

json event_json(const EventView& e, const BaselineCounts& baselines) {
  json j{{"event_id", e.event_id}, {"title", e.title},         {"stock", e.stock},
         {"issued", e.issued},     {"remaining", e.remaining}, {"per_user_limit", e.per_user_limit},
         {"claims", e.claims}};
  if (e.opens_at) j["opens_at"] = *e.opens_at;
  if (e.closes_at) j["closes_at"] = *e.closes_at;
  j["mode"] = e.mode;
  j["closed"] = e.closed;
  if (e.deleted) j["deleted"] = true;  // its counters stay; its users are erased
  if (e.mode == topics::event_mode::kHold) {
    j["hold_ms"] = e.hold_ms;
    j["held"] = e.held;
  }
  if (e.mode == topics::event_mode::kRaffle) j["entries"] = e.entries;
  j["partitions"] = e.partitions;
  if (e.pow_bits > 0) j["pow_bits"] = e.pow_bits;
  if (e.reward_average > 0) j["reward_average"] = e.reward_average;
  if (e.price > 0) j["price"] = e.price;
  if (e.seats > 0) j["seats"] = e.seats;
  if (e.admit_per_s > 0) {
    j["admit_per_s"] = e.admit_per_s;
    j["admitted"] = e.admitted;
    j["waiting"] = std::max<int64_t>(0, e.tickets - e.admitted);  // in line with a ticket, not admitted yet
  }
  for (auto [strategy, issued] : {std::pair{"v1", baselines.v1_issued}, std::pair{"v2", baselines.v2_issued}}) {
    if (issued)
      j["baselines"][strategy] = {{"issued", *issued}, {"remaining", std::max<int64_t>(0, e.stock - *issued)}};
  }
  return j;
}

std::string decided_json(const ClaimView& c) {
  json j{{"request_id", c.request_id}, {"event_id", c.event_id}, {"status", c.status}};
  if (auto slice = topics::parse_slice_id(c.event_id)) {  // a mega event's claim: its event, and the slice
    j["event_id"] = slice->parent;
    j["slice"] = slice->slice;
  }
  if (!c.user_id.empty()) j["user_id"] = c.user_id;  // a close_event has none
  if (c.coupon_seq) j["coupon_seq"] = *c.coupon_seq;
  if (c.decided_at) j["decided_at"] = *c.decided_at;
  if (c.type != topics::decision_type::kClaim) j["type"] = c.type;
  if (!c.claim_request_id.empty()) j["claim_request_id"] = c.claim_request_id;
  if (c.hold_expires_at && c.status == topics::outcome::kHeld) j["hold_expires_at"] = *c.hold_expires_at;
  if (c.amount) j["amount"] = *c.amount;
  if (c.balance) j["balance"] = *c.balance;
  if (!c.reason.empty()) j["reason"] = c.reason;
  if (!c.seat.empty()) j["seat"] = c.seat;
  if (topics::is_wallet_type(c.type) || c.type == topics::decision_type::kOrder) j.erase("event_id");  // a wallet's
  if (c.type == topics::decision_type::kOrderResult) j["type"] = topics::decision_type::kOrder;  // the order's answer
  return j.dump();
}

json wallet_json(const WalletView& w) {
  json ledger = json::array();
  for (const auto& e : w.ledger) {
    ledger.push_back({{"request_id", e.request_id},
                      {"type", e.type},
                      {"status", e.outcome},
                      {"amount", e.amount},
                      {"balance", e.balance},
                      {"decided_at", e.decided_at}});
  }
  return {{"user_id", w.user_id}, {"balance", w.balance}, {"ledger", ledger}};
}

json rank_json(const RankEntry& e) {
  json entry{{"rank", e.rank}, {"user_id", e.user_id}, {"coupon_seq", e.coupon_seq}};
  if (e.slice >= 0) entry["slice"] = e.slice;
  return entry;
}

// Ids are validated to [A-Za-z0-9_-], so they need no escaping; written directly (a JSON document per
// 202 showed in the claim path's profile).
std::string Views::accepted_body(const std::string& request_id, const PendingClaim& p) const {
  auto position = processors_.queue_position(p.position);
  std::string body;
  body.reserve(128);
  body += R"({"request_id":")";
  body += request_id;
  body += R"(","status":"pending","queue_position":)";
  body += std::to_string(position);
  if (auto wait = processors_.estimated_wait_ms(position)) {
    body += R"(,"estimated_wait_ms":)";
    body += std::to_string(*wait);
  }
  body += '}';
  return body;
}

std::string Views::pending_body(const std::string& request_id, const PendingClaim& p) const {
  auto position = processors_.queue_position(p.position);
  json j{{"request_id", request_id},
         {"event_id", p.event_id},
         {"user_id", p.user_id},
         {"status", topics::claim_status::kPending},
         {"queue_position", position}};
  if (auto wait = processors_.estimated_wait_ms(position)) j["estimated_wait_ms"] = *wait;
  return j.dump();
}

// The position is the ticket minus the event's admitted count in the projection, which only grows.
std::string Views::queue_body(ClaimView c) const {
  bool rejoined = false;
  if (c.status == topics::outcome::kAlreadyQueued && !c.claim_request_id.empty()) {
    try {
      if (auto first = projections_.claim(c.claim_request_id); first && first->type == topics::decision_type::kJoin) {
        c = *first;
        rejoined = true;
      }
    } catch (const ProjectionUnavailable&) {
    }
  }
  std::string status = c.status;
  if (c.admitted_at || status == topics::outcome::kAdmitted) {
    status = topics::outcome::kAdmitted;
  } else if (c.ticket && (status == topics::outcome::kPreQueued || status == topics::outcome::kQueued)) {
    status = topics::outcome::kQueued;
  }
  json j{{"request_id", c.request_id}, {"event_id", c.event_id}, {"status", status}};
  if (!c.user_id.empty()) j["user_id"] = c.user_id;
  if (rejoined) j["rejoined"] = true;
  if (c.ticket && status != topics::outcome::kAlreadyQueued) j["ticket"] = *c.ticket;
  std::optional<EventView> e;
  try {
    e = projections_.event(c.event_id);
  } catch (const ProjectionUnavailable&) {
  }
  if (status == topics::outcome::kQueued && c.ticket && e) {
    const int64_t position = std::max<int64_t>(1, *c.ticket - e->admitted);
    j["position"] = position;
    j["admitted"] = e->admitted;
    if (e->admit_per_s > 0) j["estimated_wait_ms"] = ((position - 1) / e->admit_per_s + 1) * 1000;
  }
  if (status == topics::outcome::kPreQueued && e && e->opens_at) j["opens_at"] = *e->opens_at;
  if (status == topics::outcome::kAdmitted && !c.user_id.empty()) {
    const int64_t at = c.admitted_at.value_or(c.decided_at.value_or(now_ms()));
    j["admission_token"] = tokens_.issue(c.event_id, c.user_id, at);
    j["token_expires_at"] = tokens_.expires_at(at);
  }
  return j.dump();
}

std::string Views::answer_body(const ClaimView& c) const {
  return c.type == topics::decision_type::kJoin ? queue_body(c) : decided_json(c);
}

}  // namespace allot::ingress::api
