#include "ingress/server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/router.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "ingress/requests.h"
#include "topics/topics.h"

namespace allot::ingress {

using namespace Pistache;
using nlohmann::json;

namespace {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// 128 random bits as 32 hex digits.
std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    id[static_cast<size_t>(i)] = kHex[(a >> (i * 4)) & 0xf];
    id[static_cast<size_t>(16 + i)] = kHex[(b >> (i * 4)) & 0xf];
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

// Per-route request counts and latency, and rejections by reason.
struct Probe {
  explicit Probe(metrics::Registry& r)
      : requests(r.counter("allot_ingress_requests_total", "HTTP requests by route and status")),
        latency(r.histogram("allot_ingress_request_seconds", "Time to answer, by route")),
        rejections(r.counter("allot_ingress_rejections_total", "Requests refused, by reason")),
        in_flight(r.gauge("allot_ingress_in_flight", "Commands waiting for the broker's acknowledgement").with()) {}
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& latency;
  metrics::Family<metrics::Counter>& rejections;
  metrics::Gauge& in_flight;
};

// Answers one request and records it. Safe to use from the publisher's thread.
struct Reply {
  Http::ResponseWriter writer;
  std::string route;
  std::chrono::steady_clock::time_point started;
  Probe& probe;

  void send(int status, const std::string& body, int retry_after_s = 0) {
    writer.headers().add<Http::Header::ContentType>(MIME(Application, Json));
    if (retry_after_s > 0) writer.headers().addRaw(Http::Header::Raw("Retry-After", std::to_string(retry_after_s)));
    writer.send(static_cast<Http::Code>(status), body);
    probe.requests.with({{"route", route}, {"status", std::to_string(status)}}).inc();
    probe.latency.with({{"route", route}})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  void error(const ApiError& e, int retry_after_s = 0) {
    probe.rejections.with({{"reason", e.code}}).inc();
    send(e.status, error_body(e), retry_after_s);
  }
};

// Answers a published command: 202 once persisted, 503 otherwise.
class CommandDelivery : public Delivery {
 public:
  CommandDelivery(Reply reply, std::string request_id, GroupOffsets* offsets, Probe& probe)
      : reply_(std::move(reply)), request_id_(std::move(request_id)), offsets_(offsets), probe_(probe) {
    probe_.in_flight.add(1);
  }
  ~CommandDelivery() override { probe_.in_flight.add(-1); }
  void delivered(topics::CommandPosition position) override {
    json body{{"request_id", request_id_}, {"status", "pending"}};
    if (offsets_) body["queue_position"] = offsets_->queue_position(position);
    reply_.send(202, body.dump());
  }
  void failed(const std::string& reason) override {
    log_warn("ingress", "command " + request_id_ + " not accepted by the broker: " + reason);
    reply_.error({503, "broker_unavailable", "the command could not be stored; retry later"}, 1);
  }

 private:
  Reply reply_;
  std::string request_id_;
  GroupOffsets* offsets_;
  Probe& probe_;
};

std::string header_value(const Rest::Request& req, const std::string& name) {
  auto raw = req.headers().tryGetRaw(name);
  return raw ? raw->value() : std::string();
}

}  // namespace

struct Server::Impl {
  ServerOptions opt;
  Publisher& publisher;
  GroupOffsets& offsets;
  metrics::Registry& registry;
  Probe probe;
  std::atomic<bool> draining{false};
  Rest::Router router;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::string page;

  Impl(ServerOptions o, Publisher& p, GroupOffsets& g, metrics::Registry& r)
      : opt(std::move(o)), publisher(p), offsets(g), registry(r), probe(r) {}

  Reply reply(const Rest::Request& req, Http::ResponseWriter& w, std::string route) {
    keep_alive(req, w);
    return Reply{std::move(w), std::move(route), std::chrono::steady_clock::now(), probe};
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

  // The broker must be reachable before we take a command we cannot store.
  std::optional<ApiError> check_broker() {
    if (!publisher.ready()) return ApiError{503, "broker_unavailable", "the message broker is unreachable; retry later"};
    return std::nullopt;
  }

  void create_event(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "create_event");
    auto auth = req.headers().tryGet<Http::Header::Authorization>();
    if (!auth || !bearer_matches(auth->value(), opt.admin_token)) {
      return r.error({401, "unauthorized", "admin endpoints need Authorization: Bearer <ALLOT_ADMIN_TOKEN>"});
    }
    if (auto e = check_command_request(req)) return r.error(*e);
    auto parsed = parse_create_event(req.body());
    if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
    if (auto e = check_broker()) return r.error(*e, 1);
    topics::Command c{new_request_id(), now_ms(), std::get<topics::CreateEvent>(parsed)};
    std::string id = c.request_id;
    publisher.publish(c, std::make_unique<CommandDelivery>(std::move(r), id, nullptr, probe));
  }

  void claim(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "claim");
    auto event_id = req.param(":event_id").as<std::string>();
    if (!topics::valid_event_id(event_id)) {
      return r.error({400, "invalid_event_id", "event_id must match [a-z0-9][a-z0-9-]{0,63}"});
    }
    if (auto e = check_command_request(req)) return r.error(*e);
    auto parsed = parse_claim(req.body());
    if (auto* e = std::get_if<ApiError>(&parsed)) return r.error(*e);
    std::string request_id = header_value(req, "Idempotency-Key");
    if (request_id.empty()) {
      request_id = new_request_id();
    } else if (!topics::valid_request_id(request_id)) {
      return r.error({400, "invalid_idempotency_key", "Idempotency-Key must match [A-Za-z0-9_-]{1,64}"});
    }
    if (auto e = check_broker()) return r.error(*e, 1);
    topics::Command c{request_id, now_ms(), topics::Claim{event_id, std::get<std::string>(parsed)}};
    publisher.publish(c, std::make_unique<CommandDelivery>(std::move(r), request_id, &offsets, probe));
  }

  void healthz(const Rest::Request& req, Http::ResponseWriter w) { reply(req, w, "healthz").send(200, R"({"status":"ok"})"); }

  void readyz(const Rest::Request& req, Http::ResponseWriter w) {
    auto r = reply(req, w, "readyz");
    bool broker = publisher.ready();
    json body{{"broker", broker ? "up" : "down"}, {"draining", draining.load()}};
    if (broker && !draining) {
      body["status"] = "ready";
      return r.send(200, body.dump());
    }
    body["status"] = "not_ready";
    body["error"] = {{"code", "not_ready"}, {"message", draining ? "shutting down" : "the message broker is unreachable"}};
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
    Routes::Post(router, "/api/events", Routes::bind(&Impl::create_event, this));
    Routes::Post(router, "/api/events/:event_id/claims", Routes::bind(&Impl::claim, this));
    Routes::Get(router, "/healthz", Routes::bind(&Impl::healthz, this));
    Routes::Get(router, "/readyz", Routes::bind(&Impl::readyz, this));
    Routes::Get(router, "/metrics", Routes::bind(&Impl::metrics_page, this));
    Routes::Get(router, "/", Routes::bind(&Impl::index, this));
    router.addNotFoundHandler(Routes::bind(&Impl::not_found, this));
  }
};

Server::Server(ServerOptions options, Publisher& publisher, GroupOffsets& offsets, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), publisher, offsets, registry)) {}

Server::~Server() {
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
  // Pistache's own limit sits well above ours so that our handler answers 413 with a JSON body.
  auto opts = Http::Endpoint::options()
                  .threads(i.opt.threads)
                  .flags(Tcp::Options::ReuseAddr)
                  .maxRequestSize(std::max<size_t>(i.opt.max_body_bytes * 4, 64 * 1024));
  i.endpoint->init(opts);
  i.endpoint->setHandler(i.router.handler());
  i.endpoint->serveThreaded();
}

void Server::drain_and_stop(int drain_ms) {
  auto& i = *impl_;
  i.draining = true;
  i.publisher.flush(drain_ms);
  i.endpoint->shutdown();
  i.endpoint.reset();
}

}  // namespace allot::ingress
