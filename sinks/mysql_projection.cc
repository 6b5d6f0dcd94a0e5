#include "sinks/mysql_projection.h"

#include <mysql.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

#include "common/log.h"
#include "common/sql_script.h"

namespace allot::sinks {

extern const char* const kSchemaSql;  // schema_sql.cc, generated from schema.sql

namespace {

using topics::Outcome;

std::string number(int64_t v) { return std::to_string(v); }
std::string number_or_null(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "NULL"; }

// The width of a claim_counts slice, in command offsets: part of that table's key (schema.sql).
constexpr int64_t kBucketWidth = 1000;
// Slices recounted by one statement.
constexpr size_t kSlicesPerStatement = 200;

// A claim's current status; rows projected before event modes have none, and their outcome is final.
constexpr const char* kStatus = "COALESCE(status, outcome)";

// One of our own words (topics/vocabulary.h) as an SQL string: none needs escaping.
std::string word(std::string_view w) { return "'" + std::string(w) + "'"; }

// Recounts the claim_counts slices of the `claims` rows matching `where` (all rows when empty).
std::string recount_slices(const std::string& where) {
  using namespace topics::outcome;
  const std::string slice = "command_offset DIV " + number(kBucketWidth);
  const std::string issued = "(" + word(kIssued) + ", " + word(kConfirmed) + ", " + word(kWon) + ")";  // is_issued
  return "INSERT INTO claim_counts (event_id, command_partition, bucket, issued, received, last_decided_at, held,"
         " entries) SELECT event_id, command_partition, " +
         slice + ", SUM(" + kStatus + " IN " + issued +
         "), COUNT(*), MAX(GREATEST(decided_at, COALESCE(ended_at, 0))), SUM(" + kStatus + " = " + word(kHeld) +
         "), SUM(outcome = " + word(kEntered) + ") FROM claims WHERE outcome <> " + word(kUnknownEvent) +
         (where.empty() ? "" : " AND (" + where + ")") + " GROUP BY event_id, command_partition, " + slice +
         " ON DUPLICATE KEY UPDATE issued = VALUES(issued), received = VALUES(received),"
         " last_decided_at = VALUES(last_decided_at), held = VALUES(held), entries = VALUES(entries)";
}

// An event's counters from its claim_counts slices: kDeriveEventCounters, a WHERE on event_id (or
// none, for all events), " GROUP BY event_id) c ON c.event_id = e.event_id", then kSetEventCounters.
constexpr const char* kDeriveEventCounters =
    "UPDATE events e JOIN (SELECT event_id, SUM(issued) AS issued, SUM(held) AS held, SUM(entries) AS entries,"
    " SUM(received) AS received, MAX(last_decided_at) AS last FROM claim_counts";
constexpr const char* kSetEventCounters =
    " SET e.issued = c.issued, e.held = c.held, e.entries = c.entries, e.remaining = e.stock - c.issued - c.held,"
    " e.claims_received = c.received, e.updated_at = GREATEST(e.updated_at, c.last)";

// A sale event's issued (sold), held (reserved) and remaining units from its reservations (README
// "Orders"), for the events `where` names (or all); an event without reservations is left alone.
std::string derive_sale_counters(const std::string& where) {
  return "UPDATE events e JOIN (SELECT event_id, SUM(IF(state = 'sold', qty, 0)) AS sold,"
         " SUM(IF(state = 'reserved', qty, 0)) AS reserved, MAX(decided_at) AS last FROM reservations" +
         where +
         " GROUP BY event_id) r ON r.event_id = e.event_id"
         " SET e.issued = r.sold, e.held = r.reserved, e.remaining = e.stock - r.sold - r.reserved,"
         " e.updated_at = GREATEST(e.updated_at, r.last)";
}

// Columns added after a table's first version: (table, column, definition), added at connect when missing.
constexpr std::tuple<const char*, const char*, const char*> kAddedColumns[] = {
    {"events", "mode", "VARCHAR(16) NOT NULL DEFAULT 'fcfs'"},
    {"events", "hold_ms", "BIGINT NOT NULL DEFAULT 0"},
    {"events", "held", "BIGINT NOT NULL DEFAULT 0"},
    {"events", "entries", "BIGINT NOT NULL DEFAULT 0"},
    {"events", "closed", "TINYINT NOT NULL DEFAULT 0"},
    {"events", "deleted", "TINYINT NOT NULL DEFAULT 0"},
    {"requests", "ticket", "BIGINT NULL"},
    {"requests", "admitted_at", "BIGINT NULL"},
    {"claims", "status", "VARCHAR(32) NULL"},
    {"claims", "hold_expires_at", "BIGINT NULL"},
    {"claims", "ended_at", "BIGINT NULL"},
    {"claim_counts", "held", "BIGINT NOT NULL DEFAULT 0"},
    {"claim_counts", "entries", "BIGINT NOT NULL DEFAULT 0"},
};

// An event's description and the latest decision that carried it, within one batch.
struct EventRow {
  topics::CreateEvent spec;
  int64_t decided_at = 0;
};

}  // namespace

std::vector<std::string> mysql_schema_statements() { return split_sql_script(kSchemaSql); }

MysqlProjection::MysqlProjection(MysqlOptions options, metrics::Counter* rows_written)
    : opt_(std::move(options)), rows_written_(rows_written) {}

MysqlProjection::~MysqlProjection() = default;

void MysqlProjection::fail(const std::string& what) {
  std::string why = "mysql " + opt_.host + ":" + std::to_string(opt_.port) + ": " + what;
  if (db_) why += ": " + std::string(mysql_error(db_.get())) + " (" + std::to_string(mysql_errno(db_.get())) + ")";
  db_.reset();  // closing the connection rolls back whatever transaction was open
  throw std::runtime_error(why);
}

MYSQL* MysqlProjection::connection() {
  if (db_) return db_.get();
  db_ = mysql::connect({.host = opt_.host,
                        .port = opt_.port,
                        .user = opt_.user,
                        .password = opt_.password,
                        .database = opt_.database,
                        .connect_timeout_s = opt_.connect_timeout_s,
                        .io_timeout_s = opt_.io_timeout_s});
  // The schema at every (re)connect: idempotent, and a database recreated meanwhile gets it back.
  for (const auto& statement : mysql_schema_statements()) exec(statement);
  repair();
  return db_.get();
}

mysql::Result MysqlProjection::select(const std::string& sql) {
  if (mysql_real_query(db_.get(), sql.data(), sql.size()) != 0) fail("query " + sql.substr(0, 60) + "...");
  mysql::Result res(mysql_store_result(db_.get()));
  if (!res) fail("no result from " + sql.substr(0, 60) + "...");
  return res;
}

int64_t MysqlProjection::query_number(const std::string& sql) {
  auto res = select(sql);
  MYSQL_ROW row = mysql_fetch_row(res.get());
  if (!row || !row[0]) fail("no value from " + sql.substr(0, 60) + "...");
  return std::stoll(row[0]);
}

void MysqlProjection::repair() {
  // CREATE TABLE IF NOT EXISTS leaves an older table as it was: add the columns and the index since.
  for (const auto& [table, column, definition] : kAddedColumns) {
    if (query_number(std::string("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
                                 " AND TABLE_NAME = '") +
                     table + "' AND COLUMN_NAME = '" + column + "'") == 0) {
      log_warn("sink-mysql", std::string("adding column ") + column + " to an existing " + table + " table");
      exec(std::string("ALTER TABLE ") + table + " ADD COLUMN " + column + " " + definition);
    }
  }
  // The slice recount's index covers what it reads since issue 23 (schema.sql: claims_slice_recount); an older
  // claims table has claims_event_position (three columns) or neither. The new index is added under its own name
  // before the old one goes, so each step can be repeated: a sink whose connection timed out during a long ALTER
  // (the server finishes it), or a second sink starting at the same time, finds the step done, or gets the error
  // of a step already done, which is ignored.
  constexpr unsigned kDuplicateKeyName = 1061, kCantDropKey = 1091;  // ER_DUP_KEYNAME, ER_CANT_DROP_FIELD_OR_KEY
  auto has_index = [&](const std::string& name) {
    return query_number(
               "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
               " AND TABLE_NAME = 'claims' AND INDEX_NAME = '" +
               name + "'") > 0;
  };
  if (!has_index("claims_slice_recount")) {
    log_warn("sink-mysql", "adding index claims_slice_recount to an existing claims table");
    exec(
        "ALTER TABLE claims ADD INDEX claims_slice_recount (event_id, command_partition, command_offset, outcome,"
        " status, decided_at, ended_at)",
        kDuplicateKeyName);
  }
  if (has_index("claims_event_position")) {
    log_warn("sink-mysql", "dropping index claims_event_position (claims_slice_recount covers its lookups)");
    exec("ALTER TABLE claims DROP INDEX claims_event_position", kCantDropKey);
  }
  // claim_counts is derived from claims: rebuilt whole when it is empty but claims is not (a table
  // created by an older sink, or emptied by hand), so that recounting only touched slices stays exact.
  if (query_number("SELECT EXISTS(SELECT 1 FROM claims) AND NOT EXISTS(SELECT 1 FROM claim_counts)") == 1) {
    log_warn("sink-mysql", "claim_counts is empty but claims is not: rebuilding it from claims");
    exec("START TRANSACTION");
    exec(recount_slices(""));
    exec(kDeriveEventCounters + std::string(" GROUP BY event_id) c ON c.event_id = e.event_id") + kSetEventCounters);
    exec(derive_sale_counters(""));
    if (mysql_commit(db_.get()) != 0) fail("commit");
  }
}

void MysqlProjection::exec(const std::string& sql, unsigned harmless_errno) {
  MYSQL* db = db_.get();
  if (mysql_real_query(db, sql.data(), sql.size()) != 0) {
    if (harmless_errno != 0 && mysql_errno(db) == harmless_errno) return;
    fail("statement " + sql.substr(0, 60) + "...");
  }
  // Statements here return no rows, but a result must still be consumed before the next one.
  if (MYSQL_RES* r = mysql_store_result(db)) mysql_free_result(r);
}

double MysqlProjection::insert_rows(const std::string& head, const std::vector<std::string>& rows,
                                    const std::string& tail) {
  for (size_t i = 0; i < rows.size(); i += opt_.rows_per_insert) {
    std::string sql = head;
    for (size_t k = i; k < std::min(rows.size(), i + opt_.rows_per_insert); ++k) sql += (k > i ? "," : "") + rows[k];
    exec(sql + tail);
  }
  return static_cast<double>(rows.size());
}

std::string MysqlProjection::quote(const std::string& text) { return mysql::quote(db_.get(), text); }

double MysqlProjection::apply_wallets(const std::vector<const topics::Decision*>& changes) {
  std::vector<std::string> ledger;
  std::map<std::string, const topics::Decision*> latest;  // user -> their newest decision of the batch
  for (const auto* d : changes) {
    ledger.push_back("(" + quote(d->request_id) + "," + quote(d->user_id) + "," + quote(d->type) + "," +
                     quote(std::string(topics::to_string(d->outcome))) + "," + number(d->amount.value_or(0)) + "," +
                     number(d->balance.value_or(0)) + "," + number(d->command.partition) + "," +
                     number(d->command.offset) + "," + number(d->decided_at) + ")");
    auto& newest = latest[d->user_id];
    if (!newest || newest->command.offset < d->command.offset) newest = d;
  }
  double rows = insert_rows(
      "INSERT INTO wallet_ledger (request_id, user_id, type, outcome, amount, balance, command_partition,"
      " command_offset, decided_at) VALUES ",
      ledger,
      " ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), type = VALUES(type), outcome = VALUES(outcome),"
      " amount = VALUES(amount), balance = VALUES(balance), command_partition = VALUES(command_partition),"
      " command_offset = VALUES(command_offset), decided_at = VALUES(decided_at)");
  std::vector<std::string> balances;
  for (const auto& [user, d] : latest) {
    balances.push_back("(" + quote(user) + "," + number(d->balance.value_or(0)) + "," + number(d->command.offset) +
                       "," + number(d->decided_at) + ")");
  }
  // MySQL assigns left to right, each seeing the ones before: the offset goes last.
  rows += insert_rows("INSERT INTO wallets (user_id, balance, command_offset, updated_at) VALUES ", balances,
                      " ON DUPLICATE KEY UPDATE"
                      " balance = IF(VALUES(command_offset) > command_offset, VALUES(balance), balance),"
                      " updated_at = IF(VALUES(command_offset) > command_offset, VALUES(updated_at), updated_at),"
                      " command_offset = GREATEST(command_offset, VALUES(command_offset))");
  return rows;
}

void MysqlProjection::check() {
  connection();
  if (mysql_ping(db_.get()) != 0) fail("ping");
}

void MysqlProjection::apply(const std::vector<topics::Decision>& batch) {
  // What the batch says, event by event and claim by claim.
  std::map<std::string, EventRow> events;
  std::vector<const topics::Decision*> claims, requests;
  std::vector<std::pair<topics::ClaimEnding, int64_t>> endings;  // with the ending decision's decided_at
  std::map<std::string, int64_t> closed;                         // event -> latest decided_at of its close
  std::set<std::string> deleted;                                 // events a delete_event deleted
  std::set<std::string> touched;
  std::set<std::tuple<std::string, int32_t, int64_t>> slices;  // (event, command partition, bucket)
  std::map<std::string, topics::JoinPlace> places;             // join request id -> its later ticket, admission
  std::vector<const topics::Decision*> wallet_changes;         // charges
  std::vector<const topics::Decision*> reservations;           // a sale event's units reserved, sold, released
  std::vector<const topics::Decision*> orders;                 // placed, and their order_result
  std::set<std::string> sales;                                 // the sale events they touch
  // (event, seat) -> (position, status, decided_at): the batch's last word on each seat (a position of 0
  // keeps the row's own).
  std::map<std::pair<std::string, std::string>, std::tuple<int64_t, std::string, int64_t>> seats;
  for (const auto& d : batch) {
    if (d.type == topics::decision_type::kCreateEvent && d.outcome == Outcome::kCreated && d.event) {
      for (size_t i = 0; i < d.event->seats.size(); ++i) {
        seats[{d.event_id, d.event->seats[i]}] = {static_cast<int64_t>(i) + 1, std::string(topics::seat_state::kFree),
                                                  d.decided_at};
      }
    }
    if (auto status = topics::seat_status(d)) {
      auto& s = seats[{d.event_id, d.seat}];
      s = {std::get<0>(s), std::string(*status), d.decided_at};
    }
    if (topics::is_wallet_decision(d)) wallet_changes.push_back(&d);
    if (topics::is_order_row_decision(d)) orders.push_back(&d);
    if (topics::moves_reservation(d)) {
      reservations.push_back(&d);
      sales.insert(d.event_id);
    }
    if (d.event) {
      auto& row = events[d.event_id];
      row.spec = *d.event;
      row.decided_at = std::max(row.decided_at, d.decided_at);
      touched.insert(d.event_id);
    }
    if (d.type == topics::decision_type::kClaim) {
      claims.push_back(&d);
      if (d.outcome != Outcome::kUnknownEvent) {
        touched.insert(d.event_id);
        slices.insert({d.event_id, d.command.partition, d.command.offset / kBucketWidth});
      }
    }
    if (topics::is_request_record(d)) requests.push_back(&d);
    if (d.type == topics::decision_type::kQueueTicket || d.type == topics::decision_type::kAdmission) {
      auto place = *topics::join_place(d);
      auto& p = places[place.join_request_id];
      p.join_request_id = place.join_request_id;
      if (place.ticket) p.ticket = place.ticket;
      if (place.admitted_at) p.admitted_at = place.admitted_at;
    }
    if (auto ending = topics::claim_ending(d)) {
      endings.emplace_back(std::move(*ending), d.decided_at);
      touched.insert(d.event_id);
    }
    if (topics::closes_event(d)) closed[d.event_id] = std::max(closed[d.event_id], d.decided_at);
    if (topics::deletes_event(d)) deleted.insert(d.event_id);
  }
  if (events.empty() && claims.empty() && requests.empty() && endings.empty() && places.empty() &&
      wallet_changes.empty() && reservations.empty() && seats.empty() && orders.empty()) {
    return;
  }

  connection();
  exec("START TRANSACTION");
  double rows = 0;

  // 1. Events: the description from the decision; counters start at zero and are derived below.
  std::vector<std::string> values;
  for (const auto& [id, e] : events) {
    values.push_back("(" + quote(id) + "," + quote(e.spec.title) + "," + number(e.spec.stock) + "," +
                     number(e.spec.per_user_limit) + "," + number_or_null(e.spec.opens_at) + "," +
                     number_or_null(e.spec.closes_at) + "," + quote(std::string(topics::to_string(e.spec.mode))) + "," +
                     number(e.spec.hold_ms) + ",0," + number(e.spec.stock) + ",0," + number(e.decided_at) + ")");
  }
  rows += insert_rows(
      "INSERT INTO events (event_id, title, stock, per_user_limit, opens_at, closes_at, mode, hold_ms, issued,"
      " remaining, claims_received, updated_at) VALUES ",
      values,
      " ON DUPLICATE KEY UPDATE title = VALUES(title), stock = VALUES(stock),"
      " per_user_limit = VALUES(per_user_limit), opens_at = VALUES(opens_at), closes_at = VALUES(closes_at),"
      " mode = VALUES(mode), hold_ms = VALUES(hold_ms), remaining = VALUES(stock) - issued - held,"
      " updated_at = GREATEST(updated_at, VALUES(updated_at))");

  // 2. Claims: one row per request id; a repeated decision writes the same values again, except that a
  //    status (or coupon) a later decision gave the claim stays: re-applying cannot move it back.
  values.clear();
  for (const auto* d : claims) {
    const auto outcome = quote(std::string(topics::to_string(d->outcome)));
    values.push_back("(" + quote(d->request_id) + "," + quote(d->event_id) + "," + quote(topics::projected_user(*d)) +
                     "," + outcome + "," + outcome + "," + number_or_null(d->coupon_seq) + "," +
                     number_or_null(d->hold_expires_at) + "," + number(d->command.partition) + "," +
                     number(d->command.offset) + "," + number(d->decided_at) + "," + number(d->received_at) + ")");
  }
  rows += insert_rows(
      "INSERT INTO claims (request_id, event_id, user_id, outcome, status, coupon_seq, hold_expires_at,"
      " command_partition, command_offset, decided_at, received_at) VALUES ",
      values,
      " ON DUPLICATE KEY UPDATE event_id = VALUES(event_id), user_id = VALUES(user_id), outcome = VALUES(outcome),"
      " status = COALESCE(status, VALUES(status)), coupon_seq = COALESCE(coupon_seq, VALUES(coupon_seq)),"
      " hold_expires_at = VALUES(hold_expires_at), command_partition = VALUES(command_partition),"
      " command_offset = VALUES(command_offset), decided_at = VALUES(decided_at), received_at = VALUES(received_at)");

  // 3. Held and entered claims that ended: their final status (each ends once, so re-applying writes the
  //    same), and the slices of their own commands to recount.
  if (!endings.empty()) apply_endings(endings, slices);
  rows += static_cast<double>(endings.size());

  // 4. Confirm, cancel and close_event decisions: a record of the request, and the events they closed.
  //    A join's own ticket and admission are its row's; a later ticket or admission (4a) is not undone by
  //    re-applying the join.
  values.clear();
  for (const auto* d : requests) {
    auto place = topics::join_place(*d).value_or(topics::JoinPlace{});
    values.push_back("(" + quote(d->request_id) + "," + quote(d->type) + "," + quote(d->event_id) + "," +
                     (topics::projected_user(*d).empty() ? "NULL" : quote(d->user_id)) + "," +
                     (d->claim_request_id.empty() ? "NULL" : quote(d->claim_request_id)) + "," +
                     quote(std::string(topics::to_string(d->outcome))) + "," + number_or_null(d->coupon_seq) + "," +
                     number_or_null(place.ticket) + "," + number_or_null(place.admitted_at) + "," +
                     number(d->command.partition) + "," + number(d->command.offset) + "," + number(d->decided_at) +
                     "," + number(d->received_at) + ")");
  }
  rows += insert_rows(
      "INSERT INTO requests (request_id, type, event_id, user_id, claim_request_id, outcome, coupon_seq, ticket,"
      " admitted_at, command_partition, command_offset, decided_at, received_at) VALUES ",
      values,
      " ON DUPLICATE KEY UPDATE type = VALUES(type), event_id = VALUES(event_id), user_id = VALUES(user_id),"
      " claim_request_id = VALUES(claim_request_id), outcome = VALUES(outcome), coupon_seq = VALUES(coupon_seq),"
      " ticket = COALESCE(VALUES(ticket), ticket), admitted_at = COALESCE(VALUES(admitted_at), admitted_at),"
      " command_partition = VALUES(command_partition), command_offset = VALUES(command_offset),"
      " decided_at = VALUES(decided_at), received_at = VALUES(received_at)");
  // 4a. Tickets dealt at the opening and admissions: fields of their joins' rows, written above or before
  //     (a join is decided before its ticket or admission, on the same partition).
  apply_join_places(places);
  for (const auto& [id, at] : closed) {
    exec("UPDATE events SET closed = 1, updated_at = GREATEST(updated_at, " + number(at) +
         ") WHERE event_id = " + quote(id));
  }

  // 4b. Wallets: the ledger rows, then each balance from the newest of them (by command offset).
  if (!wallet_changes.empty()) rows += apply_wallets(wallet_changes);
  if (!reservations.empty()) rows += apply_reservations(reservations);
  if (!orders.empty()) rows += apply_orders(orders);
  if (!seats.empty()) {
    values.clear();
    for (const auto& [key, s] : seats) {
      const auto& [position, status, at] = s;
      values.push_back("(" + quote(key.first) + "," + quote(key.second) + "," + number(position) + "," + quote(status) +
                       "," + number(at) + ")");
    }
    rows += insert_rows("INSERT INTO seats (event_id, seat, position, status, decided_at) VALUES ", values,
                        " ON DUPLICATE KEY UPDATE position = IF(VALUES(position) = 0, position, VALUES(position)),"
                        " status = VALUES(status), decided_at = VALUES(decided_at)");
  }

  // 4c. Deleted events: their rows keep statuses and coupons (the counters stay derived from them) but
  //     lose every user id, those written by earlier statements of this batch included.
  for (const auto& id : deleted) {
    exec("UPDATE claims SET user_id = '' WHERE event_id = " + quote(id) + " AND user_id <> ''");
    exec("UPDATE requests SET user_id = NULL WHERE event_id = " + quote(id) + " AND user_id IS NOT NULL");
    exec("UPDATE events SET deleted = 1 WHERE event_id = " + quote(id));
  }

  // 5. Recount the touched slices of each event from `claims` (at most kBucketWidth rows each)...
  std::string conditions;
  size_t n = 0;
  for (const auto& [id, partition, bucket] : slices) {
    conditions += std::string(n ? " OR " : "") + "(event_id = " + quote(id) +
                  " AND command_partition = " + number(partition) + " AND command_offset BETWEEN " +
                  number(bucket * kBucketWidth) + " AND " + number(bucket * kBucketWidth + kBucketWidth - 1) + ")";
    if (++n >= kSlicesPerStatement || n == slices.size()) {
      exec(recount_slices(conditions));
      conditions.clear();
    }
  }

  // 6. ...and derive the counters of the touched events from their slices: never an increment.
  if (!touched.empty()) {
    std::string ids;
    for (const auto& id : touched) ids += (ids.empty() ? "" : ",") + quote(id);
    exec(kDeriveEventCounters + std::string(" WHERE event_id IN (") + ids +
         ") GROUP BY event_id) c ON c.event_id = e.event_id" + kSetEventCounters);
  }

  // 7. A sale event's units from its reservations: after 6, which counted its claims (order_only, none
  // issued) for every touched event, a sale among them too.
  sales.insert(touched.begin(), touched.end());
  if (!sales.empty()) {
    std::string ids;
    for (const auto& id : sales) ids += (ids.empty() ? "" : ",") + quote(id);
    exec(derive_sale_counters(" WHERE event_id IN (" + ids + ")"));
  }

  if (mysql_commit(db_.get()) != 0) fail("commit");
  if (rows_written_) rows_written_->inc(rows);
}

double MysqlProjection::apply_orders(const std::vector<const topics::Decision*>& changes) {
  struct Row {
    std::string user, status;
    std::optional<int64_t> amount, partition, offset, placed_at, ended_at;
    std::string reason;
  };
  std::map<std::string, Row> rows;  // order id -> what the batch says, its decisions in log order
  for (const auto* d : changes) {
    auto& r = rows[d->order_id];
    r.user = d->user_id;
    if (d->type == topics::decision_type::kOrder) {
      if (r.status.empty()) r.status = topics::outcome::kPlaced;
      r.partition = d->command.partition;
      r.offset = d->command.offset;
      r.placed_at = d->decided_at;
    } else {
      r.status = topics::to_string(d->outcome);
      r.amount = d->amount;
      r.reason = d->reason ? std::string(topics::to_string(*d->reason)) : "";
      r.ended_at = d->decided_at;
    }
  }
  std::vector<std::string> values;
  for (const auto& [id, r] : rows) {
    values.push_back("(" + quote(id) + "," + quote(r.user) + "," + quote(r.status) + "," + number_or_null(r.amount) +
                     "," + (r.reason.empty() ? "NULL" : quote(r.reason)) + "," + number_or_null(r.partition) + "," +
                     number_or_null(r.offset) + "," + number_or_null(r.placed_at) + "," + number_or_null(r.ended_at) +
                     ")");
  }
  // A placed decision fills what it knows and leaves an end alone: the IFs test the incoming status (VALUES), which
  // no assignment changes; a test of the row's own status would see the ones already assigned (left to right).
  return insert_rows(
      "INSERT INTO orders (order_id, user_id, status, amount, reason, command_partition, command_offset, placed_at,"
      " ended_at) VALUES ",
      values,
      " ON DUPLICATE KEY UPDATE user_id = VALUES(user_id),"
      " amount = IF(VALUES(status) = 'placed', amount, VALUES(amount)),"
      " reason = IF(VALUES(status) = 'placed', reason, VALUES(reason)),"
      " ended_at = IF(VALUES(status) = 'placed', ended_at, VALUES(ended_at)),"
      " command_partition = COALESCE(VALUES(command_partition), command_partition),"
      " command_offset = COALESCE(VALUES(command_offset), command_offset),"
      " placed_at = COALESCE(VALUES(placed_at), placed_at),"
      " status = IF(VALUES(status) = 'placed', status, VALUES(status))");
}

double MysqlProjection::apply_reservations(const std::vector<const topics::Decision*>& changes) {
  std::vector<std::string> rows;
  for (const auto* d : changes) {
    rows.push_back("(" + quote(d->event_id) + "," + quote(d->order_id) + "," + number(d->line.value_or(0)) + "," +
                   quote(d->user_id) + "," + number(d->qty.value_or(0)) + "," +
                   quote(std::string(topics::to_string(d->outcome))) + "," + number(d->decided_at) + ")");
  }
  // A reservation only ends: an ended state is never written back to reserved.
  return insert_rows("INSERT INTO reservations (event_id, order_id, line, user_id, qty, state, decided_at) VALUES ",
                     rows, " ON DUPLICATE KEY UPDATE state = IF(VALUES(state) = 'reserved', state, VALUES(state))");
}

void MysqlProjection::apply_endings(const std::vector<std::pair<topics::ClaimEnding, int64_t>>& endings,
                                    std::set<std::tuple<std::string, int32_t, int64_t>>& slices) {
  // One UPDATE per (status, ended_at) and chunk: a draw ends all its entries at one instant, so a big
  // draw is a few statements; only confirmed and won carry a coupon each.
  std::map<std::pair<std::string, int64_t>, std::vector<const topics::ClaimEnding*>> groups;
  for (const auto& [e, at] : endings) groups[{std::string(topics::to_string(e.status)), at}].push_back(&e);
  for (const auto& [key, group] : groups) {
    for (size_t i = 0; i < group.size(); i += opt_.rows_per_insert) {
      std::string ids, coupons;
      for (size_t k = i; k < std::min(group.size(), i + opt_.rows_per_insert); ++k) {
        const auto id = quote(group[k]->claim_request_id);
        ids += (k > i ? "," : "") + id;
        if (group[k]->coupon_seq) coupons += " WHEN " + id + " THEN " + number(*group[k]->coupon_seq);
      }
      exec("UPDATE claims SET status = " + quote(key.first) + ", ended_at = " + number(key.second) +
           (coupons.empty() ? "" : ", coupon_seq = CASE request_id" + coupons + " ELSE coupon_seq END") +
           " WHERE request_id IN (" + ids + ")");
      auto res = select("SELECT event_id, command_partition, command_offset DIV " + number(kBucketWidth) +
                        " FROM claims WHERE request_id IN (" + ids + ") GROUP BY 1, 2, 3");
      while (MYSQL_ROW r = mysql_fetch_row(res.get())) slices.insert({r[0], std::stoi(r[1]), std::stoll(r[2])});
    }
  }
}

void MysqlProjection::apply_join_places(const std::map<std::string, topics::JoinPlace>& places) {
  // One UPDATE per chunk: an opening deals the whole pre-queue its tickets, and admissions come in bursts.
  std::vector<const topics::JoinPlace*> all;
  for (const auto& [id, place] : places) all.push_back(&place);
  for (size_t i = 0; i < all.size(); i += opt_.rows_per_insert) {
    std::string ids, tickets, admitted;
    for (size_t k = i; k < std::min(all.size(), i + opt_.rows_per_insert); ++k) {
      const auto id = quote(all[k]->join_request_id);
      ids += (k > i ? "," : "") + id;
      if (all[k]->ticket) tickets += " WHEN " + id + " THEN " + number(*all[k]->ticket);
      if (all[k]->admitted_at) admitted += " WHEN " + id + " THEN " + number(*all[k]->admitted_at);
    }
    std::string set;
    if (!tickets.empty()) set = "ticket = CASE request_id" + tickets + " ELSE ticket END";
    if (!admitted.empty())
      set += (set.empty() ? "" : ", ") + ("admitted_at = CASE request_id" + admitted + " ELSE admitted_at END");
    exec("UPDATE requests SET " + set + " WHERE request_id IN (" + ids + ")");
  }
}

}  // namespace allot::sinks
