#pragma once
// The pure core of allot: decide() turns one command and the current state into one decision and the
// state records it changes. No I/O, no clock: the caller passes state, command and time. The same
// inputs always give the same result, which is what makes replays and aborted batches safe to redo.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processors/keys.h"  // the state keys (event_key, user_key, ...), for tools and tests
#include "topics/messages.h"

namespace allot::processors {

// Read access to the state of one partition (RocksDB plus the batch's uncommitted overlay).
class StateView {
 public:
  virtual ~StateView() = default;
  virtual std::optional<std::string> get(const std::string& key) const = 0;
  // Every record whose key starts with `prefix`, in key order. Only delete_event scans (a claim never
  // does: it reads a few known keys).
  using OnRecord = std::function<void(const std::string& key, const std::string& value)>;
  virtual void scan(std::string_view prefix, const OnRecord& on_record) const = 0;
};

// One changed state record; the runner writes it to the changelog and, after commit, to RocksDB.
// No value: a tombstone (the record is deleted, and a null value on the compacted changelog drops it).
struct StateWrite {
  std::string key;
  std::optional<std::string> value;
};

struct Result {
  topics::Decision decision;               // the command's own (not published for a tick: see publish)
  std::vector<topics::Decision> caused;    // holds it expired, raffle entries it drew (topics::is_caused)
  std::vector<StateWrite> writes;
  bool publish = true;                     // false for a tick: it has no decision of its own
};

// Decides `command`, found at `position` in allot.commands, at time `now` (Unix ms; becomes decided_at).
// Opening windows are checked against the command's received_at, the moment the user asked, so a claim
// is judged the same way however late it is processed. Returns nullopt when this request_id was already
// decided (a retried Idempotency-Key): the first decision stands and no second one is made.
std::optional<Result> decide(const StateView& state, const topics::Command& command,
                             topics::CommandPosition position, int64_t now);


// An event's state record.
struct EventState {
  topics::CreateEvent spec;
  int64_t issued = 0;       // fcfs: claims issued; hold: holds confirmed; raffle: winners drawn
  int64_t held = 0;         // hold: units held, waiting for confirm (issued + held <= stock)
  int64_t entries = 0;      // raffle: entries so far
  int64_t stream_time = 0;  // the latest received_at of the event's commands (and of ticks): holds expire by it
  bool closed = false;      // close_event (or a raffle's draw): no more claims
  bool deleted = false;     // delete_event: every later command answers deleted; the counters stay
  // The waiting room (spec.admit_per_s > 0), README "Waiting room":
  bool queue_open = false;      // false while joins are pre-queued (before opens_at)
  int64_t queue_start = 0;      // stream time the queue opened: opens_at, or the creation
  int64_t prequeued = 0;        // joins before the opening, shuffled into tickets 1..prequeued then
  int64_t tickets = 0;          // tickets handed out
  int64_t admitted = 0;         // tickets admitted, in order (1..admitted)
  int64_t window = 0;           // the current admission second, (stream time - queue_start) / 1000
  int64_t window_admitted = 0;  // admitted in that second (at most admit_per_s)
};
std::string encode_event(const EventState& e);
EventState decode_event(std::string_view value);

}  // namespace allot::processors
