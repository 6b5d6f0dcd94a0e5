#pragma once
// The wallet (README "Wallet"): a user's balance, decided on the partition of the user's wallet key
// (topics::wallet_key), so one user's money changes in one order. A balance never goes below zero and
// every change is a decision on allot.decisions carrying the amount and the balance after it, which is
// what `allotctl verify` adds up. Rewards (README "Rewards") reach a wallet from an event's partition as a
// command the event's processor emits in the transaction that issued the unit.
#include <cstdint>
#include <optional>
#include <string>

#include "processors/decide_context.h"

namespace allot::processors::detail {

// A charge credits the user's wallet, unless the balance would pass topics::kMaxBalance (balance_limit).
topics::Decision decide_charge(Ctx& x, const topics::Charge& charge);
// A reward credits the winner's wallet the same way.
topics::Decision decide_reward(Ctx& x, const topics::Reward& reward);

// A refund of an order's paid line that could not be sold: credited whatever the balance (the money was
// the wallet's before).
topics::Decision decide_refund(Ctx& x, const topics::Refund& refund);
// An order's total out of the user's wallet: the balance after it, or nullopt (nothing taken) when the
// wallet holds less.
std::optional<int64_t> debit(Ctx& x, const std::string& user_id, int64_t amount);
int64_t wallet_balance(const Ctx& x, const std::string& user_id);

// At an event's creation: an event with rewards gets its rewards record (key_kind::kRewards,
// "reward_average count sum"), which carries the average (the event record does not).
void start_rewards(Ctx& x, const topics::CreateEvent& spec);
// Unit `n` of event `e` was issued to `user_id` (by claim `claim_request_id`): on an event with rewards,
// draws its amount (topics/rewards.h) from the event's rewards so far and emits the reward command for the
// user's wallet. Nothing on an event without rewards.
void reward_unit(Ctx& x, const EventState& e, const std::string& user_id, const std::string& claim_request_id,
                 int64_t n);

}  // namespace allot::processors::detail
