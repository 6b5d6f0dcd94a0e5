#pragma once
// Raffle mode (README "Event modes"): a claim is an entry, one per user; at the close, or at the first
// command past closes_at, the draw picks min(stock, entries) winners and answers every entry won or lost.
#include <string>

#include "processors/decide_context.h"

namespace allot::processors::detail {

// Records the command's claim as the event's next entry.
void enter(Ctx& x, EventState& e, const std::string& user_id);

// The raffle's draw, at this command's position (topics/draw.h): every entry learns won or lost.
void draw(Ctx& x, EventState& e);

}  // namespace allot::processors::detail
