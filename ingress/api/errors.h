#pragma once
// Every answer the API gives instead of a 2xx, in one place: status, machine code, human message, and
// whether the client should retry (Retry-After). Handlers name an error from this catalogue rather than
// spell it out, so one code always means one thing and the OpenAPI file can list them all.
#include <string>
#include <string_view>

namespace allot::ingress {

// An answer the client gets instead of a 2xx: status, machine code, human message.
struct ApiError {
  int status = 400;
  std::string code;
  std::string message;
  int retry_after_s = 0;  // > 0: sent as Retry-After (429, 503)
};

// {"error":{"code":...,"message":...}}
std::string error_body(const ApiError& e);

namespace errors {

// The request itself.
ApiError unsupported_media_type();
ApiError body_too_large(size_t max_bytes);
ApiError invalid_event_id();
ApiError invalid_request_id();
ApiError invalid_idempotency_key();
ApiError reserved_idempotency_key();
ApiError invalid_wait_ms(int max);
ApiError invalid_limit();
ApiError invalid_partitions(int32_t max);
ApiError unauthorized_admin();
// Who the user is (README "Who is the user").
ApiError unauthenticated();                           // 401: no bearer token
ApiError invalid_token(std::string_view reason);      // 401: signature, expiry, issuer, audience, key, sub
ApiError user_mismatch();                             // 403: the body's user_id is not the token's
ApiError unauthorized_payer();                        // 401: a charge without the admin's or the provider's signature
ApiError invalid_signature(std::string_view reason);  // 401: a Payment-Signature that does not sign the body
ApiError payer_only();                                // 403: a user's token on POST /api/wallet/charge
ApiError invalid_user_id();                           // 400: ?user_id= that is no user id
ApiError payment_id_required();                       // 400: a signed callback without its payment_id
ApiError no_wallet();                                 // 404: GET /api/wallet by the admin token, no user named
ApiError user_id_required();                          // 400: POST /api/dev/login without a user_id
ApiError dev_login_off();                             // 404: POST /api/dev/login while ALLOT_DEV_LOGIN is off
ApiError rate_limited(std::string_view who, int retry_after_s);
ApiError no_route(std::string_view path);
ApiError method_not_allowed(std::string_view method, std::string_view allow);
ApiError no_page();

// What the ingress knows about events and requests.
ApiError unknown_event(std::string_view event_id);
ApiError event_deleted(std::string_view event_id);
ApiError event_exists(std::string_view event_id);
ApiError no_event(std::string_view event_id);  // GET of an event or its ranking
ApiError no_seats(std::string_view event_id);  // GET of the seat map of an event without one
ApiError no_claim(std::string_view request_id);
ApiError no_join(std::string_view request_id);
ApiError idempotency_key_reused(std::string_view request_id);
ApiError no_waiting_room(std::string_view event_id);

// Waiting room admission.
ApiError admission_required(std::string_view event_id);
ApiError admission_expired();
ApiError invalid_admission_token();

// Proof of work (README "Who is the user").
ApiError pow_required(std::string_view event_id, int32_t bits);
ApiError pow_invalid(std::string_view reason);
ApiError no_proof_of_work(std::string_view event_id);

// Holds: confirm and cancel.
ApiError claim_pending();
ApiError unknown_claim(std::string_view request_id);
ApiError not_yours();
ApiError not_held(std::string_view action, std::string_view status);

// The ingress cannot serve now; retry (elsewhere, or later).
ApiError shutting_down();
ApiError producer_failed();
ApiError broker_unavailable();
ApiError command_not_stored();                           // the broker did not acknowledge a publish in time
ApiError projection_unavailable(std::string_view what);  // "claim statuses", "events", ...
ApiError too_many_waiters();

}  // namespace errors
}  // namespace allot::ingress
