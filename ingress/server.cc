#include "ingress/server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/router.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <nlohmann/json.hpp>
#include <functional>
#include <random>
#include <unordered_set>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "ingress/admission.h"
#include "ingress/parse_errors.h"
#include "ingress/mega.h"
#include "ingress/pending_claims.h"
#include "ingress/rate_limiter.h"
#include "ingress/requests.h"
#include "topics/slices.h"
#include "topics/topics.h"

namespace allot::ingress {

using namespace Pistache;
using nlohmann::json;

namespace {

// 128 random bits as 32 hex digits.
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

// Pistache answers an HTTP/1.1 request without a Connection header with "Connection: Close", though
// keep-alive is the HTTP/1.1 default; replacing its header lets clients keep their connections.
void keep_alive(const Http::Request& req, Http::ResponseWriter& w) {
  if (req.version() != Http::Version::Http11 || req.headers().has<Http::Header::Connection>()) return;
  w.headers().remove<Http::Header::Connection>();
  w.headers().add<Http::Header::Connection>(Http::ConnectionControl::KeepAlive);
}

// Pistache 0.0.5 writes only typed headers, so Retry-After needs a type of its own.
class RetryAfter : public Http::Header::Header {
 public:
  NAME("Retry-After")
  RetryAfter() = default;
  explicit RetryAfter(int seconds) : seconds_(seconds) {}
  void parse(const std::string& data) override { seconds_ = std::atoi(data.c_str()); }
  void write(std::ostream& os) const override { os << seconds_; }

 private:
  int seconds_ = 0;
};

// The series of one route, looked up once: a label lookup (a std::map of label maps, under a lock) per
// request showed in the claim path's profile.
class RouteProbe {
 public:
  RouteProbe(std::string route, metrics::Family<metrics::Counter>& requests, metrics::Family<metrics::Histogram>& latency)
      : route_(std::move(route)), requests_(requests), latency_(latency.with({{"route", route_}})) {}
  void answered(int status, double seconds) {
    auto& slot = by_status_[static_cast<size_t>(std::clamp(status, 0, 599))];
    auto* c = slot.load(std::memory_order_acquire);
    if (!c) {  // first answer with this status: with() returns the same series to every racer
      c = &requests_.with({{"route", route_}, {"status", std::to_string(status)}});
      slot.store(c, std::memory_order_release);
    }
    c->inc();
    latency_.observe(seconds);
  }

 private:
  std::string route_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Histogram& latency_;
  std::array<std::atomic<metrics::Counter*>, 600> by_status_{};
};

// Per-route request counts and latency, and rejections by reason.
struct Probe {
  explicit Probe(metrics::Registry& r)
      : requests(r.counter("allot_ingress_requests_total", "HTTP requests by route and status")),
        latency(r.histogram("allot_ingress_request_seconds", "Time to answer, by route")),
        rejections(r.counter("allot_ingress_rejections_total", "Requests refused, by reason")),
        in_flight(r.gauge("allot_ingress_in_flight", "Commands waiting for the broker's acknowledgement").with()) {
    for (const char* route : {"cancel", "claim", "close_event", "confirm", "create_event", "delete_event", "get_claim",
                              "get_event", "get_queue", "get_ranking", "healthz", "join", "list_events", "method_not_allowed", "not_found", "page",
                              "readyz", "v1_claim", "v2_claim"}) {
      routes.emplace(route, std::make_unique<RouteProbe>(route, requests, latency));
    }
  }
  // Every route's probe; filled at construction, read-only afterwards (so no lock).
  RouteProbe& route(const std::string& name) {
    auto it = routes.find(name);
    if (it == routes.end()) throw std::logic_error("no probe for route " + name);
    return *it->second;
  }
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& latency;
  metrics::Family<metrics::Counter>& rejections;
  metrics::Gauge& in_flight;
  std::unordered_map<std::string, std::unique_ptr<RouteProbe>> routes;
};

// Answers one request and records it. Safe to use from the publisher's thread.
struct Reply {
  Http::ResponseWriter writer;
  RouteProbe* route;
  std::chrono::steady_clock::time_point started;
  Probe& probe;
  // When set, counts this answer until Pistache wrote it: a stopping server waits for long polls'
  // answers, which it queues onto the connections' threads just before it shuts them down.
  std::atomic<int>* unwritten = nullptr;

  void send(int status, const std::string& body, int retry_after_s = 0) {
    try {
      writer.headers().add<Http::Header::ContentType>(MIME(Application, Json));
      if (retry_after_s > 0) writer.headers().add<RetryAfter>(retry_after_s);
      auto written = writer.send(static_cast<Http::Code>(status), body);
      if (auto* n = unwritten) {
        n->fetch_add(1);
        written.then([n](ssize_t) { n->fetch_sub(1); }, [n](const std::exception_ptr&) { n->fetch_sub(1); });
      }
    } catch (const std::exception& e) {
      // e.g. the client closed its connection while a long poll waited: nobody is left to answer
      log_warn("ingress", std::string("answer not sent: ") + e.what());
    }
    route->answered(status, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  void error(const ApiError& e, int retry_after_s = 0) {
    probe.rejections.with({{"reason", e.code}}).inc();
    send(e.status, error_body(e), retry_after_s > 0 ? retry_after_s : e.retry_after_s);
  }
};

// Answers a published command: 202 once persisted (with the body `accepted` makes from the command's
// position), 503 otherwise.
class CommandDelivery : public Delivery {
 public:
  using Accepted = std::function<json(topics::CommandPosition)>;
  CommandDelivery(Reply reply, std::string request_id, Accepted accepted, Probe& probe)
      : reply_(std::move(reply)), request_id_(std::move(request_id)), accepted_(std::move(accepted)), probe_(probe) {
    probe_.in_flight.add(1);
  }
  ~CommandDelivery() override { probe_.in_flight.add(-1); }
  void delivered(topics::CommandPosition position) override { reply_.send(202, accepted_(position).dump()); }
  void failed(const std::string& reason) override {
    log_warn("ingress", "command " + request_id_ + " not accepted by the broker: " + reason);
    reply_.error({503, "broker_unavailable", "the command could not be stored; retry later"}, 1);
  }

 private:
  Reply reply_;
  std::string request_id_;
  Accepted accepted_;
  Probe& probe_;
};

// A decided claim, from the projection or from the decision itself.
std::string decided_json(const ClaimView& c) {
  json j{{"request_id", c.request_id}, {"event_id", c.event_id}, {"status", c.status}};
  if (auto slice = topics::parse_slice_id(c.event_id)) {  // a mega event's claim: its event, and the slice
    j["event_id"] = slice->parent;
    j["slice"] = slice->slice;
  }
  if (!c.user_id.empty()) j["user_id"] = c.user_id;  // a close_event has none
  if (c.coupon_seq) j["coupon_seq"] = *c.coupon_seq;
  if (c.decided_at) j["decided_at"] = *c.decided_at;
  if (c.type != "claim") j["type"] = c.type;
  if (!c.claim_request_id.empty()) j["claim_request_id"] = c.claim_request_id;
  if (c.hold_expires_at && c.status == "held") j["hold_expires_at"] = *c.hold_expires_at;
  return j.dump();
}

// ?wait_ms=N of a long poll: 0 when absent; an integer from 0 to `max`, else a 400.
std::variant<int, ApiError> parse_wait_ms(const Rest::Request& req, int max) {
  auto q = req.query().get("wait_ms");
  if (!q) return 0;
  const std::string& text = *q;
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stol(text) > max) {
    return ApiError{400, "invalid_wait_ms", "wait_ms must be an integer from 0 to " + std::to_string(max)};
  }
  return static_cast<int>(std::stol(text));
}

json event_json(const EventView& e) {
  json j{{"event_id", e.event_id}, {"title", e.title},         {"stock", e.stock},
         {"issued", e.issued},     {"remaining", e.remaining}, {"per_user_limit", e.per_user_limit},
         {"claims", e.claims}};
  if (e.opens_at) j["opens_at"] = *e.opens_at;
  if (e.closes_at) j["closes_at"] = *e.closes_at;
  j["mode"] = e.mode;
  j["closed"] = e.closed;
  if (e.deleted) j["deleted"] = true;  // its counters stay; its users are erased
  if (e.mode == "hold") {
    j["hold_ms"] = e.hold_ms;
    j["held"] = e.held;
  }
  if (e.mode == "raffle") j["entries"] = e.entries;
  j["partitions"] = e.partitions;
  if (e.admit_per_s > 0) {
    j["admit_per_s"] = e.admit_per_s;
    j["admitted"] = e.admitted;
    j["waiting"] = std::max<int64_t>(0, e.tickets - e.admitted);  // in line with a ticket, not admitted yet
  }
  return j;
}

// Each event's waiting-room rate (0: none), once this ingress learned it: a claim on an event with a room
// needs an admission token.
class RoomRates {
 public:
  void set(const std::string& id, int64_t admit_per_s) {
    std::lock_guard lock(mu_);
    rates_[id] = admit_per_s;
  }
  std::optional<int64_t> get(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = rates_.find(id);
    if (it == rates_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> rates_;
};

// A set of event ids, safe across threads.
class EventIds {
 public:
  void add(const std::string& id) {
    std::lock_guard lock(mu_);
    ids_.insert(id);
  }
  bool contains(const std::string& id) const {
    std::lock_guard lock(mu_);
    return ids_.count(id) > 0;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_set<std::string> ids_;
};


}  // namespace

struct Server::Impl {
  ServerOptions opt;
  Publisher& publisher;
  ReadSide read;
  Baselines& baselines;
  metrics::Registry& registry;
  Probe probe;
  PendingClaims pending;
  RateLimiter per_user, per_address;
  EventIds known_events;    // seen in the projection (deleted ones too: their ids stay taken)
  EventIds created_here;    // accepted by this ingress, perhaps not projected yet
  EventIds deleted_events;  // seen deleted in the projection, or deleted through this ingress
  MegaEvents mega;          // events' slice counts (topics/slices.h), as learned
  std::atomic<int32_t> command_partitions{0};  // of the commands topic; 0 until asked
  RoomRates rooms;          // learned with known_events and created_here
  AdmissionTokens tokens;
  std::atomic<bool> draining{false};
  std::atomic<int> unwritten_answers{0};  // long polls' answers queued and not yet written (Reply::unwritten)
  // Handlers inside a HandlerScope; drain_and_stop waits (bounded) for none before the final flush.
  std::atomic<int> handlers{0};
  std::mutex handlers_mu;
  std::condition_variable handlers_left;
  Rest::Router router;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::string page;

  Impl(ServerOptions o, Publisher& p, ReadSide rs, Baselines& b, metrics::Registry& r)
      : opt(std::move(o)),
        publisher(p),
        read(rs),
        baselines(b),
        registry(r),
        probe(r),
        pending(opt.pending_capacity),
        per_user(opt.user_rate, opt.user_burst),
        per_address(opt.address_rate, opt.address_burst),
        tokens(opt.admission_key, opt.admission_ttl_ms) {}

  // Answers the open long polls now (pending) and waits, up to `deadline` (at least 500 ms from now), until
  // Pistache wrote those answers: their connections close right after.
  void release_long_polls(std::chrono::steady_clock::time_point deadline) {
    if (!read.decisions) return;
    read.decisions->release_all();
    deadline = std::max(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
    while (unwritten_answers.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void hook(std::string_view point) {
    if (opt.test_hook) opt.test_hook(point);
  }

  // Held by a command handler from before its draining check until its publish returned (a baseline
  // claim: until it was answered). Taken before the check, so a drain that began after the check still
  // sees it, and waits for it before the final flush: no command is published after that flush.
  class HandlerScope {
   public:
    explicit HandlerScope(Impl& i) : i_(i) { i_.handlers.fetch_add(1); }
    ~HandlerScope() {
      if (i_.handlers.fetch_sub(1) == 1) {
        std::lock_guard lock(i_.handlers_mu);  // so a drain between its check and its wait cannot miss this
        i_.handlers_left.notify_all();
      }
    }
    HandlerScope(const HandlerScope&) = delete;
    HandlerScope& operator=(const HandlerScope&) = delete;

   private:
    Impl& i_;
  };

  Reply reply(const Rest::Request& req, Http::ResponseWriter& w, const std::string& route) {
    keep_alive(req, w);
    return Reply{std::move(w), &probe.route(route), std::chrono::steady_clock::now(), probe};
  }

  // Checks common to every command endpoint; nullopt when the request may go on.
  std::optional<ApiError> check_command_request(const Rest::Request& req) {
    if (draining) return ApiError{503, "shutting_down", "the ingress is stopping; retry on another instance"};
    auto ct = req.headers().tryGet<Http::Header::ContentType>();
    if (!ct || !is_json_content_type(ct->mime().toString())) {
      return ApiError{415, "unsupported_media_type", "send the body as Content-Type: application/json"};
    }
    if (req.body().size() > opt.max_body_bytes) {
      return ApiError{413, "body_too_large", "the body is larger than " + std::to_string(opt.max_body_bytes) + " bytes"};
    }
    return std::nullopt;
  }

  std::optional<ApiError> check_admin(const Rest::Request& req) {
    auto auth = req.headers().tryGet<Http::Header::Authorization>();
    if (auth && bearer_matches(auth->value(), opt.admin_token)) return std::nullopt;
    return ApiError{401, "unauthorized", "admin endpoints need Authorization: Bearer <ALLOT_ADMIN_TOKEN>"};
  }

  // The broker must be reachable before we take a command we cannot store.
  std::optional<ApiError> check_broker() {
    if (publisher.failed()) {
      return ApiError{503, "producer_failed", "this ingress can no longer store commands and is restarting; retry later"};
    }
    if (!publisher.ready()) return ApiError{503, "broker_unavailable", "the message broker is unreachable; retry later"};
    return std::nullopt;
  }

  void create_event(const Rest::Request& req, Http::ResponseWriter w) {
    HandlerScope scope(*this);
    auto r = reply(req, w, "create_event");
    if (auto e = check_admin(req)) return r.error(*e);
    if (auto e = check_command_request(req)) return r.error(*e);
    auto parsed = parse_create_event(req.body());
    if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
    const auto& event = std::get<topics::CreateEvent>(parsed);
    if (event_known(event.event_id).value_or(false)) {
      return r.error({409, "event_exists", "event " + event.event_id + " already exists"});
    }
    if (auto e = check_broker()) return r.error(*e, 1);
    if (event.partitions > 1) return create_mega_event(std::move(r), event);
    topics::Command c{new_request_id(), now_ms(), event};
    std::string id = c.request_id;
    auto accepted = [this, id, event_id = event.event_id, rate = event.admit_per_s](topics::CommandPosition) {
      created_here.add(event_id);
      rooms.set(event_id, rate);
      return json{{"request_id", id}, {"status", "pending"}};
    };
    hook("command:publishing");
    publisher.publish(c, std::make_unique<CommandDelivery>(std::move(r), id, accepted, probe));
    hook("command:published");
  }

  // The commands topic's partition count (asked once; it does not change: key routing relies on it too).
  std::optional<int32_t> partition_count() {
    if (int32_t n = command_partitions.load(); n > 0) return n;
    try {
      int32_t n = publisher.partition_count(std::chrono::seconds(2));
      if (n > 0) command_partitions.store(n);
      return n > 0 ? std::optional<int32_t>(n) : std::nullopt;
    } catch (const std::exception& e) {
      log_warn("ingress", std::string("partition count unknown: ") + e.what());
      return std::nullopt;
    }
  }

  // A mega event (topics/slices.h): one create_event per slice, each on its own partition, answered 202
  // once all of them are stored. The slices' request ids are "<request_id>-<k>".
  void create_mega_event(Reply r, const topics::CreateEvent& event) {
    auto n = partition_count();
    if (!n) return r.error({503, "broker_unavailable", "the message broker is unreachable; retry later"}, 1);
    if (event.partitions > *n) {
      return r.error({400, "invalid_request", "partitions must be an integer from 1 to " + std::to_string(*n) +
                                                  " (the number of command partitions)"});
    }
    const std::string id = new_request_id();
    const int32_t k_total = event.partitions;
    json slices = json::array();
    for (int32_t k = 0; k < k_total; ++k) slices.push_back(id + "-" + std::to_string(k));
    auto accepted = [this, id, event_id = event.event_id, k_total, slices](topics::CommandPosition) {
      mega.learn(event_id, k_total);
      created_here.add(event_id);
      rooms.set(event_id, 0);  // a mega event has no waiting room
      return json{{"request_id", id}, {"status", "pending"}, {"partitions", k_total}, {"slice_request_ids", slices}};
    };
    auto parts = fan_out(std::make_unique<CommandDelivery>(std::move(r), id, accepted, probe), static_cast<size_t>(k_total));
    const int64_t now = now_ms();
    hook("command:publishing");
    for (int32_t k = 0; k < k_total; ++k) {
      topics::CreateEvent slice = event;
      slice.event_id = topics::slice_id(event.event_id, k);
      slice.stock = topics::slice_stock(event.stock, k_total, k);
      slice.total_stock = event.stock;
      topics::Command c{id + "-" + std::to_string(k), now, slice};
      publisher.publish(c, std::move(parts[static_cast<size_t>(k)]), topics::slice_partition(event.event_id, k, *n));
    }
    hook("command:published");
  }

  // Whether the event exists: true once the projection shows it or this ingress accepted its creation;
  // false only when sure (the projection lacks it and both the processors and the Redis sink have
  // caught up, so no creation is in flight); nullopt when it cannot tell.
  std::optional<bool> event_known(const std::string& event_id) {
    if (known_events.contains(event_id) || created_here.contains(event_id)) return true;
    try {
      if (auto e = read.projections.event(event_id)) {
        mega.learn(event_id, e->partitions);
        rooms.set(event_id, e->admit_per_s);
        known_events.add(event_id);
        if (e->deleted) deleted_events.add(event_id);
        return true;
      }
    } catch (const ProjectionUnavailable&) {
      return std::nullopt;
    }
    if (read.processor_offsets.caught_up() && read.sink_offsets.caught_up()) return false;
    return std::nullopt;
  }

  json pending_json(const std::string& request_id, const PendingClaim& p) {
    auto position = read.processor_offsets.queue_position(p.position);
    json j{{"request_id", request_id}, {"event_id", p.event_id}, {"user_id", p.user_id},
           {"status", "pending"},      {"queue_position", position}};
    if (auto wait = read.processor_offsets.estimated_wait_ms(position)) j["estimated_wait_ms"] = *wait;
    return j;
  }

  // A claim request every strategy accepts the same way: ids, content type, size, body.
  struct ClaimRequest {
    std::string event_id, user_id, request_id;
  };
  std::variant<ClaimRequest, ApiError> parse_claim_request(const Rest::Request& req) {
    ClaimRequest c;
    c.event_id = req.param(":event_id").as<std::string>();
    if (!topics::valid_event_id(c.event_id)) {
      return ApiError{400, "invalid_event_id", "event_id must match [a-z0-9][a-z0-9-]{0,63}"};
    }
    if (auto e = check_command_request(req)) return *e;
    auto parsed = parse_claim(req.body());
    if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
    c.user_id = std::get<std::string>(parsed);
    auto key = req.headers().tryGetRaw("Idempotency-Key");
    c.request_id = key ? key->value() : new_request_id();
    if (!topics::valid_request_id(c.request_id)) {
      return ApiError{400, "invalid_idempotency_key", "Idempotency-Key must match [A-Za-z0-9_-]{1,64}"};
    }
    if (auto e = check_rate(req, c.user_id)) return *e;
    return c;
  }

  // A flood from one user (or one address) is cut at the door, so it cannot delay everyone else.
  std::optional<ApiError> check_rate(const Rest::Request& req, const std::string& user_id) {
    int64_t now = now_ms(), retry_ms = 0;
    const char* who = nullptr;
    if (!per_user.allow(user_id, now, &retry_ms)) {
      who = "this user";
    } else if (!per_address.allow(req.address().host(), now, &retry_ms)) {
      who = "this client address";
    }
    if (!who) return std::nullopt;
    return ApiError{429, "rate_limited", std::string("too many claims from ") + who + "; slow down",
                    static_cast<int>((retry_ms + 999) / 1000)};
  }

  // The seed experiment's baselines: same validation, synchronous answer from a database.
  void baseline_claim(Baselines::Strategy strategy, const char* route, const Rest::Request& req,
                      Http::ResponseWriter w) {
    auto scope = std::make_shared<HandlerScope>(*this);
    auto r = std::make_shared<Reply>(reply(req, w, route));
    auto parsed = parse_claim_request(req);
    if (auto* e = std::get_if<ApiError>(&parsed)) return r->error(*e);
    const auto& c = std::get<ClaimRequest>(parsed);
    baselines.claim(strategy, c.event_id, c.user_id, c.request_id,
                    [r, scope](int status, const std::string& body) { r->send(status, body); });
  }
  void claim_v1(const Rest::Request& req, Http::ResponseWriter w) {
    baseline_claim(Baselines::Strategy::kV1DatabaseLock, "v1_claim", req, std::move(w));
  }
  void claim_v2(const Rest::Request& req, Http::ResponseWriter w) {
    baseline_claim(Baselines::Strategy::kV2RedisAtomic, "v2_claim", req, std::move(w));
  }

  void claim(const Rest::Request& req, Http::ResponseWriter w) {
    HandlerScope scope(*this);
    auto r = reply(req, w, "claim");
    auto wait = parse_wait_ms(req, opt.max_wait_ms);
    if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
    auto parsed = parse_claim_request(req);
    if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
    auto& [event_id, user_id, request_id] = std::get<ClaimRequest>(parsed);
    if (event_known(event_id) == false) {
      return r.error({404, "unknown_event", "event " + event_id + " does not exist"});
    }
    // Known deleted here: answered at once. Otherwise the processor answers a deleted event's claim deleted.
    if (deleted_events.contains(event_id)) return r.error({404, "event_deleted", "event " + event_id + " was deleted"});
    if (auto e = check_admission(req, event_id, user_id)) return r.error(*e);
    if (std::get<int>(wait) > 0 && req.headers().tryGetRaw("Idempotency-Key")) {
      // A retried key whose claim is decided gets no second decision (the first stands): answer with it
      // rather than wait for one that never comes.
      if (auto decided = known_decision(request_id)) return r.send(200, answer_json(*decided));
    }
    if (auto e = check_broker()) return r.error(*e, 1);
    topics::Command c{request_id, now_ms(), topics::Claim{event_id, user_id}};
    // A mega event's claim goes to the user's slice, on the slice's partition (topics/slices.h).
    int32_t partition = -1;
    if (auto k = mega.partitions(event_id); k && *k > 1) {
      auto n = partition_count();
      if (!n) return r.error({503, "broker_unavailable", "the message broker is unreachable; retry later"}, 1);
      const int32_t slice = topics::user_slice(user_id, *k);
      c.body = topics::Claim{topics::slice_id(event_id, slice), user_id};
      partition = topics::slice_partition(event_id, slice, *n);
    }
    hook("command:publishing");
    publisher.publish(c, std::make_unique<ClaimDelivery>(*this, std::move(r), std::move(request_id),
                                                         std::move(event_id), std::move(user_id), std::get<int>(wait)),
                      partition);
    hook("command:published");
  }

  // The claim's decision if this ingress saw it or the projection has it; nullopt also when Redis is down.
  std::optional<ClaimView> known_decision(const std::string& request_id) {
    if (read.decisions) {
      if (auto c = read.decisions->find(request_id)) return c;
    }
    try {
      return read.projections.claim(request_id);
    } catch (const ProjectionUnavailable&) {
      return std::nullopt;
    }
  }

  // The 202 body of an accepted claim. Ids are validated to [A-Za-z0-9_-], so they need no escaping.
  std::string accepted_body(const std::string& request_id, const PendingClaim& p) {
    auto position = read.processor_offsets.queue_position(p.position);
    std::string body;
    body.reserve(128);
    body += R"({"request_id":")";
    body += request_id;
    body += R"(","status":"pending","queue_position":)";
    body += std::to_string(position);
    if (auto wait = read.processor_offsets.estimated_wait_ms(position)) {
      body += R"(,"estimated_wait_ms":)";
      body += std::to_string(*wait);
    }
    body += '}';
    return body;
  }

  // Answers a published claim from the publisher's poll thread: once the broker has it, 202 with its
  // queue position, or with ?wait_ms=N its decision (200) when that comes within N ms of the request.
  class ClaimDelivery : public Delivery {
   public:
    ClaimDelivery(Impl& i, Reply r, std::string request_id, std::string event_id, std::string user_id, int wait_ms)
        : i_(i), reply_(std::move(r)), request_id_(std::move(request_id)), event_id_(std::move(event_id)),
          user_id_(std::move(user_id)), wait_ms_(wait_ms) {
      i_.probe.in_flight.add(1);
    }
    ~ClaimDelivery() override { i_.probe.in_flight.add(-1); }
    void delivered(topics::CommandPosition position) override {
      PendingClaim p{std::move(event_id_), std::move(user_id_), position};
      i_.pending.add(request_id_, p);
      if (wait_ms_ > 0 && i_.read.decisions && !i_.draining) {
        return i_.long_poll(std::move(reply_), request_id_, p, wait_ms_, 202);
      }
      reply_.send(202, i_.accepted_body(request_id_, p));
    }
    void failed(const std::string& reason) override {
      log_warn("ingress", "command " + request_id_ + " not accepted by the broker: " + reason);
      reply_.error({503, "broker_unavailable", "the command could not be stored; retry later"}, 1);
    }

   private:
    Impl& i_;
    Reply reply_;
    std::string request_id_, event_id_, user_id_;
    int wait_ms_;
  };

  void get_claim(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "get_claim");
    auto id = req.param(":request_id").as<std::string>();
    if (!topics::valid_request_id(id)) {
      return r.error({400, "invalid_request_id", "request ids match [A-Za-z0-9_-]{1,64}"});
    }
    auto wait = parse_wait_ms(req, opt.max_wait_ms);
    if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
    int wait_ms = std::get<int>(wait);
    if (read.decisions) {
      // A held or entered claim changes later (confirm, expiry, draw): the projection knows the latest.
      if (auto c = read.decisions->find(id); c && is_final_status(c->status)) return r.send(200, answer_json(*c));
    }
    auto waiting = pending.find(id);
    try {
      if (auto c = read.projections.claim(id)) return r.send(200, answer_json(*c));
    } catch (const ProjectionUnavailable& e) {
      if (!waiting) return r.error({503, "projection_unavailable", "claim statuses are unavailable; retry later"}, 1);
    }
    if (!waiting) return r.error({404, "not_found", "no claim " + id + " (unknown, or older than the claim status TTL)"});
    if (wait_ms > 0 && read.decisions) {
      // Held like a command handler, so a drain cannot release the waiters between our check and our wait.
      HandlerScope scope(*this);
      if (!draining) return long_poll(std::move(r), id, *waiting, wait_ms, 200);
    }
    r.send(200, pending_json(id, *waiting).dump());
  }

  // Answers `r` when the claim is decided (200), or once `wait_ms` from the request's start passed: a
  // GET with its pending status (200), a POST as accepted (202). The calling thread does not wait.
  void long_poll(Reply r, const std::string& id, const PendingClaim& p, int wait_ms, int pending_status = 200) {
    auto shared = std::make_shared<Reply>(std::move(r));
    shared->unwritten = &unwritten_answers;
    auto deadline = shared->started + std::chrono::milliseconds(wait_ms);
    ClaimView decided;
    auto result = read.decisions->wait(id, deadline, [this, shared, id, p, pending_status](const ClaimView* c) {
      if (c) return shared->send(200, answer_json(*c));
      if (pending_status == 202) return shared->send(202, accepted_body(id, p));
      shared->send(200, pending_json(id, p).dump());
    }, &decided);
    if (result == DecisionWatch::Result::kDecided) return shared->send(200, answer_json(decided));
    if (result == DecisionWatch::Result::kFull) {
      if (pending_status == 202) return shared->send(202, accepted_body(id, p));
      return shared->error({503, "too_many_waiters", "too many open long polls; retry later"}, 1);
    }
  }

  // The waiting room (README "Waiting room"). A claim on an event with a room needs the Admission-Token
  // its user got once admitted; a token on any other claim is checked too. When this ingress cannot tell
  // yet whether the event has a room, the processor still answers a claim by a user it never admitted
  // not_admitted.
  std::optional<ApiError> check_admission(const Rest::Request& req, const std::string& event_id,
                                          const std::string& user_id) {
    auto header = req.headers().tryGetRaw("Admission-Token");
    if (!header) {
      if (rooms.get(event_id).value_or(0) == 0) return std::nullopt;
      return ApiError{403, "admission_required",
                      "event " + event_id + " has a waiting room: join it (POST /api/events/" + event_id +
                          "/queue) and claim with the Admission-Token you get once admitted"};
    }
    switch (tokens.check(header->value(), event_id, user_id, now_ms())) {
      case AdmissionTokens::Check::kValid:
        return std::nullopt;
      case AdmissionTokens::Check::kExpired:
        return ApiError{403, "admission_expired", "the admission token expired; join the queue again"};
      default:
        return ApiError{403, "invalid_admission_token", "the Admission-Token is not one this event gave this user"};
    }
  }

  // POST /api/events/{id}/queue {"user_id"}: a place in the event's waiting room, answered like a claim
  // (202, or with ?wait_ms its place: queued with ticket and position, pre_queued, or admitted with a token).
  void join_queue(const Rest::Request& req, Http::ResponseWriter w) {
    HandlerScope scope(*this);
    auto r = reply(req, w, "join");
    auto wait = parse_wait_ms(req, opt.max_wait_ms);
    if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
    auto parsed = parse_claim_request(req);
    if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
    auto& [event_id, user_id, request_id] = std::get<ClaimRequest>(parsed);
    if (event_known(event_id) == false) return r.error({404, "unknown_event", "event " + event_id + " does not exist"});
    if (deleted_events.contains(event_id)) return r.error({404, "event_deleted", "event " + event_id + " was deleted"});
    if (rooms.get(event_id) == 0) {
      return r.error({409, "no_waiting_room", "event " + event_id + " has no waiting room: claim directly"});
    }
    if (req.headers().tryGetRaw("Idempotency-Key")) {
      // A retried key: its first decision stands (a join's place), and a key another request used is refused.
      if (auto decided = known_decision(request_id)) {
        if (decided->type == "join") return r.send(200, queue_json(*decided));
        return r.error({409, "idempotency_key_reused", "Idempotency-Key " + request_id + " belongs to another request"});
      }
    }
    if (auto e = check_broker()) return r.error(*e, 1);
    topics::Command c{request_id, now_ms(), topics::Join{event_id, user_id}};
    publish_awaited(c, std::move(r), user_id, std::get<int>(wait));
  }

  // GET /api/queue/{join request id}: where the join stands now.
  void get_queue(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "get_queue");
    auto id = req.param(":request_id").as<std::string>();
    if (!topics::valid_request_id(id)) return r.error({400, "invalid_request_id", "request ids match [A-Za-z0-9_-]{1,64}"});
    std::optional<ClaimView> join;
    try {
      join = read.projections.claim(id);
    } catch (const ProjectionUnavailable&) {
      return r.error({503, "projection_unavailable", "queue places are unavailable; retry later"}, 1);
    }
    if (!join && read.decisions) join = read.decisions->find(id);
    if (join && join->type == "join") return r.send(200, queue_json(*join));
    if (!join && pending.find(id)) return r.send(200, json{{"request_id", id}, {"status", "pending"}}.dump());
    r.error({404, "not_found", "no join " + id + " (unknown, not a join, or older than the status TTL)"});
  }

  // A join as its user sees it: its status now (pre_queued, queued with ticket, position and an estimated
  // wait, admitted with an admission token), or the join's own outcome (closed, no_waiting_room, ...). The
  // position is the ticket minus the event's admitted count in the projection, which only grows.
  std::string queue_json(ClaimView c) {
    bool rejoined = false;
    if (c.status == "already_queued" && !c.claim_request_id.empty()) {
      try {
        if (auto first = read.projections.claim(c.claim_request_id); first && first->type == "join") {
          c = *first;
          rejoined = true;
        }
      } catch (const ProjectionUnavailable&) {
      }
    }
    std::string status = c.status;
    if (c.admitted_at || status == "admitted") {
      status = "admitted";
    } else if (c.ticket && (status == "pre_queued" || status == "queued")) {
      status = "queued";
    }
    json j{{"request_id", c.request_id}, {"event_id", c.event_id}, {"status", status}};
    if (!c.user_id.empty()) j["user_id"] = c.user_id;
    if (rejoined) j["rejoined"] = true;
    if (c.ticket && status != "already_queued") j["ticket"] = *c.ticket;
    std::optional<EventView> e;
    try {
      e = read.projections.event(c.event_id);
    } catch (const ProjectionUnavailable&) {
    }
    if (status == "queued" && c.ticket && e) {
      const int64_t position = std::max<int64_t>(1, *c.ticket - e->admitted);
      j["position"] = position;
      j["admitted"] = e->admitted;
      if (e->admit_per_s > 0) j["estimated_wait_ms"] = ((position - 1) / e->admit_per_s + 1) * 1000;
    }
    if (status == "pre_queued" && e && e->opens_at) j["opens_at"] = *e->opens_at;
    if (status == "admitted" && !c.user_id.empty()) {
      const int64_t at = c.admitted_at.value_or(c.decided_at.value_or(now_ms()));
      j["admission_token"] = tokens.issue(c.event_id, c.user_id, at);
      j["token_expires_at"] = tokens.expires_at(at);
    }
    return j.dump();
  }

  // A long poll's or a status read's answer: a join as queue_json, everything else as decided.
  std::string answer_json(const ClaimView& c) { return c.type == "join" ? queue_json(c) : decided_json(c); }

  // POST /api/events/{id}/close (admin): no more claims; a raffle draws its winners.
  void close_event(const Rest::Request& req, Http::ResponseWriter w) {
    admin_event_command(req, std::move(w), "close_event", [](const std::string& id) { return topics::CloseEvent{id}; });
  }
  // DELETE /api/events/{id} (admin): erases the event's users from the projections and the state; its
  // counters stay and every later command about it is answered deleted.
  void delete_event(const Rest::Request& req, Http::ResponseWriter w) {
    admin_event_command(req, std::move(w), "delete_event", [this](const std::string& id) {
      // From now on this ingress answers the event's claims 404 (should the publish fail, the admin's
      // retry deletes it; the processor answers deleted either way).
      deleted_events.add(id);
      return topics::DeleteEvent{id};
    });
  }
  // An admin command about one existing event, answered as a claim is (202, or its decision within ?wait_ms).
  template <typename MakeBody>
  void admin_event_command(const Rest::Request& req, Http::ResponseWriter w, const char* route, MakeBody make_body) {
    HandlerScope scope(*this);
    auto r = reply(req, w, route);
    if (auto e = check_admin(req)) return r.error(*e);
    auto event_id = req.param(":event_id").as<std::string>();
    if (!topics::valid_event_id(event_id)) {
      return r.error({400, "invalid_event_id", "event_id must match [a-z0-9][a-z0-9-]{0,63}"});
    }
    auto wait = parse_wait_ms(req, opt.max_wait_ms);
    if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
    if (draining) return r.error({503, "shutting_down", "the ingress is stopping; retry on another instance"});
    if (event_known(event_id) == false) return r.error({404, "unknown_event", "event " + event_id + " does not exist"});
    if (auto e = check_broker()) return r.error(*e, 1);
    if (auto k = mega.partitions(event_id); k && *k > 1) {
      // One command per slice, answered 202 once all are stored (?wait_ms is not waited for here).
      auto n = partition_count();
      if (!n) return r.error({503, "broker_unavailable", "the message broker is unreachable; retry later"}, 1);
      make_body(event_id);  // its side effects (a delete: this ingress answers the event's claims 404 now)
      const std::string id = new_request_id();
      json slices = json::array();
      for (int32_t s = 0; s < *k; ++s) slices.push_back(id + "-" + std::to_string(s));
      auto accepted = [id, slices](topics::CommandPosition) {
        return json{{"request_id", id}, {"status", "pending"}, {"slice_request_ids", slices}};
      };
      auto parts = fan_out(std::make_unique<CommandDelivery>(std::move(r), id, accepted, probe), static_cast<size_t>(*k));
      const int64_t now = now_ms();
      hook("command:publishing");
      for (int32_t s = 0; s < *k; ++s) {
        topics::Command c{id + "-" + std::to_string(s), now, make_body(topics::slice_id(event_id, s))};
        publisher.publish(c, std::move(parts[static_cast<size_t>(s)]), topics::slice_partition(event_id, s, *n));
      }
      hook("command:published");
      return;
    }
    topics::Command c{new_request_id(), now_ms(), make_body(event_id)};
    publish_awaited(c, std::move(r), "", std::get<int>(wait));
  }

  // POST /api/claims/{id}/confirm | cancel by the claim's user. What the ingress can tell from the
  // projection is answered at once (404 unknown claim, 403 someone else's, 409 nothing held); the rest is
  // decided by the processor, whose outcome (confirmed, cancelled, expired, already_ended, ...) is the answer.
  void hold_action(const Rest::Request& req, Http::ResponseWriter w, bool confirm) {
    HandlerScope scope(*this);
    auto r = reply(req, w, confirm ? "confirm" : "cancel");
    auto claim_id = req.param(":request_id").as<std::string>();
    if (!topics::valid_request_id(claim_id)) {
      return r.error({400, "invalid_request_id", "request ids match [A-Za-z0-9_-]{1,64}"});
    }
    auto wait = parse_wait_ms(req, opt.max_wait_ms);
    if (auto* e = std::get_if<ApiError>(&wait)) return r.error(*e);
    if (auto e = check_command_request(req)) return r.error(*e);
    auto parsed = parse_claim(req.body());
    if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
    const auto& user_id = std::get<std::string>(parsed);
    if (auto e = check_rate(req, user_id)) return r.error(*e);
    std::optional<ClaimView> claim;
    try {
      claim = read.projections.claim(claim_id);
    } catch (const ProjectionUnavailable&) {
      if (read.decisions) claim = read.decisions->find(claim_id);
      if (!claim) return r.error({503, "projection_unavailable", "claim statuses are unavailable; retry later"}, 1);
    }
    if (!claim && read.decisions) claim = read.decisions->find(claim_id);
    if (!claim && pending.find(claim_id)) {
      return r.error({409, "claim_pending", "the claim is not decided yet; retry when it is held"}, 1);
    }
    if (!claim || claim->type != "claim") return r.error({404, "unknown_claim", "no claim " + claim_id});
    // A claim always has a user: only a deleted event's claims lost theirs.
    if (claim->user_id.empty()) return r.error({404, "event_deleted", "event " + claim->event_id + " was deleted"});
    if (claim->user_id != user_id) return r.error({403, "not_yours", "only the claim's user may confirm or cancel it"});
    if (claim->status != "held") {
      return r.error({409, "not_held", "the claim holds nothing to " + std::string(confirm ? "confirm" : "cancel") +
                                           " (its status is " + claim->status + ")"});
    }
    if (auto e = check_broker()) return r.error(*e, 1);
    auto key = req.headers().tryGetRaw("Idempotency-Key");
    std::string request_id = key ? key->value() : new_request_id();
    if (!topics::valid_request_id(request_id)) {
      return r.error({400, "invalid_idempotency_key", "Idempotency-Key must match [A-Za-z0-9_-]{1,64}"});
    }
    topics::HoldAction action{claim->event_id, claim_id, user_id};
    topics::Command c{request_id, now_ms(), topics::Confirm{action}};
    if (!confirm) c.body = topics::Cancel{action};
    publish_awaited(c, std::move(r), user_id, std::get<int>(wait));
  }
  void confirm(const Rest::Request& req, Http::ResponseWriter w) { hold_action(req, std::move(w), true); }
  void cancel(const Rest::Request& req, Http::ResponseWriter w) { hold_action(req, std::move(w), false); }

  // Publishes a command whose decision the client may wait for, answered as a claim is (202, or 200 with
  // the decision within ?wait_ms).
  void publish_awaited(const topics::Command& c, Reply r, std::string user_id, int wait_ms) {
    hook("command:publishing");
    publisher.publish(c, std::make_unique<ClaimDelivery>(*this, std::move(r), c.request_id, c.event_id(),
                                                         std::move(user_id), wait_ms));
    hook("command:published");
  }

  void list_events(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "list_events");
    try {
      json list = json::array();
      for (const auto& e : read.projections.events(1000)) list.push_back(event_json(e));
      r.send(200, list.dump());
    } catch (const ProjectionUnavailable&) {
      r.error({503, "projection_unavailable", "events are unavailable; retry later"}, 1);
    }
  }

  void get_event(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "get_event");
    auto id = req.param(":event_id").as<std::string>();
    if (!topics::valid_event_id(id)) return r.error({400, "invalid_event_id", "event_id must match [a-z0-9][a-z0-9-]{0,63}"});
    try {
      auto e = read.projections.event(id);
      if (!e) return r.error({404, "not_found", "no event " + id});
      r.send(200, event_json(*e).dump());
    } catch (const ProjectionUnavailable&) {
      r.error({503, "projection_unavailable", "events are unavailable; retry later"}, 1);
    }
  }

  void get_ranking(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "get_ranking");
    auto id = req.param(":event_id").as<std::string>();
    if (!topics::valid_event_id(id)) return r.error({400, "invalid_event_id", "event_id must match [a-z0-9][a-z0-9-]{0,63}"});
    size_t limit = 10;
    if (auto q = req.query().get("limit")) {
      const std::string& text = *q;
      if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(text) < 1 || std::stoul(text) > 1000) {
        return r.error({400, "invalid_limit", "limit must be an integer from 1 to 1000"});
      }
      limit = std::stoul(text);
    }
    try {
      if (!read.projections.event(id)) return r.error({404, "not_found", "no event " + id});
      json list = json::array();
      for (const auto& e : read.projections.ranking(id, limit)) {
        json entry{{"rank", e.rank}, {"user_id", e.user_id}, {"coupon_seq", e.coupon_seq}};
        if (e.slice >= 0) entry["slice"] = e.slice;
        list.push_back(std::move(entry));
      }
      r.send(200, list.dump());
    } catch (const ProjectionUnavailable&) {
      r.error({503, "projection_unavailable", "rankings are unavailable; retry later"}, 1);
    }
  }

  void healthz(const Rest::Request& req, Http::ResponseWriter w) { reply(req, w, "healthz").send(200, R"({"status":"ok"})"); }

  void readyz(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "readyz");
    bool broker = publisher.ready(), failed = publisher.failed();
    json body{{"broker", failed ? "failed" : broker ? "up" : "down"}, {"draining", draining.load()}};
    if (broker && !draining) {
      body["status"] = "ready";
      return r.send(200, body.dump());
    }
    body["status"] = "not_ready";
    if (failed) {
      body["error"] = {{"code", "producer_failed"},
                       {"message", "the Kafka producer failed fatally (" + publisher.fatal_error() + "); restarting"}};
    } else {
      body["error"] = {{"code", "not_ready"}, {"message", draining ? "shutting down" : "the message broker is unreachable"}};
    }
    r.send(503, body.dump());
  }

  void metrics_page(const Rest::Request& req, Http::ResponseWriter w) {
    keep_alive(req, w);
    w.send(Http::Code::Ok, registry.render(), MIME(Text, Plain));
  }

  void index(const Rest::Request& req, Http::ResponseWriter w) {
    if (page.empty()) return reply(req, w, "page").error({404, "not_found", "no web page configured"});
    keep_alive(req, w);
    w.send(Http::Code::Ok, page, MIME(Text, Html));
  }

  void not_found(const Rest::Request& req, Http::ResponseWriter w) {
    reply(req, w, "not_found").error({404, "not_found", "no route for " + req.resource()});
  }

  void setup_routes() {
    using namespace Rest;
    using Http::Method;
    // Every path with the methods it answers; the others get a JSON 405 with Allow (Pistache's own
    // 405 is plain text).
    struct PathRoutes {
      const char* path;
      std::vector<std::pair<Method, Rest::Route::Handler>> handlers;
    };
    const std::vector<PathRoutes> routes = {
        {"/api/events", {{Method::Post, Routes::bind(&Impl::create_event, this)},
                         {Method::Get, Routes::bind(&Impl::list_events, this)}}},
        {"/api/events/:event_id", {{Method::Get, Routes::bind(&Impl::get_event, this)},
                                   {Method::Delete, Routes::bind(&Impl::delete_event, this)}}},
        {"/api/events/:event_id/claims", {{Method::Post, Routes::bind(&Impl::claim, this)}}},
        {"/api/events/:event_id/queue", {{Method::Post, Routes::bind(&Impl::join_queue, this)}}},
        {"/api/queue/:request_id", {{Method::Get, Routes::bind(&Impl::get_queue, this)}}},
        {"/api/events/:event_id/ranking", {{Method::Get, Routes::bind(&Impl::get_ranking, this)}}},
        {"/api/v1/events/:event_id/claims", {{Method::Post, Routes::bind(&Impl::claim_v1, this)}}},
        {"/api/v2/events/:event_id/claims", {{Method::Post, Routes::bind(&Impl::claim_v2, this)}}},
        {"/api/claims/:request_id", {{Method::Get, Routes::bind(&Impl::get_claim, this)}}},
        {"/api/claims/:request_id/confirm", {{Method::Post, Routes::bind(&Impl::confirm, this)}}},
        {"/api/claims/:request_id/cancel", {{Method::Post, Routes::bind(&Impl::cancel, this)}}},
        {"/api/events/:event_id/close", {{Method::Post, Routes::bind(&Impl::close_event, this)}}},
        {"/healthz", {{Method::Get, Routes::bind(&Impl::healthz, this)}}},
        {"/readyz", {{Method::Get, Routes::bind(&Impl::readyz, this)}}},
        {"/metrics", {{Method::Get, Routes::bind(&Impl::metrics_page, this)}}},
        {"/", {{Method::Get, Routes::bind(&Impl::index, this)}}},
    };
    for (const auto& r : routes) {
      std::string allow;
      std::vector<Method> allowed;
      for (const auto& [method, handler] : r.handlers) {
        router.addRoute(method, r.path, handler);
        allow += std::string(allow.empty() ? "" : ", ") + Http::methodString(method);
        allowed.push_back(method);
      }
      for (Method m : {Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Options,
                       Method::Head, Method::Trace, Method::Connect}) {
        bool handled = false;
        for (const auto& h : r.handlers) handled = handled || h.first == m;
        if (handled) continue;
        router.addRoute(m, r.path, [this, allow, allowed](const Rest::Request& req, Http::ResponseWriter w) {
          w.headers().add<Http::Header::Allow>(allowed);
          reply(req, w, "method_not_allowed")
              .error({405, "method_not_allowed", std::string(Http::methodString(req.method())) + " is not allowed here; use " + allow});
          return Rest::Route::Result::Ok;
        });
      }
    }
    router.addNotFoundHandler(Routes::bind(&Impl::not_found, this));
  }
};

Server::Server(ServerOptions options, Publisher& publisher, ReadSide read, Baselines& baselines,
               metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), publisher, read, baselines, registry)) {}

Server::~Server() {
  impl_->draining = true;
  if (impl_->endpoint) impl_->release_long_polls(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  if (impl_->endpoint) impl_->endpoint->shutdown();
}

void Server::start() {
  auto& i = *impl_;
  if (!i.opt.static_dir.empty()) {
    std::ifstream in(i.opt.static_dir + "/index.html");
    std::stringstream s;
    s << in.rdbuf();
    i.page = s.str();
  }
  i.setup_routes();
  Address addr(i.opt.host, Port(static_cast<uint16_t>(i.opt.port)));
  i.endpoint = std::make_unique<Http::Endpoint>(addr);
  // Pistache's own limit (the whole request) sits well above ours so that our handler answers 413 for a
  // body; over it, JsonErrorRouterHandler answers 413, 414 or 431.
  auto opts = Http::Endpoint::options()
                  .threads(i.opt.threads)
                  .flags(Tcp::Options::ReuseAddr)
                  .maxRequestSize(std::max<size_t>(i.opt.max_body_bytes * 4, 64 * 1024));
  i.endpoint->init(opts);
  // The router's handler, but for requests Pistache's parser refuses: those get JSON too (parse_errors.h).
  i.endpoint->setHandler(std::make_shared<JsonErrorRouterHandler>(
      i.router, [&i](const ApiError& e) { i.probe.rejections.with({{"reason", e.code}}).inc(); }));
  i.endpoint->serveThreaded();
}

void Server::drain_and_stop(int drain_ms) {
  auto& i = *impl_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
  i.draining = true;
  // Handlers that passed the draining check before it was set may still publish: wait for them first,
  // or a publish after the final flush answers through a server that is gone.
  i.hook("drain:waiting_for_handlers");
  {
    std::unique_lock lock(i.handlers_mu);
    if (!i.handlers_left.wait_until(lock, deadline, [&i] { return i.handlers.load() == 0; })) {
      log_warn("ingress", std::to_string(i.handlers.load()) + " handlers still running at the end of the drain");
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  i.publisher.flush(static_cast<int>(std::max<int64_t>(left.count(), 0)));
  i.hook("drain:flushed");
  i.release_long_polls(deadline);
  i.endpoint->shutdown();
  i.endpoint.reset();
}

int Server::run(const std::atomic<bool>& stop, int drain_ms) {
  auto& i = *impl_;
  while (!stop && !i.publisher.failed()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (i.publisher.failed()) {
    // A fatal producer never recovers: a fresh process (the supervisor's restart) gets a new one.
    log_error("ingress", "fatal: kafka producer failed (" + i.publisher.fatal_error() +
                             "); draining and exiting for the supervisor to restart");
    drain_and_stop(drain_ms);
    return 1;
  }
  log_info("ingress", "draining");
  drain_and_stop(drain_ms);
  return 0;
}

}  // namespace allot::ingress
