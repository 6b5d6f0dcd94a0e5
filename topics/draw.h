#pragma once
// The raffle draw, published so that nobody has to trust the operator: its only inputs are the event
// id, the position in allot.commands of the command that closed the raffle, the entries (claims
// answered entered, in partition order) and the stock. `allotctl verify --draw` re-runs it from the
// topics and compares the winners with the decisions.
#include <cstdint>
#include <string_view>
#include <vector>

#include "topics/messages.h"

namespace allot::topics {

// FNV-1a 64 of "<event_id>|<partition>|<offset>".
uint64_t draw_seed(std::string_view event_id, CommandPosition close);

// The winners: min(stock, entries) distinct entry indices (0-based, in partition order), in draw
// order (the first is rank 1). A partial Fisher-Yates shuffle of 0..entries-1 whose j-th swap takes
// splitmix64's j-th number modulo the entries not yet drawn.
std::vector<int64_t> draw_winners(uint64_t seed, int64_t entries, int64_t stock);

}  // namespace allot::topics
