// The sinks against the real servers (scripts/stack up): MySQL and Redis must show exactly what
// allot.decisions says (DESIGN §4, promise 5), a re-applied batch must change nothing, a failing
// projection must be retried rather than skipped, and a sink killed with SIGKILL mid-run must, once
// restarted, leave the projections exact. A server that cannot be reached fails the test.
//
// Servers: ALLOT_KAFKA_BROKERS, ALLOT_MYSQL_HOST/PORT/USER/PASSWORD, ALLOT_REDIS_HOST/PORT. The stack's
// own sinks are checked in ALLOT_MYSQL_DATABASE (allot) and under ALLOT_REDIS_PREFIX (allot:); the other
// tests write to their own database (allot_sinktest) and key prefixes, so they never disturb them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <mysql.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "common/kafka.h"
#include "common/metrics.h"
#include "common/mysql.h"
#include "common/redis.h"
#include "mode_history.h"
#include "sinks/decision_source.h"
#include "sinks/mysql_projection.h"
#include "sinks/redis_projection.h"
#include "support.h"
#include "topics/admin.h"
#include "topics/projection_check.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using topics::Decision;
using topics::Outcome;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

constexpr const char* kTestDatabase = "allot_sinktest";

sinks::MysqlOptions mysql_options(const std::string& database) {
  sinks::MysqlOptions o;
  o.host = env_or("ALLOT_MYSQL_HOST", o.host);
  o.port = std::stoi(env_or("ALLOT_MYSQL_PORT", std::to_string(o.port)));
  o.user = env_or("ALLOT_MYSQL_USER", o.user);
  o.password = env_or("ALLOT_MYSQL_PASSWORD", o.password);
  o.database = database;
  return o;
}

sinks::RedisOptions redis_options(const std::string& prefix) {
  sinks::RedisOptions o;
  o.host = env_or("ALLOT_REDIS_HOST", o.host);
  o.port = std::stoi(env_or("ALLOT_REDIS_PORT", std::to_string(o.port)));
  o.prefix = prefix;
  return o;
}

// ---- MySQL, read back with the C connector --------------------------------------------------------

using Row = std::vector<std::optional<std::string>>;

class Mysql {
 public:
  // Connects to `database` ("" for none); throws when the server cannot be reached.
  explicit Mysql(const std::string& database) {
    auto o = mysql_options(database);
    db_ =
        mysql::connect({.host = o.host, .port = o.port, .user = o.user, .password = o.password, .database = database});
  }
  std::vector<Row> query(const std::string& sql) {
    std::vector<Row> rows;
    auto res = mysql::query(db_.get(), sql);
    if (!res) return rows;
    unsigned n = mysql_num_fields(res.get());
    while (MYSQL_ROW r = mysql_fetch_row(res.get())) {
      Row row;
      for (unsigned i = 0; i < n; ++i) row.push_back(r[i] ? std::optional<std::string>(r[i]) : std::nullopt);
      rows.push_back(std::move(row));
    }
    return rows;
  }
  std::string quote(const std::string& s) { return mysql::quote(db_.get(), s); }

 private:
  mysql::Connection db_;
};

std::string show(const std::optional<std::string>& v) { return v ? *v : "NULL"; }
std::string opt_number(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "NULL"; }

// ---- Redis, read back with hiredis ----------------------------------------------------------------

using redis::Reply;

class Redis {
 public:
  Redis() {
    auto o = redis_options("");
    ctx_ = redis::connect(o.host, o.port, 5s);
  }
  Reply cmd(const std::vector<std::string>& args) {
    Reply r = redis::command(ctx_.get(), args);
    if (!r) throw std::runtime_error("redis: " + std::string(ctx_->errstr));
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error("redis " + args[0] + ": " + r->str);
    return r;
  }
  std::map<std::string, std::string> hash(const std::string& key) {
    auto r = cmd({"HGETALL", key});
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < r->elements; i += 2) out[r->element[i]->str] = r->element[i + 1]->str;
    return out;
  }
  // Members with scores, lowest score first.
  std::vector<std::pair<std::string, int64_t>> zset(const std::string& key) {
    auto r = cmd({"ZRANGE", key, "0", "-1", "WITHSCORES"});
    std::vector<std::pair<std::string, int64_t>> out;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
      out.emplace_back(r->element[i]->str, std::stoll(r->element[i + 1]->str));
    return out;
  }
  void del(const std::vector<std::string>& keys) {
    for (const auto& k : keys) cmd({"DEL", k});
  }
  // Each of `keys` with its type, content and absolute expiry: equal snapshots, equal data.
  std::string snapshot(const std::vector<std::string>& keys) {
    std::ostringstream os;
    for (const auto& k : keys) {
      std::string type = cmd({"TYPE", k})->str;
      os << k << " " << type << " expires " << cmd({"PEXPIRETIME", k})->integer << ":";
      if (type == "hash") {
        for (const auto& [f, v] : hash(k)) os << " " << f << "=" << v;
      } else if (type == "zset") {
        for (const auto& [m, s] : zset(k)) os << " " << m << "=" << s;
      } else if (type == "set") {
        auto r = cmd({"SMEMBERS", k});
        std::vector<std::string> members;
        for (size_t i = 0; i < r->elements; ++i) members.push_back(r->element[i]->str);
        std::sort(members.begin(), members.end());
        for (const auto& m : members) os << " " << m;
      }
      os << "\n";
    }
    return os.str();
  }

 private:
  redis::Context ctx_;
};

// ---- What the decisions say, and how the projections differ from it -------------------------------

struct EventTruth {
  topics::CreateEvent spec;
  int64_t issued = 0, received = 0, updated_at = 0;
  std::vector<std::pair<std::string, int64_t>> ranking;  // user, first coupon_seq; by coupon_seq
};

EventTruth truth_of(const std::vector<Decision>& decisions, const std::string& event) {
  EventTruth t;
  std::map<std::string, int64_t> first;
  for (const auto& d : decisions) {
    if (d.event_id != event) continue;
    if (d.event) t.spec = *d.event;
    t.updated_at = std::max(t.updated_at, d.decided_at);
    if (d.type != "claim" || d.outcome == Outcome::kUnknownEvent) continue;
    ++t.received;
    if (d.outcome == Outcome::kIssued) {
      ++t.issued;
      auto [it, fresh] = first.emplace(d.user_id, *d.coupon_seq);
      if (!fresh) it->second = std::min(it->second, *d.coupon_seq);
    }
  }
  for (const auto& [user, seq] : first) t.ranking.emplace_back(user, seq);
  std::sort(t.ranking.begin(), t.ranking.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return t;
}

// Every key the Redis projection may write for `decisions` (no SCAN: the stack's Redis is large).
std::vector<std::string> redis_keys_of(const std::string& prefix, const std::vector<Decision>& decisions) {
  sinks::RedisKeys keys{prefix};
  std::set<std::string> out{keys.events()};
  for (const auto& d : decisions) {
    if (d.type != "create_event") out.insert(keys.claim(d.request_id));
    if (!d.claim_request_id.empty()) out.insert(keys.claim(d.claim_request_id));
    for (const auto& k :
         {keys.event(d.event_id), keys.ranking(d.event_id), keys.requests(d.event_id), keys.issued(d.event_id),
          keys.holds(d.event_id), keys.holds_ended(d.event_id), keys.entries(d.event_id)}) {
      out.insert(k);
    }
  }
  return {out.begin(), out.end()};
}

// Empty when MySQL shows exactly the claims of `decisions` and, for each event created among them,
// exactly its row; else the first differences.
std::string mysql_diff(Mysql& db, const std::vector<Decision>& decisions) {
  std::ostringstream diff;
  std::set<std::string> events;
  for (const auto& d : decisions) {
    if (d.type == "claim") {
      auto rows = db.query(
          "SELECT event_id, user_id, outcome, coupon_seq, command_partition, command_offset, decided_at, received_at"
          " FROM claims WHERE request_id = " +
          db.quote(d.request_id));
      Row want{d.event_id,
               d.user_id,
               std::string(topics::to_string(d.outcome)),
               std::nullopt,
               std::to_string(d.command.partition),
               std::to_string(d.command.offset),
               std::to_string(d.decided_at),
               std::to_string(d.received_at)};
      if (d.coupon_seq) want[3] = std::to_string(*d.coupon_seq);
      if (rows.size() != 1) {
        diff << "claims row of " << d.request_id << " missing\n";
      } else if (rows[0] != want) {
        diff << "claims row of " << d.request_id << ": outcome " << show(rows[0][2]) << " coupon " << show(rows[0][3])
             << ", want " << topics::to_string(d.outcome) << " " << opt_number(d.coupon_seq) << "\n";
      }
    }
    if (d.event) events.insert(d.event_id);
    if (diff.tellp() > 2000) return diff.str();
  }
  for (const auto& e : events) {
    auto t = truth_of(decisions, e);
    auto rows = db.query(
        "SELECT title, stock, per_user_limit, opens_at, closes_at, issued, remaining, claims_received, updated_at"
        " FROM events WHERE event_id = " +
        db.quote(e));
    Row want{t.spec.title,
             std::to_string(t.spec.stock),
             std::to_string(t.spec.per_user_limit),
             t.spec.opens_at ? std::optional(std::to_string(*t.spec.opens_at)) : std::nullopt,
             t.spec.closes_at ? std::optional(std::to_string(*t.spec.closes_at)) : std::nullopt,
             std::to_string(t.issued),
             std::to_string(t.spec.stock - t.issued),
             std::to_string(t.received),
             std::to_string(t.updated_at)};
    if (rows.size() != 1) {
      diff << "events row of " << e << " missing\n";
      continue;
    }
    if (rows[0] != want) {
      diff << "events row of " << e << ": issued " << show(rows[0][5]) << " remaining " << show(rows[0][6])
           << " claims_received " << show(rows[0][7]) << " updated_at " << show(rows[0][8]) << "; want " << t.issued
           << " " << t.spec.stock - t.issued << " " << t.received << " " << t.updated_at << "\n";
    }
    // The ranking, as the read side would ask for it.
    auto ranked = db.query("SELECT user_id, coupon_seq FROM claims WHERE event_id = " + db.quote(e) +
                           " AND coupon_seq IS NOT NULL ORDER BY coupon_seq");
    std::vector<std::pair<std::string, int64_t>> got;
    for (const auto& r : ranked) got.emplace_back(*r[0], std::stoll(*r[1]));
    if (t.spec.per_user_limit == 1 && got != t.ranking) diff << "mysql ranking of " << e << " differs\n";
  }
  return diff.str();
}

std::string redis_diff(Redis& redis, const std::string& prefix, const std::vector<Decision>& decisions) {
  sinks::RedisKeys keys{prefix};
  std::ostringstream diff;
  std::set<std::string> events;
  for (const auto& d : decisions) {
    if (d.type == "claim") {
      std::map<std::string, std::string> want{{"event_id", d.event_id},
                                              {"user_id", d.user_id},
                                              {"status", std::string(topics::to_string(d.outcome))},
                                              {"decided_at", std::to_string(d.decided_at)}};
      if (d.coupon_seq) want["coupon_seq"] = std::to_string(*d.coupon_seq);
      auto got = redis.hash(keys.claim(d.request_id));
      if (got != want)
        diff << keys.claim(d.request_id) << ": status " << got["status"] << ", want " << want["status"] << "\n";
    }
    if (d.event) events.insert(d.event_id);
    if (diff.tellp() > 2000) return diff.str();
  }
  for (const auto& e : events) {
    auto t = truth_of(decisions, e);
    std::map<std::string, std::string> want{{"title", t.spec.title},
                                            {"stock", std::to_string(t.spec.stock)},
                                            {"per_user_limit", std::to_string(t.spec.per_user_limit)},
                                            {"mode", "fcfs"},
                                            {"hold_ms", "0"},
                                            {"held", "0"},
                                            {"entries", "0"},
                                            {"issued", std::to_string(t.issued)},
                                            {"remaining", std::to_string(t.spec.stock - t.issued)},
                                            {"claims_received", std::to_string(t.received)}};
    if (t.spec.opens_at) want["opens_at"] = std::to_string(*t.spec.opens_at);
    if (t.spec.closes_at) want["closes_at"] = std::to_string(*t.spec.closes_at);
    auto got = redis.hash(keys.event(e));
    if (got != want) {
      diff << keys.event(e) << ": issued " << got["issued"] << " remaining " << got["remaining"] << " claims_received "
           << got["claims_received"] << "; want " << t.issued << " " << t.spec.stock - t.issued << " " << t.received
           << "\n";
    }
    if (redis.zset(keys.ranking(e)) != t.ranking) diff << keys.ranking(e) << " differs from the issue order\n";
    auto score = redis.cmd({"ZSCORE", keys.events(), e});
    if (score->type != REDIS_REPLY_STRING || std::stoll(score->str) != t.received) {
      diff << "popularity of " << e << " is " << (score->type == REDIS_REPLY_STRING ? score->str : "missing")
           << ", want " << t.received << "\n";
    }
  }
  return diff.str();
}

// Polls `diff` until it is empty (true) or `timeout` passes (false, with the last difference in `last`).
bool converges(const std::function<std::string()>& diff, std::chrono::seconds timeout, std::string& last) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    try {
      last = diff();
    } catch (const std::exception& e) {  // a database that is briefly unreachable: try again, say so at the end
      last = std::string("error: ") + e.what();
    }
    if (last.empty()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(200ms);
  }
}

topics::Command create_command(const std::string& event, int64_t stock, int64_t limit = 1) {
  return {unique_id("create"), now_ms(), topics::CreateEvent{event, "Sinks test " + event, stock, limit, {}, {}}};
}
topics::Command claim_command(const std::string& event, const std::string& user) {
  return {unique_id("c"), now_ms(), topics::Claim{event, user}};
}

// Commits, for `group`, the current end of every partition of allot.decisions: a sink started in that
// group sees exactly what is decided from now on, instead of replaying the whole topic.
void start_group_at_end(const std::string& group) {
  auto consumer =
      kafka::make_consumer({{"bootstrap.servers", brokers()}, {"group.id", group}, {"enable.auto.commit", "false"}});
  int32_t n = kafka::partition_count(*consumer, "allot.decisions", 10s);
  std::vector<RdKafka::TopicPartition*> offsets;
  for (int32_t p = 0; p < n; ++p) {
    int64_t low = 0, high = 0;
    ASSERT_EQ(kafka::watermarks(*consumer, "allot.decisions", p, &low, &high, 10s), RdKafka::ERR_NO_ERROR);
    offsets.push_back(RdKafka::TopicPartition::create("allot.decisions", p, high));
  }
  auto code = consumer->commitSync(offsets);
  RdKafka::TopicPartition::destroy(offsets);
  auto closed = consumer->close();
  ASSERT_EQ(code, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(code);
  ASSERT_EQ(closed, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(closed);
}

// Deletes the consumer groups a test made, when it ends. A sink that stopped with static membership
// stays a member until its session times out (10 s), so deletion is retried for a while.
struct GroupsCleanup {
  std::vector<std::string> groups;
  ~GroupsCleanup() {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      try {
        topics::delete_groups(brokers(), groups, 10000);
        return;
      } catch (const std::exception& e) {
        if (std::chrono::steady_clock::now() > deadline) {
          std::cerr << "could not delete test consumer groups: " << e.what() << "\n";
          return;
        }
        std::this_thread::sleep_for(1s);
      }
    }
  }
};

// A synthetic batch for projection tests: event `e` (stock 4) created, claims at offsets around a
// slice boundary of claim_counts (998..1006), issued x4, duplicate, sold_out x2, a repeated create
// (already_exists) and a claim for an event that does not exist.
std::vector<Decision> synthetic_batch(const std::string& e, const std::string& ghost) {
  const int64_t t0 = now_ms();
  std::vector<Decision> out;
  topics::CreateEvent spec{e, "Synthetic \"quoted\" title, it's", 4, 1, t0 - 60000, t0 + 3600000};
  auto base = [&](const std::string& type, Outcome outcome, int64_t offset) {
    Decision d;
    d.type = type;
    d.request_id = unique_id("rq");
    d.event_id = e;
    d.outcome = outcome;
    d.command = {3, offset};
    d.decided_at = t0 + offset;
    d.received_at = t0 + offset - 5;
    return d;
  };
  auto create = base("create_event", Outcome::kCreated, 997);
  create.event = spec;
  create.remaining = 4;
  out.push_back(create);
  const char* users[] = {"ann", "bob", "cid", "bob", "dee", "eve", "fay"};
  const Outcome outcomes[] = {Outcome::kIssued, Outcome::kIssued,  Outcome::kIssued, Outcome::kDuplicate,
                              Outcome::kIssued, Outcome::kSoldOut, Outcome::kSoldOut};
  int64_t seq = 0;
  for (int i = 0; i < 7; ++i) {
    auto c = base("claim", outcomes[i], 998 + i);
    c.user_id = users[i];
    if (outcomes[i] == Outcome::kIssued) c.coupon_seq = ++seq;
    c.remaining = 4 - seq;
    out.push_back(c);
  }
  auto again = base("create_event", Outcome::kAlreadyExists, 1005);
  again.event = spec;
  out.push_back(again);
  auto unknown = base("claim", Outcome::kUnknownEvent, 1006);
  unknown.event_id = ghost;
  unknown.user_id = "ann";
  out.push_back(unknown);
  return out;
}

// ---- Tests -------------------------------------------------------------------------------------------

TEST(SinkBackoff, DoublesFromMinimumUpToTheCapAndResets) {
  sinks::Backoff b(100ms, 5000ms);
  std::vector<int64_t> got;
  for (int i = 0; i < 8; ++i) got.push_back(b.next().count());
  EXPECT_EQ(got, (std::vector<int64_t>{100, 200, 400, 800, 1600, 3200, 5000, 5000}));
  b.reset();
  EXPECT_EQ(b.next().count(), 100);
}

TEST(SinkSchema, HasItsTablesAsStatements) {
  auto statements = sinks::mysql_schema_statements();
  ASSERT_EQ(statements.size(), 9u);
  EXPECT_NE(statements[0].find("CREATE TABLE IF NOT EXISTS events"), std::string::npos);
  EXPECT_NE(statements[1].find("CREATE TABLE IF NOT EXISTS claims"), std::string::npos);
  EXPECT_NE(statements[2].find("CREATE TABLE IF NOT EXISTS claim_counts"), std::string::npos);
  EXPECT_NE(statements[3].find("CREATE TABLE IF NOT EXISTS requests"), std::string::npos);
  EXPECT_NE(statements[4].find("CREATE TABLE IF NOT EXISTS wallet_ledger"), std::string::npos);
  EXPECT_NE(statements[5].find("CREATE TABLE IF NOT EXISTS reservations"), std::string::npos);
  EXPECT_NE(statements[6].find("CREATE TABLE IF NOT EXISTS seats"), std::string::npos);
  EXPECT_NE(statements[7].find("CREATE TABLE IF NOT EXISTS wallets"), std::string::npos);
  EXPECT_NE(statements[8].find("CREATE TABLE IF NOT EXISTS orders"), std::string::npos);
}

class ProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(Mysql("").query(std::string("CREATE DATABASE IF NOT EXISTS ") + kTestDatabase +
                                    " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"));
    event_ = unique_id("idem");
    ghost_ = unique_id("ghost");
    batch_ = synthetic_batch(event_, ghost_);
  }
  // An empty database of the test's own (named kTestDatabase + suffix), for a test that empties a table or
  // changes its shape.
  static std::string own_database(const std::string& suffix) {
    std::string name = std::string(kTestDatabase) + suffix;
    Mysql("").query("DROP DATABASE IF EXISTS " + name);
    Mysql("").query("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
    return name;
  }
  std::string event_, ghost_;
  std::vector<Decision> batch_;
};

// Everything the projection wrote about the test's events, in a fixed order.
std::vector<Row> mysql_state(Mysql& db, const std::vector<std::string>& events) {
  std::string ids;
  for (const auto& e : events) ids += (ids.empty() ? "" : ",") + db.quote(e);
  std::vector<Row> out;
  for (const auto& sql :
       {"SELECT * FROM events WHERE event_id IN (" + ids + ") ORDER BY event_id",
        "SELECT * FROM claims WHERE event_id IN (" + ids + ") ORDER BY request_id",
        "SELECT * FROM claim_counts WHERE event_id IN (" + ids + ") ORDER BY event_id, command_partition, bucket",
        "SELECT * FROM requests WHERE event_id IN (" + ids + ") ORDER BY request_id"}) {
    auto rows = db.query(sql);
    out.insert(out.end(), rows.begin(), rows.end());
    out.push_back({std::string("--")});
  }
  return out;
}

TEST_F(ProjectionTest, MysqlReappliedBatchChangesNothing) {
  Mysql db(kTestDatabase);
  sinks::MysqlProjection projection(mysql_options(kTestDatabase));
  ASSERT_NO_THROW(projection.check());
  ASSERT_NO_THROW(projection.apply(batch_));
  auto once = mysql_state(db, {event_, ghost_});
  EXPECT_EQ(mysql_diff(db, batch_), "");
  auto events = db.query("SELECT issued, remaining, claims_received FROM events WHERE event_id = " + db.quote(event_));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], (Row{"4", "0", "7"}));
  EXPECT_TRUE(db.query("SELECT * FROM events WHERE event_id = " + db.quote(ghost_)).empty());

  // The same batch again, then re-delivered in other cuts (as after a crash between the database
  // commit and the offset commit): nothing moves.
  ASSERT_NO_THROW(projection.apply(batch_));
  EXPECT_EQ(mysql_state(db, {event_, ghost_}), once);
  ASSERT_NO_THROW(projection.apply({batch_.begin() + 2, batch_.begin() + 6}));
  ASSERT_NO_THROW(projection.apply({batch_.begin() + 4, batch_.end()}));
  EXPECT_EQ(mysql_state(db, {event_, ghost_}), once);
}

TEST_F(ProjectionTest, MysqlBatchInPiecesEqualsBatchAtOnce) {
  Mysql db(kTestDatabase);
  sinks::MysqlProjection projection(mysql_options(kTestDatabase));
  for (const auto& d : batch_) ASSERT_NO_THROW(projection.apply({d}));
  EXPECT_EQ(mysql_diff(db, batch_), "");
}

TEST_F(ProjectionTest, MysqlRebuildsEmptiedClaimCountsAtConnect) {
  // Its own database: the test empties a table.
  std::string database;
  ASSERT_NO_THROW(database = own_database("_repair"));
  Mysql db(database);
  {
    sinks::MysqlProjection projection(mysql_options(database));
    ASSERT_NO_THROW(projection.apply(batch_));
  }
  db.query("TRUNCATE TABLE claim_counts");
  sinks::MysqlProjection fresh(mysql_options(database));
  ASSERT_NO_THROW(fresh.check());
  EXPECT_EQ(db.query("SELECT SUM(issued), SUM(received) FROM claim_counts")[0], (Row{"4", "7"}));
  // A later batch touching one slice only still yields the event's whole counts.
  ASSERT_NO_THROW(fresh.apply({batch_[6]}));
  EXPECT_EQ(mysql_diff(db, batch_), "");
  db.query("DROP DATABASE " + database);
}

// A claims table of an older sink has the slice index without the columns the recount reads: the sink
// replaces it at connect by one that covers the recount, and the projection stays exact. The replacement
// can be repeated (a second sink, a reconnect during the ALTER): a repeated step changes nothing.
TEST_F(ProjectionTest, MysqlReplacesAnOlderSliceIndexByOneThatCoversTheRecount) {
  std::string database;
  ASSERT_NO_THROW(database = own_database("_index"));
  Mysql db(database);
  {
    sinks::MysqlProjection projection(mysql_options(database));
    ASSERT_NO_THROW(projection.apply({batch_.begin(), batch_.begin() + 3}));
  }
  db.query(
      "ALTER TABLE claims DROP INDEX claims_slice_recount, ADD INDEX claims_event_position (event_id,"
      " command_partition, command_offset)");
  const std::string indexes =
      "SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS"
      " WHERE TABLE_SCHEMA = '" +
      database +
      "' AND TABLE_NAME = 'claims' AND INDEX_NAME IN ('claims_event_position', 'claims_slice_recount')"
      " GROUP BY INDEX_NAME";
  ASSERT_EQ(db.query(indexes),
            (std::vector<Row>{{"claims_event_position", "event_id,command_partition,command_offset"}}));
  // It connects (and repairs) on its first batch: the rest, then all of it again, recounted through the index.
  sinks::MysqlProjection upgraded(mysql_options(database));
  ASSERT_NO_THROW(upgraded.apply({batch_.begin() + 3, batch_.end()}));
  const std::vector<Row> covering{
      {"claims_slice_recount", "event_id,command_partition,command_offset,outcome,status,decided_at,ended_at"}};
  EXPECT_EQ(db.query(indexes), covering);
  ASSERT_NO_THROW(upgraded.apply(batch_));
  EXPECT_EQ(mysql_diff(db, batch_), "");
  // The old index back while the new one stays (a sink stopped between the two steps): the next sink drops it.
  db.query("ALTER TABLE claims ADD INDEX claims_event_position (event_id, command_partition, command_offset)");
  sinks::MysqlProjection third(mysql_options(database));
  ASSERT_NO_THROW(third.apply(batch_));
  EXPECT_EQ(db.query(indexes), covering);
  EXPECT_EQ(mysql_diff(db, batch_), "");
  db.query("DROP DATABASE " + database);
}

TEST_F(ProjectionTest, RedisReappliedBatchChangesNothing) {
  const std::string prefix = unique_id("allot-test") + ":";
  Redis redis;
  sinks::RedisProjection projection(redis_options(prefix));
  ASSERT_NO_THROW(projection.check());
  ASSERT_NO_THROW(projection.apply(batch_));
  const auto keys = redis_keys_of(prefix, batch_);
  auto once = redis.snapshot(keys);
  EXPECT_EQ(redis_diff(redis, prefix, batch_), "");
  EXPECT_TRUE(redis.hash(prefix + "event:" + ghost_).empty());
  // The claim status expires claim_ttl_s after the decision, wherever in time it is applied.
  const auto& first_claim = batch_[1];
  EXPECT_EQ(redis.cmd({"PEXPIRETIME", prefix + "claim:" + first_claim.request_id})->integer,
            first_claim.decided_at + 86400 * 1000);
  // Listed by creation (newest first), scored by the created decision's own time: a replay sets the same.
  auto created = redis.cmd({"ZSCORE", prefix + "events:created", event_});
  ASSERT_EQ(created->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(created->str, created->len), std::to_string(batch_[0].decided_at));
  EXPECT_EQ(redis.cmd({"ZSCORE", prefix + "events:created", ghost_})->type, REDIS_REPLY_NIL);

  ASSERT_NO_THROW(projection.apply(batch_));
  EXPECT_EQ(redis.snapshot(keys), once);
  ASSERT_NO_THROW(projection.apply({batch_.begin() + 2, batch_.begin() + 6}));
  EXPECT_EQ(redis.snapshot(keys), once);
  redis.del(keys);
}

// A wallet's balance is its newest decision's: an older batch re-applied after a newer one (a sink that
// crashed between its store's commit and its offset commit) moves no balance back, in either store.
TEST_F(ProjectionTest, AnOlderWalletBatchMovesNoBalanceBack) {
  const auto user = unique_id("wallet");
  std::vector<topics::Decision> charges;
  int64_t balance = 0;
  for (int64_t i = 0; i < 3; ++i) {
    topics::Decision d;
    d.type = std::string(topics::decision_type::kCharge);
    d.request_id = user + "-pay-" + std::to_string(i);
    d.user_id = user;
    d.outcome = topics::Outcome::kCredited;
    d.amount = 5 * (i + 1);
    balance += *d.amount;
    d.balance = balance;
    d.command = {7, 100 + i};
    d.decided_at = 1000 + i;
    charges.push_back(d);
  }
  Mysql db(kTestDatabase);
  sinks::MysqlProjection mysql(mysql_options(kTestDatabase));
  ASSERT_NO_THROW(mysql.apply(charges));
  ASSERT_NO_THROW(mysql.apply({charges[0]}));
  ASSERT_NO_THROW(mysql.apply({charges[0], charges[1]}));
  EXPECT_EQ(db.query("SELECT balance FROM wallets WHERE user_id = " + db.quote(user)), (std::vector<Row>{{"30"}}));
  EXPECT_EQ(db.query("SELECT COUNT(*) FROM wallet_ledger WHERE user_id = " + db.quote(user)),
            (std::vector<Row>{{"3"}}));

  const std::string prefix = unique_id("allot-test") + ":";
  Redis redis;
  sinks::RedisProjection projection(redis_options(prefix));
  ASSERT_NO_THROW(projection.apply(charges));
  const std::vector<std::string> keys{prefix + "wallet:" + user, prefix + "wallet:" + user + ":ledger"};
  auto once = redis.snapshot(keys);
  ASSERT_NO_THROW(projection.apply({charges[0]}));
  EXPECT_EQ(redis.snapshot(keys), once);
  EXPECT_EQ(redis.hash(prefix + "wallet:" + user)["balance"], "30");
  EXPECT_EQ(redis.cmd({"ZCARD", prefix + "wallet:" + user + ":ledger"})->integer, 3);
  redis.del(keys);
  std::vector<std::string> records;
  for (const auto& d : charges) records.push_back(prefix + "claim:" + d.request_id);
  redis.del(records);
}

// MySQL `orders`: an order's row says placed, then its end; a placed decision re-applied from an older batch
// leaves the end as it is, and an order placed and ended in one batch is written ended.
TEST_F(ProjectionTest, AnOrderRowIsPlacedThenEndedAndAReappliedPlacedDoesNotUndoTheEnd) {
  const auto user = unique_id("buyer"), first = unique_id("order"), second = unique_id("order");
  auto decision = [&](const std::string& order, std::string_view type, Outcome outcome, int64_t offset) {
    Decision d;
    d.type = std::string(type);
    d.request_id = order;
    d.order_id = order;
    d.user_id = user;
    d.outcome = outcome;
    d.command = {5, offset};
    d.decided_at = 1000 + offset;
    return d;
  };
  auto placed = decision(first, topics::decision_type::kOrder, Outcome::kPlaced, 10);
  auto failed = decision(first, topics::decision_type::kOrderResult, Outcome::kFailed, 12);
  failed.amount = 900;
  failed.balance = 100;
  failed.reason = Outcome::kBalanceShort;
  auto placed_too = decision(second, topics::decision_type::kOrder, Outcome::kPlaced, 13);
  auto paid = decision(second, topics::decision_type::kOrderResult, Outcome::kPaid, 15);
  paid.amount = 50;
  paid.balance = 50;

  Mysql db(kTestDatabase);
  sinks::MysqlProjection mysql(mysql_options(kTestDatabase));
  auto row = [&](const std::string& order) {
    return db.query(
        "SELECT user_id, status, amount, reason, command_offset, placed_at, ended_at FROM orders"
        " WHERE order_id = " +
        db.quote(order));
  };
  ASSERT_NO_THROW(mysql.apply({placed}));
  EXPECT_EQ(row(first), (std::vector<Row>{{user, "placed", std::nullopt, std::nullopt, "10", "1010", std::nullopt}}));
  ASSERT_NO_THROW(mysql.apply({failed}));
  const std::vector<Row> ended{{user, "failed", "900", "balance_short", "10", "1010", "1012"}};
  EXPECT_EQ(row(first), ended);
  ASSERT_NO_THROW(mysql.apply({placed}));
  EXPECT_EQ(row(first), ended) << "a re-applied placed decision moved the order back";
  ASSERT_NO_THROW(mysql.apply({placed_too, paid}));
  EXPECT_EQ(row(second), (std::vector<Row>{{user, "paid", "50", std::nullopt, "13", "1013", "1015"}}));
  auto want = topics::expected_orders({placed, failed, placed_too, paid});
  EXPECT_EQ(want[first], (topics::ProjectedOrder{user, "failed", "balance_short", 900}));
  EXPECT_EQ(want[second], (topics::ProjectedOrder{user, "paid", "", 50}));
}

// A sale event's units (README "Orders") come from its orders' reservations: a later claim on it
// (answered order_only) must not recount it from claims, in either store.
TEST_F(ProjectionTest, ASaleEventKeepsItsSoldAndReservedUnitsAfterAClaimOnIt) {
  const auto product = unique_id("sale");
  auto decision = [&](std::string_view type, Outcome outcome, int64_t offset) {
    Decision d;
    d.type = std::string(type);
    d.request_id = product + "-" + std::to_string(offset);
    d.event_id = product;
    d.user_id = "ann";
    d.outcome = outcome;
    d.command = {3, offset};
    d.decided_at = 1000 + offset;
    return d;
  };
  auto create = decision(topics::decision_type::kCreateEvent, Outcome::kCreated, 1);
  create.user_id.clear();
  create.event = topics::CreateEvent{product, "Product", 5, 1, {}, {}};
  create.event->mode = topics::EventMode::kSale;
  create.event->price = 100;
  create.remaining = 5;
  std::vector<Decision> units;
  for (int line : {1, 2}) {  // order o reserves 2 + 1 units; line 1 is sold, line 2 stays reserved
    auto reserve = decision(topics::decision_type::kReserve, Outcome::kReserved, 1 + line);
    reserve.order_id = "o";
    reserve.line = line;
    reserve.qty = 3 - line;
    units.push_back(reserve);
  }
  auto sold = units[0];
  sold.type = std::string(topics::decision_type::kFinalize);
  sold.outcome = Outcome::kSold;
  sold.command.offset = 4;
  sold.coupon_seq = 2;
  units.push_back(sold);
  auto claim = decision(topics::decision_type::kClaim, Outcome::kOrderOnly, 5);

  Mysql db(kTestDatabase);
  sinks::MysqlProjection mysql(mysql_options(kTestDatabase));
  const std::string prefix = unique_id("allot-test") + ":";
  Redis redis;
  sinks::RedisProjection projection(redis_options(prefix));
  // The units' batch twice (a replay), then the claim last: what the claim's batch leaves is checked.
  for (const auto& batch : {std::vector<Decision>{create}, units, units, std::vector<Decision>{claim}}) {
    ASSERT_NO_THROW(mysql.apply(batch));
    ASSERT_NO_THROW(projection.apply(batch));
  }
  std::vector<Decision> all{create};
  all.insert(all.end(), units.begin(), units.end());
  all.push_back(claim);
  const auto want = topics::expected_projection(all, product);
  EXPECT_EQ(want.issued, 2);
  EXPECT_EQ(want.held, 1);
  EXPECT_EQ(db.query("SELECT issued, held, remaining FROM events WHERE event_id = " + db.quote(product)),
            (std::vector<Row>{{"2", "1", "2"}}));
  auto hash = redis.hash(sinks::RedisKeys{prefix}.event(product));
  EXPECT_EQ(hash["issued"], "2");
  EXPECT_EQ(hash["held"], "1");
  EXPECT_EQ(hash["remaining"], "2");
}

// ---- Event modes: raffle and hold next to fcfs ------------------------------------------------------

// Both projections, straight from the classes, on a mixed-mode history decided by the real core
// (tests/support/mode_history.h), checked against topics::expected_projection and read back by the
// same readers as `allotctl verify --projections`.
class ModesProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(Mysql("").query(std::string("CREATE DATABASE IF NOT EXISTS ") + kTestDatabase +
                                    " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"));
    ASSERT_NO_THROW(db_ = std::make_unique<Mysql>(kTestDatabase));
    auto mo = mysql_options(kTestDatabase);
    auto ro = redis_options(prefix_);
    where_.mysql_host = mo.host;
    where_.mysql_port = mo.port;
    where_.mysql_user = mo.user;
    where_.mysql_password = mo.password;
    where_.mysql_database = kTestDatabase;
    where_.redis_host = ro.host;
    where_.redis_port = ro.port;
    where_.redis_prefix = prefix_;
    mysql_ = std::make_unique<sinks::MysqlProjection>(mo);
    redis_sink_ = std::make_unique<sinks::RedisProjection>(ro);
  }
  void TearDown() override {
    if (redis_) redis_->del(redis_keys_of(prefix_, h_.decisions));
  }
  std::vector<std::string> events() const { return {h_.fcfs, h_.raffle, h_.hold, h_.ghost}; }
  // Applies `decisions` to both projections in batches of `batch` (in order).
  void apply(const std::vector<Decision>& decisions, size_t batch) {
    for (size_t i = 0; i < decisions.size(); i += batch) {
      std::vector<Decision> part(
          decisions.begin() + static_cast<std::ptrdiff_t>(i),
          decisions.begin() + static_cast<std::ptrdiff_t>(std::min(decisions.size(), i + batch)));
      ASSERT_NO_THROW(mysql_->apply(part));
      ASSERT_NO_THROW(redis_sink_->apply(part));
    }
  }
  // Empty when both stores show what the decisions say for every event of the history.
  std::string diff() {
    std::string out;
    for (const auto& e : events()) {
      auto want = topics::expected_projection(h_.decisions, e);
      auto in_mysql = topics::describe_difference(want, topics::mysql_projection(where_, e));
      auto in_redis = topics::describe_difference(want, topics::redis_projection(where_, e, topics::request_ids(want)));
      if (!in_mysql.empty()) out += "MySQL " + e + ": " + in_mysql + "\n";
      if (!in_redis.empty()) out += "Redis " + e + ": " + in_redis + "\n";
    }
    return out;
  }
  std::string snapshot() { return redis_->snapshot(redis_keys_of(prefix_, h_.decisions)); }

  const std::string prefix_ = unique_id("allot-test") + ":";
  testsupport::ModeHistory h_ = testsupport::mixed_mode_history(unique_id("modes"), now_ms());
  topics::StoreAddress where_;
  std::unique_ptr<Mysql> db_;
  std::unique_ptr<Redis> redis_ = std::make_unique<Redis>();
  std::unique_ptr<sinks::MysqlProjection> mysql_;
  std::unique_ptr<sinks::RedisProjection> redis_sink_;
};

TEST_F(ModesProjectionTest, EveryStatusCounterAndRequestIsProjectedAndAnOldBatchReappliedMovesNothing) {
  ASSERT_NO_FATAL_FAILURE(apply(h_.decisions, 7));
  EXPECT_EQ(diff(), "");

  // The claim rows and hashes themselves, for the hold claims (the check above compares through readers).
  auto row = db_->query("SELECT outcome, status, coupon_seq, ended_at IS NOT NULL FROM claims WHERE request_id = " +
                        db_->quote(h_.held_confirmed));
  EXPECT_EQ(row, (std::vector<Row>{{"held", "confirmed", "1", "1"}}));
  row = db_->query(
      "SELECT outcome, status, coupon_seq, hold_expires_at IS NOT NULL, ended_at FROM claims WHERE request_id = " +
      db_->quote(h_.held_open));
  EXPECT_EQ(row, (std::vector<Row>{{"held", "held", std::nullopt, "1", std::nullopt}}));
  row = db_->query("SELECT mode, hold_ms, issued, held, entries, remaining, closed FROM events WHERE event_id IN (" +
                   db_->quote(h_.hold) + "," + db_->quote(h_.raffle) + ") ORDER BY mode");
  EXPECT_EQ(row,
            (std::vector<Row>{{"hold", "1000", "1", "1", "0", "0", "1"}, {"raffle", "0", "2", "0", "4", "0", "1"}}));
  auto claim = redis_->hash(prefix_ + "claim:" + h_.held_confirmed);
  EXPECT_EQ(claim["status"], "confirmed");
  EXPECT_EQ(claim["coupon_seq"], "1");
  EXPECT_EQ(redis_->hash(prefix_ + "claim:" + h_.held_expired)["status"], "expired");
  auto event = redis_->hash(prefix_ + "event:" + h_.hold);
  EXPECT_EQ(
      event["mode"] + " " + event["held"] + " " + event["issued"] + " " + event["remaining"] + " " + event["closed"],
      "hold 1 1 0 1");
  bool confirm_record = false;
  for (const auto& d : h_.decisions) {
    if (d.type != "confirm" || d.outcome != Outcome::kConfirmed) continue;
    auto r = redis_->hash(prefix_ + "claim:" + d.request_id);
    EXPECT_EQ(r["type"] + " " + r["status"] + " " + r["claim_request_id"] + " " + r["coupon_seq"],
              "confirm confirmed " + h_.held_confirmed + " 1");
    confirm_record = true;
  }
  EXPECT_TRUE(confirm_record);

  // Re-delivered: the whole history at once, then its first half (claims still held or entered, before
  // their confirm, cancel, expiry or draw): nothing moves, no status goes back.
  const auto mysql_once = mysql_state(*db_, events());
  const auto redis_once = snapshot();
  ASSERT_NO_FATAL_FAILURE(apply(h_.decisions, h_.decisions.size()));
  const std::vector<Decision> first_half(h_.decisions.begin(),
                                         h_.decisions.begin() + static_cast<std::ptrdiff_t>(h_.decisions.size() / 2));
  ASSERT_NO_FATAL_FAILURE(apply(first_half, 5));
  ASSERT_NO_FATAL_FAILURE(apply(h_.decisions, 3));
  EXPECT_EQ(mysql_state(*db_, events()), mysql_once);
  EXPECT_EQ(snapshot(), redis_once);
  ASSERT_NO_FATAL_FAILURE(apply(first_half, 1));
  EXPECT_EQ(mysql_state(*db_, events()), mysql_once);
  EXPECT_EQ(snapshot(), redis_once);
  // Every claim's own decision again (held, entered), after all of them ended.
  std::vector<Decision> own;
  std::copy_if(h_.decisions.begin(), h_.decisions.end(), std::back_inserter(own),
               [](const Decision& d) { return d.type == "claim"; });
  ASSERT_NO_FATAL_FAILURE(apply(own, own.size()));
  EXPECT_EQ(mysql_state(*db_, events()), mysql_once);
  EXPECT_EQ(snapshot(), redis_once);
  EXPECT_EQ(diff(), "");
}

TEST_F(ModesProjectionTest, AReplayFromTheStartIntoEmptyStoresGivesTheSameProjections) {
  ASSERT_NO_FATAL_FAILURE(apply(h_.decisions, 4));
  const auto mysql_once = mysql_state(*db_, events());
  const auto redis_once = snapshot();
  // As scripts/replay projections does: empty the stores, replay every decision, in other batches.
  std::string ids;
  for (const auto& e : events()) ids += (ids.empty() ? "" : ",") + db_->quote(e);
  for (const char* table : {"events", "claims", "claim_counts", "requests"}) {
    db_->query(std::string("DELETE FROM ") + table + " WHERE event_id IN (" + ids + ")");
  }
  redis_->del(redis_keys_of(prefix_, h_.decisions));
  ASSERT_TRUE(mysql_state(*db_, events()) != mysql_once);
  ASSERT_NO_FATAL_FAILURE(apply(h_.decisions, h_.decisions.size()));
  EXPECT_EQ(mysql_state(*db_, events()), mysql_once);
  EXPECT_EQ(snapshot(), redis_once);
  EXPECT_EQ(diff(), "");
}

TEST_F(ModesProjectionTest, TheCheckFindsAStatusThatIsWrong) {
  ASSERT_NO_FATAL_FAILURE(apply(h_.decisions, 50));
  ASSERT_EQ(diff(), "");
  db_->query("UPDATE claims SET status = 'held' WHERE request_id = " + db_->quote(h_.held_expired));
  redis_->cmd({"HSET", prefix_ + "claim:" + h_.held_open, "status", "expired"});
  auto found = diff();
  EXPECT_NE(found.find("MySQL " + h_.hold + ": "), std::string::npos) << found;
  EXPECT_NE(found.find("claim " + h_.held_expired + ": held"), std::string::npos) << found;
  EXPECT_NE(found.find("claim " + h_.held_open + ": expired"), std::string::npos) << found;
}

TEST(ProjectionUnreachable, ApplyAndCheckThrowAndSayWhere) {
  auto mo = mysql_options(kTestDatabase);
  mo.port = 1;  // nothing listens there
  sinks::MysqlProjection mysql(mo);
  EXPECT_THROW(mysql.check(), std::runtime_error);
  EXPECT_THROW(mysql.apply(synthetic_batch("x", "y")), std::runtime_error);
  auto ro = redis_options("allot-test:");
  ro.port = 1;
  sinks::RedisProjection redis(ro);
  try {
    redis.check();
    ADD_FAILURE() << "check() against a closed port should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(":1"), std::string::npos) << e.what();
  }
}

// A projection that fails its first `failures` applies carrying the test's event, and remembers every
// batch it was handed.
class FlakyProjection : public sinks::Projection {
 public:
  FlakyProjection(std::string event, int failures) : event_(std::move(event)), failures_(failures) {}
  void apply(const std::vector<Decision>& batch) override {
    std::vector<Decision> mine;
    for (const auto& d : batch) {
      if (d.event_id == event_) mine.push_back(d);
    }
    std::lock_guard lock(mu_);
    if (mine.empty()) return;
    calls_.push_back(mine);
    if (failures_ > 0) {
      --failures_;
      throw std::runtime_error("flaky: injected failure");
    }
    for (const auto& d : mine) ++applied_[d.request_id];
  }
  std::map<std::string, int> applied() const {
    std::lock_guard lock(mu_);
    return applied_;
  }
  std::vector<std::vector<Decision>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::string event_;
  int failures_;
  mutable std::mutex mu_;
  std::vector<std::vector<Decision>> calls_;
  std::map<std::string, int> applied_;
};

TEST(DecisionSourceRetry, FailingApplyIsRetriedWithTheSameBatchAndNothingIsSkipped) {
  const auto event = unique_id("retry");
  const auto group = unique_id("allot-sink-test");
  GroupsCleanup cleanup{{group}};
  ASSERT_NO_FATAL_FAILURE(start_group_at_end(group));

  metrics::Registry registry;
  sinks::SourceProbe probe(registry, "test");
  FlakyProjection projection(event, 3);
  sinks::SourceOptions opt;
  opt.brokers = brokers();
  opt.group_id = group;
  opt.backoff_min_ms = 50;
  opt.backoff_max_ms = 200;
  sinks::DecisionSource source(opt, projection, probe);
  std::atomic<bool> stop{false};
  int rc = -1;
  std::thread runner([&] { rc = source.run(stop); });

  DecisionLog log;
  CommandProducer producer;
  producer.send(create_command(event, 3));
  for (int u = 0; u < 6; ++u) producer.send(claim_command(event, "user-" + std::to_string(u)));
  ASSERT_NO_THROW(producer.flush());
  ASSERT_TRUE(log.wait_for({event}, 7, 60s)) << "the processors did not decide the commands";

  // While the projection fails, health says so; once it recovers, every decision is applied.
  std::string last;
  bool all = converges(
      [&] { return projection.applied().size() == 7 ? "" : "applied " + std::to_string(projection.applied().size()); },
      60s, last);
  stop = true;
  runner.join();
  ASSERT_TRUE(all) << last;
  EXPECT_EQ(rc, 0);
  EXPECT_GE(probe.retries.value(), 3);
  for (const auto& d : log.decisions()) EXPECT_EQ(projection.applied()[d.request_id], 1) << d.request_id;
  // The failed batch came back unchanged, three times: retried, not re-collected or cut short.
  auto calls = projection.calls();
  ASSERT_GE(calls.size(), 4u);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(calls[i].size(), calls[0].size());
    for (size_t k = 0; k < calls[0].size(); ++k) EXPECT_EQ(calls[i][k].request_id, calls[0][k].request_id);
  }
  EXPECT_EQ(source.health(), "");

  // The offsets were committed after the applies: a new consumer in the group gets a marker claim of
  // the same event (same partition, later offset) and nothing of what came before it.
  FlakyProjection after(event, 0);
  sinks::SourceProbe probe2(registry, "test2");
  sinks::DecisionSource again(opt, after, probe2);
  std::atomic<bool> stop2{false};
  std::thread runner2([&] { again.run(stop2); });
  auto marker = claim_command(event, "user-marker");
  producer.send(marker);
  ASSERT_NO_THROW(producer.flush());
  bool seen =
      converges([&] { return after.applied().count(marker.request_id) ? "" : "marker not applied"; }, 60s, last);
  stop2 = true;
  runner2.join();
  ASSERT_TRUE(seen) << last;
  EXPECT_EQ(after.applied().size(), 1u) << "decisions were re-delivered after their offsets were committed";
}

TEST(DecisionSourceHealth, ReportsTheProjectionFailureWhileRetrying) {
  const auto event = unique_id("health");
  const auto group = unique_id("allot-sink-test");
  GroupsCleanup cleanup{{group}};
  ASSERT_NO_FATAL_FAILURE(start_group_at_end(group));
  metrics::Registry registry;
  sinks::SourceProbe probe(registry, "test");
  FlakyProjection projection(event, 1000000);  // fails for good
  sinks::SourceOptions opt;
  opt.brokers = brokers();
  opt.group_id = group;
  opt.backoff_min_ms = 20;
  opt.backoff_max_ms = 50;
  sinks::DecisionSource source(opt, projection, probe);
  std::atomic<bool> stop{false};
  std::thread runner([&] { source.run(stop); });
  CommandProducer producer;
  producer.send(create_command(event, 1));
  ASSERT_NO_THROW(producer.flush());
  std::string last;
  bool unhealthy = converges(
      [&] { return source.health().find("injected failure") != std::string::npos ? "" : "healthy"; }, 60s, last);
  stop = true;
  runner.join();  // a stop while failing leaves the batch uncommitted and returns
  EXPECT_TRUE(unhealthy) << "health() never reported the failing projection";
}

// The stack's own sinks (scripts/stack up) against the decisions of a fresh event.
TEST(SinksOnStack, MysqlAndRedisShowExactlyWhatTheDecisionsSay) {
  const std::string database = env_or("ALLOT_MYSQL_DATABASE", "allot");
  const std::string prefix = env_or("ALLOT_REDIS_PREFIX", "allot:");
  std::unique_ptr<Mysql> db;
  std::unique_ptr<Redis> redis;
  ASSERT_NO_THROW(db = std::make_unique<Mysql>(database));
  ASSERT_NO_THROW(redis = std::make_unique<Redis>());

  DecisionLog log;
  const auto event = unique_id("sinks");
  const auto ghost = unique_id("sinks-ghost");  // never created: unknown_event
  CommandProducer producer;
  producer.send(create_command(event, 5));
  ASSERT_NO_THROW(producer.flush());
  for (int u = 0; u < 8; ++u) producer.send(claim_command(event, "user-" + std::to_string(u)));
  producer.send(claim_command(event, "user-1"));  // a second claim of an issued user: duplicate
  producer.send(claim_command(event, "user-3"));
  producer.send(claim_command(ghost, "user-0"));
  ASSERT_NO_THROW(producer.flush());
  ASSERT_TRUE(log.wait_for({event, ghost}, 12, 60s)) << "only " << log.decisions().size() << " decisions arrived";

  std::map<Outcome, int> outcomes;
  for (const auto& d : log.decisions()) ++outcomes[d.outcome];
  EXPECT_EQ(outcomes[Outcome::kCreated], 1);
  EXPECT_EQ(outcomes[Outcome::kIssued], 5);
  EXPECT_EQ(outcomes[Outcome::kSoldOut], 3);
  EXPECT_EQ(outcomes[Outcome::kDuplicate], 2);
  EXPECT_EQ(outcomes[Outcome::kUnknownEvent], 1);

  std::string last;
  EXPECT_TRUE(converges([&] { return mysql_diff(*db, log.decisions()); }, 60s, last))
      << "MySQL (database " << database << ") did not converge to allot.decisions; is the stack's sink-mysql running?\n"
      << last;
  EXPECT_TRUE(converges([&] { return redis_diff(*redis, prefix, log.decisions()); }, 60s, last))
      << "Redis (prefix " << prefix << ") did not converge to allot.decisions; is the stack's sink-redis running?\n"
      << last;
}

// Both sink binaries, in their own group, database and key prefix, killed with SIGKILL while a load
// flows through them and started again: the projections end exactly as the decisions say.
TEST(SinksFault, KilledWithSigkillMidRunAndRestartedTheProjectionsAreExact) {
  ASSERT_NO_THROW(Mysql("").query(std::string("CREATE DATABASE IF NOT EXISTS ") + kTestDatabase +
                                  " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"));
  std::unique_ptr<Mysql> db;
  std::unique_ptr<Redis> redis;
  ASSERT_NO_THROW(db = std::make_unique<Mysql>(kTestDatabase));
  ASSERT_NO_THROW(redis = std::make_unique<Redis>());
  const auto tag = unique_id("fault");
  const std::string prefix = "allot-test-" + tag + ":";
  const std::string mysql_group = "allot-sink-test-mysql-" + tag, redis_group = "allot-sink-test-redis-" + tag;
  GroupsCleanup cleanup{{mysql_group, redis_group}};
  ASSERT_NO_FATAL_FAILURE(start_group_at_end(mysql_group));
  ASSERT_NO_FATAL_FAILURE(start_group_at_end(redis_group));

  const std::string logs = std::string(ALLOT_BUILD_DIR) + "/sinks-test-" + tag + ".log";
  auto start_sinks = [&] {
    std::vector<std::string> common{"ALLOT_KAFKA_BROKERS=" + brokers(), "ALLOT_SINK_BATCH_MAX=200",
                                    "ALLOT_SINK_BATCH_MAX_MS=20", "ALLOT_MYSQL_DATABASE=" + std::string(kTestDatabase),
                                    "ALLOT_REDIS_PREFIX=" + prefix};
    auto mysql_env = common, redis_env = common;
    mysql_env.push_back("ALLOT_SINK_GROUP=" + mysql_group);
    mysql_env.push_back("ALLOT_METRICS_PORT=" + std::to_string(free_port()));
    redis_env.push_back("ALLOT_SINK_GROUP=" + redis_group);
    redis_env.push_back("ALLOT_METRICS_PORT=" + std::to_string(free_port()));
    return std::pair{spawn(std::string(ALLOT_BUILD_DIR) + "/sinks/allot-sink-mysql", mysql_env, logs),
                     spawn(std::string(ALLOT_BUILD_DIR) + "/sinks/allot-sink-redis", redis_env, logs)};
  };
  auto [mysql_pid, redis_pid] = start_sinks();
  ASSERT_GT(mysql_pid, 0);
  ASSERT_GT(redis_pid, 0);

  DecisionLog log;
  const auto event = unique_id("fault-event");
  constexpr int kClaims = 4000, kStock = 1500;
  const std::vector<int> gates{1000, 2000, 3000};  // the load waits at each for the next kill
  std::atomic<int> kills{0};
  std::string load_error;  // an exception must not escape the thread (that aborts the whole test binary)
  std::thread load([&] {
    try {
      CommandProducer producer;
      producer.send(create_command(event, kStock));
      producer.flush();
      for (int i = 0; i < kClaims; ++i) {
        for (size_t k = 0; k < gates.size(); ++k) {
          if (i != gates[k]) continue;
          producer.flush();
          auto deadline = std::chrono::steady_clock::now() + 120s;
          while (kills <= static_cast<int>(k) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(10ms);
          }
        }
        producer.send(claim_command(event, "user-" + std::to_string(i % 3000)));  // the last 1000 repeat a user
        if (i % 200 == 199) producer.flush();
      }
      producer.flush();
    } catch (const std::exception& e) {
      load_error = e.what();
    }
  });

  // Kill both three times while the load is in flight: each time once MySQL shows most of what was
  // produced before the load's gate (the rest is still on its way), then start them again at once.
  std::string last;
  for (size_t k = 0; k < gates.size(); ++k) {
    bool partly = converges(
        [&] {
          auto rows = db->query("SELECT COUNT(*) FROM claims WHERE event_id = " + db->quote(event));
          return std::stoll(*rows[0][0]) >= gates[k] - 400 ? "" : "not yet";
        },
        120s, last);
    EXPECT_TRUE(partly) << "the test's sink-mysql did not reach " << gates[k] - 400 << " claims; see " << logs;
    EXPECT_TRUE(stop_process(mysql_pid, SIGKILL, 10s));
    EXPECT_TRUE(stop_process(redis_pid, SIGKILL, 10s));
    std::tie(mysql_pid, redis_pid) = start_sinks();
    kills = static_cast<int>(k) + 1;
  }
  load.join();
  ASSERT_EQ(load_error, "") << "the load failed";

  EXPECT_TRUE(log.wait_for({event}, kClaims + 1, 120s)) << "only " << log.decisions().size() << " decisions arrived";
  EXPECT_TRUE(converges([&] { return mysql_diff(*db, log.decisions()); }, 120s, last)) << last;
  EXPECT_TRUE(converges([&] { return redis_diff(*redis, prefix, log.decisions()); }, 120s, last)) << last;
  auto t = truth_of(log.decisions(), event);
  EXPECT_EQ(t.issued, kStock);

  EXPECT_TRUE(stop_process(mysql_pid, SIGTERM, 30s));
  EXPECT_TRUE(stop_process(redis_pid, SIGTERM, 30s));
  redis->del(redis_keys_of(prefix, log.decisions()));
}

}  // namespace
}  // namespace allot
