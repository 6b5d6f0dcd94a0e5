// Claims: take one (202, or its decision within ?wait_ms), read one, and confirm or cancel a held one.
#include "common/clock.h"
#include "ingress/api/context.h"
#include "ingress/requests.h"
#include "topics/slices.h"
#include "topics/vocabulary.h"

namespace allot::ingress::api {

namespace {

void claim(Api::Context& c, const Request& req, Reply r) {
  DrainGate::Scope scope(c.gate);
  auto parsed = c.parse_user_command(req);
  if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
  auto& [event_id, user_id, request_id, wait_ms] = std::get<Api::Context::ClaimRequest>(parsed);
  if (auto e = check_admission(req, c.catalog, c.tokens, event_id, user_id)) return r.error(*e);
  if (auto e = check_proof_of_work(req, c.catalog, c.work, event_id, user_id)) return r.error(*e);
  auto seat = parse_claim_seat(req.body);
  if (auto* e = std::get_if<ApiError>(&seat)) return r.error(*e);
  if (wait_ms > 0 && req.header("idempotency-key")) {
    // A retried key whose claim is decided gets no second decision (the first stands): answer with it
    // rather than wait for one that never comes.
    if (auto decided = c.known_decision(request_id)) {
      // Another user's key: their decision is not this user's to see.
      if (decided->user_id != user_id) return r.error(errors::idempotency_key_reused(request_id));
      return r.send(200, c.views.answer_body(*decided));
    }
  }
  if (auto e = check_broker(c.publisher)) return r.error(*e);
  topics::Command command{request_id, now_ms(), topics::Claim{event_id, user_id, std::get<std::string>(seat)}};
  // A mega event's claim goes to the user's slice, on the slice's partition (topics/slices.h).
  int32_t partition = -1;
  if (auto k = c.catalog.slices(event_id); k && *k > 1) {
    auto n = c.catalog.partition_count();
    if (!n) return r.error(errors::broker_unavailable());
    const int32_t slice = topics::user_slice(user_id, *k);
    command.body = topics::Claim{topics::slice_id(event_id, slice), user_id, std::get<std::string>(seat)};
    partition = topics::slice_partition(event_id, slice, *n);
  }
  c.commands.publish_awaited(command, std::move(r), event_id, user_id, wait_ms, partition);
}

void get_claim(Api::Context& c, const Request& req, Reply r) {
  auto checked_id = request_id_param(req);
  if (auto* e = std::get_if<ApiError>(&checked_id)) return r.error(*e);
  const auto& id = std::get<std::string>(checked_id);
  auto wait = wait_ms_param(req, c.opt.max_wait_ms);
  if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
  auto checked_reader = c.reader(req);
  if (auto* e = std::get_if<ApiError>(&checked_reader)) return r.error(*e);
  const auto& reader = std::get<identity::Identity>(checked_reader);
  // Someone else's claim answers as if it did not exist.
  auto answer = [&](const ClaimView& d) {
    if (!may_read(reader, d.user_id)) return r.error(errors::no_claim(id));
    r.send(200, c.views.answer_body(d));
  };
  if (c.read.decisions) {
    // A held or entered claim changes later (confirm, expiry, draw): the projection knows the latest.
    if (auto d = c.read.decisions->find(id); d && is_final_status(d->status)) return answer(*d);
  }
  auto waiting = c.pending.find(id);
  std::optional<ClaimView> projected;
  try {
    projected = c.read.projections.claim(id);
  } catch (const ProjectionUnavailable&) {
    if (!waiting) return r.error(errors::projection_unavailable("claim statuses"));
  }
  if (projected && !may_read(reader, projected->user_id)) return r.error(errors::no_claim(id));
  if (!projected && (!waiting || !may_read(reader, waiting->user_id))) return r.error(errors::no_claim(id));
  // A placed order ends under its own id (paid or failed), so ?wait_ms waits for that end like a pending claim.
  // Held and entered claims end under other ids (a confirm, an expiry, the draw): answered as they are.
  bool ends_here = !projected || projected->status == topics::outcome::kPlaced;
  // A placed order's end comes only through the decisions reader: not reading yet (a start, a broker away), the
  // wait could only run out, so the projection's placed is answered at once.
  bool can_wait = c.commands.can_wait() && (!projected || c.read.decisions->reading());
  if (ends_here && std::get<int>(wait) > 0 && can_wait) {
    // Held like a command handler, so a drain cannot release the waiters between our check and our wait.
    DrainGate::Scope scope(c.gate);
    if (!c.gate.draining()) {
      if (projected) return c.commands.long_poll(std::move(r), id, *projected, std::get<int>(wait));
      return c.commands.long_poll(std::move(r), id, *waiting, std::get<int>(wait), 200);
    }
  }
  if (projected) return answer(*projected);
  r.send(200, c.views.pending_body(id, *waiting));
}

// The claim a confirm or cancel acts on, as the projection (or this ingress's decisions) has it; an error
// when it cannot be acted on: unknown (404), not decided yet (409), deleted (404).
Checked<ClaimView> held_claim(Api::Context& c, const std::string& claim_id) {
  std::optional<ClaimView> claim;
  try {
    claim = c.read.projections.claim(claim_id);
  } catch (const ProjectionUnavailable&) {
    if (c.read.decisions) claim = c.read.decisions->find(claim_id);
    if (!claim) return errors::projection_unavailable("claim statuses");
  }
  if (!claim && c.read.decisions) claim = c.read.decisions->find(claim_id);
  if (!claim && c.pending.find(claim_id)) return errors::claim_pending();
  if (!claim || claim->type != topics::decision_type::kClaim) return errors::unknown_claim(claim_id);
  // A claim always has a user: only a deleted event's claims lost theirs.
  if (claim->user_id.empty()) return errors::event_deleted(claim->event_id);
  return *claim;
}

// POST /api/claims/{id}/confirm | cancel by the claim's user (the bearer token's). What the ingress can tell from the
// projection is answered at once (404 unknown claim, 403 someone else's, 409 nothing held); the rest is
// decided by the processor, whose outcome (confirmed, cancelled, expired, already_ended, ...) is the answer.
void hold_action(Api::Context& c, const Request& req, Reply r, bool confirm) {
  DrainGate::Scope scope(c.gate);
  auto checked_id = request_id_param(req);
  if (auto* e = std::get_if<ApiError>(&checked_id)) return r.error(*e);
  const auto& claim_id = std::get<std::string>(checked_id);
  auto command = c.waited_command(req);
  if (auto* e = std::get_if<ApiError>(&command)) return r.error(*e);
  const auto& [user_id, wait_ms] = std::get<Api::Context::WaitedCommand>(command);
  auto claim = held_claim(c, claim_id);
  if (auto* e = std::get_if<ApiError>(&claim)) return r.error(*e);
  const auto& held = std::get<ClaimView>(claim);
  if (held.user_id != user_id) return r.error(errors::not_yours());
  if (held.status != topics::outcome::kHeld)
    return r.error(errors::not_held(confirm ? "confirm" : "cancel", held.status));
  if (auto e = check_broker(c.publisher)) return r.error(*e);
  auto request_id = command_request_id(req);
  if (auto* e = std::get_if<ApiError>(&request_id)) return r.error(*e);
  topics::HoldAction action{held.event_id, claim_id, user_id};
  topics::Command action_command{std::get<std::string>(request_id), now_ms(), topics::Confirm{action}};
  if (!confirm) action_command.body = topics::Cancel{action};
  c.commands.publish_awaited(action_command, std::move(r), held.event_id, user_id, wait_ms);
}

}  // namespace

void register_claim_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kPost, "/api/events/:event_id/claims", "claim", c, claim));
  routes.push_back(route(Method::kGet, "/api/claims/:request_id", "get_claim", c, get_claim));
  // An order is read like a claim: its status is placed, then paid or failed (README "Orders").
  routes.push_back(route(Method::kGet, "/api/orders/:request_id", "get_order", c, get_claim));
  routes.push_back(
      route(Method::kPost, "/api/claims/:request_id/confirm", "confirm", c,
            [](Api::Context& ctx, const Request& req, Reply r) { hold_action(ctx, req, std::move(r), true); }));
  routes.push_back(
      route(Method::kPost, "/api/claims/:request_id/cancel", "cancel", c,
            [](Api::Context& ctx, const Request& req, Reply r) { hold_action(ctx, req, std::move(r), false); }));
}

}  // namespace allot::ingress::api
