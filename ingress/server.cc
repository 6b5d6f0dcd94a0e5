#include "ingress/server.h"

#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "ingress/http/http_server.h"

namespace allot::ingress {

struct Server::Impl {
  ServerOptions opt;
  CommandPublisher& publisher;
  api::DrainGate gate;
  api::Api api;
  http::HttpServer http;
  bool started = false;

  Impl(ServerOptions o, CommandPublisher& p, ReadSide read, BaselineClaims& b, metrics::Registry& r)
      : opt(std::move(o)),
        publisher(p),
        api(opt, p, read, b, r, gate),
        http(http::HttpOptions{opt.host, opt.port, opt.threads, opt.max_body_bytes, opt.static_dir}, api.routes(),
             api.probe(), r) {}

  void hook(std::string_view point) {
    if (opt.test_hook) opt.test_hook(point);
  }

  // Answers the open long polls now (pending) and waits, up to `deadline` (at least 500 ms from now), until
  // Pistache wrote every answer: their connections close right after.
  void release_long_polls(std::chrono::steady_clock::time_point deadline) {
    http.track_unwritten();
    api.release_long_polls();
    deadline = std::max(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
    while (http.unwritten() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
};

Server::Server(ServerOptions options, CommandPublisher& publisher, ReadSide read, BaselineClaims& baselines,
               metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), publisher, read, baselines, registry)) {}

Server::~Server() {
  impl_->gate.close();
  if (impl_->started) impl_->release_long_polls(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  impl_->http.shutdown();
}

void Server::start() {
  impl_->http.start();
  impl_->started = true;
}

void Server::drain_and_stop(int drain_ms) {
  auto& i = *impl_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
  i.gate.close();
  // Handlers that passed the draining check before it was set may still publish: wait for them first,
  // or a publish after the final flush answers through a server that is gone.
  i.hook("drain:waiting_for_handlers");
  if (!i.gate.wait_idle(deadline)) {
    log_warn("ingress", std::to_string(i.gate.active()) + " handlers still running at the end of the drain");
  }
  i.publisher.flush(static_cast<int>(std::max<int64_t>(ms_until(deadline).count(), 0)));
  i.hook("drain:flushed");
  i.release_long_polls(deadline);
  i.http.shutdown();
  i.started = false;
}

void Server::run(const std::atomic<bool>& stop, int drain_ms) {
  // A fatal producer error does not end it: the publisher replaces its producer in-process.
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  log_info("ingress", "draining");
  drain_and_stop(drain_ms);
}

}  // namespace allot::ingress
