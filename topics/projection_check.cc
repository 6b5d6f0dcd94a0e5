#include "topics/projection_check.h"

#include <hiredis/hiredis.h>
#include <mysql.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "common/mysql.h"
#include "common/redis.h"
#include "topics/claim_status.h"

namespace allot::topics {

namespace {

// Users in the order of their first coupon, each once (per_user_limit > 1 gives a user several).
std::vector<std::string> ranking_of(const std::map<int64_t, std::string>& user_by_coupon) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& [seq, user] : user_by_coupon) {
    if (seen.insert(user).second) out.push_back(user);
  }
  return out;
}

// The users of the claims that have a coupon (issued, confirmed, won), in ranking order.
std::vector<std::string> ranking_of(const std::map<std::string, ProjectedClaim>& claims) {
  std::map<int64_t, std::string> by_seq;
  for (const auto& [id, c] : claims) {
    if (c.coupon_seq > 0) by_seq[c.coupon_seq] = c.user_id;
  }
  return ranking_of(by_seq);
}

mysql::Connection connect_mysql(const StoreAddress& a) {
  return mysql::connect({.host = a.mysql_host,
                         .port = a.mysql_port,
                         .user = a.mysql_user,
                         .password = a.mysql_password,
                         .database = a.mysql_database});
}

int64_t number_or(const std::map<std::string, std::string>& h, const std::string& field, int64_t fallback) {
  auto it = h.find(field);
  return it == h.end() || it->second.empty() ? fallback : std::stoll(it->second);
}

}  // namespace

ProjectedEvent expected_projection(const std::vector<Decision>& decisions, const std::string& event_id) {
  ProjectedEvent p;
  int64_t entries = 0;
  std::vector<std::string> seat_map;
  std::map<std::string, std::string_view> seats;  // seat -> its status once a decision moved it
  std::map<std::pair<std::string, int32_t>, std::pair<Outcome, int64_t>> reservations;  // a sale's: state, qty
  for (const auto& d : decisions) {
    if (d.event_id != event_id) continue;
    if (moves_reservation(d)) {
      auto& r = reservations[{d.order_id, d.line.value_or(0)}];
      if (d.outcome != Outcome::kReserved || r.second == 0) r = {d.outcome, d.qty.value_or(0)};
      continue;
    }
    if (auto status = seat_status(d)) seats[d.seat] = *status;
    if (d.type == decision_type::kCreateEvent) {
      if (d.outcome == Outcome::kCreated && d.event) {
        p.stock = d.event->stock;
        p.mode = std::string(to_string(d.event->mode));
        seat_map = d.event->seats;
      }
      continue;
    }
    if (d.outcome == Outcome::kUnknownEvent) continue;  // nothing to project for an event that was not there
    if (d.type == decision_type::kClaim) {
      p.claims[d.request_id] = {projected_user(d), std::string(to_string(d.outcome)), d.coupon_seq.value_or(0),
                                d.hold_expires_at.value_or(0)};
      entries += d.outcome == Outcome::kEntered;
    } else if (is_request_record(d)) {
      p.requests[d.request_id] = {d.type, projected_user(d), std::string(to_string(d.outcome)), d.claim_request_id,
                                  d.coupon_seq.value_or(0)};
    }
    if (auto place = join_place(d)) {
      auto& r = p.requests[place->join_request_id];
      if (place->ticket) r.ticket = *place->ticket;
      if (place->admitted_at) r.admitted_at = *place->admitted_at;
    }
    if (auto ending = claim_ending(d)) {
      auto& c = p.claims[ending->claim_request_id];
      c.user_id = d.user_id;
      c.status = std::string(to_string(ending->status));
      if (ending->coupon_seq) c.coupon_seq = *ending->coupon_seq;
    }
    if (closes_event(d)) p.closed = true;
    if (deletes_event(d)) p.deleted = true;
  }
  if (p.stock < 0 && p.claims.empty() && p.requests.empty()) return p;  // no such event: nothing projected either
  p.issued = p.held = 0;
  for (const auto& [id, c] : p.claims) {
    auto status = outcome_from_string(c.status);
    p.issued += status && is_issued(*status);
    p.held += status == Outcome::kHeld;
  }
  for (const auto& [key, r] : reservations) {
    p.issued += r.first == Outcome::kSold ? r.second : 0;
    p.held += r.first == Outcome::kReserved ? r.second : 0;
  }
  p.entries = entries;
  p.remaining = p.stock - p.issued - p.held;
  if (p.mode == event_mode::kSale && !p.deleted) p.popular = p.issued;
  for (const auto& seat : seat_map) {
    auto it = seats.find(seat);
    p.seats.push_back(seat + "=" + std::string(it == seats.end() ? seat_state::kFree : it->second));
  }
  p.ranking = ranking_of(p.claims);
  if (p.deleted) {  // the counters stay; every user id goes
    for (auto& [id, c] : p.claims) c.user_id.clear();
    for (auto& [id, r] : p.requests) r.user_id.clear();
    p.ranking.clear();
  }
  return p;
}

std::vector<std::string> request_ids(const ProjectedEvent& expected) {
  std::vector<std::string> ids;
  for (const auto& [id, c] : expected.claims) ids.push_back(id);
  for (const auto& [id, r] : expected.requests) ids.push_back(id);
  return ids;
}

ProjectedEvent mysql_projection(const StoreAddress& a, const std::string& event_id) {
  auto db = connect_mysql(a);
  auto query = [&](const std::string& sql) { return mysql::query(db.get(), sql); };
  const std::string event = mysql::quote(db.get(), event_id);
  const std::string unknown = mysql::quote(db.get(), outcome::kUnknownEvent);
  ProjectedEvent p;
  // A NULL status is a row projected before event modes: its outcome is final (schema.sql).
  auto claims = query(
      "SELECT request_id, user_id, COALESCE(status, outcome), COALESCE(coupon_seq, 0), COALESCE(hold_expires_at, 0)"
      " FROM claims WHERE event_id=" +
      event + " AND outcome <> " + unknown);
  while (MYSQL_ROW r = mysql_fetch_row(claims.get())) p.claims[r[0]] = {r[1], r[2], std::stoll(r[3]), std::stoll(r[4])};
  p.ranking = ranking_of(p.claims);
  auto requests = query(
      "SELECT request_id, type, COALESCE(user_id, ''), outcome, COALESCE(claim_request_id, ''), COALESCE(coupon_seq, "
      "0),"
      " COALESCE(ticket, 0), COALESCE(admitted_at, 0) FROM requests WHERE event_id=" +
      event + " AND outcome <> " + unknown);
  while (MYSQL_ROW r = mysql_fetch_row(requests.get())) {
    p.requests[r[0]] = {r[1], r[2], r[3], r[4], std::stoll(r[5]), std::stoll(r[6]), std::stoll(r[7])};
  }
  auto ev = query("SELECT stock, issued, held, entries, remaining, closed, mode, deleted FROM events WHERE event_id=" +
                  event);
  if (MYSQL_ROW r = mysql_fetch_row(ev.get())) {
    p.stock = std::stoll(r[0]);
    p.issued = std::stoll(r[1]);
    p.held = std::stoll(r[2]);
    p.entries = std::stoll(r[3]);
    p.remaining = std::stoll(r[4]);
    p.closed = std::stoll(r[5]) != 0;
    p.mode = r[6];
    p.deleted = std::stoll(r[7]) != 0;
    if (p.deleted) p.ranking.clear();  // the claims keep their coupons, not their users
    if (p.mode == event_mode::kSale && !p.deleted) p.popular = p.issued;
  }
  auto seats = query("SELECT seat, status FROM seats WHERE event_id=" + event + " ORDER BY position");
  while (MYSQL_ROW r = mysql_fetch_row(seats.get())) p.seats.push_back(std::string(r[0]) + "=" + r[1]);
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
    if (h.empty() || h["status"] == outcome::kUnknownEvent) continue;
    if (h.count("type")) {  // a confirm, cancel or close_event (sinks/redis_projection.h)
      p.requests[id] = {h["type"],
                        h["user_id"],
                        h["status"],
                        h["claim_request_id"],
                        number_or(h, "coupon_seq", 0),
                        number_or(h, "ticket", 0),
                        number_or(h, "admitted_at", 0)};
    } else {
      p.claims[id] = {h["user_id"], h["status"], number_or(h, "coupon_seq", 0), number_or(h, "hold_expires_at", 0)};
    }
  }
  auto ranking = cmd({"ZRANGE", a.redis_prefix + "ranking:" + event_id, "0", "-1"});
  for (size_t i = 0; i < ranking->elements; ++i) p.ranking.push_back(ranking->element[i]->str);
  auto e = hash(cmd({"HGETALL", a.redis_prefix + "event:" + event_id}).get());
  if (!e.empty()) {
    p.stock = number_or(e, "stock", -1);
    p.issued = number_or(e, "issued", -1);
    p.held = number_or(e, "held", -1);
    p.entries = number_or(e, "entries", -1);
    p.remaining = number_or(e, "remaining", -1);
    p.closed = number_or(e, "closed", 0) != 0;
    p.deleted = number_or(e, "deleted", 0) != 0;
    p.mode = e["mode"];
  }
  auto popular = cmd({"ZSCORE", a.redis_prefix + "products:popular", event_id});
  if (popular->type == REDIS_REPLY_STRING) p.popular = std::stoll(std::string(popular->str, popular->len));
  auto names = cmd({"GET", a.redis_prefix + "event:" + event_id + ":seat_map"});
  if (names->type == REDIS_REPLY_STRING) {
    auto status = hash(cmd({"HGETALL", a.redis_prefix + "event:" + event_id + ":seats"}).get());
    for (const auto& seat : split_seat_map(std::string_view(names->str, names->len))) {
      p.seats.push_back(seat + "=" + status[seat]);
    }
  }
  return p;
}

namespace {

std::string ledger_entry(const std::string& request_id, const std::string& outcome, int64_t amount, int64_t balance) {
  return request_id + " " + outcome + " " + std::to_string(amount) + " " + std::to_string(balance);
}

}  // namespace

ProjectedWallets expected_wallets(const std::vector<Decision>& decisions, size_t ledger_kept) {
  ProjectedWallets out;
  std::map<std::string, int64_t> newest;  // user -> offset of the decision that set the balance
  for (const auto& d : decisions) {
    if (!is_wallet_decision(d)) continue;
    auto& w = out[d.user_id];
    w.ledger[d.command.offset] =
        ledger_entry(d.request_id, std::string(to_string(d.outcome)), d.amount.value_or(0), d.balance.value_or(0));
    if (auto it = newest.find(d.user_id); it == newest.end() || it->second < d.command.offset) {
      newest[d.user_id] = d.command.offset;
      w.balance = d.balance.value_or(0);
    }
  }
  for (auto& [user, w] : out) {
    while (w.ledger.size() > ledger_kept) w.ledger.erase(w.ledger.begin());
  }
  return out;
}

ProjectedWallets mysql_wallets(const StoreAddress& a) {
  auto db = connect_mysql(a);
  ProjectedWallets out;
  auto ledger =
      mysql::query(db.get(), "SELECT user_id, command_offset, request_id, outcome, amount, balance FROM wallet_ledger");
  while (MYSQL_ROW r = mysql_fetch_row(ledger.get())) {
    out[r[0]].ledger[std::stoll(r[1])] = ledger_entry(r[2], r[3], std::stoll(r[4]), std::stoll(r[5]));
  }
  auto balances = mysql::query(db.get(), "SELECT user_id, balance FROM wallets");
  while (MYSQL_ROW r = mysql_fetch_row(balances.get())) out[r[0]].balance = std::stoll(r[1]);
  return out;
}

ProjectedWallets redis_wallets(const StoreAddress& a, const std::vector<std::string>& users) {
  auto r = redis::connect(a.redis_host, a.redis_port, std::chrono::seconds(5));
  auto cmd = [&](const std::vector<std::string>& args) {
    auto reply = redis::command(r.get(), args);
    if (!reply || reply->type == REDIS_REPLY_ERROR) throw std::runtime_error("Redis " + args.front() + " failed");
    return reply;
  };
  ProjectedWallets out;
  for (const auto& user : users) {
    const auto key = a.redis_prefix + "wallet:" + user;
    auto balance = cmd({"HGET", key, "balance"});
    auto ledger = cmd({"ZRANGE", key + ":ledger", "0", "-1", "WITHSCORES"});
    if (balance->type != REDIS_REPLY_STRING && ledger->elements == 0) continue;
    auto& w = out[user];
    if (balance->type == REDIS_REPLY_STRING) w.balance = std::stoll(balance->str);
    for (size_t i = 0; i + 1 < ledger->elements; i += 2) {
      auto entry = nlohmann::json::parse(ledger->element[i]->str);  // sinks/redis_projection.cc ledger_entry
      w.ledger[std::stoll(ledger->element[i + 1]->str)] =
          ledger_entry(entry.at("request_id"), entry.at("outcome"), entry.at("amount"), entry.at("balance"));
    }
  }
  return out;
}

std::string describe_wallet_difference(const ProjectedWallets& expected, const ProjectedWallets& actual) {
  std::string out;
  int shown = 0;
  if (expected.size() != actual.size()) {
    out += std::to_string(actual.size()) + " wallets (want " + std::to_string(expected.size()) + "); ";
  }
  for (const auto& [user, want] : expected) {
    auto it = actual.find(user);
    if (it != actual.end() && it->second == want) continue;
    if (shown++ >= 3) break;
    if (it == actual.end()) {
      out += "wallet " + user + ": missing; ";
    } else {
      out += "wallet " + user + ": balance " + std::to_string(it->second.balance) + " with " +
             std::to_string(it->second.ledger.size()) + " ledger entries (want " + std::to_string(want.balance) +
             " with " + std::to_string(want.ledger.size()) + "); ";
    }
  }
  return out;
}

ProjectedOrders expected_orders(const std::vector<Decision>& decisions) {
  ProjectedOrders out;
  for (const auto& d : decisions) {
    if (!is_order_row_decision(d)) continue;
    auto& o = out[d.order_id];
    o.user_id = d.user_id;
    if (d.type == decision_type::kOrder) {
      if (o.status.empty()) o.status = outcome::kPlaced;
      continue;
    }
    o.status = to_string(d.outcome);
    o.amount = d.amount.value_or(0);
    o.reason = d.reason ? std::string(to_string(*d.reason)) : "";
  }
  return out;
}

ProjectedOrders mysql_orders(const StoreAddress& a) {
  auto db = connect_mysql(a);
  ProjectedOrders out;
  auto rows = mysql::query(db.get(),
                           "SELECT order_id, user_id, status, COALESCE(reason, ''), IF(status = 'placed', 0,"
                           " COALESCE(amount, 0)) FROM orders");
  while (MYSQL_ROW r = mysql_fetch_row(rows.get())) out[r[0]] = {r[1], r[2], r[3], std::stoll(r[4])};
  return out;
}

ProjectedOrders redis_orders(const StoreAddress& a, const std::vector<std::string>& order_ids) {
  auto r = redis::connect(a.redis_host, a.redis_port, std::chrono::seconds(5));
  ProjectedOrders out;
  for (const auto& id : order_ids) {
    auto reply = redis::command(r.get(), {"HGETALL", a.redis_prefix + "claim:" + id});
    if (!reply || reply->type == REDIS_REPLY_ERROR) throw std::runtime_error("Redis HGETALL failed");
    std::map<std::string, std::string> h;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) h[reply->element[i]->str] = reply->element[i + 1]->str;
    if (h.empty()) continue;
    const bool placed = h["status"] == outcome::kPlaced;
    out[id] = {h["user_id"], h["status"], placed ? "" : h["reason"], placed ? 0 : number_or(h, "amount", 0)};
  }
  return out;
}

std::string describe_order_difference(const ProjectedOrders& expected, const ProjectedOrders& actual) {
  std::string out;
  if (expected.size() != actual.size()) {
    out += std::to_string(actual.size()) + " orders (want " + std::to_string(expected.size()) + "); ";
  }
  auto text = [](const ProjectedOrder& o) {
    return o.status + " " + std::to_string(o.amount) + (o.reason.empty() ? "" : " " + o.reason) + " user '" +
           o.user_id + "'";
  };
  int shown = 0;
  for (const auto& [id, want] : expected) {
    auto it = actual.find(id);
    if (it != actual.end() && it->second == want) continue;
    if (shown++ >= 3) break;
    out += "order " + id + ": " + (it == actual.end() ? "missing" : text(it->second)) + " (want " + text(want) + "); ";
  }
  return out;
}

std::string describe_difference(const ProjectedEvent& expected, const ProjectedEvent& actual) {
  if (expected == actual) return "";
  std::string out;
  auto levels = [](const ProjectedEvent& p) {
    return p.mode + " " + std::to_string(p.stock) + "/" + std::to_string(p.issued) + "/" + std::to_string(p.held) +
           "/" + std::to_string(p.entries) + "/" + std::to_string(p.remaining) + (p.closed ? " closed" : " open") +
           (p.deleted ? " deleted" : "");
  };
  if (levels(expected) != levels(actual)) {
    out += "mode stock/issued/held/entries/remaining " + levels(actual) + " (want " + levels(expected) + "); ";
  }
  if (expected.claims.size() != actual.claims.size()) {
    out += std::to_string(actual.claims.size()) + " claims (want " + std::to_string(expected.claims.size()) + "); ";
  }
  if (expected.popular != actual.popular) {
    out += "units sold in the popular ranking " + std::to_string(actual.popular) + " (want " +
           std::to_string(expected.popular) + "); ";
  }
  if (expected.seats != actual.seats) {
    size_t i = 0;
    while (i < expected.seats.size() && i < actual.seats.size() && expected.seats[i] == actual.seats[i]) ++i;
    out += "seats: " + std::to_string(actual.seats.size()) + " (want " + std::to_string(expected.seats.size()) + ")" +
           (i < actual.seats.size() ? ", " + actual.seats[i] : "") +
           (i < expected.seats.size() ? " (want " + expected.seats[i] + ")" : "") + "; ";
  }
  int shown = 0;
  for (const auto& [id, want] : expected.claims) {
    auto it = actual.claims.find(id);
    if ((it == actual.claims.end() || !(it->second == want)) && shown++ < 3) {
      out += "claim " + id + ": " +
             (it == actual.claims.end() ? "missing"
                                        : it->second.status + " coupon " + std::to_string(it->second.coupon_seq) +
                                              " user '" + it->second.user_id + "'") +
             " (want " + want.status + " coupon " + std::to_string(want.coupon_seq) + " user '" + want.user_id + "'); ";
    }
  }
  if (expected.requests.size() != actual.requests.size()) {
    out +=
        std::to_string(actual.requests.size()) + " requests (want " + std::to_string(expected.requests.size()) + "); ";
  }
  for (const auto& [id, want] : expected.requests) {
    auto it = actual.requests.find(id);
    if ((it == actual.requests.end() || !(it->second == want)) && shown++ < 6) {
      auto text = [](const ProjectedRequest& r) {
        return r.status + (r.ticket ? " ticket " + std::to_string(r.ticket) : "") +
               (r.admitted_at ? " admitted at " + std::to_string(r.admitted_at) : "");
      };
      out += want.type + " " + id + ": " + (it == actual.requests.end() ? "missing" : text(it->second)) + " (want " +
             text(want) + "); ";
    }
  }
  if (expected.ranking != actual.ranking) out += "ranking differs; ";
  return out;
}

}  // namespace allot::topics
