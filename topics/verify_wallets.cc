#include "topics/verify_wallets.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "topics/rewards.h"

namespace allot::topics {

void check_wallets(const VerifyInput& in, VerifyReport& r) {
  // A charge's or reward's command amount, by the command's position (a retried key's later command, which
  // gets no decision, may ask another amount).
  std::map<std::pair<int32_t, int64_t>, int64_t> asked;
  for (const auto& c : in.commands) {
    const std::pair at{c.position.partition, c.position.offset};
    if (const auto* charge = std::get_if<Charge>(&c.command.body)) asked[at] = charge->amount;
    if (const auto* reward = std::get_if<Reward>(&c.command.body)) asked[at] = reward->amount;
  }
  std::map<std::string, std::vector<const Decision*>> wallets;
  for (const auto& d : in.decisions) {
    if (is_wallet_decision(d)) wallets[d.user_id].push_back(&d);
  }
  for (auto& [user, changes] : wallets) {
    const std::string who = "wallet " + user;
    std::set<int32_t> partitions;
    for (const auto* d : changes) partitions.insert(d->command.partition);
    if (partitions.size() > 1) r.violations.push_back(who + ": decided on more than one partition");
    std::stable_sort(changes.begin(), changes.end(),
                     [](const Decision* a, const Decision* b) { return a->command.offset < b->command.offset; });
    int64_t balance = 0;
    for (const auto* d : changes) {
      const std::string at = who + " at offset " + std::to_string(d->command.offset) + " (" + d->request_id + ")";
      if (!d->amount || !d->balance) {
        r.violations.push_back(at + ": a wallet decision without amount and balance");
        continue;
      }
      if (auto it = asked.find({d->command.partition, d->command.offset});
          it != asked.end() && it->second != *d->amount) {
        r.violations.push_back(at + ": amount " + std::to_string(*d->amount) + " but the command asked " +
                               std::to_string(it->second));
      }
      int64_t expected = balance;
      if (d->outcome == Outcome::kCredited || d->outcome == Outcome::kRefunded) {
        expected = balance + *d->amount;
        r.money_credited += *d->amount;
        if (d->outcome == Outcome::kRefunded) r.money_refunded += *d->amount;
      } else if (d->outcome == Outcome::kPaid) {
        expected = balance - *d->amount;
        r.money_paid += *d->amount;
      } else if (d->outcome == Outcome::kFailed) {
        if (d->reason == Outcome::kBalanceShort && *d->amount <= balance) {
          r.violations.push_back(at + ": balance_short with " + std::to_string(balance) + " for " +
                                 std::to_string(*d->amount));
        }
      } else if (d->outcome == Outcome::kBalanceLimit) {
        if (*d->amount <= kMaxBalance - balance) r.violations.push_back(at + ": refused a charge within the limit");
      } else {
        r.violations.push_back(at + ": outcome " + std::string(to_string(d->outcome)) + " for a " + d->type);
      }
      if (*d->balance != expected) {
        r.violations.push_back(at + ": balance " + std::to_string(*d->balance) + " where the ledger gives " +
                               std::to_string(expected));
      }
      if (*d->balance < 0) r.violations.push_back(at + ": balance below zero");
      balance = expected;
    }
    // What the wallet holds by its own last decision (the walk above checked each step against it).
    for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
      if ((*it)->balance) {
        r.money_held += *(*it)->balance;
        break;
      }
    }
    ++r.wallets;
  }
  if (r.money_credited - r.money_paid != r.money_held) {
    r.violations.push_back("money: credited " + std::to_string(r.money_credited) + " less paid " +
                           std::to_string(r.money_paid) + " but the wallets hold " + std::to_string(r.money_held));
  }
}

std::optional<Issue> issue_of(const Decision& d) {
  if (!d.coupon_seq) return std::nullopt;
  if (d.type == decision_type::kClaim && d.outcome == Outcome::kIssued)
    return Issue{*d.coupon_seq, d.request_id, d.user_id};
  if (d.type == decision_type::kConfirm && d.outcome == Outcome::kConfirmed) {
    return Issue{*d.coupon_seq, d.claim_request_id, d.user_id};
  }
  if (d.type == decision_type::kDrawResult && d.outcome == Outcome::kWon)
    return Issue{*d.coupon_seq, d.request_id, d.user_id};
  return std::nullopt;
}

void check_rewards(const VerifyInput& in, VerifyReport& r) {
  auto wallet_read = [&](const std::string& user) { return !in.wallet_users || in.wallet_users->count(user) > 0; };
  std::map<std::string, int64_t> average;              // event -> reward_average, for events with rewards
  std::map<std::string, std::string> event_of_prefix;  // "rw-<hash>-" -> the event, for every event created
  std::unordered_map<std::string, std::vector<const Decision*>> rewards;  // claim request id -> its rewards
  for (const auto& d : in.decisions) {
    if (d.type == decision_type::kCreateEvent && d.outcome == Outcome::kCreated && d.event) {
      auto id = reward_request_id(d.event_id, 1);
      event_of_prefix[id.substr(0, id.size() - 1)] = d.event_id;
      if (d.event->reward_average > 0) average[d.event_id] = d.event->reward_average;
    }
    if (d.type == decision_type::kReward) rewards[d.claim_request_id].push_back(&d);
  }
  std::set<const Decision*> matched;
  std::map<std::string, std::vector<Issue>> issues;
  for (const auto& d : in.decisions) {
    if (!average.count(d.event_id)) continue;
    if (auto issue = issue_of(d)) issues[d.event_id].push_back(std::move(*issue));
  }
  for (auto& [event, units] : issues) {
    std::sort(units.begin(), units.end(), [](const Issue& a, const Issue& b) { return a.n < b.n; });
    int64_t count = 0, sum = 0;
    for (const auto& unit : units) {
      const auto want = reward_amount(event, unit.n, average[event], count, sum);
      ++count;
      sum += want;
      if (!wallet_read(unit.user_id)) continue;  // its wallet was not read: not checked here
      const std::string at = event + " unit " + std::to_string(unit.n) + " (" + unit.claim_request_id + ")";
      const auto& paid = rewards[unit.claim_request_id];
      matched.insert(paid.begin(), paid.end());
      if (paid.size() != 1) {
        r.violations.push_back(at + ": " + std::to_string(paid.size()) + " rewards, not 1");
        continue;
      }
      const auto& d = *paid.front();
      if (d.user_id != unit.user_id || d.amount != want || d.coupon_seq != unit.n ||
          d.request_id != reward_request_id(event, unit.n)) {
        r.violations.push_back(at + ": reward of " + std::to_string(d.amount.value_or(0)) + " to " + d.user_id +
                               " where the rule gives " + std::to_string(want) + " to " + unit.user_id);
      }
      ++r.rewards;
    }
  }
  // A reward for no unit issued (of an event this input holds): money from nowhere.
  for (const auto& [claim, paid] : rewards) {
    for (const auto* d : paid) {
      if (matched.count(d)) continue;
      const auto dash = d->request_id.rfind('-');
      auto it =
          dash == std::string::npos ? event_of_prefix.end() : event_of_prefix.find(d->request_id.substr(0, dash + 1));
      if (it != event_of_prefix.end()) {
        r.violations.push_back("reward " + d->request_id + " to " + d->user_id + ": for no unit issued of " +
                               it->second + " (claim " + claim + ")");
      }
    }
  }
}

}  // namespace allot::topics
