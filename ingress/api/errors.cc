#include "ingress/api/errors.h"

#include <nlohmann/json.hpp>

namespace allot::ingress {

std::string error_body(const ApiError& e) {
  return nlohmann::json{{"error", {{"code", e.code}, {"message", e.message}}}}.dump();
}

namespace errors {
namespace {
std::string str(std::string_view s) { return std::string(s); }
}  // namespace

ApiError unsupported_media_type() {
  return {415, "unsupported_media_type", "send the body as Content-Type: application/json"};
}
ApiError body_too_large(size_t max_bytes) {
  return {413, "body_too_large", "the body is larger than " + std::to_string(max_bytes) + " bytes"};
}
ApiError invalid_event_id() { return {400, "invalid_event_id", "event_id must match [a-z0-9][a-z0-9-]{0,63}"}; }
ApiError invalid_request_id() { return {400, "invalid_request_id", "request ids match [A-Za-z0-9_-]{1,64}"}; }
ApiError invalid_idempotency_key() {
  return {400, "invalid_idempotency_key", "Idempotency-Key must match [A-Za-z0-9_-]{1,64}"};
}
ApiError reserved_idempotency_key() {
  return {400, "invalid_idempotency_key",
          "Idempotency-Key must not start with pay-, rw- or tick- (the system's own ids)"};
}
ApiError invalid_wait_ms(int max) {
  return {400, "invalid_wait_ms", "wait_ms must be an integer from 0 to " + std::to_string(max)};
}
ApiError invalid_limit() { return {400, "invalid_limit", "limit must be an integer from 1 to 1000"}; }
ApiError invalid_partitions(int32_t max) {
  return {400, "invalid_request",
          "partitions must be an integer from 1 to " + std::to_string(max) + " (the number of command partitions)"};
}
ApiError unauthorized_admin() {
  return {401, "unauthorized", "admin endpoints need Authorization: Bearer <ALLOT_ADMIN_TOKEN>"};
}
ApiError unauthenticated() {
  return {401, "unauthenticated", "this endpoint needs Authorization: Bearer <JWT> of a signed-in user"};
}
ApiError invalid_token(std::string_view reason) {
  return {401, "invalid_token", "the bearer token is not accepted: " + str(reason)};
}
ApiError unauthorized_payer() {
  return {401, "unauthorized",
          "a charge needs Authorization: Bearer <ALLOT_ADMIN_TOKEN or an admin JWT>, or the payment provider's"
          " Payment-Signature"};
}
ApiError invalid_signature(std::string_view reason) {
  return {401, "invalid_signature", "the Payment-Signature is not accepted: " + str(reason)};
}
ApiError payer_only() {
  return {403, "forbidden", "only the admin or the payment provider's signed callback may charge a wallet"};
}
ApiError payment_id_required() {
  return {400, "payment_id_required", "a signed payment callback must name its payment_id (retries are one charge)"};
}
ApiError no_wallet() {
  return {404, "no_wallet", "the admin token has no wallet of its own: name the user with ?user_id="};
}
ApiError invalid_user_id() { return {400, "invalid_user_id", "user_id must match [A-Za-z0-9_-]{1,64}"}; }
ApiError user_mismatch() { return {403, "user_mismatch", "user_id in the body is not the user of the bearer token"}; }
ApiError user_id_required() {
  return {400, "invalid_request", "user_id must be a string matching [A-Za-z0-9_-]{1,64}"};
}
ApiError dev_login_off() {
  return {404, "dev_login_off",
          "this ingress does not sign users in (ALLOT_DEV_LOGIN is off): use your identity provider's token"};
}
ApiError pow_required(std::string_view event_id, int32_t bits) {
  return {403, "pow_required",
          "this event asks a proof of work: GET /api/events/" + str(event_id) +
              "/challenge, then send Proof-Of-Work: <challenge>:<solution> whose SHA-256 starts with " +
              std::to_string(bits) + " zero bits"};
}
ApiError pow_invalid(std::string_view reason) { return {403, "pow_invalid", "the proof of work " + str(reason)}; }
ApiError no_proof_of_work(std::string_view event_id) {
  return {409, "no_proof_of_work", "event " + str(event_id) + " asks no proof of work: claim it directly"};
}
ApiError rate_limited(std::string_view who, int retry_after_s) {
  return {429, "rate_limited", "too many claims from " + str(who) + "; slow down", retry_after_s};
}
ApiError no_route(std::string_view path) { return {404, "not_found", "no route for " + str(path)}; }
ApiError method_not_allowed(std::string_view method, std::string_view allow) {
  return {405, "method_not_allowed", str(method) + " is not allowed here; use " + str(allow)};
}
ApiError no_page() { return {404, "not_found", "no web page configured"}; }

ApiError unknown_event(std::string_view event_id) {
  return {404, "unknown_event", "event " + str(event_id) + " does not exist"};
}
ApiError event_deleted(std::string_view event_id) {
  return {404, "event_deleted", "event " + str(event_id) + " was deleted"};
}
ApiError event_exists(std::string_view event_id) {
  return {409, "event_exists", "event " + str(event_id) + " already exists"};
}
ApiError no_event(std::string_view event_id) { return {404, "not_found", "no event " + str(event_id)}; }
ApiError no_seats(std::string_view event_id) {
  return {404, "no_seats", "event " + str(event_id) + " has no seat map"};
}
ApiError no_claim(std::string_view request_id) {
  return {404, "not_found", "no claim " + str(request_id) + " (unknown, or older than the claim status TTL)"};
}
ApiError no_join(std::string_view request_id) {
  return {404, "not_found", "no join " + str(request_id) + " (unknown, not a join, or older than the status TTL)"};
}
ApiError idempotency_key_reused(std::string_view request_id) {
  return {409, "idempotency_key_reused", "Idempotency-Key " + str(request_id) + " belongs to another request"};
}
ApiError no_waiting_room(std::string_view event_id) {
  return {409, "no_waiting_room", "event " + str(event_id) + " has no waiting room: claim directly"};
}

ApiError admission_required(std::string_view event_id) {
  return {403, "admission_required",
          "event " + str(event_id) + " has a waiting room: join it (POST /api/events/" + str(event_id) +
              "/queue) and claim with the Admission-Token you get once admitted"};
}
ApiError admission_expired() { return {403, "admission_expired", "the admission token expired; join the queue again"}; }
ApiError invalid_admission_token() {
  return {403, "invalid_admission_token", "the Admission-Token is not one this event gave this user"};
}

ApiError claim_pending() { return {409, "claim_pending", "the claim is not decided yet; retry when it is held", 1}; }
ApiError unknown_claim(std::string_view request_id) { return {404, "unknown_claim", "no claim " + str(request_id)}; }
ApiError not_yours() { return {403, "not_yours", "only the claim's user may confirm or cancel it"}; }
ApiError not_held(std::string_view action, std::string_view status) {
  return {409, "not_held", "the claim holds nothing to " + str(action) + " (its status is " + str(status) + ")"};
}

ApiError shutting_down() { return {503, "shutting_down", "the ingress is stopping; retry on another instance"}; }
ApiError producer_failed() {
  return {503, "producer_failed", "this ingress's Kafka producer failed and is being replaced; retry in a second", 1};
}
ApiError broker_unavailable() {
  return {503, "broker_unavailable", "the message broker is unreachable; retry later", 1};
}
ApiError command_not_stored() { return {503, "broker_unavailable", "the command could not be stored; retry later", 1}; }
ApiError projection_unavailable(std::string_view what) {
  return {503, "projection_unavailable", str(what) + " are unavailable; retry later", 1};
}
ApiError too_many_waiters() { return {503, "too_many_waiters", "too many open long polls; retry later", 1}; }

}  // namespace errors
}  // namespace allot::ingress
