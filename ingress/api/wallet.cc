// The wallet (README "Wallet"): money in (POST /api/wallet/charge, by the admin or the payment provider's
// signed callback) and a user's own balance and newest changes (GET /api/wallet). A charge is decided on
// the partition of the user's wallet, like a claim on its event's: 202 once the broker has it, or with
// ?wait_ms its decision (credited, with the balance after it).
#include "common/clock.h"
#include "ingress/api/context.h"
#include "ingress/requests.h"
#include "topics/topics.h"

namespace allot::ingress::api {

namespace {

// Who may charge: the payment provider's callback signed with the shared secret, or the admin (its token
// or an admin JWT). A signed-in user may not credit a wallet. `signed_callback` tells which.
std::optional<ApiError> check_payer(Api::Context& c, const Request& req, bool& signed_callback) {
  signed_callback = false;
  if (auto signature = req.header("payment-signature")) {
    if (auto why = c.payments.refusal(*signature, req.body, now_ms() / 1000)) return errors::invalid_signature(*why);
    signed_callback = true;
    return std::nullopt;
  }
  if (!req.header("authorization")) return errors::unauthorized_payer();
  auto who = check_reader(req, c.verifier, c.opt.admin_token);
  if (auto* e = std::get_if<ApiError>(&who)) return *e;
  if (!std::get<identity::Identity>(who).admin) return errors::payer_only();
  return std::nullopt;
}

void charge(Api::Context& c, const Request& req, Reply r) {
  DrainGate::Scope scope(c.gate);
  auto wait = wait_ms_param(req, c.opt.max_wait_ms);
  if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
  if (auto e = check_command_request(req, c.gate, c.opt.max_body_bytes)) return r.error(*e);
  bool signed_callback = false;
  if (auto e = check_payer(c, req, signed_callback)) return r.error(*e);
  auto parsed = parse_charge(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
  const auto& body = std::get<ChargeRequest>(parsed);
  // The signature covers the body, not the Idempotency-Key: a signed callback names its payment, so a
  // replayed callback is the same charge.
  if (signed_callback && !body.payment_id) return r.error(errors::payment_id_required());
  auto request_id = command_request_id(req);  // an Idempotency-Key is checked even when a payment id names it
  if (auto* e = std::get_if<ApiError>(&request_id)) return r.error(*e);
  // The provider's payment id names the charge, so its retried callbacks are one charge.
  const auto id = body.payment_id ? "pay-" + *body.payment_id : std::get<std::string>(request_id);
  if (auto decided = c.known_decision(id)) {
    // A retried payment or key: its decision stands. Someone else's request id is not this charge's.
    if (decided->type != topics::decision_type::kCharge || decided->user_id != body.user_id) {
      return r.error(errors::idempotency_key_reused(id));
    }
    return r.send(200, c.views.answer_body(*decided));
  }
  if (auto e = check_broker(c.publisher)) return r.error(*e);
  topics::Command command{id, now_ms(), topics::Charge{"", body.user_id, body.amount}};
  c.commands.publish_awaited(command, std::move(r), "", body.user_id, std::get<int>(wait));
}

// GET /api/wallet: the bearer token's user's wallet; the admin names the user with ?user_id=.
void get_wallet(Api::Context& c, const Request& req, Reply r) {
  auto checked_reader = c.reader(req);
  if (auto* e = std::get_if<ApiError>(&checked_reader)) return r.error(*e);
  const auto& reader = std::get<identity::Identity>(checked_reader);
  auto asked = req.query_param("user_id");
  if (asked && !topics::valid_user_id(*asked)) return r.error(errors::invalid_user_id());
  std::string user = asked ? std::string(*asked) : reader.user_id;
  if (user.empty()) return r.error(errors::no_wallet());
  if (!may_read(reader, user)) return r.error(errors::user_mismatch());
  try {
    r.send(200, wallet_json(c.read.projections.wallet(user)).dump());
  } catch (const ProjectionUnavailable&) {
    r.error(errors::projection_unavailable("wallets"));
  }
}

}  // namespace

void register_wallet_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kPost, "/api/wallet/charge", "charge", c, charge));
  routes.push_back(route(Method::kGet, "/api/wallet", "get_wallet", c, get_wallet));
}

}  // namespace allot::ingress::api
