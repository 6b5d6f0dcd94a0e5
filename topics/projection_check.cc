#include "topics/projection_check.h"

#include <hiredis/hiredis.h>
#include <mysql.h>

#include <memory>
#include <stdexcept>

#include "common/mysql.h"
#include "common/redis.h"

namespace allot::topics {

ProjectedEvent expected_projection(const std::vector<Decision>& decisions, const std::string& event_id) {
  ProjectedEvent p;
  std::map<int64_t, std::string> by_seq;
  for (const auto& d : decisions) {
    if (d.event_id != event_id) continue;
    if (d.type == "create_event") {
      if (d.outcome == Outcome::kCreated && d.event) p.stock = d.event->stock;
      continue;
    }
    if (d.outcome == Outcome::kUnknownEvent) continue;  // nothing to project for an event that was not there
    p.claims[d.request_id] = {d.user_id, std::string(to_string(d.outcome)), d.coupon_seq.value_or(0)};
    if (d.coupon_seq) by_seq[*d.coupon_seq] = d.user_id;
  }
  if (p.stock < 0 && p.claims.empty()) return p;  // no such event: nothing projected either
  p.issued = static_cast<int64_t>(by_seq.size());
  p.remaining = p.stock - p.issued;
  for (const auto& [seq, user] : by_seq) p.ranking.push_back(user);
  return p;
}

ProjectedEvent mysql_projection(const StoreAddress& a, const std::string& event_id) {
  auto db = mysql::connect({.host = a.mysql_host,
                           .port = a.mysql_port,
                           .user = a.mysql_user,
                           .password = a.mysql_password,
                           .database = a.mysql_database});
  auto query = [&](const std::string& sql) { return mysql::query(db.get(), sql); };
  const std::string event = mysql::quote(db.get(), event_id);
  ProjectedEvent p;
  auto claims = query("SELECT request_id, user_id, outcome, COALESCE(coupon_seq, 0) FROM claims WHERE event_id=" +
                      event + " AND outcome <> 'unknown_event'");
  std::map<int64_t, std::string> by_seq;
  while (MYSQL_ROW r = mysql_fetch_row(claims.get())) {
    int64_t seq = std::stoll(r[3]);
    p.claims[r[0]] = {r[1], r[2], seq};
    if (seq > 0) by_seq[seq] = r[1];
  }
  for (const auto& [seq, user] : by_seq) p.ranking.push_back(user);
  auto ev = query("SELECT stock, issued, remaining FROM events WHERE event_id=" + event);
  if (MYSQL_ROW r = mysql_fetch_row(ev.get())) {
    p.stock = std::stoll(r[0]);
    p.issued = std::stoll(r[1]);
    p.remaining = std::stoll(r[2]);
  }
  return p;
}

ProjectedEvent redis_projection(const StoreAddress& a, const std::string& event_id,
                                const std::vector<std::string>& request_ids) {
  auto r = redis::connect(a.redis_host, a.redis_port, std::chrono::seconds(5));
  auto cmd = [&](const std::vector<std::string>& args) {
    auto reply = redis::command(r.get(), args);
    if (!reply || reply->type == REDIS_REPLY_ERROR) throw std::runtime_error("Redis " + args.front() + " failed");
    return reply;
  };
  auto hash = [](const redisReply* h) {
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < h->elements; i += 2) out[h->element[i]->str] = h->element[i + 1]->str;
    return out;
  };
  ProjectedEvent p;
  for (const auto& id : request_ids) {
    auto h = hash(cmd({"HGETALL", a.redis_prefix + "claim:" + id}).get());
    if (h.empty() || h["status"] == "unknown_event") continue;
    p.claims[id] = {h["user_id"], h["status"], h.count("coupon_seq") ? std::stoll(h["coupon_seq"]) : 0};
  }
  auto ranking = cmd({"ZRANGE", a.redis_prefix + "ranking:" + event_id, "0", "-1"});
  for (size_t i = 0; i < ranking->elements; ++i) p.ranking.push_back(ranking->element[i]->str);
  auto e = hash(cmd({"HGETALL", a.redis_prefix + "event:" + event_id}).get());
  if (!e.empty()) {
    p.stock = std::stoll(e["stock"]);
    p.issued = std::stoll(e["issued"]);
    p.remaining = std::stoll(e["remaining"]);
  }
  return p;
}

std::string describe_difference(const ProjectedEvent& expected, const ProjectedEvent& actual) {
  if (expected == actual) return "";
  std::string out;
  if (expected.stock != actual.stock || expected.issued != actual.issued || expected.remaining != actual.remaining) {
    out += "stock/issued/remaining " + std::to_string(actual.stock) + "/" + std::to_string(actual.issued) + "/" +
           std::to_string(actual.remaining) + " (want " + std::to_string(expected.stock) + "/" +
           std::to_string(expected.issued) + "/" + std::to_string(expected.remaining) + "); ";
  }
  if (expected.claims.size() != actual.claims.size()) {
    out += std::to_string(actual.claims.size()) + " claims (want " + std::to_string(expected.claims.size()) + "); ";
  }
  int shown = 0;
  for (const auto& [id, want] : expected.claims) {
    auto it = actual.claims.find(id);
    if (it == actual.claims.end() || !(it->second == want)) {
      if (shown++ < 3) {
        out += "claim " + id + ": " + (it == actual.claims.end() ? "missing" : it->second.outcome) + " (want " +
               want.outcome + "); ";
      }
    }
  }
  if (expected.ranking != actual.ranking) out += "ranking differs; ";
  return out;
}

}  // namespace allot::topics
