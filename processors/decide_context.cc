#include "processors/decide_context.h"

namespace allot::processors::detail {

using topics::EventMode;
using topics::Outcome;

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

topics::Decision caused_decision(const Ctx& x, std::string_view type, const EventState& e,
                                 const std::string& request_id, const std::string& user_id, topics::Outcome outcome) {
  auto d = base_decision(x.c, x.position, x.now);
  d.type = std::string(type);
  d.request_id = request_id;
  d.event_id = e.spec.event_id;
  d.user_id = user_id;
  d.outcome = outcome;
  return d;
}

std::optional<EventState> load_event(const Changes& state, const std::string& event_id) {
  auto v = state.get(event_key(event_id));
  if (!v) return std::nullopt;
  auto e = decode_event(*v);
  e.spec.event_id = event_id;
  return e;
}

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

bool waits_for_time(const EventState& e) {
  if (e.deleted) return false;
  const bool queue = e.spec.admit_per_s > 0 && (!e.queue_open || e.admitted < e.tickets);
  const bool drawing = e.spec.mode == EventMode::kRaffle && !e.closed;
  const bool holding = e.spec.mode == EventMode::kHold && e.held > 0;
  return queue || drawing || holding;
}

void add_timer(Ctx& x, const std::string& event_id) {
  auto timers = x.st.get(kTimersKey).value_or("");
  for (const auto& id : split_lines(timers)) {
    if (id == event_id) return;
  }
  x.st.put(kTimersKey, timers + event_id + "\n");
}

}  // namespace allot::processors::detail
