#include "ingress/projections.h"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <memory>

#include "common/redis.h"
#include "topics/claim_status.h"
#include "topics/slices.h"

namespace allot::ingress {

namespace {

using ReplyPtr = redis::Reply;

// This thread's connection to `host:port`, (re)connected on demand.
redisContext* connection(const ProjectionOptions& o, bool reset = false) {
  thread_local redis::Context ctx;
  if (reset) ctx.reset();
  if (!ctx) {
    try {
      ctx = redis::connect(o.host, o.port, std::chrono::milliseconds(o.timeout_ms));
    } catch (const std::runtime_error& e) {
      throw ProjectionUnavailable(e.what());
    }
  }
  return ctx.get();
}

ReplyPtr command(const ProjectionOptions& o, const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    ReplyPtr r = redis::command(connection(o, attempt > 0), args);
    if (r && r->type != REDIS_REPLY_ERROR) return r;
    if (r) throw ProjectionUnavailable(std::string("redis: ") + r->str);
  }
  connection(o, true);
  throw ProjectionUnavailable("redis connection lost");
}

std::map<std::string, std::string> as_hash(const redisReply* r) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
    out[std::string(r->element[i]->str, r->element[i]->len)] =
        std::string(r->element[i + 1]->str, r->element[i + 1]->len);
  }
  return out;
}

int64_t number(const std::map<std::string, std::string>& h, const std::string& key, int64_t fallback = 0) {
  auto it = h.find(key);
  if (it == h.end() || it->second.empty()) return fallback;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::optional<int64_t> optional_number(const std::map<std::string, std::string>& h, const std::string& key) {
  auto it = h.find(key);
  if (it == h.end() || it->second.empty()) return std::nullopt;
  return number(h, key);
}

}  // namespace

std::optional<EventView> Projections::event(const std::string& event_id) const {
  if (auto e = event_record(event_id)) return e;
  // A mega event has no record of its own: its slices "<id>~<k>" do, and slice 0 says how many there are.
  auto first = event_record(topics::slice_id(event_id, 0));
  if (!first || first->partitions <= 1) return std::nullopt;
  EventView sum = *first;
  sum.event_id = event_id;
  for (int32_t k = 1; k < first->partitions; ++k) {
    auto s = event_record(topics::slice_id(event_id, k));
    if (!s) {  // not projected yet (or its create is still to come): what it will add is its share
      sum.stock += topics::slice_stock(first->total_stock.value_or(0), first->partitions, k);
      sum.remaining += topics::slice_stock(first->total_stock.value_or(0), first->partitions, k);
      continue;
    }
    sum.stock += s->stock;
    sum.issued += s->issued;
    sum.remaining += s->remaining;
    sum.claims += s->claims;
    sum.held += s->held;
    sum.entries += s->entries;
    sum.closed = sum.closed && s->closed;
    sum.deleted = sum.deleted || s->deleted;
  }
  if (first->total_stock) sum.stock = *first->total_stock;
  return sum;
}

std::optional<EventView> Projections::event_record(const std::string& event_id) const {
  auto h = as_hash(command(opt_, {"HGETALL", opt_.prefix + "event:" + event_id}).get());
  if (h.empty()) return std::nullopt;
  EventView e;
  e.event_id = event_id;
  e.title = h["title"];
  e.stock = number(h, "stock");
  e.per_user_limit = number(h, "per_user_limit", 1);
  e.issued = number(h, "issued");
  e.remaining = number(h, "remaining", e.stock - e.issued);
  e.opens_at = optional_number(h, "opens_at");
  e.closes_at = optional_number(h, "closes_at");
  e.claims = number(h, "claims_received");
  if (auto mode = h.find("mode"); mode != h.end() && !mode->second.empty()) e.mode = mode->second;
  e.hold_ms = number(h, "hold_ms");
  e.held = number(h, "held");
  e.entries = number(h, "entries");
  e.closed = number(h, "closed") != 0;
  e.deleted = number(h, "deleted") != 0;
  e.partitions = static_cast<int32_t>(number(h, "partitions", 1));
  e.total_stock = optional_number(h, "total_stock");
  e.admit_per_s = number(h, "admit_per_s");
  e.pow_bits = static_cast<int32_t>(number(h, "pow_bits"));
  e.reward_average = number(h, "reward_average");
  e.tickets = number(h, "tickets");
  e.admitted = number(h, "admitted");
  e.price = number(h, "price");
  e.seats = number(h, "seats");
  return e;
}

BaselineCounts Projections::baselines(const std::string& event_id) const {
  BaselineCounts b;
  for (auto [strategy, issued] : {std::pair{"v1:", &b.v1_issued}, std::pair{"v2:", &b.v2_issued}}) {
    auto r = command(opt_, {"HGET", opt_.prefix + strategy + event_id, "issued"});
    if (r->type == REDIS_REPLY_STRING) *issued = std::stoll(std::string(r->str, r->len));
  }
  return b;
}

std::vector<EventView> Projections::events(size_t limit) const {
  const std::string last = std::to_string(limit == 0 ? 0 : limit - 1);
  auto ids = command(opt_, {"ZREVRANGE", opt_.prefix + "events:created", "0", last});
  if (ids->type != REDIS_REPLY_ARRAY || ids->elements == 0) {
    ids = command(opt_, {"ZREVRANGE", opt_.prefix + "events", "0", last});  // a projection from before events:created
  }
  std::vector<EventView> out;
  for (size_t i = 0; ids->type == REDIS_REPLY_ARRAY && i < ids->elements; ++i) {
    std::string id(ids->element[i]->str, ids->element[i]->len);
    // A mega event is listed once, as the sum of its slices, where its slice 0 is: a slice's own id is
    // not a public event (claims on it are refused), so the page must not offer it. events:created holds
    // the parent already (the Redis sink); the older events zset of a projection from before it does not.
    if (auto slice = topics::parse_slice_id(id)) {
      if (slice->slice != 0) continue;
      id = slice->parent;
    }
    if (auto e = event(id)) out.push_back(*e);
  }
  return out;
}

std::optional<ClaimView> Projections::claim(const std::string& request_id) const {
  auto h = as_hash(command(opt_, {"HGETALL", opt_.prefix + "claim:" + request_id}).get());
  if (h.empty()) return std::nullopt;
  auto type = h.find("type");
  return ClaimView{request_id,
                   h["event_id"],
                   h["user_id"],
                   h["status"],
                   optional_number(h, "coupon_seq"),
                   optional_number(h, "decided_at"),
                   type != h.end() && !type->second.empty() ? type->second : std::string(topics::decision_type::kClaim),
                   h["claim_request_id"],
                   optional_number(h, "hold_expires_at"),
                   optional_number(h, "ticket"),
                   optional_number(h, "admitted_at"),
                   optional_number(h, "amount"),
                   optional_number(h, "balance"),
                   h["reason"],
                   h["seat"]};
}

std::vector<SeatView> Projections::seats(const std::string& event_id) const {
  const auto key = opt_.prefix + "event:" + event_id;
  auto names = command(opt_, {"GET", key + ":seat_map"});
  if (names->type != REDIS_REPLY_STRING) return {};
  auto status = as_hash(command(opt_, {"HGETALL", key + ":seats"}).get());
  std::vector<SeatView> out;
  for (auto& seat : topics::split_seat_map(std::string_view(names->str, names->len))) {
    auto it = status.find(seat);
    out.push_back({std::move(seat), it == status.end() ? std::string(topics::seat_state::kFree) : it->second});
  }
  return out;
}

std::vector<PopularProduct> Projections::popular(size_t limit) const {
  if (limit == 0) return {};
  auto r = command(opt_, {"ZREVRANGE", opt_.prefix + "products:popular", "0", std::to_string(limit - 1), "WITHSCORES"});
  std::vector<PopularProduct> out;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
    out.push_back({static_cast<int64_t>(out.size() + 1), std::string(r->element[i]->str, r->element[i]->len),
                   std::stoll(std::string(r->element[i + 1]->str, r->element[i + 1]->len))});
  }
  return out;
}

WalletView Projections::wallet(const std::string& user_id) const {
  WalletView w{user_id, 0, {}};
  const auto key = opt_.prefix + "wallet:" + user_id;
  auto h = as_hash(command(opt_, {"HGETALL", key}).get());
  w.balance = optional_number(h, "balance").value_or(0);
  auto ledger = command(opt_, {"ZREVRANGE", key + ":ledger", "0", "-1"});
  for (size_t i = 0; ledger->type == REDIS_REPLY_ARRAY && i < ledger->elements; ++i) {
    // sinks/redis_projection.cc writes these entries; one we cannot read is left out, not guessed at.
    auto j = nlohmann::json::parse(std::string_view(ledger->element[i]->str, ledger->element[i]->len), nullptr, false);
    if (!j.is_object()) continue;
    w.ledger.push_back({j.value("request_id", ""), j.value("type", ""), j.value("outcome", ""), j.value("amount", 0LL),
                        j.value("balance", 0LL), j.value("decided_at", 0LL)});
  }
  return w;
}

std::vector<RankEntry> Projections::ranking(const std::string& event_id, size_t limit) const {
  auto first = event_record(event_id) ? std::nullopt : event_record(topics::slice_id(event_id, 0));
  if (!first || first->partitions <= 1) return ranking_of(event_id, limit);
  // Slices issue side by side: interleaving them by coupon_seq approximates the order of issue.
  std::vector<RankEntry> all;
  for (int32_t k = 0; k < first->partitions; ++k) {
    for (auto e : ranking_of(topics::slice_id(event_id, k), limit)) {
      e.slice = k;
      all.push_back(std::move(e));
    }
  }
  std::sort(all.begin(), all.end(), [](const RankEntry& a, const RankEntry& b) {
    return a.coupon_seq != b.coupon_seq ? a.coupon_seq < b.coupon_seq : a.slice < b.slice;
  });
  if (all.size() > limit) all.resize(limit);
  for (size_t i = 0; i < all.size(); ++i) all[i].rank = static_cast<int64_t>(i) + 1;
  return all;
}

std::vector<RankEntry> Projections::ranking_of(const std::string& event_id, size_t limit) const {
  auto r = command(opt_, {"ZRANGE", opt_.prefix + "ranking:" + event_id, "0",
                          std::to_string(limit == 0 ? 0 : limit - 1), "WITHSCORES"});
  std::vector<RankEntry> out;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements && limit > 0; i += 2) {
    out.push_back({static_cast<int64_t>(out.size() + 1), std::string(r->element[i]->str, r->element[i]->len),
                   std::stoll(std::string(r->element[i + 1]->str, r->element[i + 1]->len))});
  }
  return out;
}

}  // namespace allot::ingress
