#include "ingress/api/api.h"

#include "ingress/api/context.h"
#include "ingress/requests.h"

namespace allot::ingress::api {

Api::Api(ApiOptions options, CommandPublisher& publisher, ReadSide read, BaselineClaims& baselines,
         metrics::Registry& registry, DrainGate& gate)
    : context_(std::make_unique<Context>(std::move(options), publisher, read, baselines, registry, gate)) {
  register_event_routes(routes_, *context_);
  register_claim_routes(routes_, *context_);
  register_queue_routes(routes_, *context_);
  register_baseline_routes(routes_, *context_);
  register_ops_routes(routes_, *context_);
  register_sign_in_routes(routes_, *context_);
  register_wallet_routes(routes_, *context_);
  register_order_routes(routes_, *context_);
}

Api::~Api() = default;

const Routes& Api::routes() const { return routes_; }

ApiProbe& Api::probe() { return context_->probe; }

void Api::release_long_polls() {
  if (context_->read.decisions) context_->read.decisions->release_all();
}

std::optional<ClaimView> Api::Context::known_decision(const std::string& request_id) const {
  if (read.decisions) {
    if (auto c = read.decisions->find(request_id)) return c;
  }
  try {
    return read.projections.claim(request_id);
  } catch (const ProjectionUnavailable&) {
    return std::nullopt;
  }
}

Checked<std::string> Api::Context::command_user(const Request& req) {
  if (opt.bench_trust_body_user) {
    auto body = parse_claim(req.body);
    if (auto* e = std::get_if<ApiError>(&body)) return *e;
    auto& user = std::get<std::optional<std::string>>(body);
    if (!user) return errors::unauthenticated();
    return *user;
  }
  auto user = token_user(req);
  if (auto* e = std::get_if<ApiError>(&user)) return *e;
  auto body = parse_claim(req.body);
  if (auto* e = std::get_if<ApiError>(&body)) return *e;
  return api::command_user(std::get<std::string>(user), std::get<std::optional<std::string>>(body));
}

Checked<std::string> Api::Context::token_user(const Request& req) {
  auto who = check_identity(req, verifier);
  if (auto* e = std::get_if<ApiError>(&who)) return *e;
  return std::get<identity::Identity>(who).user_id;
}

Checked<identity::Identity> Api::Context::reader(const Request& req) {
  if (opt.bench_trust_body_user) return identity::Identity{"", true, 0};
  return check_reader(req, verifier, opt.admin_token);
}

Checked<Api::Context::ClaimRequest> Api::Context::parse_claim_request(const Request& req) {
  auto event_id = event_id_param(req);
  if (auto* e = std::get_if<ApiError>(&event_id)) return *e;
  if (auto e = check_command_request(req, gate, opt.max_body_bytes)) return *e;
  auto user_id = command_user(req);
  if (auto* e = std::get_if<ApiError>(&user_id)) return *e;
  auto request_id = command_request_id(req);
  if (auto* e = std::get_if<ApiError>(&request_id)) return *e;
  ClaimRequest c{std::get<std::string>(event_id), std::get<std::string>(user_id), std::get<std::string>(request_id)};
  if (auto e = limits.check(req, c.user_id)) return *e;
  return c;
}

Checked<Api::Context::WaitedCommand> Api::Context::waited_command(const Request& req) {
  auto wait = wait_ms_param(req, opt.max_wait_ms);
  if (auto* e = std::get_if<ApiError>(&wait)) return *e;
  if (auto e = check_command_request(req, gate, opt.max_body_bytes)) return *e;
  auto user = command_user(req);
  if (auto* e = std::get_if<ApiError>(&user)) return *e;
  WaitedCommand c{std::get<std::string>(user), std::get<int>(wait)};
  if (auto e = limits.check(req, c.user_id)) return *e;
  return c;
}

Checked<Api::Context::ClaimRequest> Api::Context::parse_user_command(const Request& req) {
  auto wait = wait_ms_param(req, opt.max_wait_ms);
  if (auto* e = std::get_if<ApiError>(&wait)) return *e;
  auto parsed = parse_claim_request(req);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  auto& c = std::get<ClaimRequest>(parsed);
  if (auto e = check_event_open(catalog, c.event_id)) return *e;
  c.wait_ms = std::get<int>(wait);
  return parsed;
}

}  // namespace allot::ingress::api
