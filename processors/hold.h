#pragma once
// Hold mode (README "Event modes"): a claim holds a unit for hold_ms of stream time; the holder's confirm
// issues it, a cancel or the expiry gives it back to stock. Each hold ends exactly once.
#include <string>

#include "processors/decide_context.h"

namespace allot::processors::detail {

// A held claim's unit: its hold record, its line in the hold queue, the event on the timers, its seat on a
// seated event (empty: none). Returns when the hold expires.
int64_t hold_unit(Ctx& x, EventState& e, const std::string& user_id, const std::string& seat);

// Holds end when stream time reaches their expiry (a hold is live while stream time < expires_at).
void expire_holds(Ctx& x, EventState& e);

// confirm / cancel by the holder; `confirm` false is a cancel.
topics::Decision decide_hold_action(Ctx& x, const topics::HoldAction& a, bool confirm);

}  // namespace allot::processors::detail
