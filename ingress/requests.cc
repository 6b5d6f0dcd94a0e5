#include "ingress/requests.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "topics/rewards.h"
#include "topics/slices.h"
#include "topics/topics.h"

namespace allot::ingress {

using nlohmann::json;

namespace {

constexpr int64_t kMaxStock = 100'000'000;
constexpr int64_t kMaxPerUserLimit = 1'000'000;
constexpr size_t kMaxTitle = 200;

ApiError bad(std::string message) { return {400, "invalid_request", std::move(message)}; }

std::variant<json, ApiError> parse_object(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ApiError{400, "malformed_json", "the body is not valid JSON"};
  if (!j.is_object()) return bad("the body must be a JSON object");
  return j;
}

// A non-negative integer field (JSON integers only: no floats, strings or booleans).
std::optional<int64_t> integer(const json& v) {
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) return v.get<int64_t>();
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

std::variant<std::optional<int64_t>, ApiError> instant(const json& j, const char* name) {
  if (!j.contains(name)) return std::optional<int64_t>{};
  const auto& v = j.at(name);
  // The OpenAPI file's bounds: from the epoch to the last millisecond of year 9999 (what RFC 3339 can say).
  constexpr int64_t kLastInstantMs = 253402300799999;
  if (auto i = integer(v); i && *i >= 0 && *i <= kLastInstantMs) return std::optional<int64_t>{*i};
  if (v.is_string()) {
    if (auto t = topics::parse_instant(v.get<std::string>())) return std::optional<int64_t>{*t};
  }
  return bad(std::string(name) + " must be Unix milliseconds or an RFC 3339 UTC time like 2026-11-22T10:00:00Z");
}

}  // namespace

bool is_json_content_type(std::string_view ct) {
  auto semi = ct.find(';');
  auto media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media.size() != 16) return false;
  constexpr std::string_view kJson = "application/json";
  for (size_t i = 0; i < media.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(media[i])) != kJson[i]) return false;
  }
  return true;
}

// Mega events (topics/slices.h): "partitions" K splits the event into K slices. The upper bound (the
// number of command partitions) is the server's to check: only it knows the topic.
namespace {
std::optional<ApiError> parse_partitions(const json& j, topics::CreateEvent& ev) {
  if (!j.contains("partitions")) return std::nullopt;
  auto k = integer(j.at("partitions"));
  if (!k || *k < 1 || *k > topics::kMaxSlices)
    return bad("partitions must be an integer from 1 to the number of command partitions");
  ev.partitions = static_cast<int32_t>(*k);
  if (ev.partitions == 1) return std::nullopt;
  if (ev.mode != topics::EventMode::kFcfs) {
    return bad("partitions above 1 (a mega event) are for fcfs events only, not raffle or hold");
  }
  if (ev.admit_per_s > 0) {
    // Admission is decided in the event's own log, on one partition; a mega event has K of them.
    return bad("a mega event (partitions above 1) has no waiting room: admit_per_s is for events on one partition");
  }
  if (ev.event_id.size() > topics::kMaxMegaEventIdLength) {
    return bad("the event_id of a mega event (partitions above 1) has at most 61 characters");
  }
  // A stock below K leaves some slices without units: their users are answered sold_out (as the event says).
  return std::nullopt;
}
}  // namespace

namespace {
// A sale event's price, an event's coupon terms (README "Orders"); topics::commerce_error has the rules.
std::optional<ApiError> parse_commerce(const json& j, topics::CreateEvent& ev) {
  // Given, each is at least 1 (absent: none).
  for (auto [name, slot, max] : {std::tuple{"price", &ev.price, topics::kMaxPrice},
                                 std::tuple{"discount_amount", &ev.discount_amount, topics::kMaxChargeAmount},
                                 std::tuple{"discount_cap", &ev.discount_cap, topics::kMaxChargeAmount}}) {
    if (!j.contains(name)) continue;
    auto v = integer(j.at(name));
    if (!v || *v < 1 || *v > max) return bad(std::string(name) + " must be cents from 1 to " + std::to_string(max));
    *slot = *v;
  }
  if (j.contains("discount_percent")) {
    auto v = integer(j.at("discount_percent"));
    if (!v || *v < 1 || *v > 100) return bad("discount_percent must be an integer from 1 to 100");
    ev.discount_percent = static_cast<int32_t>(*v);
  }
  auto expires = instant(j, "coupon_expires_at");
  if (auto* e = std::get_if<ApiError>(&expires)) return *e;
  ev.coupon_expires_at = std::get<std::optional<int64_t>>(expires);
  if (auto why = topics::commerce_error(ev)) return bad(*why);
  return std::nullopt;
}
}  // namespace

namespace {
// A seat map (README "Seats"): a list of names, or rows and numbers ({"rows": ["A", "B"], "per_row": 20}
// gives A-1 .. A-20, B-1 .. B-20; at most 100 rows of 100, row names of at most 10 characters; a list of at
// most 100). Its size is the stock, which the body then leaves out.
std::optional<ApiError> parse_seats(const json& j, topics::CreateEvent& ev) {
  if (!j.contains("seats")) return std::nullopt;
  if (j.contains("stock")) return bad("a seated event's stock is its number of seats: leave stock out");
  const auto& seats = j.at("seats");
  const std::string limit = std::to_string(topics::kMaxSeats);
  constexpr int64_t kMaxRows = 100, kMaxPerRow = 100;
  if (seats.is_array()) {
    // A list fits the body's size limit (4 KiB by default); a big map is given as rows.
    if (seats.size() > 100) return bad("seats lists at most 100 names: give a bigger map as rows and per_row");
    for (const auto& s : seats) {
      if (!s.is_string()) return bad("seats must be a list of seat names or {\"rows\", \"per_row\"}");
      ev.seats.push_back(s.get<std::string>());
    }
  } else if (seats.is_object() && seats.size() == 2 && seats.contains("rows") && seats.contains("per_row") &&
             seats.at("rows").is_array()) {
    auto per_row = integer(seats.at("per_row"));
    if (!per_row || *per_row < 1 || *per_row > kMaxPerRow) return bad("per_row must be an integer from 1 to 100");
    if (seats.at("rows").size() > kMaxRows) return bad("rows lists at most 100 rows");
    for (const auto& row : seats.at("rows")) {
      if (!row.is_string() || row.get<std::string>().size() > 10 || !topics::valid_seat(row.get<std::string>())) {
        return bad("rows must be a list of row names matching [A-Za-z0-9._-]{1,10}");
      }
      for (int64_t n = 1; n <= *per_row; ++n) ev.seats.push_back(row.get<std::string>() + "-" + std::to_string(n));
    }
  } else {
    return bad("seats must be a list of seat names or {\"rows\": [...], \"per_row\": n}");
  }
  if (ev.seats.empty()) return bad("seats must name at least one seat");
  if (ev.seats.size() > topics::kMaxSeats) return bad("an event has at most " + limit + " seats");
  ev.stock = static_cast<int64_t>(ev.seats.size());
  return std::nullopt;
}
}  // namespace

std::variant<topics::CreateEvent, ApiError> parse_create_event(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& j = std::get<json>(parsed);
  topics::CreateEvent ev;
  if (!j.contains("event_id") || !j.at("event_id").is_string() ||
      !topics::valid_event_id(j.at("event_id").get<std::string>())) {
    return bad("event_id must be a string matching [a-z0-9][a-z0-9-]{0,63}");
  }
  ev.event_id = j.at("event_id").get<std::string>();
  if (!j.contains("title") || !j.at("title").is_string() || j.at("title").get<std::string>().empty() ||
      j.at("title").get<std::string>().size() > kMaxTitle) {
    return bad("title must be a non-empty string of at most 200 bytes");
  }
  ev.title = j.at("title").get<std::string>();
  auto stock = j.contains("stock") ? integer(j.at("stock")) : std::nullopt;
  if (j.contains("stock") || !j.contains("seats")) {  // a seat map gives the stock
    if (!stock || *stock < 0 || *stock > kMaxStock) return bad("stock must be an integer from 0 to 100000000");
    ev.stock = *stock;
  }
  if (j.contains("per_user_limit")) {
    auto limit = integer(j.at("per_user_limit"));
    if (!limit || *limit < 1 || *limit > kMaxPerUserLimit)
      return bad("per_user_limit must be an integer from 1 to 1000000");
    ev.per_user_limit = *limit;
  }
  auto opens = instant(j, "opens_at");
  if (auto* e = std::get_if<ApiError>(&opens)) return *e;
  auto closes = instant(j, "closes_at");
  if (auto* e = std::get_if<ApiError>(&closes)) return *e;
  ev.opens_at = std::get<std::optional<int64_t>>(opens);
  ev.closes_at = std::get<std::optional<int64_t>>(closes);
  if (j.contains("mode")) {
    auto mode = j.at("mode").is_string() ? topics::mode_from_string(j.at("mode").get<std::string>()) : std::nullopt;
    if (!mode) return bad("mode must be one of fcfs, raffle, hold, sale");
    ev.mode = *mode;
  }
  if (j.contains("hold_ms")) {
    auto hold = integer(j.at("hold_ms"));
    if (ev.mode != topics::EventMode::kHold) return bad("hold_ms is for events with mode hold");
    if (!hold || *hold < 1 || *hold > topics::kMaxHoldMs) return bad("hold_ms must be an integer from 1 to 86400000");
    ev.hold_ms = *hold;
  }
  if (ev.mode == topics::EventMode::kHold && ev.hold_ms == 0) return bad("an event with mode hold needs hold_ms");
  if (ev.mode == topics::EventMode::kRaffle && !ev.closes_at) {
    return bad("an event with mode raffle needs closes_at: the draw happens then (or at POST .../close)");
  }
  if (j.contains("admit_per_s")) {
    auto rate = integer(j.at("admit_per_s"));
    if (!rate || *rate < 1 || *rate > topics::kMaxAdmitPerS)
      return bad("admit_per_s must be an integer from 1 to 1000000");
    if (ev.mode == topics::EventMode::kRaffle)
      return bad("a raffle has no waiting room: admit_per_s is for fcfs and hold");
    ev.admit_per_s = *rate;
  }
  if (j.contains("pow_bits")) {
    auto bits = integer(j.at("pow_bits"));
    if (!bits || *bits < 0 || *bits > topics::kMaxPowBits) return bad("pow_bits must be an integer from 0 to 28");
    ev.pow_bits = static_cast<int32_t>(*bits);
  }
  if (j.contains("reward_average")) {
    auto average = integer(j.at("reward_average"));
    if (!average || *average < 0 || *average > topics::kMaxRewardAverage) {
      return bad("reward_average must be an integer number of cents from 0 to " +
                 std::to_string(topics::kMaxRewardAverage));
    }
    ev.reward_average = *average;
  }
  if (auto e = parse_partitions(j, ev)) return *e;
  if (auto e = parse_seats(j, ev)) return *e;
  if (auto e = parse_commerce(j, ev)) return *e;
  // A window that closes before it opens is accepted: every claim is then not_open or closed. (OpenAPI
  // cannot state the cross-field rule, and an odd event harms no one.)
  return ev;
}

namespace {
// The body every client sends, {"user_id":"..."} with optional whitespace and a valid id, read without
// building a JSON document (the DOM showed in the claim path's profile). Anything else, valid or not,
// goes to the full parser, which answers it as before.
std::optional<std::string_view> plain_claim_user(std::string_view b) {
  size_t i = 0;
  auto skip = [&b, &i] {
    while (i < b.size() && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) ++i;
  };
  auto expect = [&b, &i, &skip](std::string_view token) {
    skip();
    if (b.substr(i, token.size()) != token) return false;
    i += token.size();
    return true;
  };
  if (!expect("{") || !expect(R"("user_id")") || !expect(":") || !expect("\"")) return std::nullopt;
  size_t start = i;
  while (i < b.size() && b[i] != '"' && b[i] != '\\') ++i;
  if (i >= b.size() || b[i] != '"') return std::nullopt;
  auto user = b.substr(start, i - start);
  ++i;
  if (!expect("}")) return std::nullopt;
  skip();
  if (i != b.size() || !topics::valid_user_id(user)) return std::nullopt;
  return user;
}
}  // namespace

std::variant<std::optional<std::string>, ApiError> parse_claim(std::string_view body) {
  if (auto user = plain_claim_user(body)) return std::optional<std::string>(*user);
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& j = std::get<json>(parsed);
  if (!j.contains("user_id")) return std::optional<std::string>();
  if (!j.at("user_id").is_string() || !topics::valid_user_id(j.at("user_id").get<std::string>())) {
    return bad("user_id must be a string matching [A-Za-z0-9_-]{1,64}");
  }
  return std::optional<std::string>(j.at("user_id").get<std::string>());
}

std::variant<std::string, ApiError> parse_claim_seat(std::string_view body) {
  if (plain_claim_user(body) || body.find("\"seat\"") == std::string_view::npos) return std::string();
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& j = std::get<json>(parsed);
  if (!j.contains("seat")) return std::string();
  if (!j.at("seat").is_string() || !topics::valid_seat(j.at("seat").get<std::string>())) {
    return bad("seat must be a string matching [A-Za-z0-9._-]{1,16}");
  }
  return j.at("seat").get<std::string>();
}

std::variant<topics::Order, ApiError> parse_order(std::string_view body, const std::string& user_id) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  json j = std::get<json>(parsed);
  // Only the fields an order has, at every level: an item list of unknown fields would be accepted and
  // ignored (and grows a body past its limit).
  auto unknown = [](const json& object, std::initializer_list<std::string_view> known) -> std::optional<std::string> {
    if (!object.is_object()) return std::nullopt;  // the decoder answers a wrong type
    for (const auto& [key, value] : object.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) return key;
    }
    return std::nullopt;
  };
  if (auto key = unknown(j, {"items", "coupon", "user_id"})) return bad("an order has no field " + *key);
  if (j.contains("coupon")) {
    if (auto key = unknown(j.at("coupon"), {"event_id", "claim_request_id"}))
      return bad("a coupon has no field " + *key);
  }
  if (j.contains("items") && j.at("items").is_array()) {
    for (const auto& item : j.at("items")) {
      if (auto key = unknown(item, {"event_id", "qty", "seat"})) return bad("an item has no field " + *key);
    }
  }
  // The order command's own decoder holds the rules (items, quantities, coupon): the body is checked by
  // decoding the command it becomes.
  j["type"] = topics::decision_type::kOrder;
  j["request_id"] = "order";
  j["received_at"] = 0;
  j["user_id"] = user_id;
  try {
    auto command = topics::decode_command(j.dump());
    return std::get<topics::Order>(std::move(command.body));
  } catch (const topics::DecodeError& e) {
    return bad(e.what());
  }
}

std::variant<ChargeRequest, ApiError> parse_charge(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& j = std::get<json>(parsed);
  ChargeRequest c;
  if (!j.contains("user_id") || !j.at("user_id").is_string() ||
      !topics::valid_user_id(j.at("user_id").get<std::string>())) {
    return bad("user_id must be a string matching [A-Za-z0-9_-]{1,64}");
  }
  c.user_id = j.at("user_id").get<std::string>();
  auto amount = j.contains("amount") ? integer(j.at("amount")) : std::nullopt;
  if (!amount || *amount < 1 || *amount > topics::kMaxChargeAmount) {
    return bad("amount must be an integer number of cents from 1 to " + std::to_string(topics::kMaxChargeAmount));
  }
  c.amount = *amount;
  if (j.contains("payment_id")) {
    const auto& id = j.at("payment_id");
    if (!id.is_string() || id.get<std::string>().size() > 60 || !topics::valid_user_id(id.get<std::string>())) {
      return bad("payment_id must be a string matching [A-Za-z0-9_-]{1,60}");
    }
    c.payment_id = id.get<std::string>();
  }
  return c;
}

bool bearer_matches(std::string_view header, std::string_view token) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (token.empty() || !header.starts_with(kPrefix)) return false;
  auto presented = header.substr(kPrefix.size());
  // Constant time over the token's length: every byte is compared whatever the first mismatch.
  unsigned char diff = presented.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    unsigned char a = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= static_cast<unsigned char>(a ^ static_cast<unsigned char>(token[i]));
  }
  return diff == 0;
}

}  // namespace allot::ingress
