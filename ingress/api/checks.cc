#include "ingress/api/checks.h"

#include <algorithm>
#include <random>

#include "common/clock.h"
#include "ingress/requests.h"
#include "topics/topics.h"

namespace allot::ingress::api {

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    id[static_cast<size_t>(i)] = kHex[(a >> (i * 4)) & 0xf];
    id[static_cast<size_t>(i) + 16] = kHex[(b >> (i * 4)) & 0xf];
  }
  return id;
}

std::optional<ApiError> check_command_request(const Request& req, const DrainGate& gate, size_t max_body_bytes) {
  if (gate.draining()) return errors::shutting_down();
  auto ct = req.header("content-type");
  if (!ct || !is_json_content_type(*ct)) return errors::unsupported_media_type();
  if (req.body.size() > max_body_bytes) return errors::body_too_large(max_body_bytes);
  return std::nullopt;
}

std::optional<ApiError> check_admin(const Request& req, const std::string& admin_token) {
  auto auth = req.header("authorization");
  if (auth && bearer_matches(*auth, admin_token)) return std::nullopt;
  return errors::unauthorized_admin();
}

Checked<identity::Identity> check_identity(const Request& req, const identity::Verifier& verifier) {
  auto auth = req.header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!auth || auth->empty()) return errors::unauthenticated();
  if (!auth->starts_with(kBearer)) return errors::invalid_token("Authorization must be Bearer <JWT>");
  auto verified = verifier.verify(auth->substr(kBearer.size()), now_ms() / 1000);
  if (auto* refused = std::get_if<identity::Refusal>(&verified)) return errors::invalid_token(refused->reason);
  auto& who = std::get<identity::Identity>(verified);
  // The same ids as everywhere: a sub that could not be a user id names no user of ours.
  if (!topics::valid_user_id(who.user_id)) return errors::invalid_token("sub is not a valid user id");
  return who;
}

Checked<std::string> command_user(const std::string& token_user, const std::optional<std::string>& body_user) {
  if (body_user && *body_user != token_user) return errors::user_mismatch();
  return token_user;
}

Checked<identity::Identity> check_reader(const Request& req, const identity::Verifier& verifier,
                                         const std::string& admin_token) {
  if (auto auth = req.header("authorization"); auth && bearer_matches(*auth, admin_token)) {
    return identity::Identity{"", true, 0};
  }
  return check_identity(req, verifier);
}

bool may_read(const identity::Identity& reader, const std::string& owner) {
  // A deleted event's claims lost their user: only the admin may still look at them.
  return reader.admin || (!owner.empty() && owner == reader.user_id);
}

std::optional<ApiError> check_broker(const CommandPublisher& publisher) {
  if (publisher.failed()) return errors::producer_failed();
  if (!publisher.ready()) return errors::broker_unavailable();
  return std::nullopt;
}

Checked<std::string> event_id_param(const Request& req) {
  auto id = req.param("event_id");
  if (!topics::valid_event_id(id)) return errors::invalid_event_id();
  return id;
}

Checked<std::string> request_id_param(const Request& req) {
  auto id = req.param("request_id");
  if (!topics::valid_request_id(id)) return errors::invalid_request_id();
  return id;
}

Checked<std::string> command_request_id(const Request& req) {
  auto key = req.header("idempotency-key");
  std::string id = key ? std::string(*key) : new_request_id();
  if (!topics::valid_request_id(id)) return errors::invalid_idempotency_key();
  // The ids the system names itself (a payment's charge, a unit's reward, a tick): a client's key must not
  // take one, or the real command would be answered as its repeat.
  if (topics::is_reserved_request_id(id)) return errors::reserved_idempotency_key();
  return id;
}

namespace {
// A decimal of at most `digits` digits, nothing else.
std::optional<int64_t> small_integer(std::string_view text, size_t digits) {
  if (text.empty() || text.size() > digits || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::stoll(std::string(text));
}
}  // namespace

Checked<int> wait_ms_param(const Request& req, int max) {
  auto q = req.query_param("wait_ms");
  if (!q) return 0;
  auto n = small_integer(*q, 9);
  if (!n || *n > max) return errors::invalid_wait_ms(max);
  return static_cast<int>(*n);
}

Checked<size_t> limit_param(const Request& req, size_t fallback) {
  auto q = req.query_param("limit");
  if (!q) return fallback;
  auto n = small_integer(*q, 4);
  if (!n || *n < 1 || *n > 1000) return errors::invalid_limit();
  return static_cast<size_t>(*n);
}

std::optional<ApiError> check_event_open(EventCatalog& catalog, const std::string& event_id) {
  if (catalog.known(event_id) == false) return errors::unknown_event(event_id);
  // Known deleted here: answered at once. Otherwise the processor answers a deleted event's claim deleted.
  if (catalog.is_deleted(event_id)) return errors::event_deleted(event_id);
  return std::nullopt;
}

std::string client_address(const Request& req, const std::vector<std::string>& trusted_proxies) {
  auto trusted = [&](std::string_view a) {
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), a) != trusted_proxies.end();
  };
  auto forwarded = req.header("x-forwarded-for");
  if (!forwarded || !trusted(req.peer)) return req.peer;
  // Right to left: each proxy appends the address it got the request from.
  std::string_view rest = *forwarded;
  while (!rest.empty()) {
    auto comma = rest.rfind(',');
    std::string_view hop = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
    while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
    bool address =
        !hop.empty() && hop.size() <= 45 && hop.find_first_not_of("0123456789abcdefABCDEF.:") == std::string_view::npos;
    if (!address) break;  // not an address our proxies write: trust nothing further left
    if (!trusted(hop)) return std::string(hop);
  }
  return req.peer;
}

std::optional<ApiError> DoorLimits::check(const Request& req, const std::string& user_id) {
  int64_t now = now_ms(), retry_ms = 0;
  const char* who = nullptr;
  if (!per_user_.allow(user_id, now, &retry_ms)) {
    who = "this user";
  } else if (!per_address_.allow(client_address(req, trusted_proxies_), now, &retry_ms)) {
    who = "this client address";
  }
  if (!who) return std::nullopt;
  return errors::rate_limited(who, static_cast<int>((retry_ms + 999) / 1000));
}

std::optional<ApiError> check_proof_of_work(const Request& req, const EventCatalog& catalog, WorkChallenges& work,
                                            const std::string& event_id, const std::string& user_id) {
  const int32_t bits = catalog.pow_bits(event_id).value_or(0);
  if (bits == 0) return std::nullopt;
  auto proof = req.header("proof-of-work");
  if (!proof) return errors::pow_required(event_id, bits);
  switch (work.redeem(*proof, event_id, user_id, bits, now_ms())) {
    case WorkChallenges::Check::kValid:
      return std::nullopt;
    case WorkChallenges::Check::kExpired:
      return errors::pow_invalid("is of an expired challenge: ask a new one");
    case WorkChallenges::Check::kReplayed:
      return errors::pow_invalid("was used already: each solution is good once");
    case WorkChallenges::Check::kTooWeak:
      return errors::pow_invalid("does not solve the challenge (too few leading zero bits)");
    case WorkChallenges::Check::kForged:
      return errors::pow_invalid("is of a challenge not issued for this event and user");
    default:
      return errors::pow_invalid("is malformed: <challenge>:<solution>");
  }
}

std::optional<ApiError> check_admission(const Request& req, const EventCatalog& catalog, const AdmissionTokens& tokens,
                                        const std::string& event_id, const std::string& user_id) {
  auto header = req.header("admission-token");
  if (!header) {
    if (catalog.room_rate(event_id).value_or(0) == 0) return std::nullopt;
    return errors::admission_required(event_id);
  }
  switch (tokens.check(*header, event_id, user_id, now_ms())) {
    case AdmissionTokens::Check::kValid:
      return std::nullopt;
    case AdmissionTokens::Check::kExpired:
      return errors::admission_expired();
    default:
      return errors::invalid_admission_token();
  }
}

}  // namespace allot::ingress::api
