#include "processors/domain.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>

#include "processors/keys.h"
#include "topics/draw.h"

namespace allot::processors {

using topics::Outcome;

// An event's record is internal (only processors read it, from RocksDB and the changelog), and read on
// every claim: a flat text form is parsed far faster than JSON.
// "e3|stock|limit|issued|opens|closes|mode|hold_ms|held|entries|stream_time|closed|title" (an absent
// window bound is empty; the title comes last, so it may contain anything); a deleted event's record is
// "e4|" with a field deleted (1) before the title, so a live event's record stays readable by the
// binaries before delete_event. An event with a waiting room is "e5|": e4's fields, then admit_per_s,
// queue_open, queue_start, prequeued, tickets, admitted, window, window_admitted before the title. Older records
// ("e2|stock|limit|issued|opens|closes|title", or JSON objects) are still read.
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
  if (ec != std::errc() || end != field.data() + field.size()) throw std::runtime_error("corrupt event record");
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

using topics::EventMode;

// The records one decide() call reads and changes: its own changes first, then the state. A claim changes
// three keys, searched from the back of a vector; a tick that expires many holds or a draw changes many,
// so past a few dozen an index keeps each lookup constant.
class Changes {
 public:
  explicit Changes(const StateView& state) : state_(state) {}
  std::optional<std::string> get(const std::string& key) const {
    if (!index_.empty()) {
      if (auto it = index_.find(key); it != index_.end()) return writes_[it->second].value;
      return state_.get(key);
    }
    for (auto it = writes_.rbegin(); it != writes_.rend(); ++it) {
      if (it->key == key) return it->value;
    }
    return state_.get(key);
  }
  // The state's records under `prefix`, without this call's own changes (delete_event scans first).
  void scan(std::string_view prefix, const StateView::OnRecord& on_record) const { state_.scan(prefix, on_record); }
  void put(std::string key, std::string value) { record(std::move(key), std::move(value)); }
  void erase(std::string key) { record(std::move(key), std::nullopt); }
  std::vector<StateWrite> take() { return std::move(writes_); }

 private:
  void record(std::string key, std::optional<std::string> value) {
    writes_.push_back({std::move(key), std::move(value)});
    if (!index_.empty()) {
      index_[writes_.back().key] = writes_.size() - 1;
    } else if (writes_.size() > kIndexFrom) {
      for (size_t i = 0; i < writes_.size(); ++i) index_[writes_[i].key] = i;
    }
  }
  static constexpr size_t kIndexFrom = 32;
  const StateView& state_;
  std::vector<StateWrite> writes_;  // in order; a key written twice keeps its last value when applied
  std::unordered_map<std::string, size_t> index_;  // key -> its last write, once there are many
};


// A hold's record, "state|user_id|expires_at", state one of held, confirmed, cancelled, expired.
struct Hold {
  std::string state;
  std::string user_id;
  int64_t expires_at = 0;
};
std::string encode_hold(const Hold& h) { return h.state + "|" + h.user_id + "|" + std::to_string(h.expires_at); }
Hold decode_hold(std::string_view v) {
  Hold h;
  h.state = std::string(next_field(v));
  h.user_id = std::string(next_field(v));
  h.expires_at = to_int(v);
  return h;
}

// An event's live holds in expiry order, one "expires_at request_id user_id" line each. Expiries are
// stream time + hold_ms and stream time never goes back, so claims append in order. At most `stock` lines.
struct QueuedHold {
  int64_t expires_at = 0;
  std::string request_id, user_id;
};
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
    q.push_back({to_int(line.substr(0, a)), std::string(line.substr(a + 1, b - a - 1)), std::string(line.substr(b + 1))});
  }
  return q;
}
std::string encode_queue(const std::vector<QueuedHold>& q) {
  std::string out;
  for (const auto& h : q) out += std::to_string(h.expires_at) + " " + h.request_id + " " + h.user_id + "\n";
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

// Whether an event needs ticks: a raffle until its draw, a hold event while it holds units, a waiting room
// until it opens and while someone waits in it.
bool waits_for_time(const EventState& e) {
  if (e.deleted) return false;
  const bool queue = e.spec.admit_per_s > 0 && (!e.queue_open || e.admitted < e.tickets);
  return queue || (e.spec.mode == EventMode::kRaffle && !e.closed) || (e.spec.mode == EventMode::kHold && e.held > 0);
}

// Whether the event's commands move its stream time (an fcfs event without a waiting room never needs it).
bool timed(const EventState& e) { return e.spec.mode != EventMode::kFcfs || e.spec.admit_per_s > 0; }

int64_t remaining_of(const EventState& e) { return e.spec.stock - e.issued - e.held; }

topics::Decision base_decision(const topics::Command& c, topics::CommandPosition position, int64_t now) {
  topics::Decision d;
  d.type = std::string(c.type());
  d.request_id = c.request_id;
  d.event_id = c.event_id();
  d.command = position;
  d.decided_at = now;
  d.received_at = c.received_at;
  return d;
}

std::optional<EventState> load_event(const Changes& state, const std::string& event_id) {
  auto v = state.get(event_key(event_id));
  if (!v) return std::nullopt;
  auto e = decode_event(*v);
  e.spec.event_id = event_id;
  return e;
}

// One decide() call: the command, where it sits, and what it changes and causes.
struct Ctx {
  Changes st;
  const topics::Command& c;
  topics::CommandPosition position;
  int64_t now;
  std::vector<topics::Decision> caused;
};

void add_timer(Ctx& x, const std::string& event_id) {
  auto timers = x.st.get(kTimersKey).value_or("");
  for (const auto& id : split_lines(timers)) {
    if (id == event_id) return;
  }
  x.st.put(kTimersKey, timers + event_id + "\n");
}

topics::Decision caused_decision(const Ctx& x, std::string_view type, const EventState& e, const std::string& request_id,
                                 const std::string& user_id, topics::Outcome outcome) {
  auto d = base_decision(x.c, x.position, x.now);
  d.type = std::string(type);
  d.request_id = request_id;
  d.event_id = e.spec.event_id;
  d.user_id = user_id;
  d.outcome = outcome;
  return d;
}

// A held unit goes back to stock (cancelled or expired): the holder may claim again.
void release(Ctx& x, EventState& e, const std::string& request_id, const std::string& user_id, int64_t expires_at,
             const char* state) {
  e.held -= 1;
  const auto ukey = user_key(e.spec.event_id, user_id);
  int64_t user_count = std::stoll(x.st.get(ukey).value_or("0"));
  x.st.put(ukey, std::to_string(std::max<int64_t>(0, user_count - 1)));
  x.st.put(hold_key(e.spec.event_id, request_id), encode_hold({state, user_id, expires_at}));
}

// Holds end when stream time reaches their expiry (a hold is live while stream time < expires_at).
void expire_holds(Ctx& x, EventState& e) {
  auto queue = decode_queue(x.st.get(hold_queue_key(e.spec.event_id)));
  size_t n = 0;
  while (n < queue.size() && queue[n].expires_at <= e.stream_time) {
    const auto& h = queue[n++];
    release(x, e, h.request_id, h.user_id, h.expires_at, "expired");
    auto d = caused_decision(x, topics::kHoldExpired, e, h.request_id, h.user_id, topics::Outcome::kExpired);
    d.remaining = remaining_of(e);
    x.caused.push_back(std::move(d));
  }
  if (n == 0) return;
  queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
  x.st.put(hold_queue_key(e.spec.event_id), encode_queue(queue));
}

// The raffle's draw, at this command's position (topics/draw.h): every entry learns won or lost.
void draw(Ctx& x, EventState& e) {
  auto winners = topics::draw_winners(topics::draw_seed(e.spec.event_id, x.position), e.entries, e.spec.stock);
  std::vector<int64_t> rank(static_cast<size_t>(e.entries), 0);
  for (size_t i = 0; i < winners.size(); ++i) rank[static_cast<size_t>(winners[i])] = static_cast<int64_t>(i) + 1;
  e.issued = static_cast<int64_t>(winners.size());
  e.closed = true;
  for (int64_t i = 0; i < e.entries; ++i) {
    auto entry = x.st.get(entry_key(e.spec.event_id, i));
    if (!entry) throw std::runtime_error("raffle entry missing: " + entry_key(e.spec.event_id, i));
    auto space = entry->find(' ');
    auto won = rank[static_cast<size_t>(i)] > 0;
    auto d = caused_decision(x, topics::kDrawResult, e, entry->substr(0, space), entry->substr(space + 1),
                             won ? topics::Outcome::kWon : topics::Outcome::kLost);
    if (won) d.coupon_seq = rank[static_cast<size_t>(i)];
    d.remaining = remaining_of(e);
    x.caused.push_back(std::move(d));
  }
}

// The waiting room (README "Waiting room"). A user's join record "w/<event>/<user>" is
// "state|join_request_id|ticket" (state pre, queued or admitted; ticket 0 while pre-queued); the pre-queue
// "wp/<event>/<i>" and the line "wq/<event>/<ticket>" hold "join_request_id user_id" until the opening
// and the admission use them.
struct JoinRecord {
  std::string state, request_id;
  int64_t ticket = 0;
};
std::string encode_join(const JoinRecord& j) { return j.state + "|" + j.request_id + "|" + std::to_string(j.ticket); }
JoinRecord decode_join(std::string_view v) {
  JoinRecord j;
  j.state = std::string(next_field(v));
  j.request_id = std::string(next_field(v));
  j.ticket = to_int(v);
  return j;
}
// "join_request_id user_id" of a pre-queue or line record, which must exist.
std::pair<std::string, std::string> queued_join(const Changes& st, const std::string& key) {
  auto v = st.get(key);
  auto space = v ? v->find(' ') : std::string::npos;
  if (space == std::string::npos) throw std::runtime_error("waiting room record missing: " + key);
  return {v->substr(0, space), v->substr(space + 1)};
}

// The opening: the pre-queue, in arrival order, is shuffled into tickets 1..n with the raffle's seeded
// shuffle (topics/draw.h, seeded by this command's position), so arriving early gives no advantage and a
// replay hands out the same tickets.
void open_queue(Ctx& x, EventState& e) {
  e.queue_open = true;
  e.queue_start = *e.spec.opens_at;
  const auto& id = e.spec.event_id;
  auto order = topics::draw_winners(topics::draw_seed(id, x.position), e.prequeued, e.prequeued);
  for (size_t r = 0; r < order.size(); ++r) {
    const auto key = prequeue_key(id, order[r]);
    auto [request_id, user_id] = queued_join(x.st, key);
    const auto ticket = static_cast<int64_t>(r) + 1;
    x.st.put(ticket_key(id, ticket), request_id + " " + user_id);
    x.st.put(join_key(id, user_id), encode_join({"queued", request_id, ticket}));
    x.st.erase(key);
    auto d = caused_decision(x, topics::kQueueTicket, e, request_id, user_id, Outcome::kQueued);
    d.ticket = ticket;
    d.admitted = 0;
    d.remaining = remaining_of(e);
    x.caused.push_back(std::move(d));
  }
  e.tickets = e.prequeued;
}

// Admits the next tickets in line: at most admit_per_s in each second of stream time since the opening
// (a quiet second's allowance is not saved up). The command's own join is answered by its own decision.
void admit(Ctx& x, EventState& e) {
  const int64_t window = (e.stream_time - e.queue_start) / 1000;
  if (window != e.window) {
    e.window = window;
    e.window_admitted = 0;
  }
  const auto& id = e.spec.event_id;
  while (e.admitted < e.tickets && e.window_admitted < e.spec.admit_per_s) {
    const int64_t ticket = e.admitted + 1;
    const auto key = ticket_key(id, ticket);
    auto [request_id, user_id] = queued_join(x.st, key);
    x.st.put(join_key(id, user_id), encode_join({"admitted", request_id, ticket}));
    x.st.erase(key);
    e.admitted += 1;
    e.window_admitted += 1;
    if (request_id == x.c.request_id) continue;
    auto d = caused_decision(x, topics::kAdmission, e, request_id, user_id, Outcome::kAdmitted);
    d.ticket = ticket;
    d.admitted = e.admitted;
    d.remaining = remaining_of(e);
    x.caused.push_back(std::move(d));
  }
}

// Moves an event's stream time to `t`: holds that ran out end, a raffle past its closes_at draws.
// Returns whether it drew.
bool advance(Ctx& x, EventState& e, int64_t t) {
  e.stream_time = std::max(e.stream_time, t);
  if (e.spec.mode == EventMode::kHold && e.held > 0) expire_holds(x, e);
  if (e.spec.admit_per_s > 0) {
    if (!e.queue_open && e.spec.opens_at && e.stream_time >= *e.spec.opens_at) open_queue(x, e);
    if (e.queue_open) admit(x, e);
  }
  if (e.spec.mode == EventMode::kRaffle && !e.closed && e.spec.closes_at && e.stream_time >= *e.spec.closes_at) {
    draw(x, e);
    return true;
  }
  return false;
}

// The event a claim, confirm, cancel or close acts on; nullopt, with `d` answered, when there is none
// (unknown_event) or it was deleted (deleted, with the remaining it kept).
std::optional<EventState> load_live_event(const Ctx& x, const std::string& event_id, topics::Decision& d) {
  auto event = load_event(x.st, event_id);
  if (!event) {
    d.outcome = Outcome::kUnknownEvent;
    d.remaining = 0;
    return std::nullopt;
  }
  if (event->deleted) {
    d.outcome = Outcome::kDeleted;
    d.remaining = remaining_of(*event);
    return std::nullopt;
  }
  return event;
}

void save_event(Ctx& x, const EventState& e) { x.st.put(event_key(e.spec.event_id), encode_event(e)); }

topics::Decision decide_create(Ctx& x, const topics::CreateEvent& create) {
  auto d = base_decision(x.c, x.position, x.now);
  if (auto existing = load_event(x.st, create.event_id)) {
    d.outcome = Outcome::kAlreadyExists;
    d.remaining = remaining_of(*existing);
    d.event = existing->spec;
  } else {
    d.outcome = Outcome::kCreated;
    d.remaining = create.stock;
    d.event = create;
    EventState e{create};
    e.stream_time = x.c.received_at;
    if (create.admit_per_s > 0 && (!create.opens_at || *create.opens_at <= e.stream_time)) {
      e.queue_open = true;  // nobody can have pre-queued
      e.queue_start = create.opens_at.value_or(e.stream_time);
    }
    save_event(x, e);
    if (waits_for_time(e)) add_timer(x, create.event_id);
  }
  return d;
}

// The order of the checks is the contract: window first (and an event closed by close_event), then the
// waiting room's admission, then the user's limit, then stock. A raffle takes one entry per user and no stock check: the draw decides.
Outcome judge_claim(const EventState& e, int64_t user_count, int64_t received_at, bool admitted) {
  if (e.spec.opens_at && received_at < *e.spec.opens_at) return Outcome::kNotOpen;
  if ((e.spec.closes_at && received_at >= *e.spec.closes_at) || e.closed) return Outcome::kClosed;
  if (e.spec.admit_per_s > 0 && !admitted) return Outcome::kNotAdmitted;
  switch (e.spec.mode) {
    case EventMode::kRaffle:
      return user_count >= 1 ? Outcome::kDuplicate : Outcome::kEntered;
    case EventMode::kHold:
      if (user_count >= e.spec.per_user_limit) return Outcome::kDuplicate;
      return remaining_of(e) <= 0 ? Outcome::kSoldOut : Outcome::kHeld;
    case EventMode::kFcfs:
      break;
  }
  if (user_count >= e.spec.per_user_limit) return Outcome::kDuplicate;
  if (e.issued >= e.spec.stock) return Outcome::kSoldOut;
  return Outcome::kIssued;
}

topics::Decision decide_claim(Ctx& x, const topics::Claim& claim) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = claim.user_id;
  auto event = load_live_event(x, claim.event_id, d);
  if (!event) return d;
  EventState& e = *event;
  const bool moves_time = timed(e);
  if (moves_time) advance(x, e, x.c.received_at);
  const auto ukey = user_key(claim.event_id, claim.user_id);
  int64_t user_count = std::stoll(x.st.get(ukey).value_or("0"));
  bool admitted = false;
  if (e.spec.admit_per_s > 0) {
    auto join = x.st.get(join_key(claim.event_id, claim.user_id));
    admitted = join && decode_join(*join).state == "admitted";
  }
  d.outcome = judge_claim(e, user_count, x.c.received_at, admitted);
  if (d.outcome == Outcome::kIssued) {
    e.issued += 1;
    d.coupon_seq = e.issued;
  } else if (d.outcome == Outcome::kEntered) {
    x.st.put(entry_key(claim.event_id, e.entries), x.c.request_id + " " + claim.user_id);
    e.entries += 1;
  } else if (d.outcome == Outcome::kHeld) {
    const int64_t expires_at = e.stream_time + e.spec.hold_ms;
    e.held += 1;
    d.hold_expires_at = expires_at;
    x.st.put(hold_key(claim.event_id, x.c.request_id), encode_hold({"held", claim.user_id, expires_at}));
    auto queue = x.st.get(hold_queue_key(claim.event_id)).value_or("");
    x.st.put(hold_queue_key(claim.event_id),
             queue + std::to_string(expires_at) + " " + x.c.request_id + " " + claim.user_id + "\n");
    add_timer(x, claim.event_id);
  }
  const bool counted = d.outcome == Outcome::kIssued || d.outcome == Outcome::kEntered || d.outcome == Outcome::kHeld;
  if (counted) x.st.put(ukey, std::to_string(user_count + 1));
  if (counted || moves_time) save_event(x, e);
  d.remaining = remaining_of(e);
  return d;
}

// confirm / cancel by the holder; `confirm` false is a cancel.
topics::Decision decide_hold_action(Ctx& x, const topics::HoldAction& a, bool confirm) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = a.user_id;
  d.claim_request_id = a.claim_request_id;
  auto event = load_live_event(x, a.event_id, d);
  if (!event) return d;
  EventState& e = *event;
  if (e.spec.mode == EventMode::kHold) {
    advance(x, e, x.c.received_at);
    save_event(x, e);
  }
  d.remaining = remaining_of(e);
  const auto hkey = hold_key(a.event_id, a.claim_request_id);
  auto record = e.spec.mode == EventMode::kHold ? x.st.get(hkey) : std::nullopt;
  if (!record) {
    d.outcome = Outcome::kNotHeld;
    return d;
  }
  Hold h = decode_hold(*record);
  if (h.user_id != a.user_id) {
    d.outcome = Outcome::kNotYours;
  } else if (h.state == "expired") {
    d.outcome = Outcome::kExpired;
  } else if (h.state != "held") {
    d.outcome = Outcome::kAlreadyEnded;
  } else {
    auto queue = decode_queue(x.st.get(hold_queue_key(a.event_id)));
    std::erase_if(queue, [&](const QueuedHold& q) { return q.request_id == a.claim_request_id; });
    x.st.put(hold_queue_key(a.event_id), encode_queue(queue));
    if (confirm) {
      e.held -= 1;
      e.issued += 1;
      d.coupon_seq = e.issued;
      x.st.put(hkey, encode_hold({"confirmed", h.user_id, h.expires_at}));
      d.outcome = Outcome::kConfirmed;
    } else {
      release(x, e, a.claim_request_id, h.user_id, h.expires_at, "cancelled");
      d.outcome = Outcome::kCancelled;
    }
    save_event(x, e);
    d.remaining = remaining_of(e);
  }
  return d;
}

topics::Decision decide_close(Ctx& x, const topics::CloseEvent& close) {
  auto d = base_decision(x.c, x.position, x.now);
  auto event = load_live_event(x, close.event_id, d);
  if (!event) return d;
  EventState& e = *event;
  bool drew = timed(e) && advance(x, e, x.c.received_at);
  if (!drew && e.closed) {
    d.outcome = Outcome::kAlreadyClosed;
  } else {
    if (!drew && e.spec.mode == EventMode::kRaffle) {
      draw(x, e);
      drew = true;
    }
    e.closed = true;
    d.outcome = drew ? Outcome::kDrawn : Outcome::kClosed;
  }
  if (drew) d.entries = e.entries;
  save_event(x, e);
  d.remaining = remaining_of(e);
  return d;
}

// Tombstones every record the event owns (keys.h kEventKinds) but its own: the many of a kind found by a
// scan of the state (this call's writes so far are the event's record only), the one of a kind if it exists.
void erase_records(Ctx& x, const std::string& event_id) {
  for (const auto& kind : kEventKinds) {
    if (!kind.erased) continue;
    if (!kind.many) {
      if (auto key = kind.under(event_id); x.st.get(key)) x.st.erase(std::move(key));
      continue;
    }
    std::vector<std::string> doomed;
    x.st.scan(kind.under(event_id), [&](const std::string& key, const std::string&) { doomed.push_back(key); });
    for (auto& key : doomed) x.st.erase(std::move(key));
  }
}

// delete_event: the event's record stays with its counters, marked deleted; every other record of the
// event (keys.h kEventKinds: per-user counts, raffle entries, holds, the hold queue, waiting room places)
// holds a user id and is tombstoned, and the event leaves the timers. Nothing is expired or drawn first:
// a deleted event decides nothing more.
topics::Decision decide_delete(Ctx& x, const topics::DeleteEvent& del) {
  auto d = base_decision(x.c, x.position, x.now);
  auto event = load_event(x.st, del.event_id);
  if (!event) {
    d.outcome = Outcome::kUnknownEvent;
    return d;
  }
  EventState& e = *event;
  d.remaining = remaining_of(e);
  if (e.deleted) {
    d.outcome = Outcome::kAlreadyDeleted;
    return d;
  }
  e.deleted = true;
  save_event(x, e);
  erase_records(x, del.event_id);
  if (auto timers = x.st.get(kTimersKey)) {
    std::string still;
    for (const auto& id : split_lines(timers)) {
      if (id != del.event_id) still += id + "\n";
    }
    if (still != *timers) x.st.put(kTimersKey, still);
  }
  d.outcome = Outcome::kDeleted;
  return d;
}

// join: a place in the waiting room, once per user (a second join is told the first one's place).
topics::Decision decide_join(Ctx& x, const topics::Join& join) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = join.user_id;
  auto event = load_live_event(x, join.event_id, d);
  if (!event) return d;
  EventState& e = *event;
  d.remaining = remaining_of(e);
  if (e.spec.admit_per_s == 0) {
    d.outcome = Outcome::kNoWaitingRoom;
    return d;
  }
  advance(x, e, x.c.received_at);
  const auto jkey = join_key(join.event_id, join.user_id);
  if (auto existing = x.st.get(jkey)) {
    auto first = decode_join(*existing);
    d.outcome = Outcome::kAlreadyQueued;
    d.claim_request_id = first.request_id;
    if (first.ticket > 0) d.ticket = first.ticket;
  } else if (e.closed || (e.spec.closes_at && x.c.received_at >= *e.spec.closes_at)) {
    d.outcome = Outcome::kClosed;
  } else if (!e.queue_open) {
    x.st.put(prequeue_key(join.event_id, e.prequeued), x.c.request_id + " " + join.user_id);
    x.st.put(jkey, encode_join({"pre", x.c.request_id, 0}));
    e.prequeued += 1;
    d.outcome = Outcome::kPreQueued;
  } else {
    const int64_t ticket = ++e.tickets;
    x.st.put(ticket_key(join.event_id, ticket), x.c.request_id + " " + join.user_id);
    x.st.put(jkey, encode_join({"queued", x.c.request_id, ticket}));
    admit(x, e);
    d.ticket = ticket;
    d.outcome = e.admitted >= ticket ? Outcome::kAdmitted : Outcome::kQueued;
  }
  d.admitted = e.admitted;
  save_event(x, e);
  if (waits_for_time(e)) add_timer(x, join.event_id);
  d.remaining = remaining_of(e);
  return d;
}

// A tick moves stream time for every event of this partition that waits for it.
void decide_tick(Ctx& x) {
  auto timers = x.st.get(kTimersKey);
  std::string still;
  for (const auto& id : split_lines(timers)) {
    auto e = load_event(x.st, id);
    if (!e || e->deleted) continue;
    advance(x, *e, x.c.received_at);
    save_event(x, *e);
    if (waits_for_time(*e)) still += id + "\n";
  }
  if (timers && still != *timers) x.st.put(kTimersKey, still);
}

}  // namespace

std::optional<Result> decide(const StateView& state, const topics::Command& command,
                             topics::CommandPosition position, int64_t now) {
  Ctx x{Changes(state), command, position, now, {}};
  Result r;
  if (std::holds_alternative<topics::Tick>(command.body)) {
    // Ticks repeat by nature (many ingresses append them, each harmless): no request record.
    decide_tick(x);
    r.publish = false;
  } else {
    const auto rkey = request_key(command.request_id);
    if (state.get(rkey)) return std::nullopt;
    r.decision = std::visit(
        [&](const auto& body) -> topics::Decision {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, topics::CreateEvent>) return decide_create(x, body);
          if constexpr (std::is_same_v<T, topics::Claim>) return decide_claim(x, body);
          if constexpr (std::is_same_v<T, topics::Confirm>) return decide_hold_action(x, body, true);
          if constexpr (std::is_same_v<T, topics::Cancel>) return decide_hold_action(x, body, false);
          if constexpr (std::is_same_v<T, topics::CloseEvent>) return decide_close(x, body);
          if constexpr (std::is_same_v<T, topics::DeleteEvent>) return decide_delete(x, body);
          if constexpr (std::is_same_v<T, topics::Join>) return decide_join(x, body);
          return {};  // a Tick, handled above
        },
        command.body);
    // Remember the request so a retry with the same Idempotency-Key gets no second decision.
    x.st.put(rkey, std::string(topics::to_string(r.decision.outcome)));
  }
  r.caused = std::move(x.caused);
  r.writes = x.st.take();
  return r;
}

}  // namespace allot::processors
