#pragma once
// The MySQL projection of allot.decisions (MariaDB 10.11 here, MySQL 8.0 in compose): tables `events`,
// `claims`, `claim_counts`, `requests`, `wallet_ledger`, `wallets`, `reservations`, `seats` and `orders` of
// sinks/schema.sql, applied at every (re)connect.
//
// One database transaction per batch:
//   1. events: one row per decision that carries the event (create_event: created or already_exists),
//      INSERT ... ON DUPLICATE KEY UPDATE of the event's description (mode and hold_ms included);
//   2. claims: one row per claim decision, keyed by request_id, multi-row upserts; `outcome` and, on
//      first sight, `status` are the claim's own outcome (a status set later is kept);
//   3. claims a later decision ends (topics/claim_status.h: confirm, cancel, hold_expired, draw_result)
//      get their final status, coupon_seq (confirmed, won) and ended_at, grouped UPDATEs;
//   4. requests: one row per confirm, cancel and close_event decision; events they closed get closed = 1;
//      wallet_ledger: one row per charge; wallets: each user's balance from their newest ledger row;
//      orders: one row per order, placed, then its end (an order_result);
//   5. claim_counts: the slices of 1000 command offsets the batch touched (a claim's slice is that of
//      its own command, also when a later decision ended it) are recounted from `claims`;
//   6. the counters of every touched event are derived from its slices (issued, held, entries,
//      claims_received, remaining = stock - issued - held, updated_at), never incremented.
// Applying the same batch twice therefore leaves every row as it was, and a batch costs the same
// whether its event has a hundred claims or a million.
//
// Owned by the sink's main; used from the DecisionSource thread only (a MYSQL* is not thread-safe).
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/mysql.h"
#include "sinks/decision_source.h"
#include "topics/claim_status.h"

namespace allot::sinks {

struct MysqlOptions {
  std::string host = "127.0.0.1";
  int port = 13306;
  std::string user = "root";
  std::string password;  // secret: never logged
  std::string database = "allot";
  int connect_timeout_s = 3;
  int io_timeout_s = 10;         // read and write timeout of one statement
  size_t rows_per_insert = 500;  // rows of one multi-row INSERT
};

// The schema of sinks/schema.sql (compiled in), one statement per element.
std::vector<std::string> mysql_schema_statements();

class MysqlProjection : public Projection {
 public:
  // `rows_written` (optional) counts the rows upserted; it must outlive the projection.
  explicit MysqlProjection(MysqlOptions options, metrics::Counter* rows_written = nullptr);
  ~MysqlProjection() override;

  // Throws std::runtime_error on any database error, after dropping the connection (which rolls the
  // open transaction back); the next call reconnects.
  void apply(const std::vector<topics::Decision>& batch) override;
  // Connects (applying the schema) when not connected, then pings.
  void check() override;

 private:
  st_mysql* connection();
  void repair();
  // Runs a statement that returns no rows; fails on any error but `harmless_errno` (0: none), which is ignored.
  void exec(const std::string& sql, unsigned harmless_errno = 0);
  mysql::Result select(const std::string& sql);
  int64_t query_number(const std::string& sql);
  // `head` + rows (comma-separated, rows_per_insert a statement) + `tail`, each chunk executed; returns the row count.
  double insert_rows(const std::string& head, const std::vector<std::string>& rows, const std::string& tail);
  // Step 3 of apply (see the top); adds the slices of the ended claims to `slices`.
  void apply_endings(const std::vector<std::pair<topics::ClaimEnding, int64_t>>& endings,
                     std::set<std::tuple<std::string, int32_t, int64_t>>& slices);
  // Step 4a of apply: the tickets and admissions of joins (join request id -> place), on the joins' rows.
  void apply_join_places(const std::map<std::string, topics::JoinPlace>& places);
  // Step 4b of apply: the wallet decisions' ledger rows and the balances they leave; returns the rows written.
  double apply_wallets(const std::vector<const topics::Decision*>& changes);
  double apply_reservations(const std::vector<const topics::Decision*>& changes);
  // Step 4b too: orders placed (an order decision) and ended (an order_result), in log order.
  double apply_orders(const std::vector<const topics::Decision*>& changes);
  [[noreturn]] void fail(const std::string& what);
  std::string quote(const std::string& text);

  MysqlOptions opt_;
  metrics::Counter* rows_written_;
  mysql::Connection db_;
};

}  // namespace allot::sinks
