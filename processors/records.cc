#include "processors/records.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace allot::processors {

// An event's record:
// "e3|stock|limit|issued|opens|closes|mode|hold_ms|held|entries|stream_time|closed|title" (an absent
// window bound is empty; the title comes last, so it may contain anything); a deleted event's record is
// "e4|" with a field deleted (1) before the title, so a live event's record stays readable by the
// binaries before delete_event. An event with a waiting room is "e5|": e4's fields, then admit_per_s,
// queue_open, queue_start, prequeued, tickets, admitted, window, window_admitted before the title. Older
// records ("e2|stock|limit|issued|opens|closes|title", or JSON objects) are still read.
std::string encode_event(const EventState& e) {
  const bool queue = e.spec.admit_per_s > 0;
  std::string out = queue ? "e5|" : e.deleted ? "e4|" : "e3|";
  auto num = [&](int64_t v) {
    out += std::to_string(v);
    out += '|';
  };
  auto opt = [&](const std::optional<int64_t>& v) {
    if (v) out += std::to_string(*v);
    out += '|';
  };
  num(e.spec.stock);
  num(e.spec.per_user_limit);
  num(e.issued);
  opt(e.spec.opens_at);
  opt(e.spec.closes_at);
  out += topics::to_string(e.spec.mode);
  out += '|';
  num(e.spec.hold_ms);
  num(e.held);
  num(e.entries);
  num(e.stream_time);
  num(e.closed ? 1 : 0);
  if (e.deleted || queue) num(e.deleted ? 1 : 0);
  if (queue) {
    num(e.spec.admit_per_s);
    num(e.queue_open ? 1 : 0);
    for (int64_t v : {e.queue_start, e.prequeued, e.tickets, e.admitted, e.window, e.window_admitted}) num(v);
  }
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
  if (ec != std::errc() || end != field.data() + field.size()) {
    throw std::runtime_error("corrupt event record");
  }
  return v;
}

}  // namespace

EventState decode_event(std::string_view value) {
  const bool v5 = value.starts_with("e5|");
  const bool v4 = v5 || value.starts_with("e4|");
  const bool v3 = v4 || value.starts_with("e3|");
  if (!v3 && !value.starts_with("e2|")) return decode_event_json(value);
  std::string_view rest = value.substr(3);
  EventState e;
  e.spec.stock = to_int(next_field(rest));
  e.spec.per_user_limit = to_int(next_field(rest));
  e.issued = to_int(next_field(rest));
  if (auto f = next_field(rest); !f.empty()) e.spec.opens_at = to_int(f);
  if (auto f = next_field(rest); !f.empty()) e.spec.closes_at = to_int(f);
  if (v3) {
    auto mode = topics::mode_from_string(next_field(rest));
    if (!mode) throw std::runtime_error("corrupt event record");
    e.spec.mode = *mode;
    e.spec.hold_ms = to_int(next_field(rest));
    e.held = to_int(next_field(rest));
    e.entries = to_int(next_field(rest));
    e.stream_time = to_int(next_field(rest));
    e.closed = to_int(next_field(rest)) != 0;
  }
  if (v4) e.deleted = to_int(next_field(rest)) != 0;
  if (v5) {
    e.spec.admit_per_s = to_int(next_field(rest));
    e.queue_open = to_int(next_field(rest)) != 0;
    for (int64_t* v : {&e.queue_start, &e.prequeued, &e.tickets, &e.admitted, &e.window, &e.window_admitted}) {
      *v = to_int(next_field(rest));
    }
  }
  e.spec.title = std::string(rest);
  return e;
}

namespace {

// A hold's and a join's record have one form, "text|text|number" (a hold's or a reservation's written by
// 761bd4e..98ab079 adds "|seat").
struct Fields {
  std::string first, second;
  int64_t number = 0;
  std::string extra{};
};
std::string encode_fields(const std::string& first, const std::string& second, int64_t number) {
  return first + "|" + second + "|" + std::to_string(number);
}
Fields decode_fields(std::string_view v) {
  Fields f;
  f.first = std::string(next_field(v));
  f.second = std::string(next_field(v));
  if (auto bar = v.find('|'); bar != std::string_view::npos) {
    f.extra = std::string(v.substr(bar + 1));
    v = v.substr(0, bar);
  }
  f.number = to_int(v);
  return f;
}

}  // namespace

std::string encode_hold(const Hold& h) { return encode_fields(h.state, h.user_id, h.expires_at); }
Hold decode_hold(std::string_view v) {
  auto f = decode_fields(v);
  return {std::move(f.first), std::move(f.second), f.number, std::move(f.extra)};
}

std::vector<QueuedHold> decode_queue(const std::optional<std::string>& v) {
  std::vector<QueuedHold> q;
  if (!v) return q;
  std::string_view rest = *v;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    auto a = line.find(' '), b = line.rfind(' ');
    if (a == std::string_view::npos || a == b) throw std::runtime_error("corrupt hold queue");
    q.push_back(
        {to_int(line.substr(0, a)), std::string(line.substr(a + 1, b - a - 1)), std::string(line.substr(b + 1))});
  }
  return q;
}
std::string encode_queue(const std::vector<QueuedHold>& q) {
  std::string out;
  for (const auto& h : q) out += std::to_string(h.expires_at) + " " + h.request_id + " " + h.user_id + "\n";
  return out;
}

std::string encode_join(const JoinRecord& j) { return encode_fields(j.state, j.request_id, j.ticket); }
JoinRecord decode_join(std::string_view v) {
  auto f = decode_fields(v);
  return {std::move(f.first), std::move(f.second), f.number};
}

std::string encode_rewards(const RewardsRecord& r) {
  return std::to_string(r.average) + " " + std::to_string(r.count) + " " + std::to_string(r.sum);
}
RewardsRecord decode_rewards(std::string_view v) {
  auto a = v.find(' '), b = v.rfind(' ');
  if (a == std::string_view::npos || a == b) throw std::runtime_error("corrupt rewards record");
  return {to_int(v.substr(0, a)), to_int(v.substr(a + 1, b - a - 1)), to_int(v.substr(b + 1))};
}

std::string encode_terms(const Terms& t) {
  return std::to_string(t.price) + " " + std::to_string(t.discount.amount) + " " + std::to_string(t.discount.percent) +
         " " + std::to_string(t.discount.cap) + " " + std::to_string(t.coupon_expires_at.value_or(-1)) +
         (t.seats > 0 ? " " + std::to_string(t.seats) : "");
}
Terms decode_terms(std::string_view v) {
  int64_t f[5];
  for (auto& field : f) {
    auto space = v.find(' ');
    field = to_int(v.substr(0, space));
    v.remove_prefix(space == std::string_view::npos ? v.size() : space + 1);
  }
  Terms t{f[0], {f[1], static_cast<int32_t>(f[2]), f[3]}, std::nullopt};
  if (f[4] >= 0) t.coupon_expires_at = f[4];
  if (!v.empty()) t.seats = to_int(v);
  return t;
}

std::string encode_reservation(const Reservation& r) { return encode_fields(r.state, r.user_id, r.qty); }
Reservation decode_reservation(std::string_view v) {
  auto f = decode_fields(v);
  return {std::move(f.first), std::move(f.second), f.number, std::move(f.extra)};
}

std::string encode_seat(const Seat& s) {
  return s.state + "|" + s.user_id + "|" + s.claim_request_id + "|" + s.order_id;
}
Seat decode_seat(std::string_view v) {
  Seat s;
  s.state = std::string(next_field(v));
  s.user_id = std::string(next_field(v));
  s.claim_request_id = std::string(next_field(v));
  s.order_id = std::string(v);
  return s;
}

std::string encode_coupon(const Coupon& c) { return c.state + "|" + c.user_id + "|" + c.order_id; }
Coupon decode_coupon(std::string_view v) {
  Coupon c;
  c.state = std::string(next_field(v));
  c.user_id = std::string(next_field(v));
  c.order_id = std::string(v);
  return c;
}

std::string encode_place(std::string_view request_id, std::string_view user_id) {
  std::string out(request_id);
  out += ' ';
  out += user_id;
  return out;
}

std::vector<std::string> split_lines(const std::optional<std::string>& v) {
  std::vector<std::string> out;
  if (!v) return out;
  std::string_view rest = *v;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    if (nl != 0) out.emplace_back(rest.substr(0, nl));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  }
  return out;
}

}  // namespace allot::processors
