// The waiting room (README "Waiting room"): join an event's line, and see where a join stands.
#include "common/clock.h"
#include "ingress/api/context.h"
#include "topics/vocabulary.h"

namespace allot::ingress::api {

namespace {

// POST /api/events/{id}/queue (the bearer token's user): a place in the event's waiting room, answered like a claim
// (202, or with ?wait_ms its place: queued with ticket and position, pre_queued, or admitted with a token).
void join_queue(Api::Context& c, const Request& req, Reply r) {
  DrainGate::Scope scope(c.gate);
  auto parsed = c.parse_user_command(req);
  if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
  auto& [event_id, user_id, request_id, wait_ms] = std::get<Api::Context::ClaimRequest>(parsed);
  if (c.catalog.room_rate(event_id) == 0) return r.error(errors::no_waiting_room(event_id));
  if (auto e = check_proof_of_work(req, c.catalog, c.work, event_id, user_id)) return r.error(*e);
  if (req.header("idempotency-key")) {
    // A retried key: its first decision stands (a join's place), and a key another request used is refused.
    if (auto decided = c.known_decision(request_id)) {
      if (decided->type == topics::decision_type::kJoin && decided->user_id == user_id) {
        return r.send(200, c.views.queue_body(*decided));
      }
      return r.error(errors::idempotency_key_reused(request_id));
    }
  }
  if (auto e = check_broker(c.publisher)) return r.error(*e);
  topics::Command command{request_id, now_ms(), topics::Join{event_id, user_id}};
  c.commands.publish_awaited(command, std::move(r), event_id, user_id, wait_ms);
}

// GET /api/queue/{join request id}: where the join stands now.
void get_queue(Api::Context& c, const Request& req, Reply r) {
  auto checked_id = request_id_param(req);
  if (auto* e = std::get_if<ApiError>(&checked_id)) return r.error(*e);
  const auto& id = std::get<std::string>(checked_id);
  auto checked_reader = c.reader(req);
  if (auto* e = std::get_if<ApiError>(&checked_reader)) return r.error(*e);
  const auto& reader = std::get<identity::Identity>(checked_reader);
  std::optional<ClaimView> join;
  try {
    join = c.read.projections.claim(id);
  } catch (const ProjectionUnavailable&) {
    return r.error(errors::projection_unavailable("queue places"));
  }
  if (!join && c.read.decisions) join = c.read.decisions->find(id);
  // Someone else's join answers as if it did not exist.
  if (join && join->type == topics::decision_type::kJoin && may_read(reader, join->user_id)) {
    return r.send(200, c.views.queue_body(*join));
  }
  if (auto waiting = c.pending.find(id); !join && waiting && may_read(reader, waiting->user_id)) {
    return r.send(200, R"({"request_id":")" + id + R"(","status":"pending"})");
  }
  r.error(errors::no_join(id));
}

}  // namespace

void register_queue_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kPost, "/api/events/:event_id/queue", "join", c, join_queue));
  routes.push_back(route(Method::kGet, "/api/queue/:request_id", "get_queue", c, get_queue));
}

}  // namespace allot::ingress::api
