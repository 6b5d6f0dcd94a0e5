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


std::string number(int64_t v) { return std::to_string(v); }
std::string number_or_null(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "NULL"; }

// The width of a claim_counts slice, in command offsets: part of that table's key (schema.sql).
constexpr int64_t kBucketWidth = 1000;
// Slices recounted by one statement.
constexpr size_t kSlicesPerStatement = 200;

// An event's counters from its claim_counts slices: kDeriveEventCounters, a WHERE on event_id (or
// none, for all events), " GROUP BY event_id) c ON c.event_id = e.event_id", then kSetEventCounters.
constexpr const char* kDeriveEventCounters =
    "UPDATE events e JOIN (SELECT event_id, SUM(issued) AS issued, SUM(received) AS received,"
    " MAX(last_decided_at) AS last FROM claim_counts";
constexpr const char* kSetEventCounters =
    " SET e.issued = c.issued, e.remaining = e.stock - c.issued, e.claims_received = c.received,"
    " e.updated_at = GREATEST(e.updated_at, c.last)";

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

int64_t MysqlProjection::query_number(const std::string& sql) {
  if (mysql_real_query(db_.get(), sql.data(), sql.size()) != 0) fail("query " + sql.substr(0, 60) + "...");
  mysql::Result res(mysql_store_result(db_.get()));
  MYSQL_ROW row = res ? mysql_fetch_row(res.get()) : nullptr;
  if (!row || !row[0]) fail("no value from " + sql.substr(0, 60) + "...");
  return std::stoll(row[0]);
}

void MysqlProjection::repair() {
  // CREATE TABLE IF NOT EXISTS leaves an older `claims` as it was: add the index the recount needs.
  if (query_number("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
                   " AND TABLE_NAME = 'claims' AND INDEX_NAME = 'claims_event_position'") == 0) {
    log_warn("sink-mysql", "adding index claims_event_position to an existing claims table");
    exec("ALTER TABLE claims ADD INDEX claims_event_position (event_id, command_partition, command_offset)");
  }
  // claim_counts is derived from claims: rebuilt whole when it is empty but claims is not (a table
  // created by an older sink, or emptied by hand), so that recounting only touched slices stays exact.
  if (query_number("SELECT EXISTS(SELECT 1 FROM claims) AND NOT EXISTS(SELECT 1 FROM claim_counts)") == 1) {
    log_warn("sink-mysql", "claim_counts is empty but claims is not: rebuilding it from claims");
    exec("START TRANSACTION");
    exec("INSERT INTO claim_counts (event_id, command_partition, bucket, issued, received, last_decided_at)"
         " SELECT event_id, command_partition, command_offset DIV " + number(kBucketWidth) + ","
         " SUM(outcome = 'issued'), COUNT(*), MAX(decided_at) FROM claims WHERE outcome <> 'unknown_event'"
         " GROUP BY event_id, command_partition, command_offset DIV " + number(kBucketWidth) +
         " ON DUPLICATE KEY UPDATE issued = VALUES(issued), received = VALUES(received),"
         " last_decided_at = VALUES(last_decided_at)");
    exec(kDeriveEventCounters + std::string(" GROUP BY event_id) c ON c.event_id = e.event_id") + kSetEventCounters);
    if (mysql_commit(db_.get()) != 0) fail("commit");
  }
}

void MysqlProjection::exec(const std::string& sql) {
  MYSQL* db = db_.get();
  if (mysql_real_query(db, sql.data(), sql.size()) != 0) fail("statement " + sql.substr(0, 60) + "...");
  // Statements here return no rows, but a result must still be consumed before the next one.
  if (MYSQL_RES* r = mysql_store_result(db)) mysql_free_result(r);
}

std::string MysqlProjection::quote(const std::string& text) { return mysql::quote(db_.get(), text); }

void MysqlProjection::check() {
  connection();
  if (mysql_ping(db_.get()) != 0) fail("ping");
}

void MysqlProjection::apply(const std::vector<topics::Decision>& batch) {
  // What the batch says, event by event and claim by claim.
  std::map<std::string, EventRow> events;
  std::vector<const topics::Decision*> claims;
  std::set<std::string> touched;
  std::set<std::tuple<std::string, int32_t, int64_t>> slices;  // (event, command partition, bucket)
  for (const auto& d : batch) {
    if (d.event) {
      auto& row = events[d.event_id];
      row.spec = *d.event;
      row.decided_at = std::max(row.decided_at, d.decided_at);
      touched.insert(d.event_id);
    }
    if (d.type == "claim") {
      claims.push_back(&d);
      if (d.outcome != topics::Outcome::kUnknownEvent) {
        touched.insert(d.event_id);
        slices.insert({d.event_id, d.command.partition, d.command.offset / kBucketWidth});
      }
    }
  }
  if (events.empty() && claims.empty()) return;

  connection();
  exec("START TRANSACTION");
  double rows = 0;

  // 1. Events: the description from the decision; counters start at zero and are derived below.
  std::vector<std::string> values;
  auto flush_events = [&] {
    if (values.empty()) return;
    std::string sql =
        "INSERT INTO events (event_id, title, stock, per_user_limit, opens_at, closes_at, issued, remaining,"
        " claims_received, updated_at) VALUES ";
    for (size_t i = 0; i < values.size(); ++i) sql += (i ? "," : "") + values[i];
    sql +=
        " ON DUPLICATE KEY UPDATE title = VALUES(title), stock = VALUES(stock),"
        " per_user_limit = VALUES(per_user_limit), opens_at = VALUES(opens_at), closes_at = VALUES(closes_at),"
        " remaining = VALUES(stock) - issued, updated_at = GREATEST(updated_at, VALUES(updated_at))";
    exec(sql);
    rows += static_cast<double>(values.size());
    values.clear();
  };
  for (const auto& [id, e] : events) {
    values.push_back("(" + quote(id) + "," + quote(e.spec.title) + "," + number(e.spec.stock) + "," +
                     number(e.spec.per_user_limit) + "," + number_or_null(e.spec.opens_at) + "," +
                     number_or_null(e.spec.closes_at) + ",0," + number(e.spec.stock) + ",0," + number(e.decided_at) +
                     ")");
    if (values.size() >= opt_.rows_per_insert) flush_events();
  }
  flush_events();

  // 2. Claims: one row per request id; a repeated decision writes the same values again.
  auto flush_claims = [&] {
    if (values.empty()) return;
    std::string sql =
        "INSERT INTO claims (request_id, event_id, user_id, outcome, coupon_seq, command_partition, command_offset,"
        " decided_at, received_at) VALUES ";
    for (size_t i = 0; i < values.size(); ++i) sql += (i ? "," : "") + values[i];
    sql +=
        " ON DUPLICATE KEY UPDATE event_id = VALUES(event_id), user_id = VALUES(user_id), outcome = VALUES(outcome),"
        " coupon_seq = VALUES(coupon_seq), command_partition = VALUES(command_partition),"
        " command_offset = VALUES(command_offset), decided_at = VALUES(decided_at), received_at = VALUES(received_at)";
    exec(sql);
    rows += static_cast<double>(values.size());
    values.clear();
  };
  for (const auto* d : claims) {
    values.push_back("(" + quote(d->request_id) + "," + quote(d->event_id) + "," + quote(d->user_id) + "," +
                     quote(std::string(topics::to_string(d->outcome))) + "," + number_or_null(d->coupon_seq) + "," +
                     number(d->command.partition) + "," + number(d->command.offset) + "," + number(d->decided_at) +
                     "," + number(d->received_at) + ")");
    if (values.size() >= opt_.rows_per_insert) flush_claims();
  }
  flush_claims();

  // 3. Recount the touched slices of each event from `claims` (at most kBucketWidth rows each)...
  if (!slices.empty()) {
    std::string conditions;
    size_t n = 0;
    auto flush_slices = [&] {
      if (conditions.empty()) return;
      exec(
          "INSERT INTO claim_counts (event_id, command_partition, bucket, issued, received, last_decided_at)"
          " SELECT event_id, command_partition, command_offset DIV " + number(kBucketWidth) + ","
          " SUM(outcome = 'issued'), COUNT(*), MAX(decided_at) FROM claims"
          " WHERE outcome <> 'unknown_event' AND (" + conditions + ")"
          " GROUP BY event_id, command_partition, command_offset DIV " + number(kBucketWidth) +
          " ON DUPLICATE KEY UPDATE issued = VALUES(issued), received = VALUES(received),"
          " last_decided_at = VALUES(last_decided_at)");
      conditions.clear();
      n = 0;
    };
    for (const auto& [id, partition, bucket] : slices) {
      conditions += std::string(n ? " OR " : "") + "(event_id = " + quote(id) + " AND command_partition = " +
                    number(partition) + " AND command_offset BETWEEN " + number(bucket * kBucketWidth) + " AND " +
                    number(bucket * kBucketWidth + kBucketWidth - 1) + ")";
      if (++n >= kSlicesPerStatement) flush_slices();
    }
    flush_slices();
  }

  // 4. ...and derive the counters of the touched events from their slices: never an increment.
  if (!touched.empty()) {
    std::string ids;
    for (const auto& id : touched) ids += (ids.empty() ? "" : ",") + quote(id);
    exec(kDeriveEventCounters + std::string(" WHERE event_id IN (") + ids +
         ") GROUP BY event_id) c ON c.event_id = e.event_id" + kSetEventCounters);
  }

  if (mysql_commit(db_.get()) != 0) fail("commit");
  if (rows_written_) rows_written_->inc(rows);
}

}  // namespace allot::sinks
