// Who is at the door (README "Who is the user"): the demo's sign-in and the proof-of-work challenges.
// In production the operator's identity provider issues
// the tokens; with ALLOT_DEV_LOGIN=1 (scripts/demo) this ingress signs anyone in by the name they type,
// with the stack's HS256 secret, so that the web page works without one.
#include "common/clock.h"
#include "ingress/api/context.h"
#include "ingress/requests.h"

namespace allot::ingress::api {

namespace {

constexpr int64_t kDevTokenTtlS = 3600;

// POST /api/dev/login {"user_id"}: 200 {"token","user_id","expires_at"}, or 404 dev_login_off.
void dev_login(Api::Context& c, const Request& req, Reply r) {
  if (!c.opt.dev_login || c.opt.identity.hs256_secret.empty()) return r.error(errors::dev_login_off());
  if (auto e = check_command_request(req, c.gate, c.opt.max_body_bytes)) return r.error(*e);
  auto body = parse_claim(req.body);
  if (auto* e = std::get_if<ApiError>(&body)) return r.error(*e);
  const auto& user = std::get<std::optional<std::string>>(body);
  if (!user) return r.error(errors::user_id_required());
  if (auto e = c.limits.check(req, *user)) return r.error(*e);
  identity::MintOptions token;
  token.user_id = *user;
  token.issuer = c.opt.identity.issuer;
  token.audience = c.opt.identity.audience;
  token.issued_at_s = now_ms() / 1000;
  token.ttl_s = kDevTokenTtlS;
  nlohmann::json answer{{"token", identity::mint_hs256(c.opt.identity.hs256_secret, token)},
                        {"user_id", *user},
                        {"expires_at", token.issued_at_s + token.ttl_s}};
  r.send(200, answer.dump());
}

// GET /api/events/{id}/challenge (the user's token): 200 {"challenge","bits","expires_at"} to solve for
// a claim or join of an event with pow_bits; 409 no_proof_of_work on an event without.
void challenge(Api::Context& c, const Request& req, Reply r) {
  auto event_id = event_id_param(req);
  if (auto* e = std::get_if<ApiError>(&event_id)) return r.error(*e);
  auto user = c.token_user(req);
  if (auto* e = std::get_if<ApiError>(&user)) return r.error(*e);
  const auto& id = std::get<std::string>(event_id);
  if (auto e = check_event_open(c.catalog, id)) return r.error(*e);
  const int32_t bits = c.catalog.pow_bits(id).value_or(0);
  if (bits == 0) return r.error(errors::no_proof_of_work(id));
  auto issued = c.work.issue(id, std::get<std::string>(user), bits, now_ms());
  r.send(200, nlohmann::json{{"challenge", issued.text}, {"bits", bits}, {"expires_at", issued.expires_at}}.dump());
}

}  // namespace

void register_sign_in_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kPost, "/api/dev/login", "dev_login", c, dev_login));
  routes.push_back(route(Method::kGet, "/api/events/:event_id/challenge", "pow_challenge", c, challenge));
}

}  // namespace allot::ingress::api
