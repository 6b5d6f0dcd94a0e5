#pragma once
// A history that mixes the three event modes, decided by the real pure core (processors/domain.h) over
// an in-memory state and published as the runner publishes it: a command's own decision, then the
// decisions it caused; a tick publishes none of its own. Every way a claim can go is in it, so the
// projections (sinks/) and their check (topics/projection_check.h) are tested on decisions the
// processors really make, without a broker.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "processors/domain.h"
#include "processors/memory_state.h"
#include "topics/messages.h"

namespace allot::testsupport {

class Decider {
 public:
  // Commands get offsets from `first_offset` on `partition`; decided_at is received_at + 5.
  Decider(int32_t partition, int64_t first_offset) : partition_(partition), offset_(first_offset) {}

  // Decides `c` (received at `at`); returns its own decision (nullopt for a tick) and logs what it published.
  std::optional<topics::Decision> run(const std::string& request_id, int64_t at, decltype(topics::Command::body) body) {
    topics::Command c{request_id, at, std::move(body)};
    auto r = processors::decide(state_, c, {partition_, offset_++}, at + 5);
    if (!r) return std::nullopt;
    state_.apply(r->writes);
    if (r->publish) log_.push_back(r->decision);
    log_.insert(log_.end(), r->caused.begin(), r->caused.end());
    return r->publish ? std::optional(r->decision) : std::nullopt;
  }
  const std::vector<topics::Decision>& log() const { return log_; }

 private:
  int32_t partition_;
  int64_t offset_;
  processors::MemoryState state_;
  std::vector<topics::Decision> log_;
};

struct ModeHistory {
  std::string fcfs, raffle, hold, ghost;  // event ids (ghost is never created)
  std::vector<topics::Decision> decisions;
  // Request ids, for assertions: hold claims and the raffle's entries.
  std::string held_confirmed, held_cancelled, held_expired, held_open, fcfs_sold_out;
  std::vector<std::string> entries;
};

// Events "<tag>-fcfs" (stock 2), "<tag>-raffle" (stock 2, four entries, drawn by close_event) and
// "<tag>-hold" (stock 2, hold_ms 1000: one hold confirmed, one cancelled, one expired by a tick, one
// still held at the end, then closed), plus rejections of every kind, from time `t0` on. Offsets start
// at 990 so the claims straddle a claim_counts slice boundary (1000).
inline ModeHistory mixed_mode_history(const std::string& tag, int64_t t0) {
  using topics::EventMode;
  ModeHistory h{tag + "-fcfs", tag + "-raffle", tag + "-hold", tag + "-ghost", {}, "", "", "", "", "", {}};
  Decider d(4, 990);
  int n = 0;
  auto id = [&] { return tag + "-r" + std::to_string(++n); };
  auto rid = [&](const std::optional<topics::Decision>& x) { return x ? x->request_id : std::string(); };

  topics::CreateEvent fcfs{h.fcfs, "First come", 2, 1, {}, {}};
  topics::CreateEvent raffle{h.raffle, "Raffle", 2, 1, {}, t0 + 600'000};
  raffle.mode = EventMode::kRaffle;
  topics::CreateEvent hold{h.hold, "Seats", 2, 1, {}, {}};
  hold.mode = EventMode::kHold;
  hold.hold_ms = 1000;
  d.run(id(), t0, fcfs);
  d.run(id(), t0, raffle);
  d.run(id(), t0, hold);

  for (const char* user : {"ann", "bob"}) d.run(id(), t0 + 10, topics::Claim{h.fcfs, user});
  h.fcfs_sold_out = rid(d.run(id(), t0 + 11, topics::Claim{h.fcfs, "cid"}));
  d.run(id(), t0 + 12, topics::Claim{h.fcfs, "ann"});   // duplicate
  d.run(id(), t0 + 13, topics::Claim{h.ghost, "ann"});  // unknown_event

  for (const char* user : {"u1", "u2", "u3", "u4"})
    h.entries.push_back(rid(d.run(id(), t0 + 20, topics::Claim{h.raffle, user})));
  d.run(id(), t0 + 21, topics::Claim{h.raffle, "u2"});  // duplicate
  d.run(id(), t0 + 30, topics::CloseEvent{h.raffle});   // drawn: two won, two lost
  d.run(id(), t0 + 31, topics::Claim{h.raffle, "u5"});  // closed
  d.run(id(), t0 + 32, topics::CloseEvent{h.raffle});   // already_closed

  h.held_confirmed = rid(d.run(id(), t0 + 40, topics::Claim{h.hold, "h1"}));
  h.held_cancelled = rid(d.run(id(), t0 + 41, topics::Claim{h.hold, "h2"}));
  d.run(id(), t0 + 42, topics::Claim{h.hold, "h3"});                           // sold_out
  d.run(id(), t0 + 50, topics::Confirm{{h.hold, h.held_confirmed, "h1"}});     // confirmed, coupon 1
  d.run(id(), t0 + 51, topics::Confirm{{h.hold, h.held_cancelled, "h3"}});     // not_yours
  d.run(id(), t0 + 52, topics::Cancel{{h.hold, h.held_cancelled, "h2"}});      // cancelled
  d.run(id(), t0 + 53, topics::Cancel{{h.hold, h.held_confirmed, "h1"}});      // already_ended
  d.run(id(), t0 + 54, topics::Confirm{{h.hold, "nothing-" + tag, "h1"}});     // not_held
  h.held_expired = rid(d.run(id(), t0 + 60, topics::Claim{h.hold, "h3"}));     // held until t0 + 1060
  d.run(id(), t0 + 61, topics::Claim{h.hold, "h4"});                           // sold_out
  d.run(id(), t0 + 2000, topics::Tick{});                                      // h3's hold expires
  d.run(id(), t0 + 2001, topics::Confirm{{h.hold, h.held_expired, "h3"}});     // expired
  h.held_open = rid(d.run(id(), t0 + 2002, topics::Claim{h.hold, "h5"}));      // held to the end
  d.run(id(), t0 + 2003, topics::CloseEvent{h.hold});                          // closed
  d.run(id(), t0 + 2004, topics::Confirm{{h.ghost, "nothing-" + tag, "h1"}});  // unknown_event
  h.decisions = d.log();
  return h;
}

}  // namespace allot::testsupport
