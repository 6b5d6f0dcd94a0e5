#include "processors/domain.h"

#include <nlohmann/json.hpp>

namespace allot::processors {

using topics::Outcome;

std::string event_key(std::string_view event_id) { return "e/" + std::string(event_id); }
std::string user_key(std::string_view event_id, std::string_view user_id) {
  return "u/" + std::string(event_id) + "/" + std::string(user_id);
}
std::string request_key(std::string_view request_id) { return "r/" + std::string(request_id); }

std::string encode_event(const EventState& e) {
  nlohmann::json j{{"title", e.spec.title},
                   {"stock", e.spec.stock},
                   {"per_user_limit", e.spec.per_user_limit},
                   {"issued", e.issued}};
  if (e.spec.opens_at) j["opens_at"] = *e.spec.opens_at;
  if (e.spec.closes_at) j["closes_at"] = *e.spec.closes_at;
  return j.dump();
}

EventState decode_event(std::string_view value) {
  auto j = nlohmann::json::parse(value);  // our own record: a parse failure is a corrupt store
  EventState e;
  e.spec.title = j.at("title").get<std::string>();
  e.spec.stock = j.at("stock").get<int64_t>();
  e.spec.per_user_limit = j.at("per_user_limit").get<int64_t>();
  e.issued = j.at("issued").get<int64_t>();
  if (j.contains("opens_at")) e.spec.opens_at = j.at("opens_at").get<int64_t>();
  if (j.contains("closes_at")) e.spec.closes_at = j.at("closes_at").get<int64_t>();
  return e;
}

namespace {

topics::Decision base_decision(const topics::Command& c, topics::CommandPosition position, int64_t now) {
  topics::Decision d;
  d.request_id = c.request_id;
  d.event_id = c.event_id();
  d.command = position;
  d.decided_at = now;
  d.received_at = c.received_at;
  return d;
}

std::optional<EventState> load_event(const StateView& state, const std::string& event_id) {
  auto v = state.get(event_key(event_id));
  if (!v) return std::nullopt;
  auto e = decode_event(*v);
  e.spec.event_id = event_id;
  return e;
}

Result decide_create(const StateView& state, const topics::Command& c, const topics::CreateEvent& create,
                     topics::CommandPosition position, int64_t now) {
  Result r{base_decision(c, position, now), {}};
  r.decision.type = "create_event";
  if (auto existing = load_event(state, create.event_id)) {
    r.decision.outcome = Outcome::kAlreadyExists;
    r.decision.remaining = existing->spec.stock - existing->issued;
    r.decision.event = existing->spec;
  } else {
    r.decision.outcome = Outcome::kCreated;
    r.decision.remaining = create.stock;
    r.decision.event = create;
    r.writes.push_back({event_key(create.event_id), encode_event({create, 0})});
  }
  return r;
}

// The order of the checks is the contract: window first, then the user's limit, then stock.
Outcome judge_claim(const EventState& e, int64_t user_issued, int64_t received_at) {
  if (e.spec.opens_at && received_at < *e.spec.opens_at) return Outcome::kNotOpen;
  if (e.spec.closes_at && received_at >= *e.spec.closes_at) return Outcome::kClosed;
  if (user_issued >= e.spec.per_user_limit) return Outcome::kDuplicate;
  if (e.issued >= e.spec.stock) return Outcome::kSoldOut;
  return Outcome::kIssued;
}

Result decide_claim(const StateView& state, const topics::Command& c, const topics::Claim& claim,
                    topics::CommandPosition position, int64_t now) {
  Result r{base_decision(c, position, now), {}};
  r.decision.type = "claim";
  r.decision.user_id = claim.user_id;
  auto event = load_event(state, claim.event_id);
  if (!event) {
    r.decision.outcome = Outcome::kUnknownEvent;
    r.decision.remaining = 0;
    return r;
  }
  const auto ukey = user_key(claim.event_id, claim.user_id);
  int64_t user_issued = std::stoll(state.get(ukey).value_or("0"));
  r.decision.outcome = judge_claim(*event, user_issued, c.received_at);
  if (r.decision.outcome == Outcome::kIssued) {
    event->issued += 1;
    r.decision.coupon_seq = event->issued;
    r.writes.push_back({event_key(claim.event_id), encode_event(*event)});
    r.writes.push_back({ukey, std::to_string(user_issued + 1)});
  }
  r.decision.remaining = event->spec.stock - event->issued;
  return r;
}

}  // namespace

std::optional<Result> decide(const StateView& state, const topics::Command& command,
                             topics::CommandPosition position, int64_t now) {
  const auto rkey = request_key(command.request_id);
  if (state.get(rkey)) return std::nullopt;
  Result r = std::visit(
      [&](const auto& body) {
        if constexpr (std::is_same_v<std::decay_t<decltype(body)>, topics::CreateEvent>) {
          return decide_create(state, command, body, position, now);
        } else {
          return decide_claim(state, command, body, position, now);
        }
      },
      command.body);
  // Remember the request so a retry with the same Idempotency-Key gets no second decision.
  r.writes.push_back({rkey, std::string(topics::to_string(r.decision.outcome))});
  return r;
}

}  // namespace allot::processors
