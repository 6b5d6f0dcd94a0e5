#include "topics/messages.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "topics/rewards.h"
#include "topics/slices.h"
#include "topics/topics.h"

namespace allot::topics {

using nlohmann::json;

namespace {

constexpr std::array<std::pair<Outcome, std::string_view>, 48> kOutcomeNames{{
    {Outcome::kIssued, outcome::kIssued},
    {Outcome::kSoldOut, outcome::kSoldOut},
    {Outcome::kDuplicate, outcome::kDuplicate},
    {Outcome::kNotOpen, outcome::kNotOpen},
    {Outcome::kClosed, outcome::kClosed},
    {Outcome::kUnknownEvent, outcome::kUnknownEvent},
    {Outcome::kCreated, outcome::kCreated},
    {Outcome::kAlreadyExists, outcome::kAlreadyExists},
    {Outcome::kEntered, outcome::kEntered},
    {Outcome::kWon, outcome::kWon},
    {Outcome::kLost, outcome::kLost},
    {Outcome::kDrawn, outcome::kDrawn},
    {Outcome::kAlreadyClosed, outcome::kAlreadyClosed},
    {Outcome::kHeld, outcome::kHeld},
    {Outcome::kConfirmed, outcome::kConfirmed},
    {Outcome::kCancelled, outcome::kCancelled},
    {Outcome::kExpired, outcome::kExpired},
    {Outcome::kAlreadyEnded, outcome::kAlreadyEnded},
    {Outcome::kNotYours, outcome::kNotYours},
    {Outcome::kNotHeld, outcome::kNotHeld},
    {Outcome::kDeleted, outcome::kDeleted},
    {Outcome::kAlreadyDeleted, outcome::kAlreadyDeleted},
    {Outcome::kPreQueued, outcome::kPreQueued},
    {Outcome::kQueued, outcome::kQueued},
    {Outcome::kAdmitted, outcome::kAdmitted},
    {Outcome::kAlreadyQueued, outcome::kAlreadyQueued},
    {Outcome::kNoWaitingRoom, outcome::kNoWaitingRoom},
    {Outcome::kNotAdmitted, outcome::kNotAdmitted},
    {Outcome::kCredited, outcome::kCredited},
    {Outcome::kBalanceLimit, outcome::kBalanceLimit},
    {Outcome::kPlaced, outcome::kPlaced},
    {Outcome::kPaid, outcome::kPaid},
    {Outcome::kFailed, outcome::kFailed},
    {Outcome::kReserved, outcome::kReserved},
    {Outcome::kNotForSale, outcome::kNotForSale},
    {Outcome::kRedeemed, outcome::kRedeemed},
    {Outcome::kNotACoupon, outcome::kNotACoupon},
    {Outcome::kCouponUsed, outcome::kCouponUsed},
    {Outcome::kCouponExpired, outcome::kCouponExpired},
    {Outcome::kSold, outcome::kSold},
    {Outcome::kReleased, outcome::kReleased},
    {Outcome::kUnredeemed, outcome::kUnredeemed},
    {Outcome::kRefunded, outcome::kRefunded},
    {Outcome::kOrderOnly, outcome::kOrderOnly},
    {Outcome::kBalanceShort, outcome::kBalanceShort},
    {Outcome::kSeatRequired, outcome::kSeatRequired},
    {Outcome::kUnknownSeat, outcome::kUnknownSeat},
    {Outcome::kSeatTaken, outcome::kSeatTaken},
}};

constexpr std::array<std::pair<EventMode, std::string_view>, 4> kModeNames{{
    {EventMode::kFcfs, event_mode::kFcfs},
    {EventMode::kRaffle, event_mode::kRaffle},
    {EventMode::kHold, event_mode::kHold},
    {EventMode::kSale, event_mode::kSale},
}};

// Lookups in the name tables above, both ways.
template <typename Table, typename Value>
std::string_view name_in(const Table& table, Value value, std::string_view fallback) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return fallback;
}
template <typename Table>
auto value_in(const Table& table, std::string_view s) -> std::optional<typename Table::value_type::first_type> {
  for (const auto& [v, name] : table) {
    if (name == s) return v;
  }
  return std::nullopt;
}

json event_to_json(const CreateEvent& e) {
  json j{{"event_id", e.event_id}, {"title", e.title}, {"stock", e.stock}, {"per_user_limit", e.per_user_limit}};
  if (e.opens_at) j["opens_at"] = *e.opens_at;
  if (e.closes_at) j["closes_at"] = *e.closes_at;
  if (e.mode != EventMode::kFcfs) j["mode"] = to_string(e.mode);
  if (e.mode == EventMode::kHold) j["hold_ms"] = e.hold_ms;
  if (e.partitions != 1) j["partitions"] = e.partitions;
  if (e.total_stock) j["total_stock"] = *e.total_stock;
  if (e.admit_per_s > 0) j["admit_per_s"] = e.admit_per_s;
  if (e.pow_bits > 0) j["pow_bits"] = e.pow_bits;
  if (e.reward_average > 0) j["reward_average"] = e.reward_average;
  if (e.price > 0) j["price"] = e.price;
  if (e.discount_amount > 0) j["discount_amount"] = e.discount_amount;
  if (e.discount_percent > 0) j["discount_percent"] = e.discount_percent;
  if (e.discount_cap > 0) j["discount_cap"] = e.discount_cap;
  if (e.coupon_expires_at) j["coupon_expires_at"] = *e.coupon_expires_at;
  if (e.seated()) j["seats"] = e.seats;
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

// A sale event's price; an event's coupons (README "Orders").
void validate_commerce(CreateEvent& e, const json& j) {
  e.price = optional_field<int64_t>(j, "price").value_or(0);
  e.discount_amount = optional_field<int64_t>(j, "discount_amount").value_or(0);
  e.discount_percent = optional_field<int32_t>(j, "discount_percent").value_or(0);
  e.discount_cap = optional_field<int64_t>(j, "discount_cap").value_or(0);
  e.coupon_expires_at = optional_field<int64_t>(j, "coupon_expires_at");
  e.seats = optional_field<std::vector<std::string>>(j, "seats").value_or(std::vector<std::string>{});
  if (auto why = commerce_error(e)) throw DecodeError(*why);
}

CreateEvent event_from_json(const json& j) {
  CreateEvent e;
  e.event_id = field<std::string>(j, "event_id");
  e.title = field<std::string>(j, "title");
  e.stock = field<int64_t>(j, "stock");
  e.per_user_limit = optional_field<int64_t>(j, "per_user_limit").value_or(1);
  e.opens_at = optional_field<int64_t>(j, "opens_at");
  e.closes_at = optional_field<int64_t>(j, "closes_at");
  auto mode = optional_field<std::string>(j, "mode");
  if (mode) {
    auto m = mode_from_string(*mode);
    if (!m) throw DecodeError("mode must be fcfs, raffle, hold or sale");
    e.mode = *m;
  }
  e.hold_ms = optional_field<int64_t>(j, "hold_ms").value_or(0);
  e.partitions = optional_field<int32_t>(j, "partitions").value_or(1);
  e.total_stock = optional_field<int64_t>(j, "total_stock");
  if (e.partitions < 1 || e.partitions > kMaxSlices) throw DecodeError("invalid partitions");
  if (!valid_topic_event_id(e.event_id)) throw DecodeError("invalid event_id");
  if (e.stock < 0 || e.per_user_limit < 1) throw DecodeError("invalid stock or per_user_limit");
  if (e.mode == EventMode::kHold && (e.hold_ms < 1 || e.hold_ms > kMaxHoldMs)) {
    throw DecodeError("a hold event needs hold_ms between 1 and " + std::to_string(kMaxHoldMs));
  }
  if (e.mode != EventMode::kHold && e.hold_ms != 0) throw DecodeError("hold_ms is for hold events only");
  if (e.mode == EventMode::kRaffle && !e.closes_at) throw DecodeError("a raffle needs closes_at (the draw)");
  e.admit_per_s = optional_field<int64_t>(j, "admit_per_s").value_or(0);
  if (e.admit_per_s < 0 || e.admit_per_s > kMaxAdmitPerS) throw DecodeError("invalid admit_per_s");
  if (e.admit_per_s > 0 && e.mode == EventMode::kRaffle) throw DecodeError("a raffle has no waiting room");
  e.pow_bits = optional_field<int32_t>(j, "pow_bits").value_or(0);
  if (e.pow_bits < 0 || e.pow_bits > kMaxPowBits) throw DecodeError("invalid pow_bits");
  e.reward_average = optional_field<int64_t>(j, "reward_average").value_or(0);
  if (e.reward_average < 0 || e.reward_average > kMaxRewardAverage) throw DecodeError("invalid reward_average");
  validate_commerce(e, j);
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

const std::string* Command::wallet_user() const {
  if (const auto* charge = std::get_if<Charge>(&body)) return &charge->user_id;
  if (const auto* reward = std::get_if<Reward>(&body)) return &reward->user_id;
  if (const auto* order = std::get_if<Order>(&body)) return &order->user_id;
  if (const auto* step = std::get_if<OrderStep>(&body)) return &step->user_id;
  if (const auto* refund = std::get_if<Refund>(&body)) return &refund->user_id;
  return nullptr;
}

std::string Command::key() const {
  if (const auto* user = wallet_user()) return wallet_key(*user);
  return event_id();
}

std::string wallet_key(std::string_view user_id) { return "wallet/" + std::string(user_id); }

std::string_view Command::type() const {
  using namespace decision_type;
  static constexpr std::array<std::string_view, 18> kNames{
      kCreateEvent, kClaim, kCloseEvent, kConfirm, kCancel,    kTick,     kDeleteEvent, kJoin,     kCharge,
      kReward,      kOrder, kReserve,    kRedeem,  kOrderStep, kFinalize, kRelease,     kUnredeem, kRefund};
  static_assert(kNames.size() == std::variant_size_v<decltype(body)>);
  return kNames[body.index()];
}

std::string_view to_string(EventMode mode) { return name_in(kModeNames, mode, event_mode::kFcfs); }
std::optional<EventMode> mode_from_string(std::string_view s) { return value_in(kModeNames, s); }
std::string_view to_string(Outcome outcome) { return name_in(kOutcomeNames, outcome, "unknown"); }
std::optional<Outcome> outcome_from_string(std::string_view s) { return value_in(kOutcomeNames, s); }

namespace {

// The commands an order's saga appends (OrderPart and what each adds).
bool is_order_part(const Command& c) {
  return std::holds_alternative<Reserve>(c.body) || std::holds_alternative<Redeem>(c.body) ||
         std::holds_alternative<OrderStep>(c.body) || std::holds_alternative<Finalize>(c.body) ||
         std::holds_alternative<Release>(c.body) || std::holds_alternative<Unredeem>(c.body) ||
         std::holds_alternative<Refund>(c.body);
}

void encode_order_part(const Command& c, json& j) {
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_base_of_v<OrderPart, T>) {
          if (!b.event_id.empty()) j["event_id"] = b.event_id;
          j["user_id"] = b.user_id;
          j["order_id"] = b.order_id;
          j["line"] = b.line;
          if constexpr (std::is_same_v<T, Reserve>) {
            j["qty"] = b.qty;
            if (!b.seat.empty()) j["seat"] = b.seat;
          }
          if constexpr (std::is_same_v<T, Redeem> || std::is_same_v<T, Unredeem>) {
            j["claim_request_id"] = b.claim_request_id;
          }
          if constexpr (std::is_same_v<T, Finalize> || std::is_same_v<T, Refund>) j["amount"] = b.amount;
          if constexpr (std::is_same_v<T, Finalize> || std::is_same_v<T, Release>) {
            if (!b.seat.empty()) j["seat"] = b.seat;
          }
          if constexpr (std::is_same_v<T, OrderStep>) {
            j["outcome"] = to_string(b.outcome);
            j["amount"] = b.amount;
            if (b.discount.amount > 0) j["discount_amount"] = b.discount.amount;
            if (b.discount.percent > 0) j["discount_percent"] = b.discount.percent;
            if (b.discount.cap > 0) j["discount_cap"] = b.discount.cap;
          }
        }
      },
      c.body);
}

// Reads the OrderPart fields of a saga command of `type`; the event id is required where the step is an
// event's (reserve, redeem, finalize, release, unredeem), absent where it is the wallet's.
template <typename T>
T decode_order_part(const json& j, bool on_event) {
  T part;
  part.event_id = on_event ? field<std::string>(j, "event_id") : "";
  part.user_id = field<std::string>(j, "user_id");
  part.order_id = field<std::string>(j, "order_id");
  part.line = field<int32_t>(j, "line");
  if (on_event && !valid_topic_event_id(part.event_id)) throw DecodeError("invalid event_id");
  if (!valid_user_id(part.user_id)) throw DecodeError("invalid user_id");
  if (!valid_request_id(part.order_id)) throw DecodeError("invalid order_id");
  if (part.line < 0 || part.line > static_cast<int32_t>(kMaxOrderItems)) throw DecodeError("invalid line");
  return part;
}

int64_t money_field(const json& j, const char* name, int64_t max) {
  auto v = field<int64_t>(j, name);
  if (v < 0 || v > max) throw DecodeError(std::string("invalid ") + name);
  return v;
}

Order decode_order(const json& j) {
  Order order;
  order.user_id = field<std::string>(j, "user_id");
  if (!valid_user_id(order.user_id)) throw DecodeError("invalid user_id");
  auto items = field<json>(j, "items");
  if (!items.is_array() || items.empty() || items.size() > kMaxOrderItems) {
    throw DecodeError("items must hold 1 to " + std::to_string(kMaxOrderItems) + " items");
  }
  for (const auto& item : items) {
    if (!item.is_object()) throw DecodeError("an item is an object");
    if (item.contains("qty") && !item.at("qty").is_number_integer()) throw DecodeError("qty must be an integer");
    OrderItem line{field<std::string>(item, "event_id"), optional_field<int64_t>(item, "qty").value_or(1),
                   optional_field<std::string>(item, "seat").value_or("")};
    if (!valid_event_id(line.event_id)) throw DecodeError("invalid item event_id");
    if (line.qty < 1 || line.qty > kMaxOrderQty) throw DecodeError("qty must be 1.." + std::to_string(kMaxOrderQty));
    if (item.contains("seat") && !valid_seat(line.seat)) throw DecodeError("seat must match [A-Za-z0-9._-]{1,16}");
    if (!line.seat.empty() && line.qty != 1) throw DecodeError("a seat's line has qty 1");
    order.items.push_back(std::move(line));
  }
  if (auto coupon = optional_field<json>(j, "coupon")) {
    if (!coupon->is_object()) throw DecodeError("coupon is an object");
    OrderCoupon c{field<std::string>(*coupon, "event_id"), field<std::string>(*coupon, "claim_request_id")};
    if (!valid_event_id(c.event_id)) throw DecodeError("invalid coupon event_id");  // not a mega event's slice
    if (!valid_request_id(c.claim_request_id)) throw DecodeError("invalid coupon claim_request_id");
    order.coupon = std::move(c);
  }
  return order;
}

}  // namespace

std::string encode(const Command& c) {
  if (const auto* claim = std::get_if<Claim>(&c.body); claim && claim->seat.empty() && valid_request_id(c.request_id) &&
                                                       valid_topic_event_id(claim->event_id) &&
                                                       valid_user_id(claim->user_id)) {
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
    s += R"(","type":")";
    s += decision_type::kClaim;
    s += R"(","user_id":")";
    s += claim->user_id;
    s += "\"}";
    return s;
  }
  json j{{"request_id", c.request_id}, {"received_at", c.received_at}, {"type", c.type()}};
  if (const auto* e = std::get_if<CreateEvent>(&c.body)) {
    j.update(event_to_json(*e));
  } else if (const auto* claim = std::get_if<Claim>(&c.body)) {
    j["event_id"] = claim->event_id;
    j["user_id"] = claim->user_id;
    if (!claim->seat.empty()) j["seat"] = claim->seat;
  } else if (const auto* close = std::get_if<CloseEvent>(&c.body)) {
    j["event_id"] = close->event_id;
  } else if (const auto* del = std::get_if<DeleteEvent>(&c.body)) {
    j["event_id"] = del->event_id;
  } else if (const auto* join = std::get_if<Join>(&c.body)) {
    j["event_id"] = join->event_id;
    j["user_id"] = join->user_id;
  } else if (const auto* charge = std::get_if<Charge>(&c.body)) {
    j["user_id"] = charge->user_id;
    j["amount"] = charge->amount;
  } else if (const auto* reward = std::get_if<Reward>(&c.body)) {
    j["user_id"] = reward->user_id;
    j["amount"] = reward->amount;
    j["claim_request_id"] = reward->claim_request_id;
    j["coupon_seq"] = reward->coupon_seq;
  } else if (const auto* order = std::get_if<Order>(&c.body)) {
    j["user_id"] = order->user_id;
    json items = json::array();
    for (const auto& item : order->items) {
      json line{{"event_id", item.event_id}, {"qty", item.qty}};
      if (!item.seat.empty()) line["seat"] = item.seat;
      items.push_back(std::move(line));
    }
    j["items"] = std::move(items);
    if (order->coupon) {
      j["coupon"] = {{"event_id", order->coupon->event_id}, {"claim_request_id", order->coupon->claim_request_id}};
    }
  } else if (is_order_part(c)) {
    encode_order_part(c, j);
  } else if (std::holds_alternative<Confirm>(c.body) || std::holds_alternative<Cancel>(c.body)) {
    const auto& a = std::holds_alternative<Confirm>(c.body) ? static_cast<const HoldAction&>(std::get<Confirm>(c.body))
                                                            : std::get<Cancel>(c.body);
    j["event_id"] = a.event_id;
    j["claim_request_id"] = a.claim_request_id;
    j["user_id"] = a.user_id;
  }
  return j.dump();
}

namespace {

// One member of a flat JSON object as the services write their hot records: a plain ASCII string (no escapes,
// no control characters) or an integer (no fraction, exponent or leading zero).
struct FlatMember {
  std::string_view key;
  std::string_view text;          // a string's characters
  std::optional<int64_t> number;  // set when the value is an integer
};

// Calls on(member) for each member of the object `text`, in order, while it returns true. False when `text` is
// not such a flat object (escapes, nested values, floats, null, booleans, trailing text) or `on` refused a member:
// the caller then goes the JSON library's way, which decides. So a fast path built on it accepts and rejects
// exactly what the full parser does, as long as it refuses (rather than judges) whatever it does not expect.
template <typename OnMember>
bool scan_flat_object(std::string_view text, OnMember&& on) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
  };
  auto plain_string = [&](std::string_view& out) {
    if (i >= text.size() || text[i] != '"') return false;
    size_t start = ++i;
    while (i < text.size() && text[i] != '"') {
      auto c = static_cast<unsigned char>(text[i]);
      if (c == '\\' || c < 0x20 || c >= 0x80) return false;
      ++i;
    }
    if (i >= text.size()) return false;
    out = text.substr(start, i - start);
    ++i;
    return true;
  };
  auto integer = [&](int64_t& out) {
    const size_t digits = i < text.size() && text[i] == '-' ? i + 1 : i;
    if (digits + 1 < text.size() && text[digits] == '0' && text[digits + 1] >= '0' && text[digits + 1] <= '9') {
      return false;  // a leading zero, which JSON does not allow
    }
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), out);
    if (ec != std::errc() || end == text.data() + i) return false;
    i = static_cast<size_t>(end - text.data());
    return i >= text.size() || (text[i] != '.' && text[i] != 'e' && text[i] != 'E');
  };
  skip_ws();
  if (i >= text.size() || text[i++] != '{') return false;
  for (;;) {
    skip_ws();
    FlatMember m;
    if (!plain_string(m.key)) return false;
    skip_ws();
    if (i >= text.size() || text[i++] != ':') return false;
    skip_ws();
    if (i < text.size() && text[i] == '"') {
      if (!plain_string(m.text)) return false;
    } else {
      int64_t v = 0;
      if (!integer(v)) return false;
      m.number = v;
    }
    if (!on(m)) return false;
    skip_ws();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}') break;
    return false;
  }
  ++i;
  skip_ws();
  return i == text.size();
}

// The common case on the processor's hot path, a claim as the ingress writes it. Anything else (extra or
// repeated keys, a create_event, see scan_flat_object) returns nullopt and goes through the full JSON parser;
// the same validators run on what this returns, so both paths accept and reject the same commands.
std::optional<Command> decode_plain_claim(std::string_view text) {
  std::string_view event_id, user_id, request_id, type;
  std::optional<int64_t> received_at;
  int seen = 0;
  const bool flat = scan_flat_object(text, [&](const FlatMember& m) {
    ++seen;
    if (m.key == "received_at") {
      if (!m.number || received_at) return false;
      received_at = m.number;
      return true;
    }
    std::string_view* slot = m.key == "event_id"     ? &event_id
                             : m.key == "user_id"    ? &user_id
                             : m.key == "request_id" ? &request_id
                             : m.key == "type"       ? &type
                                                     : nullptr;
    if (m.number || !slot || slot->data() != nullptr) return false;
    *slot = m.text;
    return true;
  });
  if (!flat || seen != 5 || type != decision_type::kClaim || !received_at || !event_id.data() || !user_id.data() ||
      !request_id.data()) {
    return std::nullopt;
  }
  Command c;
  c.request_id = std::string(request_id);
  c.received_at = *received_at;
  c.body = Claim{std::string(event_id), std::string(user_id)};
  return c;
}

void validate_claim(const Command& c) {
  const auto& claim = std::get<Claim>(c.body);
  if (!valid_topic_event_id(claim.event_id)) throw DecodeError("invalid event_id");
  if (!valid_user_id(claim.user_id)) throw DecodeError("invalid user_id");
}

}  // namespace

Command decode_command(std::string_view text) {
  if (auto fast = decode_plain_claim(text)) {
    if (!valid_request_id(fast->request_id)) throw DecodeError("invalid request_id");
    validate_claim(*fast);
    return std::move(*fast);
  }
  json j = parse(text);
  using namespace decision_type;  // the command types
  Command c;
  c.request_id = field<std::string>(j, "request_id");
  c.received_at = field<int64_t>(j, "received_at");
  if (!valid_request_id(c.request_id)) throw DecodeError("invalid request_id");
  auto type = field<std::string>(j, "type");
  if (type == kCreateEvent) {
    c.body = event_from_json(j);
  } else if (type == kClaim) {
    c.body = Claim{field<std::string>(j, "event_id"), field<std::string>(j, "user_id"),
                   optional_field<std::string>(j, "seat").value_or("")};
    validate_claim(c);
    if (j.contains("seat") && !valid_seat(std::get<Claim>(c.body).seat)) throw DecodeError("invalid seat");
  } else if (type == kJoin) {
    Join join{field<std::string>(j, "event_id"), field<std::string>(j, "user_id")};
    if (!valid_event_id(join.event_id)) throw DecodeError("invalid event_id");
    if (!valid_user_id(join.user_id)) throw DecodeError("invalid user_id");
    c.body = std::move(join);
  } else if (type == kCloseEvent || type == kDeleteEvent) {
    auto event_id = field<std::string>(j, "event_id");
    if (!valid_topic_event_id(event_id)) throw DecodeError("invalid event_id");
    if (type == kCloseEvent) {
      c.body = CloseEvent{std::move(event_id)};
    } else {
      c.body = DeleteEvent{std::move(event_id)};
    }
  } else if (type == kConfirm || type == kCancel) {
    HoldAction a{field<std::string>(j, "event_id"), field<std::string>(j, "claim_request_id"),
                 field<std::string>(j, "user_id")};
    if (!valid_topic_event_id(a.event_id)) throw DecodeError("invalid event_id");
    if (!valid_request_id(a.claim_request_id)) throw DecodeError("invalid claim_request_id");
    if (!valid_user_id(a.user_id)) throw DecodeError("invalid user_id");
    if (type == kConfirm) {
      c.body = Confirm{std::move(a)};
    } else {
      c.body = Cancel{std::move(a)};
    }
  } else if (type == kCharge) {
    Charge charge{"", field<std::string>(j, "user_id"), field<int64_t>(j, "amount")};
    if (!valid_user_id(charge.user_id)) throw DecodeError("invalid user_id");
    if (charge.amount < 1 || charge.amount > kMaxChargeAmount) throw DecodeError("invalid amount");
    c.body = std::move(charge);
  } else if (type == kReward) {
    Reward reward{"", field<std::string>(j, "user_id"), field<int64_t>(j, "amount"),
                  field<std::string>(j, "claim_request_id"), field<int64_t>(j, "coupon_seq")};
    if (!valid_user_id(reward.user_id)) throw DecodeError("invalid user_id");
    if (!valid_request_id(reward.claim_request_id)) throw DecodeError("invalid claim_request_id");
    if (reward.amount < 1 || reward.amount > 2 * kMaxRewardAverage || reward.coupon_seq < 1) {
      throw DecodeError("invalid reward");
    }
    c.body = std::move(reward);
  } else if (type == kOrder) {
    c.body = decode_order(j);
  } else if (type == kReserve) {
    auto r = decode_order_part<Reserve>(j, true);
    r.qty = field<int64_t>(j, "qty");
    if (r.qty < 1 || r.qty > kMaxOrderQty) throw DecodeError("invalid qty");
    r.seat = optional_field<std::string>(j, "seat").value_or("");
    if (j.contains("seat") && (!valid_seat(r.seat) || r.qty != 1)) throw DecodeError("invalid seat");
    c.body = std::move(r);
  } else if (type == kRedeem || type == kUnredeem) {
    auto claim = field<std::string>(j, "claim_request_id");
    if (!valid_request_id(claim)) throw DecodeError("invalid claim_request_id");
    if (type == kRedeem) {
      auto r = decode_order_part<Redeem>(j, true);
      r.claim_request_id = std::move(claim);
      c.body = std::move(r);
    } else {
      auto u = decode_order_part<Unredeem>(j, true);
      u.claim_request_id = std::move(claim);
      c.body = std::move(u);
    }
  } else if (type == kFinalize) {
    auto f = decode_order_part<Finalize>(j, true);
    f.amount = money_field(j, "amount", kMaxOrderQty * kMaxPrice);
    f.seat = optional_field<std::string>(j, "seat").value_or("");
    if (j.contains("seat") && !valid_seat(f.seat)) throw DecodeError("invalid seat");
    c.body = std::move(f);
  } else if (type == kRelease) {
    auto release = decode_order_part<Release>(j, true);
    release.seat = optional_field<std::string>(j, "seat").value_or("");
    if (j.contains("seat") && !valid_seat(release.seat)) throw DecodeError("invalid seat");
    c.body = std::move(release);
  } else if (type == kRefund) {
    auto m = decode_order_part<Refund>(j, false);
    m.amount = money_field(j, "amount", kMaxOrderQty * kMaxPrice);
    c.body = std::move(m);
  } else if (type == kOrderStep) {
    auto step = decode_order_part<OrderStep>(j, false);
    auto outcome = outcome_from_string(field<std::string>(j, "outcome"));
    if (!outcome) throw DecodeError("unknown outcome");
    step.outcome = *outcome;
    step.amount = money_field(j, "amount", kMaxOrderQty * kMaxPrice);
    step.discount.amount = optional_field<int64_t>(j, "discount_amount").value_or(0);
    step.discount.percent = optional_field<int32_t>(j, "discount_percent").value_or(0);
    step.discount.cap = optional_field<int64_t>(j, "discount_cap").value_or(0);
    c.body = std::move(step);
  } else if (type == kTick) {
    c.body = Tick{};
  } else {
    throw DecodeError("unknown command type " + type);
  }
  return c;
}

namespace {

// A JSON object written straight into a string: decisions are encoded once per command on the
// processor's hot path, where building a DOM first cost more than deciding. Keys must come in the
// order the caller wants them (sorted, as nlohmann's std::map objects print them).
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  void field(std::string_view key, std::string_view value) {
    start(key);
    out_ += '"';
    escape(value);
    out_ += '"';
  }
  void field(std::string_view key, int64_t value) {
    start(key);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, end);
  }
  // Opens a nested object under `key`; the caller fills it and closes it with end().
  ObjectWriter object(std::string_view key) {
    start(key);
    return ObjectWriter(out_);
  }
  void field(std::string_view key, const std::vector<std::string>& values) {
    start(key);
    out_ += '[';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += '"';
      escape(values[i]);
      out_ += '"';
    }
    out_ += ']';
  }
  void end() { out_ += '}'; }

 private:
  void start(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += key;  // our own keys: nothing to escape
    out_ += "\":";
  }
  void escape(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : s) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            out_ += "\\u00";
            out_ += kHex[(c >> 4) & 0xf];
            out_ += kHex[c & 0xf];
          } else {
            out_ += c;  // UTF-8 passes through, as nlohmann's dump() does
          }
      }
    }
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace

std::string encode(const Decision& d) {
  std::string out;
  out.reserve(320);
  ObjectWriter j(out);
  if (!d.claim_request_id.empty()) j.field("claim_request_id", d.claim_request_id);
  if (d.admitted) j.field("admitted", *d.admitted);
  if (d.amount) j.field("amount", *d.amount);
  if (d.balance) j.field("balance", *d.balance);
  j.field("command_offset", d.command.offset);
  j.field("command_partition", d.command.partition);
  if (d.coupon_seq) j.field("coupon_seq", *d.coupon_seq);
  j.field("decided_at", d.decided_at);
  if (d.entries) j.field("entries", *d.entries);
  if (d.event) {
    auto e = j.object("event");
    if (d.event->admit_per_s > 0) e.field("admit_per_s", d.event->admit_per_s);
    if (d.event->closes_at) e.field("closes_at", *d.event->closes_at);
    if (d.event->coupon_expires_at) e.field("coupon_expires_at", *d.event->coupon_expires_at);
    if (d.event->discount_amount > 0) e.field("discount_amount", d.event->discount_amount);
    if (d.event->discount_cap > 0) e.field("discount_cap", d.event->discount_cap);
    if (d.event->discount_percent > 0) e.field("discount_percent", d.event->discount_percent);
    e.field("event_id", d.event->event_id);
    if (d.event->mode == EventMode::kHold) e.field("hold_ms", d.event->hold_ms);
    if (d.event->mode != EventMode::kFcfs) e.field("mode", to_string(d.event->mode));
    if (d.event->opens_at) e.field("opens_at", *d.event->opens_at);
    if (d.event->partitions != 1) e.field("partitions", d.event->partitions);
    e.field("per_user_limit", d.event->per_user_limit);
    if (d.event->pow_bits > 0) e.field("pow_bits", d.event->pow_bits);
    if (d.event->price > 0) e.field("price", d.event->price);
    if (d.event->reward_average > 0) e.field("reward_average", d.event->reward_average);
    if (d.event->seated()) e.field("seats", d.event->seats);
    e.field("stock", d.event->stock);
    e.field("title", d.event->title);
    if (d.event->total_stock) e.field("total_stock", *d.event->total_stock);
    e.end();
  }
  j.field("event_id", d.event_id);
  if (d.hold_expires_at) j.field("hold_expires_at", *d.hold_expires_at);
  if (d.line) j.field("line", *d.line);
  if (!d.order_id.empty()) j.field("order_id", d.order_id);
  j.field("outcome", to_string(d.outcome));
  if (d.qty) j.field("qty", *d.qty);
  if (d.reason) j.field("reason", to_string(*d.reason));
  j.field("received_at", d.received_at);
  j.field("remaining", d.remaining);
  j.field("request_id", d.request_id);
  if (!d.seat.empty()) j.field("seat", d.seat);
  if (d.ticket) j.field("ticket", *d.ticket);
  j.field("type", d.type);
  if (!d.user_id.empty() || d.type == decision_type::kClaim) j.field("user_id", d.user_id);
  j.end();
  return out;
}

namespace {

// The common case where every decision is read (the ingress's decisions reader, the sinks, allotctl verify): a
// flat decision of plain strings and integers, as encode() writes all but an event's creation. Anything else (an
// `event` object, escapes, null, an unknown or repeated key, a missing field, an unknown outcome or a number out
// of an int32 field's range) returns nullopt and goes through the full JSON parser, which then decides.
std::optional<Decision> decode_plain_decision(std::string_view text) {
  Decision d;
  uint32_t seen = 0;
  std::string_view outcome, reason;
  auto once = [&](int bit) {
    if (seen & (1u << bit)) return false;
    seen |= 1u << bit;
    return true;
  };
  auto string_to = [&](const FlatMember& m, int bit, std::string& out) {
    if (m.number || !once(bit)) return false;
    out = std::string(m.text);
    return true;
  };
  auto view_to = [&](const FlatMember& m, int bit, std::string_view& out) {
    if (m.number || !once(bit)) return false;
    out = m.text;
    return true;
  };
  // An int32 field (command_partition, line) is read as the full parser's field<int32_t> reads it; a value out of
  // its range goes that way too.
  auto number_to = [&](const FlatMember& m, int bit, auto& out) {
    using T = std::remove_reference_t<decltype(out)>;
    using V =
        std::conditional_t<std::is_same_v<T, std::optional<int32_t>> || std::is_same_v<T, int32_t>, int32_t, int64_t>;
    if (!m.number || !once(bit)) return false;
    if (*m.number < std::numeric_limits<V>::min() || *m.number > std::numeric_limits<V>::max()) return false;
    out = static_cast<V>(*m.number);
    return true;
  };
  const bool flat = scan_flat_object(text, [&](const FlatMember& m) {
    const auto& k = m.key;
    if (k == "type") return string_to(m, 0, d.type);
    if (k == "request_id") return string_to(m, 1, d.request_id);
    if (k == "event_id") return string_to(m, 2, d.event_id);
    if (k == "outcome") return view_to(m, 3, outcome);
    if (k == "remaining") return number_to(m, 4, d.remaining);
    if (k == "command_partition") return number_to(m, 5, d.command.partition);
    if (k == "command_offset") return number_to(m, 6, d.command.offset);
    if (k == "decided_at") return number_to(m, 7, d.decided_at);
    if (k == "user_id") return string_to(m, 8, d.user_id);
    if (k == "received_at") return number_to(m, 9, d.received_at);
    if (k == "coupon_seq") return number_to(m, 10, d.coupon_seq);
    if (k == "hold_expires_at") return number_to(m, 11, d.hold_expires_at);
    if (k == "claim_request_id") return string_to(m, 12, d.claim_request_id);
    if (k == "entries") return number_to(m, 13, d.entries);
    if (k == "ticket") return number_to(m, 14, d.ticket);
    if (k == "admitted") return number_to(m, 15, d.admitted);
    if (k == "amount") return number_to(m, 16, d.amount);
    if (k == "balance") return number_to(m, 17, d.balance);
    if (k == "order_id") return string_to(m, 18, d.order_id);
    if (k == "line") return number_to(m, 19, d.line);
    if (k == "qty") return number_to(m, 20, d.qty);
    if (k == "seat") return string_to(m, 21, d.seat);
    if (k == "reason") return view_to(m, 22, reason);
    return false;
  });
  constexpr uint32_t kRequired = (1u << 8) - 1;  // type .. decided_at
  if (!flat || (seen & kRequired) != kRequired) return std::nullopt;
  auto known = outcome_from_string(outcome);
  if (!known) return std::nullopt;
  d.outcome = *known;
  if (seen & (1u << 22)) {
    d.reason = outcome_from_string(reason);
    if (!d.reason) return std::nullopt;
  }
  return d;
}

}  // namespace

Decision decode_decision(std::string_view text) {
  if (auto plain = decode_plain_decision(text)) return std::move(*plain);
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
  d.hold_expires_at = optional_field<int64_t>(j, "hold_expires_at");
  d.claim_request_id = optional_field<std::string>(j, "claim_request_id").value_or("");
  d.entries = optional_field<int64_t>(j, "entries");
  d.ticket = optional_field<int64_t>(j, "ticket");
  d.admitted = optional_field<int64_t>(j, "admitted");
  d.amount = optional_field<int64_t>(j, "amount");
  d.balance = optional_field<int64_t>(j, "balance");
  d.order_id = optional_field<std::string>(j, "order_id").value_or("");
  d.line = optional_field<int32_t>(j, "line");
  d.qty = optional_field<int64_t>(j, "qty");
  d.seat = optional_field<std::string>(j, "seat").value_or("");
  if (auto reason = optional_field<std::string>(j, "reason")) {
    d.reason = outcome_from_string(*reason);
    if (!d.reason) throw DecodeError("unknown reason");
  }
  if (j.contains("event") && j.at("event").is_object()) d.event = event_from_json(j.at("event"));
  return d;
}

namespace {
// A seat map's rules (README "Seats").
std::optional<std::string> seats_error(const CreateEvent& e) {
  if (!e.seated()) return std::nullopt;
  if (e.mode != EventMode::kHold) return "seats are for events with mode hold";
  if (e.seats.size() > kMaxSeats) return "an event has at most " + std::to_string(kMaxSeats) + " seats";
  if (e.stock != static_cast<int64_t>(e.seats.size())) return "a seated event's stock is its number of seats";
  if (e.price < 0 || e.price > kMaxPrice) return "price must be cents from 0 to " + std::to_string(kMaxPrice);
  if (e.partitions != 1 || e.reward_average > 0 || e.has_coupons()) {
    return "a seated event has no partitions, rewards or coupons";
  }
  std::vector<std::string_view> sorted(e.seats.begin(), e.seats.end());
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (!valid_seat(sorted[i])) return "a seat is named [A-Za-z0-9._-]{1,16}";
    if (i > 0 && sorted[i] == sorted[i - 1]) return "seat " + std::string(sorted[i]) + " is listed twice";
  }
  return std::nullopt;
}
}  // namespace

bool valid_seat(std::string_view seat) {
  if (seat.empty() || seat.size() > 16) return false;
  for (char c : seat) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> commerce_error(const CreateEvent& e) {
  if (e.mode == EventMode::kSale) {
    if (e.price < 1 || e.price > kMaxPrice) return "a sale event needs price from 1 to " + std::to_string(kMaxPrice);
    if (e.partitions != 1 || e.admit_per_s > 0 || e.reward_average > 0 || e.has_coupons()) {
      return "a sale event has no partitions, waiting room, rewards or coupons";
    }
  } else if (e.price != 0 && !e.seated()) {
    return "price is for events with mode sale, or with seats";
  }
  if (auto why = seats_error(e)) return why;
  if (e.discount_amount < 0 || e.discount_amount > kMaxChargeAmount) {
    return "discount_amount must be cents from 0 to " + std::to_string(kMaxChargeAmount);
  }
  if (e.discount_percent < 0 || e.discount_percent > 100) return "discount_percent must be from 0 to 100";
  if (e.discount_cap < 0 || e.discount_cap > kMaxChargeAmount) {
    return "discount_cap must be cents from 0 to " + std::to_string(kMaxChargeAmount);
  }
  // A cap without a percent and an expiry without a discount are ignored (topics::discount_off).
  if (e.discount_amount > 0 && e.discount_percent > 0) return "a coupon gives discount_amount or discount_percent";
  // A mega event's units are issued under its slices' ids, which an order's coupon cannot name.
  if (e.has_coupons() && e.partitions > 1) return "a mega event (partitions above 1) gives no coupons";
  return std::nullopt;
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
