#pragma once
// The Redis projection of allot.decisions, read by the ingress (ingress/projections.cc).
//
// Key layout (prefix configurable, default "allot:"):
//   {p}claim:{request_id}        hash  a claim: event_id, user_id, decided_at, status, coupon_seq?, hold_expires_at?,
//                                      ended_at?. status is the claim's CURRENT status (topics/claim_status.h):
//                                      its own outcome, then for a held claim confirmed | cancelled | expired, for
//                                      an entered one won | lost (ended_at = when). coupon_seq: issued, confirmed
//                                      (from the confirm decision) or won (the draw rank). hold_expires_at: held
//                                      claims (kept after the hold ends). No `type` field: a claim.
//                                hash  a confirm, cancel or close_event request: type (confirm | cancel |
//                                      close_event), event_id, user_id (confirm, cancel), status (its outcome),
//                                      claim_request_id (confirm, cancel), coupon_seq (confirmed), decided_at.
//                                      Both expire claim_ttl_s after the latest decision about them (PEXPIREAT,
//                                      so a re-applied batch sets the same instant; 0 = never)
//   {p}ranking:{event_id}        zset  member user_id, score coupon_seq: users holding an issued unit (issued,
//                                      confirmed, won) in coupon order. ZADD LT, so a user holding several
//                                      coupons (per_user_limit > 1) ranks by the first
//   {p}event:{event_id}          hash  title, stock, per_user_limit, opens_at?, closes_at?, mode (fcfs | raffle |
//                                      hold | sale), hold_ms, admit_per_s?, price?, seats? (their number) (from the
//                                      create decision); closed = 1 after a
//                                      close_event (closed, drawn) or a draw, absent before; issued, held, entries,
//                                      remaining, claims_received, tickets and admitted (a waiting room's) (derived,
//                                      see below)
//   {p}events                    zset  member event_id, score claims received: events by popularity
//   {p}events:created            zset  member event_id, score the created decision's decided_at: newest
//                                      first for listings (a new event shows however many others exist)
//   {p}event:{event_id}:requests set   request ids of the event's decided claims (unknown_event excluded)
//   {p}event:{event_id}:issued   set   request ids of the event's claims holding an issued unit (issued,
//                                      confirmed, won)
//   {p}event:{event_id}:holds    set   request ids of the event's claims that were held
//   {p}event:{event_id}:holds_ended set  those of them that ended (confirmed, cancelled, expired)
//   {p}event:{event_id}:entries  set   request ids of the event's raffle entries
//   {p}event:{event_id}:actions  set   request ids of the event's confirm, cancel, close_event, delete_event
//                                      and join requests (so a delete finds their records)
//   {p}event:{event_id}:tickets  set   request ids of the event's joins that got a place in line (a ticket)
//   {p}event:{event_id}:admitted set   those of them the waiting room admitted
//   {p}event:{event_id}:seats    hash  a seated event's seat -> free | held | sold (topics::seat_status)
//   {p}event:{event_id}:seat_map string its seat names in the map's order, joined by commas
//   {p}wallet:{user_id}          hash  balance (cents), position (command offset of the latest wallet decision
//                                      applied: an older one does not move the balance back), updated_at
//   {p}wallet:{user_id}:ledger   zset  the newest kRedisLedgerKept wallet decisions, score command offset, member
//                                      a JSON entry (request_id, type, outcome, amount, balance, decided_at)
// A charge's own record is a {p}claim:{request_id} hash too (type charge, user_id, status credited |
// balance_limit, amount, balance, decided_at): the charge's answer for GET /api/claims/{id}.
// A join's record (type join, status = its own outcome) also gets ticket (its place in line, from its own
// decision or the opening's queue_ticket) and admitted_at (when admitted): the ingress derives where the
// join stands from them and the event's tickets and admitted counters (README "Waiting room").
//
// delete_event (README "Deleting an event"): once it is decided deleted, every claim and request record
// of the event (the requests and actions sets) loses its user_id field, the ranking zset (user ids) is
// deleted and the event hash gets deleted = 1; the sets of request ids and the counters stay. Later
// decisions about the event (answered deleted) are recorded without a user id.
//
// Every write is idempotent: hash fields and sorted-set scores are set, set members added, never
// incremented. A claim's status is written with HSETNX while it is held or entered, and with HSET only
// when final (each claim ends once): re-applying an old batch cannot move a status back. The counters
// are derived after each batch, inside the same MULTI/EXEC, by a small Lua script per touched event:
// issued = SCARD(issued), held = SCARD(holds) - SCARD(holds_ended), entries = SCARD(entries),
// claims_received = SCARD(requests), tickets = SCARD(tickets), admitted = SCARD(admitted), remaining = stock - issued -
// held, and the popularity score = claims_received. A batch is one pipelined MULTI ... EXEC: readers see all of it or
// none of it.
//
// Owned by the sink's main; used from the DecisionSource thread only (a redisContext is not thread-safe).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/redis.h"
#include "sinks/decision_source.h"

namespace allot::sinks {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 16379;
  std::string password;  // AUTH when set; secret: never logged
  std::string prefix = "allot:";
  int64_t claim_ttl_s = 86400;  // claim status lives this long after its decision; 0 = forever
  int timeout_ms = 5000;        // connect and command timeout
};

// Key names, for the ingress and tests.
struct RedisKeys {
  std::string prefix;
  std::string claim(const std::string& request_id) const { return prefix + "claim:" + request_id; }
  std::string ranking(const std::string& event_id) const { return prefix + "ranking:" + event_id; }
  std::string event(const std::string& event_id) const { return prefix + "event:" + event_id; }
  std::string events() const { return prefix + "events"; }
  std::string events_created() const { return prefix + "events:created"; }
  std::string requests(const std::string& event_id) const { return prefix + "event:" + event_id + ":requests"; }
  std::string issued(const std::string& event_id) const { return prefix + "event:" + event_id + ":issued"; }
  std::string holds(const std::string& event_id) const { return prefix + "event:" + event_id + ":holds"; }
  std::string holds_ended(const std::string& event_id) const { return prefix + "event:" + event_id + ":holds_ended"; }
  std::string entries(const std::string& event_id) const { return prefix + "event:" + event_id + ":entries"; }
  std::string tickets(const std::string& event_id) const { return prefix + "event:" + event_id + ":tickets"; }
  std::string admitted(const std::string& event_id) const { return prefix + "event:" + event_id + ":admitted"; }
  std::string actions(const std::string& event_id) const { return prefix + "event:" + event_id + ":actions"; }
  std::string wallet(const std::string& user_id) const { return prefix + "wallet:" + user_id; }
  std::string ledger(const std::string& user_id) const { return prefix + "wallet:" + user_id + ":ledger"; }
  // Sale events by units sold (README "Orders": the popular products); a deleted one leaves it.
  std::string popular() const { return prefix + "products:popular"; }
  // A seated event's seats: seat -> free | held | sold (topics::seat_status); seat_map their names in the
  // event's order, joined by commas.
  std::string seats(const std::string& event_id) const { return prefix + "event:" + event_id + ":seats"; }
  std::string seat_map(const std::string& event_id) const { return prefix + "event:" + event_id + ":seat_map"; }
};

class RedisProjection : public Projection {
 public:
  // `commands_written` (optional) counts the write commands sent; it must outlive the projection.
  explicit RedisProjection(RedisOptions options, metrics::Counter* commands_written = nullptr);
  ~RedisProjection() override;

  // Throws std::runtime_error on any failure, after dropping the connection; the next call reconnects.
  void apply(const std::vector<topics::Decision>& batch) override;
  // Connects when not connected, then PING.
  void check() override;

 private:
  redisContext* connection();
  [[noreturn]] void fail(const std::string& what);

  RedisOptions opt_;
  RedisKeys keys_;
  metrics::Counter* commands_written_;
  redis::Context ctx_;
};

}  // namespace allot::sinks
