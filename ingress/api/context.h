#pragma once
// Inside the API: what every resource's handlers share, and the function each resource file defines to
// add its routes. Not for use outside ingress/api/.
#include "ingress/admission.h"
#include "ingress/api/api.h"
#include "ingress/api/catalog.h"
#include "ingress/api/checks.h"
#include "ingress/api/commands.h"
#include "ingress/api/views.h"
#include "ingress/payment_signature.h"
#include "ingress/pending_claims.h"

namespace allot::ingress::api {

struct Api::Context {
  Context(ApiOptions o, CommandPublisher& p, ReadSide r, BaselineClaims& b, metrics::Registry& registry, DrainGate& g)
      : opt(std::move(o)),
        publisher(p),
        read(r),
        baselines(b),
        probe(registry),
        gate(g),
        pending(opt.pending_capacity),
        limits(opt.user_rate, opt.user_burst, opt.address_rate, opt.address_burst, opt.trusted_proxies),
        tokens(opt.admission_key, opt.admission_ttl_ms),
        verifier(opt.identity),
        work(opt.admission_key, opt.pow_ttl_ms),
        payments(opt.payment_webhook_secret),
        catalog(r.projections, r.processor_offsets, r.sink_offsets, p),
        views(r.projections, r.processor_offsets, tokens),
        commands(p, r.decisions, pending, views, probe, g, opt.test_hook) {}

  ApiOptions opt;
  CommandPublisher& publisher;
  ReadSide read;
  BaselineClaims& baselines;
  ApiProbe probe;
  DrainGate& gate;
  PendingClaims pending;
  DoorLimits limits;
  AdmissionTokens tokens;
  identity::Verifier verifier;
  WorkChallenges work;
  PaymentSignatures payments;
  EventCatalog catalog;
  Views views;
  Commands commands;

  // The decision of `request_id` if this ingress saw it or the projection has it; nullopt also when
  // Redis is down.
  std::optional<ClaimView> known_decision(const std::string& request_id) const;

  // The user a command (claim, join, confirm, cancel) is for: the bearer token's, which the body's
  // user_id, if any, must match.
  Checked<std::string> command_user(const Request& req);
  // The bearer token's user (a request without a body: the challenge of a proof of work).
  Checked<std::string> token_user(const Request& req);
  // Who reads a claim or a join (check_reader); may_read(reader, owner) tells whether they may see it.
  Checked<identity::Identity> reader(const Request& req);

  // A claim request every strategy (allot's own, v1, v2) and a join accept the same way: the route's
  // event id, the command door, the token's user, the request id, the user's and address's rates.
  struct ClaimRequest {
    std::string event_id, user_id, request_id;
    int wait_ms = 0;  // ?wait_ms of allot's own claim and join; 0 for the baselines
  };
  Checked<ClaimRequest> parse_claim_request(const Request& req);
  // A claim or a join on allot's own path: ?wait_ms, parse_claim_request, and an event that is open to it.
  Checked<ClaimRequest> parse_user_command(const Request& req);
  // A user's command that is no claim (a confirm or cancel, an order): ?wait_ms, the command door, the
  // token's user, the user's and address's rates.
  struct WaitedCommand {
    std::string user_id;
    int wait_ms = 0;
  };
  Checked<WaitedCommand> waited_command(const Request& req);
};

// A route whose handler is a member-like function of the Context.
template <typename Handler>
Route route(Method method, std::string path, std::string name, Api::Context& c, Handler handler) {
  return Route{method, std::move(path), std::move(name),
               [&c, handler](const Request& req, Reply r) { handler(c, req, std::move(r)); }};
}

void register_event_routes(Routes& routes, Api::Context& c);     // events.cc
void register_claim_routes(Routes& routes, Api::Context& c);     // claims.cc
void register_queue_routes(Routes& routes, Api::Context& c);     // queue.cc
void register_baseline_routes(Routes& routes, Api::Context& c);  // baselines.cc
void register_ops_routes(Routes& routes, Api::Context& c);       // ops.cc
void register_sign_in_routes(Routes& routes, Api::Context& c);   // sign_in.cc (and the proof-of-work challenge)
void register_wallet_routes(Routes& routes, Api::Context& c);    // wallet.cc
void register_order_routes(Routes& routes, Api::Context& c);     // orders.cc

}  // namespace allot::ingress::api
