#include "ingress/http/http_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/router.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "common/log.h"
#include "ingress/http/parse_errors.h"

namespace allot::ingress::http {

using namespace Pistache;

namespace {

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
  RouteProbe(std::string route, metrics::Family<metrics::Counter>& requests,
             metrics::Family<metrics::Histogram>& latency)
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

// The routes' probes, one per name of the route table plus the server's own answers; filled at
// construction, read-only afterwards (so no lock).
class Probes {
 public:
  Probes(metrics::Registry& r, const api::Routes& routes)
      : requests_(r.counter("allot_ingress_requests_total", "HTTP requests by route and status")),
        latency_(r.histogram("allot_ingress_request_seconds", "Time to answer, by route")) {
    for (const auto& route : routes) add(route.name);
    for (const char* own : {"method_not_allowed", "not_found", "page"}) add(own);
  }
  RouteProbe& operator[](const std::string& name) { return *probes_.at(name); }

 private:
  void add(const std::string& name) {
    if (!probes_.count(name)) probes_.emplace(name, std::make_unique<RouteProbe>(name, requests_, latency_));
  }
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
  std::unordered_map<std::string, std::unique_ptr<RouteProbe>> probes_;
};

// One request's answer through Pistache: JSON, Retry-After when asked, recorded under its route.
class PistacheAnswer : public api::Answer {
 public:
  // `unwritten` counts the answers sent while `tracking` is on (a continuation per answer showed in the
  // profile, and only a stopping server needs the count).
  PistacheAnswer(Http::ResponseWriter writer, RouteProbe& route, std::chrono::steady_clock::time_point started,
                 std::atomic<int>& unwritten, const std::atomic<bool>& tracking)
      : writer_(std::move(writer)), route_(route), started_(started), unwritten_(unwritten), tracking_(tracking) {}
  void send(int status, const std::string& body, int retry_after_s) override {
    try {
      writer_.headers().add<Http::Header::ContentType>(MIME(Application, Json));
      if (retry_after_s > 0) writer_.headers().add<RetryAfter>(retry_after_s);
      if (!tracking_.load(std::memory_order_relaxed)) {
        writer_.send(static_cast<Http::Code>(status), body);
      } else {
        auto* n = &unwritten_;
        n->fetch_add(1);
        writer_.send(static_cast<Http::Code>(status), body)
            .then([n](ssize_t) { n->fetch_sub(1); }, [n](const std::exception_ptr&) { n->fetch_sub(1); });
      }
    } catch (const std::exception& e) {
      // e.g. the client closed its connection while a long poll waited: nobody is left to answer
      log_warn("ingress", std::string("answer not sent: ") + e.what());
    }
    route_.answered(status, std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  }

 private:
  Http::ResponseWriter writer_;
  RouteProbe& route_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<int>& unwritten_;
  const std::atomic<bool>& tracking_;
};

Http::Method to_pistache(api::Method m) {
  switch (m) {
    case api::Method::kGet:
      return Http::Method::Get;
    case api::Method::kPost:
      return Http::Method::Post;
    case api::Method::kDelete:
      return Http::Method::Delete;
  }
  return Http::Method::Get;
}

// The parameters of a route as Pistache names them: "/api/events/:event_id" -> {":event_id"}.
std::vector<std::string> param_names(const std::string& path) {
  std::vector<std::string> names;
  for (size_t at = path.find("/:"); at != std::string::npos; at = path.find("/:", at + 1)) {
    auto end = path.find('/', at + 1);
    names.push_back(path.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1));
  }
  return names;
}

// The request as the API sees it: route parameters, query, the header fields it reads, body, peer.
// Copied once per request, so only what the API reads (a copy of every header showed in the profile).
api::Request to_api_request(const Rest::Request& req, const std::vector<std::string>& params,
                            std::chrono::steady_clock::time_point received) {
  api::Request r;
  r.params.reserve(params.size());
  for (const auto& name : params) r.params.emplace_back(name.substr(1), req.param(name).as<std::string>());
  for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it) {
    r.query.emplace_back(it->first, it->second);
  }
  const auto& headers = req.headers();
  for (std::string_view name : api::Request::kHeaders) {
    if (name == "content-type") {
      if (auto ct = headers.tryGet<Http::Header::ContentType>()) r.headers.emplace_back(name, ct->mime().toString());
    } else if (name == "authorization") {
      if (auto auth = headers.tryGet<Http::Header::Authorization>()) r.headers.emplace_back(name, auth->value());
    } else if (auto raw = headers.tryGetRaw(std::string(name))) {
      r.headers.emplace_back(name, raw->value());
    }
  }
  r.body = req.body();
  r.peer = req.address().host();
  r.received = received;
  return r;
}

}  // namespace

struct HttpServer::Impl {
  HttpOptions opt;
  const api::Routes& routes;
  api::ApiProbe& api_probe;
  metrics::Registry& registry;
  Probes probes;
  std::atomic<int> unwritten{0};
  std::atomic<bool> tracking{false};
  Rest::Router router;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::string page;

  Impl(HttpOptions o, const api::Routes& r, api::ApiProbe& p, metrics::Registry& reg)
      : opt(std::move(o)), routes(r), api_probe(p), registry(reg), probes(reg, r) {}

  api::Reply reply(const Rest::Request& req, Http::ResponseWriter& w, const std::string& route,
                   std::chrono::steady_clock::time_point started) {
    keep_alive(req, w);
    return api::Reply(std::make_unique<PistacheAnswer>(std::move(w), probes[route], started, unwritten, tracking),
                      api_probe, started);
  }

  void add_route(const api::Route& route) {
    auto params = param_names(route.path);
    router.addRoute(to_pistache(route.method), route.path,
                    [this, &route, params](const Rest::Request& req, Http::ResponseWriter w) {
                      auto started = std::chrono::steady_clock::now();
                      auto r = reply(req, w, route.name, started);
                      route.handler(to_api_request(req, params, started), std::move(r));
                      return Rest::Route::Result::Ok;
                    });
  }

  // Every method a path does not answer gets a JSON 405 with Allow (Pistache's own 405 is plain text).
  void add_not_allowed(const std::string& path, const std::vector<Http::Method>& allowed) {
    std::string allow;
    for (auto m : allowed) allow += std::string(allow.empty() ? "" : ", ") + Http::methodString(m);
    for (Http::Method m :
         {Http::Method::Get, Http::Method::Post, Http::Method::Put, Http::Method::Patch, Http::Method::Delete,
          Http::Method::Options, Http::Method::Head, Http::Method::Trace, Http::Method::Connect}) {
      if (std::find(allowed.begin(), allowed.end(), m) != allowed.end()) continue;
      router.addRoute(m, path, [this, allow, allowed](const Rest::Request& req, Http::ResponseWriter w) {
        w.headers().add<Http::Header::Allow>(allowed);
        reply(req, w, "method_not_allowed", std::chrono::steady_clock::now())
            .error(errors::method_not_allowed(Http::methodString(req.method()), allow));
        return Rest::Route::Result::Ok;
      });
    }
  }

  void setup_routes() {
    std::vector<std::pair<std::string, std::vector<Http::Method>>> paths;  // in the table's order
    auto methods_of = [&paths](const std::string& path) -> std::vector<Http::Method>& {
      for (auto& [p, m] : paths) {
        if (p == path) return m;
      }
      return paths.emplace_back(path, std::vector<Http::Method>{}).second;
    };
    for (const auto& route : routes) {
      add_route(route);
      methods_of(route.path).push_back(to_pistache(route.method));
    }
    router.addRoute(Http::Method::Get, "/metrics", [this](const Rest::Request& req, Http::ResponseWriter w) {
      keep_alive(req, w);
      w.send(Http::Code::Ok, registry.render(), MIME(Text, Plain));
      return Rest::Route::Result::Ok;
    });
    methods_of("/metrics").push_back(Http::Method::Get);
    router.addRoute(Http::Method::Get, "/", [this](const Rest::Request& req, Http::ResponseWriter w) {
      if (page.empty()) {
        reply(req, w, "page", std::chrono::steady_clock::now()).error(errors::no_page());
      } else {
        keep_alive(req, w);
        w.send(Http::Code::Ok, page, MIME(Text, Html));
      }
      return Rest::Route::Result::Ok;
    });
    methods_of("/").push_back(Http::Method::Get);
    for (const auto& [path, allowed] : paths) add_not_allowed(path, allowed);
    router.addNotFoundHandler([this](const Rest::Request& req, Http::ResponseWriter w) {
      reply(req, w, "not_found", std::chrono::steady_clock::now()).error(errors::no_route(req.resource()));
      return Rest::Route::Result::Ok;
    });
  }
};

HttpServer::HttpServer(HttpOptions options, const api::Routes& routes, api::ApiProbe& api_probe,
                       metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), routes, api_probe, registry)) {}

HttpServer::~HttpServer() { shutdown(); }

void HttpServer::start() {
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
  i.endpoint->setHandler(
      std::make_shared<JsonErrorRouterHandler>(i.router, [&i](const ApiError& e) { i.api_probe.rejected(e); }));
  i.endpoint->serveThreaded();
}

void HttpServer::track_unwritten() { impl_->tracking = true; }

int HttpServer::unwritten() const { return impl_->unwritten.load(); }

void HttpServer::shutdown() {
  if (!impl_->endpoint) return;
  impl_->endpoint->shutdown();
  impl_->endpoint.reset();
}

}  // namespace allot::ingress::http
