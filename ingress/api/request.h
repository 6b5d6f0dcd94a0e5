#pragma once
// The API layer's view of HTTP, free of Pistache: a request as a plain value, an answer as a small
// interface, and the route table each resource file adds to (register_<resource>_routes in api.h).
// ingress/http/ turns Pistache's requests into Request and implements Answer; unit tests use fakes.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "ingress/api/errors.h"

namespace allot::ingress::api {

// One HTTP request as the handlers see it. Copied out of the server's own request so that it can
// outlive it (a long poll answers later).
struct Request {
  // The header fields the API reads (lower-case names); the HTTP server copies only these.
  static constexpr std::string_view kHeaders[] = {"content-type",     "authorization",   "idempotency-key",
                                                  "admission-token",  "x-forwarded-for", "proof-of-work",
                                                  "payment-signature"};
  std::vector<std::pair<std::string, std::string>> params;   // route parameters by name: {"event_id", "e1"}
  std::vector<std::pair<std::string, std::string>> query;    // ?name=value, decoded
  std::vector<std::pair<std::string, std::string>> headers;  // of kHeaders, those the request has
  std::string body;
  std::string peer;  // the client's address
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();

  // The first value of a header (name in lower case), a query parameter, or a route parameter ("" if none).
  std::optional<std::string_view> header(std::string_view lower_name) const { return find(headers, lower_name); }
  std::optional<std::string_view> query_param(std::string_view name) const { return find(query, name); }
  std::string param(std::string_view name) const { return std::string(find(params, name).value_or("")); }

 private:
  static std::optional<std::string_view> find(const std::vector<std::pair<std::string, std::string>>& list,
                                              std::string_view name) {
    for (const auto& [k, v] : list) {
      if (k == name) return std::string_view(v);
    }
    return std::nullopt;
  }
};

// Where one request's answer goes. Called once; safe from any thread (a delivery report answers from
// the publisher's poll thread, a long poll from the decision watch's).
class Answer {
 public:
  virtual ~Answer() = default;
  virtual void send(int status, const std::string& json_body, int retry_after_s) = 0;
};

// The API's own metrics: rejections by reason, commands waiting for the broker.
struct ApiProbe {
  explicit ApiProbe(metrics::Registry& r)
      : rejections(r.counter("allot_ingress_rejections_total", "Requests refused, by reason")),
        in_flight(r.gauge("allot_ingress_in_flight", "Commands waiting for the broker's acknowledgement").with()) {}
  // Counts an answered error by its code: every refusal, the API's and the HTTP server's own, goes here.
  void rejected(const ApiError& e) { rejections.with({{"reason", e.code}}).inc(); }
  metrics::Family<metrics::Counter>& rejections;
  metrics::Gauge& in_flight;
};

// Answers one request: a 2xx body, or an error from the catalogue (counted as a rejection). Move-only.
class Reply {
 public:
  Reply(std::unique_ptr<Answer> answer, ApiProbe& probe, std::chrono::steady_clock::time_point started)
      : answer_(std::move(answer)), probe_(&probe), started_(started) {}
  void send(int status, const std::string& body) { answer_->send(status, body, 0); }
  void error(const ApiError& e) {
    probe_->rejected(e);
    answer_->send(e.status, error_body(e), e.retry_after_s);
  }
  std::chrono::steady_clock::time_point started() const { return started_; }

 private:
  std::unique_ptr<Answer> answer_;
  ApiProbe* probe_;
  std::chrono::steady_clock::time_point started_;
};

enum class Method { kGet, kPost, kDelete };

// One route: the HTTP server registers every route of the table, names its metrics series by `name`
// and answers the other methods of a path 405.
struct Route {
  Method method;
  std::string path;  // Pistache syntax: "/api/events/:event_id"
  std::string name;  // the metrics label `route`
  std::function<void(const Request&, Reply)> handler;
};
using Routes = std::vector<Route>;

}  // namespace allot::ingress::api
