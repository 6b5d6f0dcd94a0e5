#include "topics/messages.h"

#include <array>
#include <ctime>
#include <nlohmann/json.hpp>

#include "topics/topics.h"

namespace allot::topics {

using nlohmann::json;

namespace {

constexpr std::array<std::pair<Outcome, std::string_view>, 8> kOutcomeNames{{
    {Outcome::kIssued, "issued"},
    {Outcome::kSoldOut, "sold_out"},
    {Outcome::kDuplicate, "duplicate"},
    {Outcome::kNotOpen, "not_open"},
    {Outcome::kClosed, "closed"},
    {Outcome::kUnknownEvent, "unknown_event"},
    {Outcome::kCreated, "created"},
    {Outcome::kAlreadyExists, "already_exists"},
}};

json event_to_json(const CreateEvent& e) {
  json j{{"event_id", e.event_id}, {"title", e.title}, {"stock", e.stock}, {"per_user_limit", e.per_user_limit}};
  if (e.opens_at) j["opens_at"] = *e.opens_at;
  if (e.closes_at) j["closes_at"] = *e.closes_at;
  return j;
}

template <typename T>
T field(const json& j, const char* name) {
  if (!j.contains(name)) throw DecodeError(std::string("missing field ") + name);
  try {
    return j.at(name).get<T>();
  } catch (const json::exception&) {
    throw DecodeError(std::string("field ") + name + " has the wrong type");
  }
}

template <typename T>
std::optional<T> optional_field(const json& j, const char* name) {
  if (!j.contains(name) || j.at(name).is_null()) return std::nullopt;
  return field<T>(j, name);
}

CreateEvent event_from_json(const json& j) {
  CreateEvent e;
  e.event_id = field<std::string>(j, "event_id");
  e.title = field<std::string>(j, "title");
  e.stock = field<int64_t>(j, "stock");
  e.per_user_limit = optional_field<int64_t>(j, "per_user_limit").value_or(1);
  e.opens_at = optional_field<int64_t>(j, "opens_at");
  e.closes_at = optional_field<int64_t>(j, "closes_at");
  if (!valid_event_id(e.event_id)) throw DecodeError("invalid event_id");
  if (e.stock < 0 || e.per_user_limit < 1) throw DecodeError("invalid stock or per_user_limit");
  return e;
}

json parse(std::string_view text) {
  try {
    auto j = json::parse(text);
    if (!j.is_object()) throw DecodeError("not a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw DecodeError(std::string("malformed JSON: ") + e.what());
  }
}

}  // namespace

const std::string& Command::event_id() const {
  return std::visit([](const auto& b) -> const std::string& { return b.event_id; }, body);
}

std::string_view to_string(Outcome outcome) {
  for (const auto& [o, name] : kOutcomeNames) {
    if (o == outcome) return name;
  }
  return "unknown";
}

std::optional<Outcome> outcome_from_string(std::string_view s) {
  for (const auto& [o, name] : kOutcomeNames) {
    if (name == s) return o;
  }
  return std::nullopt;
}

std::string encode(const Command& c) {
  if (const auto* claim = std::get_if<Claim>(&c.body);
      claim && valid_request_id(c.request_id) && valid_event_id(claim->event_id) && valid_user_id(claim->user_id)) {
    // The ingress's hot path: valid ids need no escaping, so the claim is written directly, byte for
    // byte what the JSON document below would dump (keys in the same, sorted order).
    std::string s;
    s.reserve(96 + c.request_id.size() + claim->event_id.size() + claim->user_id.size());
    s += R"({"event_id":")";
    s += claim->event_id;
    s += R"(","received_at":)";
    s += std::to_string(c.received_at);
    s += R"(,"request_id":")";
    s += c.request_id;
    s += R"(","type":"claim","user_id":")";
    s += claim->user_id;
    s += "\"}";
    return s;
  }
  json j{{"request_id", c.request_id}, {"received_at", c.received_at}};
  if (const auto* e = std::get_if<CreateEvent>(&c.body)) {
    j["type"] = "create_event";
    j.update(event_to_json(*e));
  } else {
    const auto& claim = std::get<Claim>(c.body);
    j["type"] = "claim";
    j["event_id"] = claim.event_id;
    j["user_id"] = claim.user_id;
  }
  return j.dump();
}

Command decode_command(std::string_view text) {
  json j = parse(text);
  Command c;
  c.request_id = field<std::string>(j, "request_id");
  c.received_at = field<int64_t>(j, "received_at");
  if (!valid_request_id(c.request_id)) throw DecodeError("invalid request_id");
  auto type = field<std::string>(j, "type");
  if (type == "create_event") {
    c.body = event_from_json(j);
  } else if (type == "claim") {
    Claim claim{field<std::string>(j, "event_id"), field<std::string>(j, "user_id")};
    if (!valid_event_id(claim.event_id)) throw DecodeError("invalid event_id");
    if (!valid_user_id(claim.user_id)) throw DecodeError("invalid user_id");
    c.body = std::move(claim);
  } else {
    throw DecodeError("unknown command type " + type);
  }
  return c;
}

std::string encode(const Decision& d) {
  json j{{"type", d.type},
         {"request_id", d.request_id},
         {"event_id", d.event_id},
         {"outcome", to_string(d.outcome)},
         {"remaining", d.remaining},
         {"command_partition", d.command.partition},
         {"command_offset", d.command.offset},
         {"decided_at", d.decided_at},
         {"received_at", d.received_at}};
  if (d.type == "claim") j["user_id"] = d.user_id;
  if (d.coupon_seq) j["coupon_seq"] = *d.coupon_seq;
  if (d.event) j["event"] = event_to_json(*d.event);
  return j.dump();
}

Decision decode_decision(std::string_view text) {
  json j = parse(text);
  Decision d;
  d.type = field<std::string>(j, "type");
  d.request_id = field<std::string>(j, "request_id");
  d.event_id = field<std::string>(j, "event_id");
  d.user_id = optional_field<std::string>(j, "user_id").value_or("");
  auto outcome = outcome_from_string(field<std::string>(j, "outcome"));
  if (!outcome) throw DecodeError("unknown outcome");
  d.outcome = *outcome;
  d.coupon_seq = optional_field<int64_t>(j, "coupon_seq");
  d.remaining = field<int64_t>(j, "remaining");
  d.command.partition = field<int32_t>(j, "command_partition");
  d.command.offset = field<int64_t>(j, "command_offset");
  d.decided_at = field<int64_t>(j, "decided_at");
  d.received_at = optional_field<int64_t>(j, "received_at").value_or(0);
  if (j.contains("event") && j.at("event").is_object()) d.event = event_from_json(j.at("event"));
  return d;
}

std::optional<int64_t> parse_instant(const std::string& text) {
  if (text.empty()) return std::nullopt;
  // Unix milliseconds
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() <= 15) return std::stoll(text);
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  int64_t millis = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits < 3) millis = millis * 10 + (*rest - '0');
      ++digits;
      ++rest;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) millis *= 10;
  }
  if (std::string_view(rest) != "Z") return std::nullopt;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
}

}  // namespace allot::topics
