#pragma once
// The wallet part of `verify` (README "Wallet"), from what landed in allot.decisions and allot.commands:
// each user's wallet decisions sit on one partition (their key's); walked in that partition's order from
// zero, each credited charge adds exactly its command's amount, a balance_limit refusal changes nothing
// and only when the charge would have passed kMaxBalance, and no balance is ever below zero. Money is
// conserved: what was credited equals what the wallets hold at the end (per user and in total).
#include <vector>

#include "topics/messages.h"
#include "topics/verify.h"

namespace allot::topics {

// Whether the decision is about a wallet rather than an event (verify() checks events apart).
inline bool is_wallet_decision(const Decision& d) { return d.type == decision_type::kCharge; }

// Adds its violations to `r`, and the wallets, money credited and balances held to its counts.
void check_wallets(const VerifyInput& in, VerifyReport& r);

}  // namespace allot::topics
