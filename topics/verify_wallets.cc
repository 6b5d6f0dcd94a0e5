#include "topics/verify_wallets.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace allot::topics {

void check_wallets(const VerifyInput& in, VerifyReport& r) {
  std::unordered_map<std::string, int64_t> asked;  // charge request id -> its command's amount
  for (const auto& c : in.commands) {
    if (const auto* charge = std::get_if<Charge>(&c.command.body)) asked[c.command.request_id] = charge->amount;
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
      if (auto it = asked.find(d->request_id); it != asked.end() && it->second != *d->amount) {
        r.violations.push_back(at + ": amount " + std::to_string(*d->amount) + " but the command asked " +
                               std::to_string(it->second));
      }
      int64_t expected = balance;
      if (d->outcome == Outcome::kCredited) {
        expected = balance + *d->amount;
        r.money_credited += *d->amount;
      } else if (d->outcome == Outcome::kBalanceLimit) {
        if (*d->amount <= kMaxBalance - balance) r.violations.push_back(at + ": refused a charge within the limit");
      } else {
        r.violations.push_back(at + ": outcome " + std::string(to_string(d->outcome)) + " for a charge");
      }
      if (*d->balance != expected) {
        r.violations.push_back(at + ": balance " + std::to_string(*d->balance) + " where the ledger gives " +
                               std::to_string(expected));
      }
      if (*d->balance < 0) r.violations.push_back(at + ": balance below zero");
      balance = expected;
    }
    r.money_held += balance;
    ++r.wallets;
  }
  if (r.money_credited != r.money_held) {
    r.violations.push_back("money: credited " + std::to_string(r.money_credited) + " but the wallets hold " +
                           std::to_string(r.money_held));
  }
}

}  // namespace allot::topics
