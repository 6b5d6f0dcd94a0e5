#pragma once
// What the rules of decide() share, inside processors/ only (domain.h is the public face): the changes of
// one call over the state, the call's context, and the helpers every mode's rules use. The rules live in
// domain.cc (the dispatch, fcfs claims, create, close, delete, ticks), hold.cc, raffle.cc and room.cc;
// wallet.cc the users' money.
// All of it is pure: no I/O, no clock.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "processors/domain.h"

namespace allot::processors::detail {

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
  std::vector<StateWrite> writes_;                 // in order; a key written twice keeps its last value when applied
  std::unordered_map<std::string, size_t> index_;  // key -> its last write, once there are many
};

// One decide() call: the command, where it sits, and what it changes and causes.
struct Ctx {
  Changes st;
  const topics::Command& c;
  topics::CommandPosition position;
  int64_t now;
  std::vector<topics::Decision> caused;
  std::vector<topics::Command> emitted;  // Result::emitted
};

// Units neither issued nor held: every decision about the event carries it.
inline int64_t remaining_of(const EventState& e) { return e.spec.stock - e.issued - e.held; }

// The decision answering the command, before its outcome is known.
topics::Decision base_decision(const topics::Command& c, topics::CommandPosition position, int64_t now);
// A decision the command causes about an earlier claim or join (topics::is_caused): `type` is one of
// topics::decision_type's caused types.
topics::Decision caused_decision(const Ctx& x, std::string_view type, const EventState& e,
                                 const std::string& request_id, const std::string& user_id, topics::Outcome outcome);

// The event's record, with its id; nullopt when there is none.
std::optional<EventState> load_event(const Changes& state, const std::string& event_id);
// The event a claim, confirm, cancel, close or join acts on; nullopt, with `d` answered, when there is none
// (unknown_event) or it was deleted (deleted, with the remaining it kept).
std::optional<EventState> load_live_event(const Ctx& x, const std::string& event_id, topics::Decision& d);
void save_event(Ctx& x, const EventState& e);

// Whether an event needs ticks: a raffle until its draw, a hold event while it holds units, a waiting room
// until it opens and while someone waits in it.
bool waits_for_time(const EventState& e);
// Puts the event on the partition's timers (keys.h kTimersKey), once.
void add_timer(Ctx& x, const std::string& event_id);

// Moves an event's stream time to `t`: holds that ran out end, a waiting room opens and admits, a raffle
// past its closes_at draws. Returns whether it drew. In domain.cc: it runs every mode's rules.
bool advance(Ctx& x, EventState& e, int64_t t);

}  // namespace allot::processors::detail
