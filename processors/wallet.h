#pragma once
// The wallet (README "Wallet"): a user's balance, decided on the partition of the user's wallet key
// (topics::wallet_key), so one user's money changes in one order. A balance never goes below zero and
// every change is a decision on allot.decisions carrying the amount and the balance after it, which is
// what `allotctl verify` adds up.
#include "processors/decide_context.h"

namespace allot::processors::detail {

// A charge credits the user's wallet, unless the balance would pass topics::kMaxBalance (balance_limit).
topics::Decision decide_charge(Ctx& x, const topics::Charge& charge);

}  // namespace allot::processors::detail
