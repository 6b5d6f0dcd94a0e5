#pragma once
// The mega-event part of `verify` (topics/slices.h). Each slice is an ordinary fcfs event, so verify()
// already checks promises 1-4 per slice (issued <= the slice's stock, coupon_seq 1..issued without gaps,
// FCFS in the slice's partition order, the per-user limit within the slice). What is left is the event
// as a whole, checked here: the slices agree on K and the total, each slice's stock is its share and the
// shares sum to the total; the K slices sit on K distinct partitions (each slice on one); every claim
// went to its user's slice (so a user's claims are ordered on one partition and the per-user limit is
// exact for the event); per user at most per_user_limit issued over all slices; sum issued <= stock;
// and no ordinary event has the same id as a mega event.
#include <vector>

#include "topics/messages.h"
#include "topics/verify.h"

namespace allot::topics {

// Adds its violations to `r` and counts mega events in r.mega_events.
void check_slices(const std::vector<Decision>& decisions, VerifyReport& r);

}  // namespace allot::topics
