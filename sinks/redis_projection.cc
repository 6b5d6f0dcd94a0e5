#include "sinks/redis_projection.h"

#include <hiredis/hiredis.h>

#include <map>
#include <set>
#include <stdexcept>

namespace allot::sinks {

namespace {

// KEYS: event hash, issued set, requests set, events zset. ARGV: event id.
// Derives the event's counters from the sets; an event without a description (no create decision
// seen) gets none, and is not ranked by popularity.
constexpr const char* kDeriveCounters = R"lua(
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then return 0 end
local issued = redis.call('SCARD', KEYS[2])
local received = redis.call('SCARD', KEYS[3])
redis.call('HSET', KEYS[1], 'issued', issued, 'remaining', tonumber(stock) - issued, 'claims_received', received)
redis.call('ZADD', KEYS[4], received, ARGV[1])
return 1
)lua";

using redis::Reply;

using Command = std::vector<std::string>;

std::string reply_error(const redisReply* r) { return std::string(r->str, r->len); }

// "SADD allot:event:x:requests", "EVAL allot:event:x": enough to say which write failed.
std::string describe(const Command& cmd) {
  if (cmd.front() == "EVAL" && cmd.size() > 3) return "EVAL (derive counters) " + cmd[3];
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
  std::vector<Command> writes;
  std::set<std::string> touched;
  for (const auto& d : batch) {
    if (d.event) {
      Command c{"HSET", keys_.event(d.event_id), "title", d.event->title, "stock", std::to_string(d.event->stock),
                "per_user_limit", std::to_string(d.event->per_user_limit)};
      if (d.event->opens_at) c.insert(c.end(), {"opens_at", std::to_string(*d.event->opens_at)});
      if (d.event->closes_at) c.insert(c.end(), {"closes_at", std::to_string(*d.event->closes_at)});
      writes.push_back(std::move(c));
      touched.insert(d.event_id);
    }
    if (d.type != "claim") continue;
    const auto claim_key = keys_.claim(d.request_id);
    Command status{"HSET", claim_key, "event_id", d.event_id, "user_id", d.user_id,
                   "status", std::string(topics::to_string(d.outcome)), "decided_at", std::to_string(d.decided_at)};
    if (d.coupon_seq) status.insert(status.end(), {"coupon_seq", std::to_string(*d.coupon_seq)});
    writes.push_back(std::move(status));
    if (opt_.claim_ttl_s > 0) {
      writes.push_back({"PEXPIREAT", claim_key, std::to_string(d.decided_at + opt_.claim_ttl_s * 1000)});
    }
    if (d.outcome == topics::Outcome::kUnknownEvent) continue;
    writes.push_back({"SADD", keys_.requests(d.event_id), d.request_id});
    if (d.outcome == topics::Outcome::kIssued && d.coupon_seq) {
      writes.push_back({"SADD", keys_.issued(d.event_id), d.request_id});
      writes.push_back({"ZADD", keys_.ranking(d.event_id), "LT", std::to_string(*d.coupon_seq), d.user_id});
    }
    touched.insert(d.event_id);
  }
  for (const auto& id : touched) {
    writes.push_back({"EVAL", kDeriveCounters, "4", keys_.event(id), keys_.issued(id), keys_.requests(id),
                      keys_.events(), id});
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
