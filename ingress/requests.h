#pragma once
// Pure parsing and validation of HTTP API bodies (DESIGN §5); no I/O, unit-tested.
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "ingress/api/errors.h"
#include "topics/messages.h"

namespace allot::ingress {

// True when the Content-Type header names JSON (parameters such as charset allowed).
bool is_json_content_type(std::string_view content_type);

// POST /api/events body.
std::variant<topics::CreateEvent, ApiError> parse_create_event(std::string_view body);

// The body of a claim, a join, a confirm or a cancel: a JSON object whose "user_id", when present, names
// the user the request is for (it must then be the token's; README "Who is the user"). Returns it.
std::variant<std::optional<std::string>, ApiError> parse_claim(std::string_view body);
// A claim's "seat" (README "Seats"): the seat it wants on a seated event; empty when it names none.
std::variant<std::string, ApiError> parse_claim_seat(std::string_view body);

// POST /api/wallet/charge body: {"user_id", "amount" (cents, 1..topics::kMaxChargeAmount), "payment_id"?}.
// A payment_id (the provider's id of the payment, [A-Za-z0-9_-]{1,60}) makes retries of the same payment
// one charge: it becomes the request id "pay-<payment_id>".
struct ChargeRequest {
  std::string user_id;
  int64_t amount = 0;
  std::optional<std::string> payment_id;
};
std::variant<ChargeRequest, ApiError> parse_charge(std::string_view body);

// POST /api/orders body: {"items": [{"event_id", "qty"? | "seat"?}] (1..10, qty 1..100, default 1; a seat's
// line: qty 1),
// "coupon"?: {"event_id", "claim_request_id"}, "user_id"?}. The order is for `user_id` (the token's).
std::variant<topics::Order, ApiError> parse_order(std::string_view body, const std::string& user_id);

// Compares a presented bearer header with the admin token in time independent of where they differ.
bool bearer_matches(std::string_view authorization_header, std::string_view token);

}  // namespace allot::ingress
