#pragma once
// The HTTP ingress (Pistache): validates, publishes commands, answers 202 once the broker has them.
// Owned by main(); Pistache's threads call the handlers; delivery reports answer from the publisher's
// poll thread (Pistache queues cross-thread writes onto the connection's own thread). Shutdown refuses
// new commands, waits for the handlers already past that check, then flushes: within its bound, no
// command is published, and no delivery report arrives, after drain_and_stop returns.
#include <atomic>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "ingress/baselines.h"
#include "ingress/decision_watch.h"
#include "ingress/group_offsets.h"
#include "ingress/projections.h"
#include "ingress/publisher.h"

namespace allot::ingress {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 2;
  size_t max_body_bytes = 4096;  // larger claim/event bodies get 413
  std::string admin_token;       // empty: admin endpoints always answer 401
  std::string static_dir;        // the web page; empty: no page
  size_t pending_capacity = 1'000'000;  // accepted claims remembered for GET /api/claims/{id}
  double user_rate = 20, user_burst = 40;       // claims per second per user id (0: no limit)
  double address_rate = 0, address_burst = 0;   // claims per second per client address (0: no limit)
  int max_wait_ms = 30'000;  // cap of ?wait_ms= (long poll); larger values get 400
  std::string admission_key;            // signs waiting-room admission tokens (ingress/admission.h)
  int64_t admission_ttl_ms = 600'000;   // how long an admission token lets its user claim
  // Points: "command:publishing" / "command:published" (a handler, around its publish),
  // "drain:waiting_for_handlers" and "drain:flushed" (drain_and_stop, before waiting for the handlers
  // and after the final flush).
  TestHook test_hook;
};

// What the server reads from besides its own state.
struct ReadSide {
  Projections& projections;         // Redis projection (events, claims, rankings)
  GroupOffsets& processor_offsets;  // group allot-processor on allot.commands: queue positions
  GroupOffsets& sink_offsets;       // group allot-sink-redis on allot.decisions: is the projection caught up
  DecisionWatch* decisions = nullptr;  // wakes long polls; null: ?wait_ms= is validated but answers at once
};

class Server {
 public:
  Server(ServerOptions options, Publisher& publisher, ReadSide read, Baselines& baselines, metrics::Registry& registry);
  ~Server();
  void start();  // returns once listening
  // Stops taking new commands (readyz goes 503), waits for the handlers that already passed that check,
  // then for in-flight commands (all within `drain_ms`), then shuts down.
  void drain_and_stop(int drain_ms);
  // Serves until `stop` is set or the publisher failed fatally, then drains (up to `drain_ms`) and stops;
  // returns the process's exit code: 0 after a requested stop, 1 after a fatal error.
  int run(const std::atomic<bool>& stop, int drain_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::ingress
