#pragma once
// Orders (README "Orders"): the published rules an order's saga follows, which `allotctl verify` re-derives
// from the log: the request ids of the commands an order causes, and what a coupon takes off.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "topics/messages.h"

namespace allot::topics {

// The steps of an order's saga, each a command with its own request id.
enum class OrderStepKind : char {
  kReserve = 'r',   // an item's units, on the product's partition
  kRedeem = 'c',    // the coupon, on its event's partition (line 0)
  kAnswer = 'a',    // a step's answer back to the order (order_step), on the wallet's partition
  kFinalize = 'f',  // a paid order's reserved units become sold
  kRelease = 'x',   // a failed order's reserved units go back
  kUnredeem = 'u',  // a failed order's coupon is unused again
  kRefund = 'm',    // a paid line that could not be sold: money back
};

// "os-<16 hex of FNV-1a 64 of "<user_id>|<order_id>">-<step><line>" (an answer also names what it
// answers: "...-a<r|c><line>"): the same on every replay, so each step is decided once; two users' orders
// under the same key are two sagas. The "os-" prefix is the system's (topics::is_reserved_request_id).
std::string order_request_id(std::string_view user_id, std::string_view order_id, OrderStepKind step, int32_t line,
                             OrderStepKind answered = OrderStepKind::kAnswer);

// The discount a coupon of `spec`'s event gives.
Discount discount_of(const CreateEvent& spec);
// What it takes off an order of `gross` cents: the amount, or the percent capped; never more than gross.
int64_t discount_off(const Discount& rule, int64_t gross);
// What each line of a paid order paid: its amount, less what is left of the discount, taken off the lines
// in order. A line that cannot be sold is refunded exactly this (never more than the order paid).
std::vector<int64_t> line_payments(const std::vector<int64_t>& line_amounts, int64_t discount);

}  // namespace allot::topics
