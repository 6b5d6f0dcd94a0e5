// Operations: liveness and readiness (the metrics page and the web page are the HTTP server's).
#include <nlohmann/json.hpp>

#include "ingress/api/context.h"

namespace allot::ingress::api {

namespace {

void healthz(Api::Context&, const Request&, Reply r) { r.send(200, R"({"status":"ok"})"); }

// Ready while the broker takes commands and the ingress is not stopping; 503 with the reason otherwise.
void readyz(Api::Context& c, const Request&, Reply r) {
  bool broker = c.publisher.ready(), failed = c.publisher.failed(), draining = c.gate.draining();
  nlohmann::json body{{"broker", failed ? "failed" : broker ? "up" : "down"}, {"draining", draining}};
  if (broker && !draining) {
    body["status"] = "ready";
    return r.send(200, body.dump());
  }
  body["status"] = "not_ready";
  if (failed) {
    body["error"] = {
        {"code", "producer_failed"},
        {"message", "the Kafka producer failed fatally (" + c.publisher.fatal_error() + "); replacing it"}};
  } else {
    body["error"] = {{"code", "not_ready"},
                     {"message", draining ? "shutting down" : "the message broker is unreachable"}};
  }
  r.send(503, body.dump());
}

}  // namespace

void register_ops_routes(Routes& routes, Api::Context& c) {
  routes.push_back(route(Method::kGet, "/healthz", "healthz", c, healthz));
  routes.push_back(route(Method::kGet, "/readyz", "readyz", c, readyz));
}

}  // namespace allot::ingress::api
