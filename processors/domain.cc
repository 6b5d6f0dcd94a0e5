#include "processors/domain.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace allot::processors {

using topics::Outcome;

std::string event_key(std::string_view event_id) { return "e/" + std::string(event_id); }
std::string user_key(std::string_view event_id, std::string_view user_id) {
  return "u/" + std::string(event_id) + "/" + std::string(user_id);
}
std::string request_key(std::string_view request_id) { return "r/" + std::string(request_id); }

// An event's record is internal (only processors read it, from RocksDB and the changelog), and read on
// every claim: a flat text form is parsed far faster than JSON. "e2|stock|limit|issued|opens|closes|title"
// (an absent window bound is empty; the title comes last, so it may contain anything). Records written
// before this form are JSON objects, still read.
std::string encode_event(const EventState& e) {
  std::string out = "e2|";
  out += std::to_string(e.spec.stock);
  out += '|';
  out += std::to_string(e.spec.per_user_limit);
  out += '|';
  out += std::to_string(e.issued);
  out += '|';
  if (e.spec.opens_at) out += std::to_string(*e.spec.opens_at);
  out += '|';
  if (e.spec.closes_at) out += std::to_string(*e.spec.closes_at);
  out += '|';
  out += e.spec.title;
  return out;
}

namespace {

EventState decode_event_json(std::string_view value) {
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

// The next '|'-terminated field of `rest` (advancing it); throws on a truncated record.
std::string_view next_field(std::string_view& rest) {
  auto bar = rest.find('|');
  if (bar == std::string_view::npos) throw std::runtime_error("corrupt event record");
  auto field = rest.substr(0, bar);
  rest.remove_prefix(bar + 1);
  return field;
}

int64_t to_int(std::string_view field) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size()) throw std::runtime_error("corrupt event record");
  return v;
}

}  // namespace

EventState decode_event(std::string_view value) {
  if (!value.starts_with("e2|")) return decode_event_json(value);
  std::string_view rest = value.substr(3);
  EventState e;
  e.spec.stock = to_int(next_field(rest));
  e.spec.per_user_limit = to_int(next_field(rest));
  e.issued = to_int(next_field(rest));
  if (auto f = next_field(rest); !f.empty()) e.spec.opens_at = to_int(f);
  if (auto f = next_field(rest); !f.empty()) e.spec.closes_at = to_int(f);
  e.spec.title = std::string(rest);
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
