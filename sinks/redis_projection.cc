#include "sinks/redis_projection.h"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <stdexcept>

#include "topics/claim_status.h"
#include "topics/slices.h"

namespace allot::sinks {

namespace {

// KEYS: event hash, issued set, requests set, events zset, holds set, holds_ended set, entries set,
// tickets set, admitted set. tickets and admitted only for an event with a waiting room (admit_per_s).
// ARGV: event id. Derives the event's counters from the sets; an event without a description (no
// create decision seen) gets none, and is not ranked by popularity.
constexpr const char* kDeriveCounters = R"lua(
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then return 0 end
local issued = redis.call('SCARD', KEYS[2])
local received = redis.call('SCARD', KEYS[3])
local held = redis.call('SCARD', KEYS[5]) - redis.call('SCARD', KEYS[6])
local entries = redis.call('SCARD', KEYS[7])
redis.call('HSET', KEYS[1], 'issued', issued, 'held', held, 'entries', entries,
           'remaining', tonumber(stock) - issued - held, 'claims_received', received)
if redis.call('HEXISTS', KEYS[1], 'admit_per_s') == 1 then
  redis.call('HSET', KEYS[1], 'tickets', redis.call('SCARD', KEYS[8]), 'admitted', redis.call('SCARD', KEYS[9]))
end
redis.call('ZADD', KEYS[4], received, ARGV[1])
return 1
)lua";

// KEYS: requests set, actions set, ranking zset, event hash. ARGV: the claim key prefix ("allot:claim:").
// Erases the event's user ids (delete_event): idempotent, so a replayed batch erases again.
constexpr const char* kEraseUsers = R"lua(
for _, set in ipairs({KEYS[1], KEYS[2]}) do
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    redis.call('HDEL', ARGV[1] .. id, 'user_id')
  end
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[4], 'deleted', '1')
return 1
)lua";

// KEYS: the wallet hash, its ledger zset. ARGV: balance, command offset, ledger entry, entries kept, decided_at.
// The balance of the latest decision by command offset (a user's wallet decisions are on one partition, in
// order), so re-applying an older batch cannot move it back; the ledger keeps the newest entries.
constexpr const char* kSetWallet = R"lua(
local at = tonumber(redis.call('HGET', KEYS[1], 'position') or '-1')
if tonumber(ARGV[2]) > at then
  redis.call('HSET', KEYS[1], 'balance', ARGV[1], 'position', ARGV[2], 'updated_at', ARGV[5])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[4]) + 1))
return 1
)lua";

using redis::Reply;

using Command = std::vector<std::string>;

std::string reply_error(const redisReply* r) { return std::string(r->str, r->len); }

// A wallet ledger's member: the same decision always gives the same text, so re-adding it changes nothing.
std::string ledger_entry(const topics::Decision& d) {
  nlohmann::json j{{"request_id", d.request_id},
                   {"type", d.type},
                   {"outcome", topics::to_string(d.outcome)},
                   {"amount", d.amount.value_or(0)},
                   {"balance", d.balance.value_or(0)},
                   {"decided_at", d.decided_at}};
  return j.dump();
}

// "SADD allot:event:x:requests", "EVAL allot:event:x": enough to say which write failed.
std::string describe(const Command& cmd) {
  if (cmd.front() == "EVAL" && cmd.size() > 3) {
    const char* what = cmd[1] == kEraseUsers  ? "EVAL (erase users) "
                       : cmd[1] == kSetWallet ? "EVAL (wallet) "
                                              : "EVAL (derive counters) ";
    return what + cmd[3];
  }
  return cmd.front() + (cmd.size() > 1 ? " " + cmd[1] : "");
}

}  // namespace

RedisProjection::RedisProjection(RedisOptions options, metrics::Counter* commands_written)
    : opt_(std::move(options)), keys_{opt_.prefix}, commands_written_(commands_written) {}

RedisProjection::~RedisProjection() = default;

void RedisProjection::fail(const std::string& what) {
  std::string why = "redis " + opt_.host + ":" + std::to_string(opt_.port) + ": " + what;
  if (ctx_ && ctx_->err) why += ": " + std::string(ctx_->errstr);
  ctx_.reset();  // a connection in an unknown state (half-read pipeline, open MULTI) is never reused
  throw std::runtime_error(why);
}

redisContext* RedisProjection::connection() {
  if (ctx_) return ctx_.get();
  ctx_ = redis::connect(opt_.host, opt_.port, std::chrono::milliseconds(opt_.timeout_ms));
  if (!opt_.password.empty()) {
    Reply r = redis::command(ctx_.get(), {"AUTH", opt_.password});
    if (!r) fail("AUTH");
    if (r->type == REDIS_REPLY_ERROR) fail("AUTH: " + reply_error(r.get()));
  }
  return ctx_.get();
}

void RedisProjection::check() {
  Reply r = redis::command(connection(), {"PING"});
  if (!r) fail("PING");
  if (r->type == REDIS_REPLY_ERROR) fail("PING: " + reply_error(r.get()));
}

void RedisProjection::apply(const std::vector<topics::Decision>& batch) {
  using topics::Outcome;
  std::vector<Command> writes;
  std::set<std::string> touched, closed, deleted;
  auto optional_field = [](Command& c, const char* name, const std::optional<int64_t>& v) {
    if (v) c.insert(c.end(), {name, std::to_string(*v)});
  };
  // A record expires claim_ttl_s after the latest decision about it. A claim's own decision sets its
  // expiry only on a key that has none (NX): re-applied after the claim ended, it keeps the later one.
  auto expire = [&](const std::string& key, int64_t decided_at, bool only_if_none) {
    if (opt_.claim_ttl_s <= 0) return;
    Command c{"PEXPIREAT", key, std::to_string(decided_at + opt_.claim_ttl_s * 1000)};
    if (only_if_none) c.push_back("NX");
    writes.push_back(std::move(c));
  };
  for (const auto& d : batch) {
    if (d.event) {
      Command c{"HSET",           keys_.event(d.event_id),
                "title",          d.event->title,
                "stock",          std::to_string(d.event->stock),
                "per_user_limit", std::to_string(d.event->per_user_limit),
                "mode",           std::string(topics::to_string(d.event->mode)),
                "hold_ms",        std::to_string(d.event->hold_ms)};
      optional_field(c, "admit_per_s", d.event->admit_per_s > 0 ? std::optional(d.event->admit_per_s) : std::nullopt);
      optional_field(c, "pow_bits", d.event->pow_bits > 0 ? std::optional<int64_t>(d.event->pow_bits) : std::nullopt);
      optional_field(c, "reward_average",
                     d.event->reward_average > 0 ? std::optional(d.event->reward_average) : std::nullopt);
      optional_field(c, "opens_at", d.event->opens_at);
      optional_field(c, "closes_at", d.event->closes_at);
      optional_field(c, "price", d.event->price > 0 ? std::optional(d.event->price) : std::nullopt);
      const auto seats = static_cast<int64_t>(d.event->seats.size());
      optional_field(c, "seats", seats > 0 ? std::optional(seats) : std::nullopt);
      if (d.event->partitions > 1) {  // a mega event's slice (topics/slices.h): the ingress sums the slices
        c.insert(c.end(), {"partitions", std::to_string(d.event->partitions)});
        optional_field(c, "total_stock", d.event->total_stock);
      }
      const bool created = d.type == topics::decision_type::kCreateEvent && d.outcome == topics::Outcome::kCreated;
      if (created && d.event->seated()) {
        // Every seat starts free; the decisions after the creation (in this batch or later) move them.
        Command free{"HSET", keys_.seats(d.event_id)};
        for (const auto& seat : d.event->seats) free.insert(free.end(), {seat, std::string(topics::seat_state::kFree)});
        writes.push_back({"SET", keys_.seat_map(d.event_id), topics::join_seat_map(d.event->seats)});
        writes.push_back(std::move(free));
      }
      writes.push_back(std::move(c));
      touched.insert(d.event_id);
      if (created) {
        // A mega event is listed once, under its own id, when its slice 0 is created.
        auto slice = topics::parse_slice_id(d.event_id);
        if (!slice) {
          writes.push_back({"ZADD", keys_.events_created(), std::to_string(d.decided_at), d.event_id});
        } else if (slice->slice == 0) {
          writes.push_back({"ZADD", keys_.events_created(), std::to_string(d.decided_at), slice->parent});
        }
      }
    }
    const auto status = std::string(topics::to_string(d.outcome));
    const auto& user_id = topics::projected_user(d);
    if (d.type == topics::decision_type::kClaim) {
      // Held and entered go on to a final status: never written over one (HSETNX).
      const auto key = keys_.claim(d.request_id);
      const bool final = topics::is_final(d.outcome);
      Command c{"HSET", key, "event_id", d.event_id, "decided_at", std::to_string(d.decided_at)};
      if (!user_id.empty()) c.insert(c.end(), {"user_id", user_id});
      if (final) c.insert(c.end(), {"status", status});
      optional_field(c, "coupon_seq", d.coupon_seq);
      optional_field(c, "hold_expires_at", d.hold_expires_at);
      if (!d.seat.empty()) c.insert(c.end(), {"seat", d.seat});
      writes.push_back(std::move(c));
      if (!final) writes.push_back({"HSETNX", key, "status", status});
      expire(key, d.decided_at, true);
      if (d.outcome == Outcome::kUnknownEvent) continue;
      writes.push_back({"SADD", keys_.requests(d.event_id), d.request_id});
      if (d.outcome == Outcome::kIssued && d.coupon_seq) {
        writes.push_back({"SADD", keys_.issued(d.event_id), d.request_id});
        writes.push_back({"ZADD", keys_.ranking(d.event_id), "LT", std::to_string(*d.coupon_seq), d.user_id});
      } else if (d.outcome == Outcome::kHeld) {
        writes.push_back({"SADD", keys_.holds(d.event_id), d.request_id});
      } else if (d.outcome == Outcome::kEntered) {
        writes.push_back({"SADD", keys_.entries(d.event_id), d.request_id});
      }
      touched.insert(d.event_id);
    } else if (topics::is_request_record(d)) {
      const auto key = keys_.claim(d.request_id);
      Command c{"HSET",     key,      "type", d.type,       "event_id",
                d.event_id, "status", status, "decided_at", std::to_string(d.decided_at)};
      if (!user_id.empty()) c.insert(c.end(), {"user_id", user_id});
      if (!d.claim_request_id.empty()) c.insert(c.end(), {"claim_request_id", d.claim_request_id});
      optional_field(c, "coupon_seq", d.coupon_seq);
      if (auto place = topics::join_place(d)) {
        optional_field(c, "ticket", place->ticket);
        optional_field(c, "admitted_at", place->admitted_at);
      }
      writes.push_back(std::move(c));
      expire(key, d.decided_at, false);
      if (d.outcome != Outcome::kUnknownEvent) writes.push_back({"SADD", keys_.actions(d.event_id), d.request_id});
      const bool placed = d.outcome == Outcome::kQueued || d.outcome == Outcome::kAdmitted;
      if (d.type == topics::decision_type::kJoin && placed) {
        writes.push_back({"SADD", keys_.tickets(d.event_id), d.request_id});
        if (d.outcome == Outcome::kAdmitted) writes.push_back({"SADD", keys_.admitted(d.event_id), d.request_id});
        touched.insert(d.event_id);
      }
    } else if (topics::is_wallet_decision(d)) {
      // The charge's or reward's own record (GET /api/claims/{id} answers it), the wallet's balance and ledger.
      const auto key = keys_.claim(d.request_id);
      Command c{"HSET",    key,       "type",   d.type, "event_id",   "",
                "user_id", d.user_id, "status", status, "decided_at", std::to_string(d.decided_at)};
      optional_field(c, "amount", d.amount);
      optional_field(c, "balance", d.balance);
      if (d.reason) c.insert(c.end(), {"reason", std::string(topics::to_string(*d.reason))});
      writes.push_back(std::move(c));
      expire(key, d.decided_at, false);
      writes.push_back({"EVAL", kSetWallet, "2", keys_.wallet(d.user_id), keys_.ledger(d.user_id),
                        std::to_string(d.balance.value_or(0)), std::to_string(d.command.offset), ledger_entry(d),
                        std::to_string(topics::kRedisLedgerKept), std::to_string(d.decided_at)});
    } else if (d.type == topics::decision_type::kOrder) {
      // An order placed: its record says placed until its order_result (above) writes its end, which a
      // replayed placed decision does not write over (HSETNX).
      const auto key = keys_.claim(d.request_id);
      writes.push_back({"HSET", key, "event_id", "", "user_id", d.user_id});
      writes.push_back({"HSETNX", key, "type", d.type});
      writes.push_back({"HSETNX", key, "status", status});
      writes.push_back({"HSETNX", key, "decided_at", std::to_string(d.decided_at)});
      expire(key, d.decided_at, false);
    } else if (topics::moves_reservation(d)) {
      // A sale event's units counted like holds and issues, one member per unit: reserved units join the
      // holds, ended ones holds_ended, sold ones the issued set too. Sets: a replayed batch adds nothing.
      const auto& set = d.outcome == Outcome::kReserved ? keys_.holds(d.event_id) : keys_.holds_ended(d.event_id);
      Command units{"SADD", set}, sold{"SADD", keys_.issued(d.event_id)};
      for (int64_t k = 1; k <= d.qty.value_or(0); ++k) {
        units.push_back(d.order_id + "/" + std::to_string(d.line.value_or(0)) + "/" + std::to_string(k));
      }
      sold.insert(sold.end(), units.begin() + 2, units.end());
      if (units.size() > 2) writes.push_back(std::move(units));
      if (d.outcome == Outcome::kSold && sold.size() > 2) writes.push_back(std::move(sold));
      touched.insert(d.event_id);
      // coupon_seq is the product's units sold so far: the popular ranking only ever moves up (GT).
      if (d.outcome == Outcome::kSold && d.coupon_seq) {
        writes.push_back({"ZADD", keys_.popular(), "GT", std::to_string(*d.coupon_seq), d.event_id});
      }
    } else if (d.type == topics::decision_type::kQueueTicket || d.type == topics::decision_type::kAdmission) {
      // A join's place in line (at the opening) or its admission: fields of the join's record.
      const auto place = topics::join_place(d);
      const auto key = keys_.claim(place->join_request_id);
      // type and event_id too: the join's record stays a join's even if its own decision is not projected.
      Command c{"HSET", key, "type", std::string(topics::decision_type::kJoin), "event_id", d.event_id};
      optional_field(c, "ticket", place->ticket);
      optional_field(c, "admitted_at", place->admitted_at);
      writes.push_back(std::move(c));
      expire(key, d.decided_at, false);
      writes.push_back({"SADD", keys_.tickets(d.event_id), d.request_id});
      if (d.type == topics::decision_type::kAdmission) {
        writes.push_back({"SADD", keys_.admitted(d.event_id), d.request_id});
      }
      touched.insert(d.event_id);
    }
    if (auto ending = topics::claim_ending(d)) {
      // The claim's final status; each claim ends once, so re-applying writes the same.
      const auto& id = ending->claim_request_id;
      const auto key = keys_.claim(id);
      // Its status is the ending's (a finalize that sold a held seat confirms its claim).
      Command c{"HSET",     key,
                "event_id", d.event_id,
                "user_id",  d.user_id,
                "status",   std::string(topics::to_string(ending->status)),
                "ended_at", std::to_string(d.decided_at)};
      optional_field(c, "coupon_seq", ending->coupon_seq);
      writes.push_back(std::move(c));
      expire(key, d.decided_at, false);
      if (topics::is_issued(ending->status) && ending->coupon_seq) {
        writes.push_back({"SADD", keys_.issued(d.event_id), id});
        writes.push_back({"ZADD", keys_.ranking(d.event_id), "LT", std::to_string(*ending->coupon_seq), d.user_id});
      }
      if (ending->status != Outcome::kWon && ending->status != Outcome::kLost) {
        writes.push_back({"SADD", keys_.holds_ended(d.event_id), id});
      }
      touched.insert(d.event_id);
    }
    if (auto seat = topics::seat_status(d))
      writes.push_back({"HSET", keys_.seats(d.event_id), d.seat, std::string(*seat)});
    if (topics::closes_event(d)) closed.insert(d.event_id);
    if (topics::deletes_event(d)) deleted.insert(d.event_id);
  }
  for (const auto& id : closed) writes.push_back({"HSET", keys_.event(id), "closed", "1"});
  // After every other write of the batch: the users its earlier decisions wrote go too.
  for (const auto& id : deleted) {
    writes.push_back({"EVAL", kEraseUsers, "4", keys_.requests(id), keys_.actions(id), keys_.ranking(id),
                      keys_.event(id), keys_.claim("")});
    writes.push_back({"ZREM", keys_.popular(), id});  // a deleted product is no longer offered
  }
  for (const auto& id : touched) {
    writes.push_back({"EVAL", kDeriveCounters, "9", keys_.event(id), keys_.issued(id), keys_.requests(id),
                      keys_.events(), keys_.holds(id), keys_.holds_ended(id), keys_.entries(id), keys_.tickets(id),
                      keys_.admitted(id), id});
  }
  if (writes.empty()) return;

  // One round trip: MULTI, every write, EXEC; then read the replies in order.
  redisContext* c = connection();
  auto append = [&](const Command& cmd) {
    if (!redis::append(c, cmd)) fail("append " + cmd.front());
  };
  append({"MULTI"});
  for (const auto& w : writes) append(w);
  append({"EXEC"});

  auto next_reply = [&]() {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || !raw) fail("reading a reply");
    return Reply(static_cast<redisReply*>(raw));
  };
  std::string first_error;
  for (size_t i = 0; i < writes.size() + 1; ++i) {  // +OK for MULTI, then +QUEUED per write
    auto r = next_reply();
    if (r->type == REDIS_REPLY_ERROR && first_error.empty()) first_error = reply_error(r.get());
  }
  auto exec = next_reply();
  if (!first_error.empty()) fail("queueing the batch: " + first_error);  // EXEC then answers EXECABORT
  if (exec->type == REDIS_REPLY_ERROR) fail("EXEC: " + reply_error(exec.get()));
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != writes.size()) fail("EXEC: unexpected reply");
  for (size_t i = 0; i < exec->elements; ++i) {
    // Commands after a failing one still ran (Redis has no rollback); the retry rewrites them all.
    if (exec->element[i]->type == REDIS_REPLY_ERROR) {
      fail(describe(writes[i]) + ": " + reply_error(exec->element[i]));
    }
  }
  if (commands_written_) commands_written_->inc(static_cast<double>(writes.size()));
}

}  // namespace allot::sinks
