#pragma once
// The wallet part of `verify` (README "Wallet"), from what landed in allot.decisions and allot.commands:
// each user's wallet decisions sit on one partition (their key's); walked in that partition's order from
// zero, each credited charge adds exactly its command's amount, a balance_limit refusal changes nothing
// and only when the charge would have passed kMaxBalance, a refund adds its amount, a paid order takes its
// amount and a failed one nothing, and no balance is ever below zero. Money is conserved: what was
// credited (charges, rewards, refunds) less what orders paid equals what the wallets hold at the end (per
// user and in total).
#include <optional>
#include <string>
#include <vector>

#include "topics/messages.h"
#include "topics/verify.h"

namespace allot::topics {

// Adds its violations to `r`, and the wallets, money credited, paid and refunded and balances held to its
// counts.
void check_wallets(const VerifyInput& in, VerifyReport& r);

// A unit issued: its number in the event's issue order, the claim that won it and its user.
struct Issue {
  int64_t n = 0;
  std::string claim_request_id, user_id;
};
// The unit `d` issues: fcfs issued, hold confirmed, raffle won; nullopt for every other decision.
std::optional<Issue> issue_of(const Decision& d);

// Rewards (topics/rewards.h): on every event with reward_average, each unit issued (fcfs issued, hold
// confirmed, raffle won) has exactly one reward decision, to its user, of the amount the published rule
// gives for its number, re-derived from the event's issues in order, with the request id the rule names;
// and no reward is for anything else. Units whose user's wallet the input does not hold
// (VerifyInput::wallet_users) are not checked.
void check_rewards(const VerifyInput& in, VerifyReport& r);

}  // namespace allot::topics
