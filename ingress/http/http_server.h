#pragma once
// The HTTP adapter: everything that knows Pistache. It serves the API's route table (ingress/api/) with
// a JSON 404 for unknown paths and a JSON 405 (with Allow) for a known path's other methods, the web page
// at "/" and the metrics at "/metrics"; it turns each Pistache request into a plain api::Request, answers
// through an api::Answer that writes JSON with Retry-After and keeps the connection alive, and records
// each route's requests and latency under the route's name from the table. Requests Pistache's own parser
// refuses get JSON errors too (parse_errors.h).
// Owned by the Server; Pistache's threads run the handlers.
#include <atomic>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "ingress/api/request.h"

namespace allot::ingress::http {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 2;
  size_t max_body_bytes = 4096;  // the API's limit; Pistache's own limit (the whole request) sits above it
  std::string static_dir;        // the web page (index.html); empty: no page
};

class HttpServer {
 public:
  // `routes` and `api_probe` must outlive the server.
  HttpServer(HttpOptions options, const api::Routes& routes, api::ApiProbe& api_probe, metrics::Registry& registry);
  ~HttpServer();
  void start();  // returns once listening
  // From now on, counts the answers handed to Pistache and not yet written: unwritten(). A stopping server
  // turns it on before it releases the long polls, and waits for their answers (their connections close
  // right after).
  void track_unwritten();
  int unwritten() const;
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::ingress::http
