#pragma once
// The ingress's lifecycle: the HTTP API (ingress/api/) served by the HTTP adapter (ingress/http/), started
// and stopped together. Owned by main(); Pistache's threads call the handlers; delivery reports answer
// from the publisher's poll thread (Pistache queues cross-thread writes onto the connection's own thread).
// Shutdown refuses new commands, waits for the handlers already past that check, then flushes: within its
// bound, no command is published, and no delivery report arrives, after drain_and_stop returns.
#include <atomic>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "ingress/api/api.h"
#include "ingress/baselines.h"
#include "ingress/decision_watch.h"
#include "ingress/group_offsets.h"
#include "ingress/projections.h"
#include "ingress/publisher.h"

namespace allot::ingress {

// The API's options (api/api.h) and where it listens. test_hook's points: the API's (a handler, around
// its publish) and "drain:waiting_for_handlers" and "drain:flushed" (drain_and_stop, before waiting for
// the handlers and after the final flush).
struct ServerOptions : ApiOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 2;
  std::string static_dir;  // the web page; empty: no page
};

class Server {
 public:
  Server(ServerOptions options, CommandPublisher& publisher, ReadSide read, BaselineClaims& baselines,
         metrics::Registry& registry);
  ~Server();
  void start();  // returns once listening
  // Stops taking new commands (readyz goes 503), waits for the handlers that already passed that check,
  // then for in-flight commands (all within `drain_ms`), then shuts down.
  void drain_and_stop(int drain_ms);
  // Serves until `stop` is set, then drains (up to `drain_ms`) and stops. A fatal producer error does not
  // end it (the publisher replaces its producer).
  void run(const std::atomic<bool>& stop, int drain_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::ingress
