#pragma once
// Orders (README "Orders"): a saga of commands and decisions, each step decided once on the partition that
// owns what it touches, every next step appended to allot.commands in the transaction of the decision that
// causes it (Result::emitted).
//
//   order (wallet partition: placed) ── reserve per item ──▶ product's partition: reserved | refused
//                                    └─ redeem the coupon ─▶ coupon event's partition: redeemed | refused
//   each answer ── order_step ──▶ wallet partition; the last one ends the order (an order_result):
//     all reserved and redeemed, and the wallet holds the total: paid (the total debited in the same
//       decision) ── finalize per item ──▶ sold (a line that cannot be sold is refunded)
//     otherwise: failed, with the first refusal (or balance_short) ── release / unredeem what was taken
//
// The order and its debit share the user's wallet partition, so no money moves before every reservation
// and the coupon are held, and a user's concurrent orders are debited one after another.
#include <string>

#include "processors/decide_context.h"

namespace allot::processors::detail {

// At an event's creation: a sale event's price, an event's coupon terms (key_kind::kTerms).
void start_terms(Ctx& x, const topics::CreateEvent& spec);
// Unit `n` of event `e` was issued to `user_id` by claim `claim_request_id`: its reward (wallet.h) and, on an
// event with a discount, its coupon.
void unit_issued(Ctx& x, const EventState& e, const std::string& user_id, const std::string& claim_request_id,
                 int64_t n);

topics::Decision decide_order(Ctx& x, const topics::Order& order);
topics::Decision decide_reserve(Ctx& x, const topics::Reserve& reserve);
topics::Decision decide_redeem(Ctx& x, const topics::Redeem& redeem);
topics::Decision decide_order_step(Ctx& x, const topics::OrderStep& step);
topics::Decision decide_finalize(Ctx& x, const topics::Finalize& finalize);
topics::Decision decide_release(Ctx& x, const topics::Release& release);
topics::Decision decide_unredeem(Ctx& x, const topics::Unredeem& unredeem);

}  // namespace allot::processors::detail
