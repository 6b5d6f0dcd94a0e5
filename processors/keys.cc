#include "processors/keys.h"

namespace allot::processors {

namespace {

// "<prefix><event_id>/<rest>": one of an event's many records of a kind.
std::string record_key(const EventKeyKind& kind, std::string_view event_id, std::string_view rest) {
  std::string key = kind.under(event_id);
  key += rest;
  return key;
}

}  // namespace

std::string EventKeyKind::under(std::string_view event_id) const {
  std::string key;
  key.reserve(prefix.size() + event_id.size() + 1);
  key += prefix;
  key += event_id;
  if (many) key += '/';
  return key;
}

bool EventKeyKind::covers(std::string_view event_id, std::string_view key) const {
  const auto start = under(event_id);
  return many ? key.starts_with(start) && key.size() > start.size() : key == start;
}

std::string event_key(std::string_view event_id) { return key_kind::kEvent.under(event_id); }
std::string user_key(std::string_view event_id, std::string_view user_id) {
  return record_key(key_kind::kUser, event_id, user_id);
}
std::string request_key(std::string_view request_id) { return std::string(kRequestPrefix) + std::string(request_id); }
std::string entry_key(std::string_view event_id, int64_t index) {
  return record_key(key_kind::kEntry, event_id, std::to_string(index));
}
std::string hold_key(std::string_view event_id, std::string_view request_id) {
  return record_key(key_kind::kHold, event_id, request_id);
}
std::string hold_queue_key(std::string_view event_id) { return key_kind::kHoldQueue.under(event_id); }
std::string join_key(std::string_view event_id, std::string_view user_id) {
  return record_key(key_kind::kJoin, event_id, user_id);
}
std::string prequeue_key(std::string_view event_id, int64_t index) {
  return record_key(key_kind::kPrequeue, event_id, std::to_string(index));
}
std::string ticket_key(std::string_view event_id, int64_t ticket) {
  return record_key(key_kind::kTicket, event_id, std::to_string(ticket));
}
std::string rewards_key(std::string_view event_id) { return key_kind::kRewards.under(event_id); }
std::string balance_key(std::string_view user_id) { return std::string(kBalancePrefix) + std::string(user_id); }
std::string terms_key(std::string_view event_id) { return key_kind::kTerms.under(event_id); }
std::string reservation_key(std::string_view event_id, std::string_view order_id, int32_t line) {
  return record_key(key_kind::kReservation, event_id, std::string(order_id) + "/" + std::to_string(line));
}
std::string coupon_key(std::string_view event_id, std::string_view claim_request_id) {
  return record_key(key_kind::kCoupon, event_id, claim_request_id);
}
std::string seat_key(std::string_view event_id, std::string_view seat) {
  return record_key(key_kind::kSeat, event_id, seat);
}
std::string hold_seat_key(std::string_view event_id, std::string_view claim_request_id) {
  return record_key(key_kind::kHoldSeat, event_id, claim_request_id);
}
std::string order_key(std::string_view order_id) { return std::string(kOrderPrefix) + std::string(order_id); }

}  // namespace allot::processors
