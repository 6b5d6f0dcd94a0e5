#include "processors/wallet.h"

#include <string>

#include "topics/rewards.h"

namespace allot::processors::detail {

namespace {

// Credits `amount` to `user_id`'s wallet: the decision `d` gets the outcome and the balance after it.
void credit(Ctx& x, topics::Decision& d, const std::string& user_id, int64_t amount) {
  d.user_id = user_id;
  d.amount = amount;
  const auto key = balance_key(user_id);
  const int64_t balance = wallet_balance(x, user_id);
  if (amount > topics::kMaxBalance - balance) {
    d.outcome = topics::Outcome::kBalanceLimit;
    d.balance = balance;
    return;
  }
  d.outcome = topics::Outcome::kCredited;
  d.balance = balance + amount;
  x.st.put(key, std::to_string(*d.balance));
}

}  // namespace

int64_t wallet_balance(const Ctx& x, const std::string& user_id) {
  return std::stoll(x.st.get(balance_key(user_id)).value_or("0"));
}

std::optional<int64_t> debit(Ctx& x, const std::string& user_id, int64_t amount) {
  const int64_t balance = wallet_balance(x, user_id);
  if (balance < amount) return std::nullopt;
  x.st.put(balance_key(user_id), std::to_string(balance - amount));
  return balance - amount;
}

topics::Decision decide_refund(Ctx& x, const topics::Refund& refund) {
  auto d = base_decision(x.c, x.position, x.now);
  d.user_id = refund.user_id;
  d.order_id = refund.order_id;
  d.line = refund.line;
  d.amount = refund.amount;
  d.balance = wallet_balance(x, refund.user_id) + refund.amount;
  d.outcome = topics::Outcome::kRefunded;
  x.st.put(balance_key(refund.user_id), std::to_string(*d.balance));
  return d;
}

topics::Decision decide_charge(Ctx& x, const topics::Charge& charge) {
  auto d = base_decision(x.c, x.position, x.now);
  credit(x, d, charge.user_id, charge.amount);
  return d;
}

topics::Decision decide_reward(Ctx& x, const topics::Reward& reward) {
  auto d = base_decision(x.c, x.position, x.now);
  d.claim_request_id = reward.claim_request_id;
  d.coupon_seq = reward.coupon_seq;
  credit(x, d, reward.user_id, reward.amount);
  return d;
}

void start_rewards(Ctx& x, const topics::CreateEvent& spec) {
  if (spec.reward_average > 0) x.st.put(rewards_key(spec.event_id), encode_rewards({spec.reward_average, 0, 0}));
}

void reward_unit(Ctx& x, const EventState& e, const std::string& user_id, const std::string& claim_request_id,
                 int64_t n) {
  const auto key = rewards_key(e.spec.event_id);
  auto record = x.st.get(key);
  if (!record) return;  // an event without rewards
  auto rewards = decode_rewards(*record);
  const auto amount = topics::reward_amount(e.spec.event_id, n, rewards.average, rewards.count, rewards.sum);
  x.st.put(key, encode_rewards({rewards.average, rewards.count + 1, rewards.sum + amount}));
  x.emitted.push_back({topics::reward_request_id(e.spec.event_id, n), x.c.received_at,
                       topics::Reward{"", user_id, amount, claim_request_id, n}});
}

}  // namespace allot::processors::detail
