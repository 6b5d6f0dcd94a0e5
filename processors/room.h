#pragma once
// The waiting room (README "Waiting room"), for fcfs and hold events with admit_per_s > 0: users join a
// line and are admitted in ticket order, at most admit_per_s per second of stream time; only admitted users
// may claim. Joins before opens_at are pre-queued and shuffled into tickets at the opening.
#include <string>

#include "processors/decide_context.h"

namespace allot::processors::detail {

// Moves the waiting room to the event's stream time: it opens once opens_at is reached, then admits.
void advance_room(Ctx& x, EventState& e);

// Whether the user's join was admitted (a claim in a waiting room needs it).
bool is_admitted(const Ctx& x, const std::string& event_id, const std::string& user_id);

// join: a place in the waiting room, once per user (a second join is told the first one's place).
topics::Decision decide_join(Ctx& x, const topics::Join& join);

}  // namespace allot::processors::detail
