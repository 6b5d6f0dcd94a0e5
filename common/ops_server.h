#pragma once
// A tiny HTTP server for workers without an API (processors, sinks): GET /metrics and GET /healthz.
// One background thread, one connection at a time: enough for Prometheus and a health probe.
#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/metrics.h"

namespace allot {

class OpsServer {
 public:
  // `health` returns an empty string when healthy, else the reason (answered with 503).
  OpsServer(const std::string& host, int port, const metrics::Registry& registry, std::function<std::string()> health);
  ~OpsServer();  // stops the thread
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

 private:
  void serve();
  void answer(int fd);
  const metrics::Registry& registry_;
  std::function<std::string()> health_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace allot
