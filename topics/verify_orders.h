#pragma once
// The orders part of `verify` (README "Orders"), from what landed in allot.decisions and allot.commands,
// written from the saga's contract (processors/orders.h), not from its code:
// - every order placed ends at most once (paid or failed); one not ended yet is counted open;
// - a reservation holds price x qty of a sale event that had the units: at every offset of the event's
//   partition, units reserved + sold <= stock, and each reservation ends once (sold or released);
// - a coupon is redeemed only by the user it was issued to, while unused and unexpired, and is used again
//   only after its failed order gave it back;
// - a paid order reserved every line and redeemed its coupon, paid the sum of its lines less the coupon's
//   discount (re-derived from the events' creation), and each line was then sold or refunded its amount;
// - a failed order names a step that was refused (or balance_short), sold nothing, and released every
//   reservation and coupon it took: nothing stays reserved.
// The money itself (debits and refunds against balances) is check_wallets'.
#include "topics/verify.h"

namespace allot::topics {

// Adds its violations to `r`, and the orders, their ends, the units sold and the money to its counts.
void check_orders(const VerifyInput& in, VerifyReport& r);

}  // namespace allot::topics
