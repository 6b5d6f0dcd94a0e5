#include "ingress/baselines.h"

#include <errmsg.h>
#include <hiredis/hiredis.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/mysql.h"
#include "common/redis.h"
#include "common/sql_script.h"

namespace allot::ingress {

extern const char* const kBaselinesSql;  // baselines.sql, compiled in

namespace {

using nlohmann::json;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using ReplyPtr = redis::Reply;

// The event as allot projected it; the baselines start from it.
struct EventSpec {
  int64_t stock = 0, per_user_limit = 1;
  std::optional<int64_t> opens_at, closes_at;
};

std::string outcome_body(const std::string& request_id, const std::string& outcome, int64_t seq) {
  json j{{"request_id", request_id}, {"status", outcome}};
  if (seq > 0) j["coupon_seq"] = seq;
  return j.dump();
}

std::string error_json(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

// "not_open" / "closed" / "" by the window, judged at `now`.
std::string window_outcome(const EventSpec& e, int64_t now) {
  if (e.opens_at && now < *e.opens_at) return "not_open";
  if (e.closes_at && now >= *e.closes_at) return "closed";
  return "";
}

// v2's atomic step: the user's count and a unit, in one script. Initialises the event's counters
// from ARGV on first use. Returns {outcome, coupon_seq}.
constexpr const char* kV2Script = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'stock', ARGV[1], 'limit', ARGV[2], 'issued', 0)
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(redis.call('HGET', KEYS[1], 'limit')) then return {'duplicate', 0} end
if tonumber(redis.call('HGET', KEYS[1], 'issued')) >= tonumber(redis.call('HGET', KEYS[1], 'stock')) then
  return {'sold_out', 0}
end
local seq = redis.call('HINCRBY', KEYS[1], 'issued', 1)
redis.call('INCR', KEYS[2])
return {'issued', seq}
)lua";

// One worker's connections, opened lazily and dropped after an error so the next claim reconnects.
class Connections {
 public:
  explicit Connections(const BaselineOptions& o) : opt_(o) {}

  MYSQL* mysql() {
    if (db_) return db_.get();
    try {
      db_ = mysql::connect({.host = opt_.mysql_host,
                            .port = opt_.mysql_port,
                            .user = opt_.mysql_user,
                            .password = opt_.mysql_password,
                            .database = opt_.mysql_database});
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
    for (const auto& s : split_sql_script(kBaselinesSql)) exec(s);
    return db_.get();
  }

  void exec(const std::string& sql) {
    if (!db_) throw Failure("mysql: not connected");
    if (mysql_real_query(db_.get(), sql.data(), sql.size()) != 0) fail_mysql();
    if (MYSQL_RES* r = mysql_store_result(db_.get())) mysql_free_result(r);
  }

  // Rows of a query, each as strings ("" for NULL).
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    if (!db_) throw Failure("mysql: not connected");
    if (mysql_real_query(db_.get(), sql.data(), sql.size()) != 0) fail_mysql();
    mysql::Result res(mysql_store_result(db_.get()));
    std::vector<std::vector<std::string>> out;
    if (!res) return out;
    unsigned n = mysql_num_fields(res.get());
    while (MYSQL_ROW row = mysql_fetch_row(res.get())) {
      auto& r = out.emplace_back();
      for (unsigned i = 0; i < n; ++i) r.emplace_back(row[i] ? row[i] : "");
    }
    return out;
  }

  [[noreturn]] void fail_mysql() {
    unsigned code = mysql_errno(db_.get());
    std::string why = mysql_error(db_.get());
    // Lock conflicts and duplicate keys leave the connection usable; anything else may not.
    if (code != ER_LOCK_DEADLOCK && code != ER_LOCK_WAIT_TIMEOUT && code != ER_DUP_ENTRY) db_.reset();
    throw Failure("mysql " + std::to_string(code) + ": " + why);
  }
  bool lost_connection(const Failure& f) const {
    std::string s = f.what();
    return !db_ && (s.starts_with("mysql " + std::to_string(CR_SERVER_GONE_ERROR)) ||
                    s.starts_with("mysql " + std::to_string(CR_SERVER_LOST)));
  }
  bool retriable(const Failure& f) const {
    std::string s = f.what();
    return s.starts_with("mysql " + std::to_string(ER_LOCK_DEADLOCK)) ||
           s.starts_with("mysql " + std::to_string(ER_LOCK_WAIT_TIMEOUT));
  }

  ReplyPtr redis(const std::vector<std::string>& args) {
    ReplyPtr r;
    for (int attempt = 0; attempt < 2 && !r; ++attempt) {  // once more on a fresh connection (Redis restarted)
      if (!rc_) {
        try {
          rc_ = redis::connect(opt_.redis_host, opt_.redis_port, std::chrono::seconds(2));
        } catch (const std::runtime_error& e) {
          throw Failure(e.what());
        }
      }
      r = redis::command(rc_.get(), args);
      if (!r) rc_.reset();
    }
    if (!r) throw Failure("redis connection lost");
    if (r->type == REDIS_REPLY_ERROR) throw Failure(std::string("redis: ") + r->str);
    return r;
  }

 private:
  const BaselineOptions& opt_;
  mysql::Connection db_;
  redis::Context rc_;
};

std::optional<int64_t> opt_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return std::stoll(s);
}

}  // namespace

struct Baselines::Impl {
  BaselineOptions opt;
  metrics::Family<metrics::Counter>& outcomes;
  metrics::Counter& retries;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void(Connections&)>> queue;
  bool stopping = false;
  std::vector<std::thread> workers;

  Impl(BaselineOptions o, metrics::Registry& r)
      : opt(std::move(o)),
        outcomes(r.counter("allot_baseline_claims_total", "Baseline claims decided, by strategy and outcome")),
        retries(r.counter("allot_baseline_retries_total", "v1 transactions retried after a lock conflict").with()) {
    for (int i = 0; i < opt.workers; ++i) {
      workers.emplace_back([this] {
        Connections conns(opt);
        while (true) {
          std::function<void(Connections&)> job;
          {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return stopping || !queue.empty(); });
            if (queue.empty()) return;
            job = std::move(queue.front());
            queue.pop_front();
          }
          job(conns);
        }
      });
    }
  }

  ~Impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
    for (auto& w : workers) w.join();
  }

  // A request id (Idempotency-Key) already decided by this strategy: the same answer again.
  std::optional<std::pair<int, std::string>> earlier(Connections& c, const std::string& table, const std::string& rid) {
    auto row = c.rows("SELECT outcome, COALESCE(coupon_seq, 0) FROM " + table + " WHERE request_id='" + rid + "'");
    if (row.empty()) return std::nullopt;
    int64_t seq = std::stoll(row[0][1]);
    return std::pair{seq ? 200 : 409, outcome_body(rid, row[0][0], seq)};
  }

  // v1's issued count, shown next to allot's own in the event's view (ingress/projections.h): MySQL stays
  // the truth; the mirror only grows (concurrent commits may arrive out of order). A failed mirror does
  // not change the claim's answer.
  void mirror_v1_issued(Connections& c, const std::string& event, int64_t stock, int64_t seq) {
    static constexpr const char* kMirror =
        "local n = tonumber(redis.call('HGET', KEYS[1], 'issued') or '0') "
        "if tonumber(ARGV[2]) > n then redis.call('HSET', KEYS[1], 'stock', ARGV[1], 'issued', ARGV[2]) end";
    try {
      c.redis({"EVAL", kMirror, "1", opt.redis_prefix + "v1:" + event, std::to_string(stock), std::to_string(seq)});
    } catch (const std::exception& ex) {
      log_warn("baselines", std::string("v1 count not mirrored to Redis: ") + ex.what());
    }
  }

  // v1: the whole decision inside one transaction holding the event row's lock.
  std::pair<int, std::string> v1(Connections& c, const std::string& event, const std::string& user,
                                 const std::string& rid) {
    c.mysql();
    if (auto e = earlier(c, "v1_claims", rid)) return *e;
    for (int attempt = 0;; ++attempt) {
      try {
        c.exec("START TRANSACTION");
        auto row = c.rows(
            "SELECT stock, per_user_limit, COALESCE(opens_at,''), COALESCE(closes_at,''), issued "
            "FROM v1_events WHERE event_id='" +
            event + "' FOR UPDATE");
        if (row.empty()) {
          c.exec("ROLLBACK");
          // First v1 claim of this event: start v1's own counters from allot's projected event.
          c.exec(
              "INSERT IGNORE INTO v1_events (event_id, stock, per_user_limit, opens_at, closes_at, issued) "
              "SELECT event_id, stock, per_user_limit, opens_at, closes_at, 0 FROM events WHERE event_id='" +
              event + "'");
          c.exec("START TRANSACTION");
          row = c.rows(
              "SELECT stock, per_user_limit, COALESCE(opens_at,''), COALESCE(closes_at,''), issued "
              "FROM v1_events WHERE event_id='" +
              event + "' FOR UPDATE");
          if (row.empty()) {
            c.exec("ROLLBACK");
            return {404, error_json("unknown_event", "event " + event + " does not exist")};
          }
        }
        EventSpec e{std::stoll(row[0][0]), std::stoll(row[0][1]), opt_int(row[0][2]), opt_int(row[0][3])};
        int64_t issued = std::stoll(row[0][4]);
        int64_t now = now_ms();
        std::string outcome = window_outcome(e, now);
        int64_t seq = 0;
        if (outcome.empty()) {
          auto mine = c.rows("SELECT COUNT(*) FROM v1_claims WHERE event_id='" + event + "' AND user_id='" + user +
                             "' AND outcome='issued'");
          if (std::stoll(mine[0][0]) >= e.per_user_limit) {
            outcome = "duplicate";
          } else if (issued >= e.stock) {
            outcome = "sold_out";
          } else {
            outcome = "issued";
            seq = issued + 1;
          }
        }
        c.exec("INSERT INTO v1_claims (request_id, event_id, user_id, outcome, coupon_seq, decided_at) VALUES ('" +
               rid + "','" + event + "','" + user + "','" + outcome + "'," + (seq ? std::to_string(seq) : "NULL") +
               "," + std::to_string(now) + ")");
        if (seq) c.exec("UPDATE v1_events SET issued = issued + 1 WHERE event_id='" + event + "'");
        c.exec("COMMIT");
        if (seq) mirror_v1_issued(c, event, e.stock, seq);
        outcomes.with({{"strategy", "v1"}, {"outcome", outcome}}).inc();
        return {seq ? 200 : 409, outcome_body(rid, outcome, seq)};
      } catch (const Failure& f) {
        try {
          c.exec("ROLLBACK");
        } catch (const Failure&) {
          // the connection is gone, and the transaction with it
        }
        if (std::string(f.what()).starts_with("mysql " + std::to_string(ER_DUP_ENTRY))) {
          // the same request id decided concurrently: that decision stands
          return {409, error_json("duplicate_request", "request " + rid + " is being or was decided already")};
        }
        if (!c.retriable(f) || attempt >= 3) throw;
        retries.inc();
      }
    }
  }

  // v2: Redis decides atomically; MySQL records the decision afterwards.
  std::pair<int, std::string> v2(Connections& c, const std::string& event, const std::string& user,
                                 const std::string& rid) {
    c.mysql();
    if (auto e = earlier(c, "v2_claims", rid)) return *e;
    auto h =
        c.redis({"HMGET", opt.redis_prefix + "event:" + event, "stock", "per_user_limit", "opens_at", "closes_at"});
    auto field = [&](size_t i) {
      const auto* el = h->element[i];
      return el->type == REDIS_REPLY_STRING ? std::string(el->str, el->len) : std::string();
    };
    if (h->elements < 4 || field(0).empty())
      return {404, error_json("unknown_event", "event " + event + " does not exist")};
    EventSpec e{std::stoll(field(0)), field(1).empty() ? 1 : std::stoll(field(1)), opt_int(field(2)),
                opt_int(field(3))};
    int64_t now = now_ms();
    std::string outcome = window_outcome(e, now);
    int64_t seq = 0;
    if (outcome.empty()) {
      auto r = c.redis({"EVAL", kV2Script, "2", opt.redis_prefix + "v2:" + event,
                        opt.redis_prefix + "v2:" + event + ":user:" + user, std::to_string(e.stock),
                        std::to_string(e.per_user_limit)});
      outcome = std::string(r->element[0]->str, r->element[0]->len);
      seq = r->element[1]->integer;
    }
    c.exec("INSERT INTO v2_claims (request_id, event_id, user_id, outcome, coupon_seq, decided_at) VALUES ('" + rid +
           "','" + event + "','" + user + "','" + outcome + "'," + (seq ? std::to_string(seq) : "NULL") + "," +
           std::to_string(now) + ")");
    outcomes.with({{"strategy", "v2"}, {"outcome", outcome}}).inc();
    return {seq ? 200 : 409, outcome_body(rid, outcome, seq)};
  }
};

Baselines::Baselines(BaselineOptions options, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), registry)) {}
Baselines::~Baselines() = default;

void Baselines::claim(Strategy strategy, const std::string& event_id, const std::string& user_id,
                      const std::string& request_id, BaselineDone done) {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.queue.size() >= i.opt.max_queue) {
      done(503, error_json("overloaded", "too many claims waiting for the database; retry later"));
      return;
    }
    // Ids are validated ([A-Za-z0-9_-], [a-z0-9-]) before they get here, so inlining them in SQL is safe.
    i.queue.push_back([&i, strategy, event_id, user_id, request_id, done = std::move(done)](Connections& c) {
      auto decide = [&] {
        return strategy == Strategy::kV1DatabaseLock ? i.v1(c, event_id, user_id, request_id)
                                                     : i.v2(c, event_id, user_id, request_id);
      };
      try {
        std::pair<int, std::string> answer;
        try {
          answer = decide();
        } catch (const Failure& f) {
          // A connection the server dropped (e.g. it restarted) is dropped here too: one more try on a
          // fresh one. Nothing was committed by the failed try, so it is safe to run again.
          if (!c.lost_connection(f)) throw;
          answer = decide();
        }
        done(answer.first, answer.second);
      } catch (const std::exception& e) {
        log_warn("baseline", e.what());
        done(503, error_json("store_unavailable", "the database could not decide the claim; retry later"));
      }
    });
  }
  i.cv.notify_one();
}

}  // namespace allot::ingress
