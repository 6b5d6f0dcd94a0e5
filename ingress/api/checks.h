#pragma once
// The request checks every handler draws from, each a plain function of the request and what it
// checks against, so a handler reads as the list of its checks. Each returns the error to answer, or
// nothing (or the checked value) when the request may go on.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/identity/identity.h"
#include "ingress/admission.h"
#include "ingress/api/catalog.h"
#include "ingress/api/drain_gate.h"
#include "ingress/api/request.h"
#include "ingress/proof_of_work.h"
#include "ingress/publisher.h"
#include "ingress/rate_limiter.h"

namespace allot::ingress::api {

template <typename T>
using Checked = std::variant<T, ApiError>;

// 128 random bits as 32 hex digits.
std::string new_request_id();

// A command endpoint's door: not draining, a JSON body, not over `max_body_bytes`.
std::optional<ApiError> check_command_request(const Request& req, const DrainGate& gate, size_t max_body_bytes);
// Authorization: Bearer <admin token>.
std::optional<ApiError> check_admin(const Request& req, const std::string& admin_token);
// The signed-in user: the verified bearer JWT of the request (README "Who is the user"); 401 without one.
Checked<identity::Identity> check_identity(const Request& req, const identity::Verifier& verifier);
// The user a command is for: the token's. A body's user_id, when given, must be the same (403).
Checked<std::string> command_user(const std::string& token_user, const std::optional<std::string>& body_user);
// Who reads a claim, hold or join: the admin token or an admin JWT reads any (admin = true), a user
// only their own (the caller answers 404 for someone else's, not revealing that it exists).
Checked<identity::Identity> check_reader(const Request& req, const identity::Verifier& verifier,
                                         const std::string& admin_token);
bool may_read(const identity::Identity& reader, const std::string& owner);
// The broker must be reachable before we take a command we cannot store.
std::optional<ApiError> check_broker(const CommandPublisher& publisher);
// The route's :event_id, validated.
Checked<std::string> event_id_param(const Request& req);
// The route's :request_id, validated.
Checked<std::string> request_id_param(const Request& req);
// The request id of a new command: its Idempotency-Key (validated) or a new one.
Checked<std::string> command_request_id(const Request& req);
// ?wait_ms=N of a long poll: 0 when absent; an integer from 0 to `max`.
Checked<int> wait_ms_param(const Request& req, int max);
// ?limit=N: `fallback` when absent; an integer from 1 to 1000.
Checked<size_t> limit_param(const Request& req, size_t fallback);
// A claim or join may go to the event: known to exist (or not known not to) and not deleted here.
std::optional<ApiError> check_event_open(EventCatalog& catalog, const std::string& event_id);

// The client's address: the peer, or, when the peer is one of `trusted_proxies`, the nearest address in
// its X-Forwarded-For that is not a trusted proxy (a client can write anything there, so only what our
// own proxies appended counts).
std::string client_address(const Request& req, const std::vector<std::string>& trusted_proxies);

// A flood from one user (or one address) is cut at the door, so it cannot delay everyone else; the
// per-address bucket also stops one client from minting a crowd of identities' worth of traffic.
class DoorLimits {
 public:
  DoorLimits(double user_rate, double user_burst, double address_rate, double address_burst,
             std::vector<std::string> trusted_proxies = {})
      : per_user_(user_rate, user_burst),
        per_address_(address_rate, address_burst),
        trusted_proxies_(std::move(trusted_proxies)) {}
  std::optional<ApiError> check(const Request& req, const std::string& user_id);

 private:
  RateLimiter per_user_, per_address_;
  std::vector<std::string> trusted_proxies_;
};

// Proof of work: on an event with pow_bits, a claim or join carries a fresh solution of a challenge of
// this event and user (Proof-Of-Work header). An event whose rules this ingress has not learned yet asks
// none (a creation moments old).
std::optional<ApiError> check_proof_of_work(const Request& req, const EventCatalog& catalog, WorkChallenges& work,
                                            const std::string& event_id, const std::string& user_id);

// The waiting room (README "Waiting room"). A claim on an event with a room needs the Admission-Token
// its user got once admitted; a token on any other claim is checked too. When this ingress cannot tell
// yet whether the event has a room, the processor still answers a claim by a user it never admitted
// not_admitted.
std::optional<ApiError> check_admission(const Request& req, const EventCatalog& catalog, const AdmissionTokens& tokens,
                                        const std::string& event_id, const std::string& user_id);

}  // namespace allot::ingress::api
