// Events: create (admin; a mega event fans out to its slices), list, read, ranking, close and delete
// (admin; answered as a claim is, or once per slice for a mega event).
#include <functional>

#include "common/clock.h"
#include "ingress/api/context.h"
#include "ingress/requests.h"
#include "topics/slices.h"
#include "topics/vocabulary.h"

namespace allot::ingress::api {

using nlohmann::json;

namespace {

// A mega event (topics/slices.h): one create_event per slice, each on its own partition, answered 202
// once all of them are stored. The slices' request ids are "<request_id>-<k>".
void create_mega_event(Api::Context& c, const topics::CreateEvent& event, Reply r) {
  auto n = c.catalog.partition_count();
  if (!n) return r.error(errors::broker_unavailable());
  if (event.partitions > *n) return r.error(errors::invalid_partitions(*n));
  const std::string id = new_request_id();
  const int32_t k_total = event.partitions;
  json slices = json::array();
  for (int32_t k = 0; k < k_total; ++k) slices.push_back(id + "-" + std::to_string(k));
  auto accepted = [&c, id, event_id = event.event_id, pow_bits = event.pow_bits, k_total,
                   slices](topics::CommandPosition) {
    c.catalog.created(event_id, {/*admit_per_s=*/0, pow_bits}, k_total);  // a mega event has no waiting room
    return json{{"request_id", id},
                {"status", topics::claim_status::kPending},
                {"partitions", k_total},
                {"slice_request_ids", slices}};
  };
  auto slice_body = [&event, k_total](int32_t k) {
    topics::CreateEvent slice = event;
    slice.event_id = topics::slice_id(event.event_id, k);
    slice.stock = topics::slice_stock(event.stock, k_total, k);
    slice.total_stock = event.stock;
    return decltype(topics::Command::body){slice};
  };
  c.commands.publish_to_slices(id, event.event_id, k_total, *n, slice_body, std::move(r), accepted);
}

void create_event(Api::Context& c, const Request& req, Reply r) {
  DrainGate::Scope scope(c.gate);
  if (auto e = check_admin(req, c.opt.admin_token)) return r.error(*e);
  if (auto e = check_command_request(req, c.gate, c.opt.max_body_bytes)) return r.error(*e);
  auto parsed = parse_create_event(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
  const auto& event = std::get<topics::CreateEvent>(parsed);
  if (c.catalog.known(event.event_id).value_or(false)) return r.error(errors::event_exists(event.event_id));
  if (auto e = check_broker(c.publisher)) return r.error(*e);
  if (event.partitions > 1) return create_mega_event(c, event, std::move(r));
  topics::Command command{new_request_id(), now_ms(), event};
  auto accepted = [&c, id = command.request_id, event_id = event.event_id,
                   rules = EventCatalog::DoorRules{event.admit_per_s, event.pow_bits}](topics::CommandPosition) {
    c.catalog.created(event_id, rules, 1);
    return json{{"request_id", id}, {"status", topics::claim_status::kPending}};
  };
  c.commands.publish(command, std::move(r), accepted);
}

void list_events(Api::Context& c, const Request&, Reply r) {
  try {
    json list = json::array();
    for (const auto& e : c.read.projections.events(1000)) {
      list.push_back(event_json(e, c.read.projections.baselines(e.event_id)));
    }
    r.send(200, list.dump());
  } catch (const ProjectionUnavailable&) {
    r.error(errors::projection_unavailable("events"));
  }
}

void get_event(Api::Context& c, const Request& req, Reply r) {
  auto id = event_id_param(req);
  if (auto* e = std::get_if<ApiError>(&id)) return r.error(*e);
  const auto& event_id = std::get<std::string>(id);
  try {
    auto e = c.read.projections.event(event_id);
    if (!e) return r.error(errors::no_event(event_id));
    r.send(200, event_json(*e, c.read.projections.baselines(event_id)).dump());
  } catch (const ProjectionUnavailable&) {
    r.error(errors::projection_unavailable("events"));
  }
}

void get_ranking(Api::Context& c, const Request& req, Reply r) {
  auto id = event_id_param(req);
  if (auto* e = std::get_if<ApiError>(&id)) return r.error(*e);
  const auto& event_id = std::get<std::string>(id);
  auto limit = limit_param(req, 10);
  if (auto* e = std::get_if<ApiError>(&limit)) return r.error(*e);
  try {
    if (!c.read.projections.event(event_id)) return r.error(errors::no_event(event_id));
    json list = json::array();
    for (const auto& e : c.read.projections.ranking(event_id, std::get<size_t>(limit))) list.push_back(rank_json(e));
    r.send(200, list.dump());
  } catch (const ProjectionUnavailable&) {
    r.error(errors::projection_unavailable("rankings"));
  }
}

// GET /api/events/{id}/seats: a seated event's seats, each free, held or sold (README "Seats").
void get_seats(Api::Context& c, const Request& req, Reply r) {
  auto id = event_id_param(req);
  if (auto* e = std::get_if<ApiError>(&id)) return r.error(*e);
  const auto& event_id = std::get<std::string>(id);
  try {
    auto e = c.read.projections.event(event_id);
    if (!e) return r.error(errors::no_event(event_id));
    auto seats = c.read.projections.seats(event_id);
    if (seats.empty()) return r.error(errors::no_seats(event_id));
    json list = json::array();
    json counts = json::object();
    for (const auto& s : seats) {
      list.push_back({{"seat", s.seat}, {"status", s.status}});
      counts[s.status] = counts.value(s.status, 0) + 1;
    }
    r.send(200, json{{"event_id", event_id}, {"price", e->price}, {"counts", counts}, {"seats", list}}.dump());
  } catch (const ProjectionUnavailable&) {
    r.error(errors::projection_unavailable("seats"));
  }
}

// GET /api/products/popular: products by units sold, from the Redis projection (README "Orders").
void get_popular_products(Api::Context& c, const Request& req, Reply r) {
  auto limit = limit_param(req, 10);
  if (auto* e = std::get_if<ApiError>(&limit)) return r.error(*e);
  try {
    json list = json::array();
    for (const auto& p : c.read.projections.popular(std::get<size_t>(limit))) {
      list.push_back({{"rank", p.rank}, {"event_id", p.event_id}, {"sold", p.sold}});
    }
    r.send(200, list.dump());
  } catch (const ProjectionUnavailable&) {
    r.error(errors::projection_unavailable("products"));
  }
}

using MakeBody = decltype(topics::Command::body) (*)(const std::string& event_id);

// An admin command about one existing event (`make_body` of the event's id, or of each slice's id),
// answered as a claim is: 202, or its decision within ?wait_ms; a mega event's once per slice, 202 once
// all are stored (?wait_ms is not waited for then). `before_publish` sees the event id once all checks passed.
void admin_event_command(Api::Context& c, const Request& req, Reply r, MakeBody make_body,
                         const std::function<void(const std::string&)>& before_publish = {}) {
  DrainGate::Scope scope(c.gate);
  if (auto e = check_admin(req, c.opt.admin_token)) return r.error(*e);
  auto id = event_id_param(req);
  if (auto* e = std::get_if<ApiError>(&id)) return r.error(*e);
  const auto& event_id = std::get<std::string>(id);
  auto wait = wait_ms_param(req, c.opt.max_wait_ms);
  if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
  if (c.gate.draining()) return r.error(errors::shutting_down());
  if (c.catalog.known(event_id) == false) return r.error(errors::unknown_event(event_id));
  if (auto e = check_broker(c.publisher)) return r.error(*e);
  auto k = c.catalog.slices(event_id);
  if (!k || *k <= 1) {
    if (before_publish) before_publish(event_id);
    topics::Command command{new_request_id(), now_ms(), make_body(event_id)};
    return c.commands.publish_awaited(command, std::move(r), event_id, "", std::get<int>(wait));
  }
  auto n = c.catalog.partition_count();
  if (!n) return r.error(errors::broker_unavailable());
  if (before_publish) before_publish(event_id);
  const std::string request_id = new_request_id();
  json slices = json::array();
  for (int32_t s = 0; s < *k; ++s) slices.push_back(request_id + "-" + std::to_string(s));
  auto accepted = [request_id, slices](topics::CommandPosition) {
    return json{{"request_id", request_id}, {"status", topics::claim_status::kPending}, {"slice_request_ids", slices}};
  };
  auto slice_body = [&event_id, make_body](int32_t s) { return make_body(topics::slice_id(event_id, s)); };
  c.commands.publish_to_slices(request_id, event_id, *k, *n, slice_body, std::move(r), accepted);
}

// POST /api/events/{id}/close (admin): no more claims; a raffle draws its winners.
void close_event(Api::Context& c, const Request& req, Reply r) {
  admin_event_command(c, req, std::move(r),
                      [](const std::string& id) { return decltype(topics::Command::body){topics::CloseEvent{id}}; });
}

// DELETE /api/events/{id} (admin): erases the event's users from the projections and the state; its
// counters stay and every later command about it is answered deleted. From the moment it is sent, this
// ingress answers the event's claims 404 (should the publish fail, the admin's retry deletes it; the
// processor answers deleted either way).
void delete_event(Api::Context& c, const Request& req, Reply r) {
  admin_event_command(
      c, req, std::move(r),
      [](const std::string& id) { return decltype(topics::Command::body){topics::DeleteEvent{id}}; },
      [&c](const std::string& event_id) { c.catalog.deleted(event_id); });
}

}  // namespace

void register_event_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kPost, "/api/events", "create_event", c, create_event));
  routes.push_back(route(Method::kGet, "/api/events", "list_events", c, list_events));
  routes.push_back(route(Method::kGet, "/api/events/:event_id", "get_event", c, get_event));
  routes.push_back(route(Method::kDelete, "/api/events/:event_id", "delete_event", c, delete_event));
  routes.push_back(route(Method::kGet, "/api/events/:event_id/ranking", "get_ranking", c, get_ranking));
  routes.push_back(route(Method::kGet, "/api/events/:event_id/seats", "get_seats", c, get_seats));
  routes.push_back(route(Method::kGet, "/api/products/popular", "get_popular_products", c, get_popular_products));
  routes.push_back(route(Method::kPost, "/api/events/:event_id/close", "close_event", c, close_event));
}

}  // namespace allot::ingress::api
