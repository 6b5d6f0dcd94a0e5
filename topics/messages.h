#pragma once
// Every message that crosses Kafka, with its JSON encoding (DESIGN §3). Times are Unix milliseconds.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "topics/vocabulary.h"

namespace allot::topics {

// Thrown by decode_* on malformed or invalid input; the message says what is wrong.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How an event hands out its stock: fcfs (first come, first served: a claim is issued at once), raffle
// (claims are entries; at the close `stock` winners are drawn), hold (a claim holds a unit for hold_ms;
// confirm issues it, cancel or the expiry releases it to the next claimant) or sale (a product: its units
// are sold at `price` by orders only, README "Orders").
enum class EventMode { kFcfs, kRaffle, kHold, kSale };
std::string_view to_string(EventMode mode);
std::optional<EventMode> mode_from_string(std::string_view s);

enum class Outcome {
  kIssued,
  kSoldOut,
  kDuplicate,
  kNotOpen,
  kClosed,
  kUnknownEvent,
  kCreated,
  kAlreadyExists,
  // raffle: a claim is an entry; the draw answers each entry won or lost; close_event answers drawn
  kEntered,
  kWon,
  kLost,
  kDrawn,
  kAlreadyClosed,  // close_event of an event closed (or drawn) before
  // hold: a claim holds a unit; it ends confirmed, cancelled or expired, exactly once
  kHeld,
  kConfirmed,
  kCancelled,
  kExpired,
  kAlreadyEnded,  // confirm/cancel of a hold that was confirmed or cancelled before
  kNotYours,      // confirm/cancel by someone else than the holder
  kNotHeld,       // confirm/cancel of a claim that holds nothing (unknown, or not a held claim)
  // delete_event: its answer, and the answer to every later command about the event
  kDeleted,
  kAlreadyDeleted,  // delete_event of an event deleted before
  // waiting room: a join is pre_queued (before the opening), queued (a ticket) or admitted; a queued join
  // is admitted later (an admission decision); a claim by a user not admitted is not_admitted
  kPreQueued,
  kQueued,
  kAdmitted,
  kAlreadyQueued,  // a second join by the same user: its first join's place stands (claim_request_id)
  kNoWaitingRoom,  // a join on an event without admit_per_s
  kNotAdmitted,
  // a charge: credited (the balance after it in `balance`), or refused when it would pass kMaxBalance
  kCredited,
  kBalanceLimit,
  // orders (README "Orders"): the order is placed, then ends paid or failed (an order_result decision);
  // its steps: reserved or not_for_sale (a reservation), redeemed, not_a_coupon, coupon_used or
  // coupon_expired (a coupon; not_yours when another user's), sold (finalize), released, unredeemed,
  // refunded (a paid line that could not be sold); order_only answers a claim on a sale event
  kPlaced,
  kPaid,
  kFailed,
  kReserved,
  kNotForSale,
  kRedeemed,
  kNotACoupon,
  kCouponUsed,
  kCouponExpired,
  kSold,
  kReleased,
  kUnredeemed,
  kRefunded,
  kOrderOnly,
  kBalanceShort,  // an order_result's reason only: the wallet held less than the order's total
  // seats (README "Seats"): a claim on a seated event names a free seat (seat_required without one,
  // unknown_seat for a seat the event has not, seat_taken for one another user holds or bought); an order
  // line pays for a seat its user holds
  kSeatRequired,
  kUnknownSeat,
  kSeatTaken,
};
std::string_view to_string(Outcome outcome);
std::optional<Outcome> outcome_from_string(std::string_view s);

struct CreateEvent {
  std::string event_id;
  std::string title;
  int64_t stock = 0;
  int64_t per_user_limit = 1;
  std::optional<int64_t> opens_at;   // claims before this instant are not_open
  std::optional<int64_t> closes_at;  // claims at or after this instant are closed (a raffle draws then)
  EventMode mode = EventMode::kFcfs;
  int64_t hold_ms = 0;  // hold mode: how long a held unit waits for its confirm
  // Mega events (topics/slices.h): K > 1 splits the event into K slices. On a slice's create_event (event_id
  // "<id>~<k>", stock = its share) `partitions` is K and `total_stock` the whole event's stock.
  int32_t partitions = 1;
  std::optional<int64_t> total_stock{};
  // The waiting room (fcfs and hold events; 0 = none): users join a queue and are admitted in queue order,
  // at most admit_per_s per second of stream time; only admitted users may claim (README "Waiting room").
  int64_t admit_per_s = 0;
  // Proof of work (README "Who is the user"; 0 = none): each claim and join must carry a solution of an
  // ingress's challenge with this many leading zero bits. Checked by the ingress alone.
  int32_t pow_bits = 0;
  // Rewards (topics/rewards.h; 0 = none): each unit issued earns its user an amount credited to their
  // wallet, drawn so that the amounts average this many cents.
  int64_t reward_average = 0;
  // A sale event's price per unit, in cents (1..kMaxPrice); 0 on every other mode.
  int64_t price = 0;
  // Coupons (README "Orders"; fcfs, raffle and hold events): each unit issued is a coupon its user may
  // redeem once in an order, for discount_amount cents off, or discount_percent of the order's total
  // capped at discount_cap cents (0: no cap), until coupon_expires_at. None of them: no coupons.
  int64_t discount_amount = 0;
  int32_t discount_percent = 0;
  int64_t discount_cap = 0;
  std::optional<int64_t> coupon_expires_at{};
  bool has_coupons() const { return discount_amount > 0 || discount_percent > 0; }
  // A seat map (README "Seats"; hold events only): stock is its size, each claim names the seat it holds,
  // and with a price the held seat is paid for by an order. Only the create_event carries it: the seats
  // become state records of their own.
  std::vector<std::string> seats{};
  bool seated() const { return !seats.empty(); }
};
inline constexpr int64_t kMaxAdmitPerS = 1'000'000;
inline constexpr int32_t kMaxPowBits = 28;
inline constexpr int64_t kMaxHoldMs = 24LL * 3600 * 1000;
inline constexpr int64_t kMaxPrice = 100'000'000;  // cents per unit: a million
inline constexpr size_t kMaxSeats = 10'000;
// A seat's name: [A-Za-z0-9._-]{1,16} ("A-12", "balcony.3").
bool valid_seat(std::string_view seat);

struct Claim {
  std::string event_id;
  std::string user_id;
  std::string seat{};  // on a seated event: the seat it wants; empty on every other
};

// Admin: no more claims; a raffle draws its winners.
struct CloseEvent {
  std::string event_id;
};

// Admin: erase the event's personal data. Its counters stay; every later command about it is answered
// deleted (README "Deleting an event").
struct DeleteEvent {
  std::string event_id;
};

// The holder of a held claim turns it into an issued unit (Confirm) or gives it back (Cancel).
struct HoldAction {
  std::string event_id;
  std::string claim_request_id;  // the claim that holds the unit
  std::string user_id;           // who asks; only the holder may
};
struct Confirm : HoldAction {};
struct Cancel : HoldAction {};

// A user asks for a place in an event's waiting room: before opens_at a place in the pre-queue (shuffled
// at the opening), after it the next ticket in line.
struct Join {
  std::string event_id;
  std::string user_id;
};

// Money into a user's wallet (README "Wallet"), from the admin or the payment provider's signed callback.
// Amounts are integers in the smallest unit of the one currency (cents). A wallet lives on the partition
// of its key (wallet_key), so all of one user's money is decided on one partition, in order.
struct Charge {
  std::string event_id;  // always empty: a wallet belongs to a user, not to an event (Command::key)
  std::string user_id;
  int64_t amount = 0;  // 1..kMaxChargeAmount
};
inline constexpr int64_t kMaxChargeAmount = 1'000'000'000;  // ten million in cents, one charge
inline constexpr int64_t kMaxBalance = 1'000'000'000'000;   // a charge past this is refused (balance_limit)
// The Kafka key of a user's wallet commands and decisions: "wallet/" cannot begin an event id.
std::string wallet_key(std::string_view user_id);

// A reward for a unit issued (topics/rewards.h), credited to the winner's wallet. Not sent by any client:
// the processor that issued the unit appends it to allot.commands in the same transaction.
struct Reward {
  std::string event_id;  // always empty: decided on the user's wallet (Command::key)
  std::string user_id;
  int64_t amount = 0;
  std::string claim_request_id;  // the claim that won the unit
  int64_t coupon_seq = 0;        // n: the unit's number in the event's issue order
};

// An order (README "Orders"): units of sale events and at most one coupon, paid from the user's wallet.
// Decided as a saga: the order lives on its user's wallet partition; each step is a command the order's
// processor appends for the partition that owns it (a reservation on the product's, a redemption on the
// coupon's), whose answer comes back as an order_step. Every command of it is written in the transaction
// of the decision that caused it, so each step happens exactly once; no lock, no two-phase commit.
struct OrderItem {
  std::string event_id;  // a sale event, or a seated event with a price
  int64_t qty = 1;       // 1..kMaxOrderQty; 1 for a seat
  std::string seat{};    // a seat the user holds (a seated event's line); empty for a sale event's
};
struct OrderCoupon {
  std::string event_id;          // the event that issued it
  std::string claim_request_id;  // the claim it was issued to
};
struct Order {
  std::string event_id;  // always empty: decided on the user's wallet (Command::key)
  std::string user_id;
  std::vector<OrderItem> items;  // 1..kMaxOrderItems (an event may be on several lines)
  std::optional<OrderCoupon> coupon;
};
inline constexpr size_t kMaxOrderItems = 10;
inline constexpr int64_t kMaxOrderQty = 100;

// What every step of an order names: the order (its request id), its user, and the line it is about
// (1..items for an item, 0 for the coupon).
struct OrderPart {
  std::string event_id;  // the partition's key: the item's or the coupon's event; empty for a wallet step
  std::string user_id;
  std::string order_id;
  int32_t line = 0;
};
// On the product's partition: hold qty units for the order (reserved, with amount = price x qty), or not.
struct Reserve : OrderPart {
  int64_t qty = 0;
  std::string seat;  // a seated event's line: the seat its user holds, which the order takes over
};
// On the coupon's event: the user's unused, unexpired coupon becomes the order's (redeemed), or not.
struct Redeem : OrderPart {
  std::string claim_request_id;
};
// After the order is paid: the reserved units are sold (finalize); a line that cannot be is refunded.
struct Finalize : OrderPart {
  int64_t amount = 0;  // what the line was paid: refunded if the units cannot be sold (a deleted event)
  std::string seat{};  // a seat's line: the seat
};
// After the order failed: the reserved units go back to stock (release), the coupon is unused again.
struct Release : OrderPart {
  std::string seat{};  // a seat's line: the seat, whose hold goes back to its holder
};
struct Unredeem : OrderPart {
  std::string claim_request_id;
};
// A coupon's discount: amount off, or percent off capped (its event's creation fixes it).
struct Discount {
  int64_t amount = 0;
  int32_t percent = 0;
  int64_t cap = 0;  // 0: none
  bool any() const { return amount > 0 || percent > 0; }
};
// Back on the order's partition: a step's answer (its outcome; a reservation's amount, a coupon's discount).
struct OrderStep : OrderPart {
  Outcome outcome{};
  int64_t amount = 0;
  Discount discount;
};
// Money back for a paid line that could not be sold.
struct Refund : OrderPart {
  int64_t amount = 0;
};

// Stream time for one partition of allot.commands (the ingress appends one per partition every second):
// holds whose expiry has passed are released and raffles whose closes_at has passed are drawn, decided
// from the log like everything else. A tick has no decision of its own, only the ones it causes.
struct Tick {
  std::string event_id;  // always empty: a tick belongs to a partition, not to an event
};

// A command on allot.commands, keyed by key(): its event_id, or its wallet's.
struct Command {
  std::string request_id;
  int64_t received_at = 0;  // when the ingress accepted it
  using Body = std::variant<CreateEvent, Claim, CloseEvent, Confirm, Cancel, Tick, DeleteEvent, Join, Charge, Reward,
                            Order, Reserve, Redeem, OrderStep, Finalize, Release, Unredeem, Refund>;
  Body body;

  const std::string& event_id() const;  // empty for a tick and the commands decided on a wallet
  // The user whose wallet the command is decided on (a charge, a reward, an order, an order's step answer, a
  // refund); nullptr for every other command.
  const std::string* wallet_user() const;
  // The Kafka key of the command and of its decision: the event id, or the wallet_key of wallet_user().
  std::string key() const;
  bool is_claim() const { return std::holds_alternative<Claim>(body); }
  std::string_view type() const;  // one of topics/vocabulary.h decision_type: kCreateEvent ... kJoin, kTick
};

// Where a command sits in allot.commands; every decision carries it.
struct CommandPosition {
  int32_t partition = 0;
  int64_t offset = 0;
};

// One decision per command on allot.decisions, keyed by event_id; a command may also cause decisions
// about earlier claims and joins (is_caused): a hold's expiry, a raffle entry's draw result, a pre-queued
// join's ticket at the opening, a queued join's admission.
struct Decision {
  std::string type;        // the command's type, or what it caused (topics/vocabulary.h decision_type)
  std::string request_id;  // the command's; for a caused decision, the claim it is about
  std::string event_id;
  std::string user_id;  // claims, confirm/cancel and caused decisions
  Outcome outcome = Outcome::kUnknownEvent;
  std::optional<int64_t> coupon_seq;       // when issued (fcfs), confirmed (hold) or won (raffle: draw rank)
  int64_t remaining = 0;                   // units neither issued nor held after this decision (0 for unknown events)
  std::optional<int64_t> hold_expires_at;  // held: when the hold ends unless confirmed
  std::string claim_request_id;            // confirm/cancel: the claim they act on; a reward: the claim that won
  std::optional<int64_t> entries;          // a raffle's close: how many entries the draw chose from
  std::optional<int64_t> ticket;           // waiting room: the join's place in line (1 = first)
  std::optional<int64_t> admitted;         // waiting room: tickets admitted so far (place = ticket - admitted)
  std::optional<int64_t> amount;           // a charge or reward: what it asked to credit
  std::optional<int64_t> balance;          // a charge or reward: the wallet's balance after the decision
  // An order's decisions (README "Orders"): the order they belong to, the line (0: the coupon), the units;
  // an order_result's reason when it failed (the first step refused, or balance_short).
  std::string order_id;
  std::optional<int32_t> line;
  std::optional<int64_t> qty;
  std::optional<Outcome> reason;
  std::string seat;  // seats: the seat a claim asked for, a hold's seat, an order line's seat
  CommandPosition command;
  int64_t decided_at = 0;
  int64_t received_at = 0;
  // create_event decisions (and claims, for projections that start late) describe the event:
  std::optional<CreateEvent> event;
};

// The caused decisions' types (topics/vocabulary.h), under their earlier names.
inline constexpr std::string_view kHoldExpired = decision_type::kHoldExpired;
inline constexpr std::string_view kDrawResult = decision_type::kDrawResult;
inline constexpr std::string_view kQueueTicket = decision_type::kQueueTicket;
inline constexpr std::string_view kAdmission = decision_type::kAdmission;
// A decision caused by a later command rather than answering its own command (an order_result answers
// the order, caused by its last step's answer).
inline bool is_caused(const Decision& d) {
  return d.type == kHoldExpired || d.type == kDrawResult || d.type == kQueueTicket || d.type == kAdmission ||
         d.type == decision_type::kOrderResult;
}
// A decision type that changes (or refuses to change) a user's balance: a charge, a reward, a refund, an
// order's result (paid debits the total). Each carries amount and balance; keyed wallet_key(user_id), with
// an empty event_id; `allotctl verify` walks them per wallet.
inline bool is_wallet_type(std::string_view type) {
  using namespace decision_type;
  return type == kCharge || type == kReward || type == kRefund || type == kOrderResult;
}
inline bool is_wallet_decision(const Decision& d) { return is_wallet_type(d.type); }
// A decision on a user's wallet partition (keyed wallet_key(user_id)): its money, its orders and their
// steps' answers.
inline bool is_wallet_keyed(const Decision& d) {
  return is_wallet_type(d.type) || d.type == decision_type::kOrder || d.type == decision_type::kOrderStep;
}
// The decisions that make an order's row (MySQL `orders`): the order placed, and its end (an order_result).
inline bool is_order_row_decision(const Decision& d) {
  return (d.type == decision_type::kOrder && d.outcome == Outcome::kPlaced) || d.type == decision_type::kOrderResult;
}
// The other decisions of an order's saga (topics/verify_orders.h checks them): the order placed and its
// steps' answers on the wallet's partition; reservations, redemptions and their ends on events'.
inline bool is_order_step_type(std::string_view type) {
  using namespace decision_type;
  return type == kOrder || type == kOrderStep || type == kReserve || type == kRedeem || type == kFinalize ||
         type == kRelease || type == kUnredeem;
}

std::string encode(const Command& c);
Command decode_command(std::string_view json);
std::string encode(const Decision& d);
Decision decode_decision(std::string_view json);

// Why an event's price and coupon terms are invalid (README "Orders"), or nullopt.
std::optional<std::string> commerce_error(const CreateEvent& e);

// Parses an instant given as Unix milliseconds or an RFC 3339 UTC string ("2026-11-22T10:00:00Z",
// optional fraction); nullopt when it is neither.
std::optional<int64_t> parse_instant(const std::string& text);

}  // namespace allot::topics
