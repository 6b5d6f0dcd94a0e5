// The seed experiment's baselines (ingress/baselines.h): the same validation as allot's own claim, and
// a synchronous answer from a database.
#include "ingress/api/context.h"

namespace allot::ingress::api {

namespace {

void baseline_claim(Api::Context& c, BaselineClaims::Strategy strategy, const Request& req, Reply r) {
  // Held until answered: a drain waits for the baseline's worker too.
  auto scope = std::make_shared<DrainGate::Scope>(c.gate);
  auto parsed = c.parse_claim_request(req);
  if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
  const auto& claim = std::get<Api::Context::ClaimRequest>(parsed);
  auto reply = std::make_shared<Reply>(std::move(r));
  c.baselines.claim(strategy, claim.event_id, claim.user_id, claim.request_id,
                    [reply, scope](int status, const std::string& body) { reply->send(status, body); });
}

}  // namespace

void register_baseline_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kPost, "/api/v1/events/:event_id/claims", "v1_claim", c,
                         [](Api::Context& ctx, const Request& req, Reply r) {
                           baseline_claim(ctx, BaselineClaims::Strategy::kV1DatabaseLock, req, std::move(r));
                         }));
  routes.push_back(route(Method::kPost, "/api/v2/events/:event_id/claims", "v2_claim", c,
                         [](Api::Context& ctx, const Request& req, Reply r) {
                           baseline_claim(ctx, BaselineClaims::Strategy::kV2RedisAtomic, req, std::move(r));
                         }));
}

}  // namespace allot::ingress::api
