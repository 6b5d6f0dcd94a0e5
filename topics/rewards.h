#pragma once
// Rewards with a target average (README "Rewards"), published like the draw so that anyone can re-derive
// every amount from the log: the n-th unit issued of an event whose reward_average is A (fcfs: the n-th
// issued claim; hold: the n-th confirm; raffle: draw rank n) earns its user an amount credited to their
// wallet. The amount is drawn from splitmix64 seeded with FNV-1a 64 of "<event_id>|<n>", in a range that
// pulls the running average back to A: while the amounts so far average above A, in [1, A]; below A, in
// [A, 2A]; exactly A (or none yet), in [1, 2A]. So the sum never strays more than 2A from n x A, and the
// average converges to A.
#include <cstdint>
#include <string>
#include <string_view>

namespace allot::topics {

inline constexpr int64_t kMaxRewardAverage = 100'000'000;  // cents: a million, so 2A stays a small number

// The amount of the n-th reward (n from 1), given the count and sum of the rewards before it.
int64_t reward_amount(std::string_view event_id, int64_t n, int64_t average, int64_t count_before, int64_t sum_before);

// The request id of the n-th reward's credit command: "rw-<16 hex of FNV-1a 64 of event_id>-<n>", the same
// on every replay, so the wallet credits it once.
std::string reward_request_id(std::string_view event_id, int64_t n);

}  // namespace allot::topics
