#pragma once
// Reads the Redis projection written by allot-sink-redis (key layout in sinks/redis_projection.h):
// events, claim statuses and rankings. One connection per calling thread (hiredis contexts are not
// thread-safe), reconnected after an error. Every method throws ProjectionUnavailable when Redis is
// unreachable, which handlers answer with 503.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "topics/vocabulary.h"

namespace allot::ingress {

struct ProjectionUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct EventView {
  std::string event_id;
  std::string title;
  int64_t stock = 0;
  int64_t per_user_limit = 1;
  int64_t issued = 0;
  int64_t remaining = 0;
  std::optional<int64_t> opens_at, closes_at;
  int64_t claims = 0;  // claims decided so far
  std::string mode = "fcfs";
  int64_t hold_ms = 0;                 // hold mode
  int64_t held = 0;                    // hold mode: units held now
  int64_t entries = 0;                 // raffle mode
  bool closed = false;                 // closed by close_event, or drawn
  bool deleted = false;                // deleted by delete_event: counters stay, users are erased
  int32_t partitions = 1;              // a mega event's slices (topics/slices.h); its counters are their sums
  std::optional<int64_t> total_stock;  // a slice's record: the whole mega event's stock
  int64_t admit_per_s = 0;             // the waiting room's rate; 0 = none
  int32_t pow_bits = 0;                // proof of work asked of each claim and join; 0 = none
  int64_t reward_average = 0;          // rewards credited to winners' wallets average this (cents); 0 = none
  int64_t tickets = 0;                 // waiting room: places handed out in line
  int64_t admitted = 0;                // waiting room: of them admitted (tickets 1..admitted)
  int64_t price = 0;                   // a sale event's or a seated event's price per unit (cents); 0 = none
  int64_t seats = 0;                   // a seated event's number of seats (GET /api/events/{id}/seats); 0 = none
};

// A seated event's seats in the event's order, each free, held or sold (topics::seat_state).
struct SeatView {
  std::string seat, status;
};

// A decided request: a claim (status = its current state: held -> confirmed, entered -> won, ...) or a
// confirm / cancel / close_event (status = its outcome).
struct ClaimView {
  std::string request_id, event_id, user_id, status;
  std::optional<int64_t> coupon_seq;
  std::optional<int64_t> decided_at;
  std::string type = std::string(topics::decision_type::kClaim);
  std::string claim_request_id;            // confirm / cancel: the claim they acted on
  std::optional<int64_t> hold_expires_at;  // a held claim
  std::optional<int64_t> ticket;           // a join: its place in line
  std::optional<int64_t> admitted_at;      // a join: when the waiting room admitted it
  std::optional<int64_t> amount;           // a charge: the cents it asked to credit
  std::optional<int64_t> balance;          // a charge: the wallet's balance after it
  std::string reason;                      // a failed order: the step refused, or balance_short
  std::string seat{};                      // a claim on a seated event: the seat it asked for
};
// Statuses that may still change (a hold's end, a raffle's draw).
inline bool is_final_status(std::string_view status) {
  return status != topics::outcome::kHeld && status != topics::outcome::kEntered;
}

// What the seed experiment's baselines (ingress/baselines.h) issued of an event, each by its own
// accounting; nullopt for a strategy never run on it.
struct BaselineCounts {
  std::optional<int64_t> v1_issued, v2_issued;
};

struct RankEntry {
  int64_t rank = 0;
  std::string user_id;
  int64_t coupon_seq = 0;
  int32_t slice = -1;  // a mega event's: the slice whose coupon_seq this is
};

// A product (a sale event) by units sold (README "Orders": Redis products:popular).
struct PopularProduct {
  int64_t rank = 0;
  std::string event_id;
  int64_t sold = 0;
};

// A user's wallet (README "Wallet"): the balance and the newest changes, newest first.
struct LedgerEntry {
  std::string request_id, type, outcome;
  int64_t amount = 0, balance = 0, decided_at = 0;
};
struct WalletView {
  std::string user_id;
  int64_t balance = 0;  // 0 for a user who was never charged
  std::vector<LedgerEntry> ledger;
};

struct ProjectionOptions {
  std::string host = "127.0.0.1";
  int port = 16379;
  std::string prefix = "allot:";
  int timeout_ms = 500;
};

// What the API reads from the projection; every method throws ProjectionUnavailable when it cannot.
class ProjectionReader {
 public:
  virtual ~ProjectionReader() = default;
  // A mega event (partitions > 1) is read from its slices' records and summed.
  virtual std::optional<EventView> event(const std::string& event_id) const = 0;
  virtual std::vector<EventView> events(size_t limit) const = 0;  // newest first
  virtual std::optional<ClaimView> claim(const std::string& request_id) const = 0;
  // Issue order; a mega event's slices interleaved by coupon_seq (then slice).
  virtual std::vector<RankEntry> ranking(const std::string& event_id, size_t limit) const = 0;
  virtual BaselineCounts baselines(const std::string& event_id) const = 0;
  virtual WalletView wallet(const std::string& user_id) const = 0;
  // A seated event's seat map; empty when the event has none.
  virtual std::vector<SeatView> seats(const std::string& event_id) const = 0;
  // The products with units sold, most sold first (ties by event id).
  virtual std::vector<PopularProduct> popular(size_t limit) const = 0;
};

class Projections : public ProjectionReader {
 public:
  explicit Projections(ProjectionOptions options) : opt_(std::move(options)) {}
  std::optional<EventView> event(const std::string& event_id) const override;
  std::vector<EventView> events(size_t limit) const override;
  std::optional<ClaimView> claim(const std::string& request_id) const override;
  std::vector<RankEntry> ranking(const std::string& event_id, size_t limit) const override;
  BaselineCounts baselines(const std::string& event_id) const override;
  WalletView wallet(const std::string& user_id) const override;
  std::vector<SeatView> seats(const std::string& event_id) const override;
  std::vector<PopularProduct> popular(size_t limit) const override;

 private:
  std::optional<EventView> event_record(const std::string& event_id) const;  // one event (or slice) record
  std::vector<RankEntry> ranking_of(const std::string& event_id, size_t limit) const;
  ProjectionOptions opt_;
};

}  // namespace allot::ingress
