#pragma once
// The invariants of DESIGN §4, checked over what actually landed in allot.commands and
// allot.decisions (read_committed). Pure: the caller reads the topics; tests, the bench and
// `allotctl verify` share it. The checks are written from the contract, independently of decide().
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "topics/messages.h"

namespace allot::topics {

struct PositionedCommand {
  CommandPosition position;
  Command command;
};

struct VerifyInput {
  std::vector<PositionedCommand> commands;  // in any order
  std::vector<Decision> decisions;          // in any order
  // Request ids a client saw answered 202; each must have exactly one decision. May be empty.
  std::vector<std::string> accepted;
  // The users whose wallet decisions are all in `decisions` (rewards are checked for their units only);
  // nullopt: every wallet's.
  std::optional<std::set<std::string>> wallet_users = std::nullopt;
  // The events whose decisions are all in `decisions` (an order's steps on other events are not checked);
  // nullopt: every event's.
  std::optional<std::set<std::string>> events_read = std::nullopt;
};

struct VerifyReport {
  int64_t commands = 0;
  int64_t decisions = 0;
  int64_t events = 0;
  int64_t issued = 0;          // fcfs issued + holds confirmed + raffle winners
  int64_t live_holds = 0;      // holds not ended yet (their expiry is still ahead in stream time)
  int64_t deleted_events = 0;  // events a delete_event deleted (their later commands answered deleted)
  int64_t mega_events = 0;     // events split into slices (topics/verify_slices.h); each slice counts in events
  int64_t wallets = 0;         // users with a wallet decision (topics/verify_wallets.h)
  int64_t money_credited = 0;  // cents credited by charges, re-added from the log
  int64_t money_held = 0;      // cents the wallets hold after the last decision, walked from zero
  int64_t rewards = 0;         // units whose reward was checked against the rule
  // Orders (topics/verify_orders.h): placed, ended paid or failed, not ended yet; units sold by them; money
  // debited by paid orders and refunded (part of money_credited) for lines that could not be sold.
  int64_t orders = 0, orders_paid = 0, orders_failed = 0, orders_open = 0, units_sold = 0;
  int64_t money_paid = 0, money_refunded = 0;
  std::map<std::string, int64_t> outcomes;
  std::map<std::string, std::vector<std::string>> draws;  // raffle -> winners' user ids in rank order, re-derived
  std::map<std::string, std::vector<std::string>>
      shuffles;                         // waiting room -> pre-queued user ids by ticket, re-derived
  std::vector<std::string> violations;  // empty when every invariant holds
  bool ok() const { return violations.empty(); }
  std::string summary() const;  // one line of counts, then one line per violation (at most 20)
};

VerifyReport verify(const VerifyInput& input);

}  // namespace allot::topics
