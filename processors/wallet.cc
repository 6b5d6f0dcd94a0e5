#include "processors/wallet.h"

#include <string>

namespace allot::processors::detail {

topics::Decision decide_charge(Ctx& x, const topics::Charge& charge) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = charge.user_id;
  d.amount = charge.amount;
  const auto key = balance_key(charge.user_id);
  const int64_t balance = std::stoll(x.st.get(key).value_or("0"));
  if (charge.amount > topics::kMaxBalance - balance) {
    d.outcome = topics::Outcome::kBalanceLimit;
    d.balance = balance;
    return d;
  }
  d.outcome = topics::Outcome::kCredited;
  d.balance = balance + charge.amount;
  x.st.put(key, std::to_string(*d.balance));
  return d;
}

}  // namespace allot::processors::detail
