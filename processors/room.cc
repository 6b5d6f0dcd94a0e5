#include "processors/room.h"

#include <stdexcept>
#include <utility>

#include "topics/draw.h"
#include "topics/vocabulary.h"

namespace allot::processors::detail {

namespace {

using topics::Outcome;
namespace decision_type = topics::decision_type;
namespace join_state = topics::join_state;

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
    x.st.put(ticket_key(id, ticket), encode_place(request_id, user_id));
    x.st.put(join_key(id, user_id), encode_join({std::string(join_state::kQueued), request_id, ticket}));
    x.st.erase(key);
    auto d = caused_decision(x, decision_type::kQueueTicket, e, request_id, user_id, Outcome::kQueued);
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
    x.st.put(join_key(id, user_id), encode_join({std::string(join_state::kAdmitted), request_id, ticket}));
    x.st.erase(key);
    e.admitted += 1;
    e.window_admitted += 1;
    if (request_id == x.c.request_id) continue;
    auto d = caused_decision(x, decision_type::kAdmission, e, request_id, user_id, Outcome::kAdmitted);
    d.ticket = ticket;
    d.admitted = e.admitted;
    d.remaining = remaining_of(e);
    x.caused.push_back(std::move(d));
  }
}

}  // namespace

void advance_room(Ctx& x, EventState& e) {
  if (!e.queue_open && e.spec.opens_at && e.stream_time >= *e.spec.opens_at) open_queue(x, e);
  if (e.queue_open) admit(x, e);
}

bool is_admitted(const Ctx& x, const std::string& event_id, const std::string& user_id) {
  auto join = x.st.get(join_key(event_id, user_id));
  return join && decode_join(*join).state == join_state::kAdmitted;
}

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
    x.st.put(prequeue_key(join.event_id, e.prequeued), encode_place(x.c.request_id, join.user_id));
    x.st.put(jkey, encode_join({std::string(join_state::kPre), x.c.request_id, 0}));
    e.prequeued += 1;
    d.outcome = Outcome::kPreQueued;
  } else {
    const int64_t ticket = ++e.tickets;
    x.st.put(ticket_key(join.event_id, ticket), encode_place(x.c.request_id, join.user_id));
    x.st.put(jkey, encode_join({std::string(join_state::kQueued), x.c.request_id, ticket}));
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

}  // namespace allot::processors::detail
