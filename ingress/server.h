#pragma once
// The HTTP ingress (Pistache): validates, publishes commands, answers 202 once the broker has them.
// Owned by main(); Pistache's threads call the handlers; delivery reports answer from the publisher's
// thread (Pistache queues cross-thread writes onto the connection's own thread).
#include <atomic>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "ingress/group_offsets.h"
#include "ingress/publisher.h"

namespace allot::ingress {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 2;
  size_t max_body_bytes = 4096;  // larger claim/event bodies get 413
  std::string admin_token;       // empty: admin endpoints always answer 401
  std::string static_dir;        // the web page; empty: no page
};

class Server {
 public:
  Server(ServerOptions options, Publisher& publisher, GroupOffsets& offsets, metrics::Registry& registry);
  ~Server();
  void start();  // returns once listening
  // Stops taking new claims (readyz goes 503), waits for in-flight ones up to `drain_ms`, then shuts down.
  void drain_and_stop(int drain_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::ingress
