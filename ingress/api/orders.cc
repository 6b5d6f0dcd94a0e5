// Orders (README "Orders"): POST /api/orders places one for the bearer token's user: 202 once the broker
// has it, or with ?wait_ms its end (paid or failed, with the reason) once the saga is through. The order is
// decided on the user's wallet partition; GET /api/orders/{id} reads it like a claim.
#include "common/clock.h"
#include "ingress/api/context.h"
#include "ingress/requests.h"

namespace allot::ingress::api {

namespace {

void place_order(Api::Context& c, const Request& req, Reply r) {
  DrainGate::Scope scope(c.gate);
  auto waited = c.waited_command(req);
  if (auto* e = std::get_if<ApiError>(&waited)) return r.error(*e);
  const auto& [user_id, wait_ms] = std::get<Api::Context::WaitedCommand>(waited);
  auto parsed = parse_order(req.body, user_id);
  if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
  auto request_id = command_request_id(req);
  if (auto* e = std::get_if<ApiError>(&request_id)) return r.error(*e);
  const auto& id = std::get<std::string>(request_id);
  if (auto decided = c.known_decision(id)) {
    // A retried key: the order's end stands, or the order still runs (placed: published again, the request
    // marker stops a second order, and the wait answers with the first one's end). Someone else's request
    // id is not this order's.
    const bool ours = decided->user_id == user_id;
    if (ours && decided->type == topics::decision_type::kOrderResult) return r.send(200, c.views.answer_body(*decided));
    if (!ours || decided->type != topics::decision_type::kOrder) return r.error(errors::idempotency_key_reused(id));
  }
  if (auto e = check_broker(c.publisher)) return r.error(*e);
  topics::Command command{id, now_ms(), std::move(std::get<topics::Order>(parsed))};
  c.commands.publish_awaited(command, std::move(r), "", user_id, wait_ms);
}

}  // namespace

void register_order_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kPost, "/api/orders", "place_order", c, place_order));
}

}  // namespace allot::ingress::api
