#pragma once
// Compares the MySQL and Redis projections with what allot.decisions says (DESIGN §4, promise 5),
// per event: every claim's current status (topics/claim_status.h) and coupon, every confirm, cancel and
// close_event request, the event's mode, stock, issued, held, entries, remaining and closed, the ranking;
// per user the wallet's balance and ledger; and every order's status, amount and reason.
// Used by `allotctl verify --projections` and by the projection tests.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "topics/messages.h"

namespace allot::topics {

struct ProjectedClaim {
  std::string user_id, status;  // status: the current one (held -> confirmed, entered -> won, ...)
  int64_t coupon_seq = 0;       // 0 when none
  int64_t hold_expires_at = 0;  // 0 when not held
  bool operator==(const ProjectedClaim&) const = default;
};

// A confirm, cancel or close_event request.
struct ProjectedRequest {
  std::string type, user_id, status, claim_request_id;
  int64_t coupon_seq = 0;
  int64_t ticket = 0, admitted_at = 0;  // a join's place in line and admission (0: none)
  bool operator==(const ProjectedRequest&) const = default;
};

struct ProjectedEvent {
  std::map<std::string, ProjectedClaim> claims;      // request id -> claim
  std::map<std::string, ProjectedRequest> requests;  // request id -> confirm, cancel, close_event
  std::string mode;                                  // "" when the event is not there
  int64_t stock = -1, issued = -1, held = -1, entries = -1, remaining = -1;
  bool closed = false;
  bool deleted = false;              // a delete_event erased its users: no user ids, no ranking
  std::vector<std::string> ranking;  // user ids in order of their first coupon
  // A seated event's seats in the map's order, "<seat>=<status>" (topics::seat_status).
  std::vector<std::string> seats;
  // A product's units sold as the popular-products ranking has it (Redis products:popular; MySQL: its
  // issued); 0 for every other event, a product nothing was sold of, and a deleted product.
  int64_t popular = 0;
  bool operator==(const ProjectedEvent&) const = default;
};

// The truth for one event, from its decisions (in partition order).
ProjectedEvent expected_projection(const std::vector<Decision>& decisions, const std::string& event_id);

// The ids to look up in Redis for what `expected` holds (claims and requests).
std::vector<std::string> request_ids(const ProjectedEvent& expected);

struct StoreAddress {
  std::string mysql_host = "127.0.0.1";
  int mysql_port = 13306;
  std::string mysql_user = "root", mysql_password, mysql_database = "allot";
  std::string redis_host = "127.0.0.1";
  int redis_port = 16379;
  std::string redis_prefix = "allot:";
};

// What each store holds for the event; `request_ids` are the claims and requests to look up in Redis.
// Throws std::runtime_error when a store is unreachable.
ProjectedEvent mysql_projection(const StoreAddress& a, const std::string& event_id);
ProjectedEvent redis_projection(const StoreAddress& a, const std::string& event_id,
                                const std::vector<std::string>& request_ids);

// "" when equal, else a one-line description of the first differences.
std::string describe_difference(const ProjectedEvent& expected, const ProjectedEvent& actual);

// A user's wallet: the balance after their newest wallet decision and the ledger, command offset ->
// "request_id outcome amount balance".
struct ProjectedWallet {
  int64_t balance = 0;
  std::map<int64_t, std::string> ledger;
  bool operator==(const ProjectedWallet&) const = default;
};
using ProjectedWallets = std::map<std::string, ProjectedWallet>;  // user id -> wallet

// The truth, from the wallet decisions; with `ledger_kept`, each ledger cut to its newest entries (Redis's).
ProjectedWallets expected_wallets(const std::vector<Decision>& decisions, size_t ledger_kept = SIZE_MAX);
// Every wallet MySQL holds (wallets and wallet_ledger).
ProjectedWallets mysql_wallets(const StoreAddress& a);
// The wallets of `users` as Redis holds them (a user without a wallet there is left out).
ProjectedWallets redis_wallets(const StoreAddress& a, const std::vector<std::string>& users);
// "" when equal, else the first differing wallets, one phrase each.
std::string describe_wallet_difference(const ProjectedWallets& expected, const ProjectedWallets& actual);

// An order as the projections hold it (MySQL `orders`, Redis `claim:<order id>`): placed, then paid or failed with
// its amount (0 while placed) and a failed order's reason.
struct ProjectedOrder {
  std::string user_id, status, reason;
  int64_t amount = 0;
  bool operator==(const ProjectedOrder&) const = default;
};
using ProjectedOrders = std::map<std::string, ProjectedOrder>;  // order id -> order

// The truth, from the orders placed and their order_result decisions.
ProjectedOrders expected_orders(const std::vector<Decision>& decisions);
// Every order MySQL holds.
ProjectedOrders mysql_orders(const StoreAddress& a);
// The orders `order_ids` as Redis holds them (one it does not hold is left out).
ProjectedOrders redis_orders(const StoreAddress& a, const std::vector<std::string>& order_ids);
// "" when equal, else the first differing orders, one phrase each.
std::string describe_order_difference(const ProjectedOrders& expected, const ProjectedOrders& actual);

}  // namespace allot::topics
