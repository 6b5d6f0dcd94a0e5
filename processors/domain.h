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

#include "processors/keys.h"     // the state keys (event_key, user_key, ...), for tools and tests
#include "processors/records.h"  // EventState, encode_event, decode_event, for tools and tests
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
  topics::Decision decision;             // the command's own (not published for a tick: see publish)
  std::vector<topics::Decision> caused;  // holds it expired, raffle entries it drew (topics::is_caused)
  std::vector<StateWrite> writes;
  // Commands for other partitions (a unit's reward for its user's wallet): appended to allot.commands in
  // the same transaction as the decision, so each is sent exactly once (README "Rewards").
  std::vector<topics::Command> emitted;
  bool publish = true;  // false for a tick: it has no decision of its own
};

// Decides `command`, found at `position` in allot.commands, at time `now` (Unix ms; becomes decided_at).
// Opening windows are checked against the command's received_at, the moment the user asked, so a claim
// is judged the same way however late it is processed. Returns nullopt when this request_id was already
// decided (a retried Idempotency-Key): the first decision stands and no second one is made.
std::optional<Result> decide(const StateView& state, const topics::Command& command, topics::CommandPosition position,
                             int64_t now);

}  // namespace allot::processors
