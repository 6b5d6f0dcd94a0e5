#pragma once
// One ingress (publisher, read side, HTTP server) inside the test process, on a free port, against the
// real broker, Redis and MariaDB of the local stack: for tests that drive the ingress's own threads
// (shutdown, fatal producer errors, long polls). Header-only: only tests that link allot_ingress use it.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/identity/identity.h"
#include "ingress/server.h"
#include "support.h"

namespace allot::testsupport {

struct InProcessIngressOptions {
  std::string admin_token;
  std::string commands_topic = "allot.commands";
  ingress::TestHook hook;                                     // sees every test point of the publisher and the server
  bool watch_decisions = false;                               // read allot.decisions, so that long polls are woken
  double user_rate = 20;                                      // claims per second per user (0: no limit)
  double address_rate = 0, address_burst = 0;                 // per client address (0: no limit)
  std::optional<identity::Settings> identity = std::nullopt;  // default: jwt_settings(), the stack's secret
};

class InProcessIngress {
 public:
  explicit InProcessIngress(const InProcessIngressOptions& o)
      : port_(free_port()),
        publisher_(publisher_options(o), registry_),
        processors_(brokers(), "allot-processor", o.commands_topic, 500),
        sink_(brokers(), "allot-sink-redis", "allot.decisions", 500, 1),
        projections_(ingress::ProjectionOptions{}),
        baselines_(baseline_options(), registry_),
        watch_(o.watch_decisions ? std::make_unique<ingress::DecisionWatch>(watch_options(), registry_) : nullptr),
        server_(server_options(port_, o), publisher_, {projections_, processors_, sink_, watch_.get()}, baselines_,
                registry_) {
    server_.start();
  }
  InProcessIngress(const InProcessIngress&) = delete;
  InProcessIngress& operator=(const InProcessIngress&) = delete;
  // Whatever the test did, no delivery report may outlive the server.
  ~InProcessIngress() { publisher_.flush(10000); }

  int port() const { return port_; }
  ingress::Publisher& publisher() { return publisher_; }
  ingress::Server& server() { return server_; }
  ingress::DecisionWatch& watch() { return *watch_; }  // only with watch_decisions
  metrics::Registry& registry() { return registry_; }

  // Waits (bounded) until /readyz says ready (the broker answered the publisher) and, when watching,
  // the decisions are being read.
  void wait_ready() {
    HttpClient http(port_);
    for (int i = 0; i < 300; ++i) {
      if (http.request("GET", "/readyz").status == 200 && (!watch_ || watch_->reading())) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "the ingress on port " << port_ << " never became ready (is the broker at " << brokers() << " up?)";
  }

 private:
  static ingress::PublisherOptions publisher_options(const InProcessIngressOptions& in) {
    ingress::PublisherOptions o;
    o.brokers = brokers();
    o.topic = in.commands_topic;
    o.test_hook = in.hook;
    return o;
  }
  static ingress::DecisionWatchOptions watch_options() {
    ingress::DecisionWatchOptions o;
    o.brokers = brokers();
    return o;
  }
  static ingress::BaselineOptions baseline_options() {
    ingress::BaselineOptions o;
    o.workers = 1;
    return o;
  }
  static ingress::ServerOptions server_options(int port, const InProcessIngressOptions& in) {
    ingress::ServerOptions o;
    o.port = port;
    o.admin_token = in.admin_token;
    o.static_dir = "";
    o.test_hook = in.hook;
    o.user_rate = in.user_rate;
    o.address_rate = in.address_rate;
    o.address_burst = in.address_burst;
    // Accepts the tokens testsupport::user_token signs (as_user), as the stack's ingress does.
    o.identity = in.identity ? *in.identity : jwt_settings();
    return o;
  }

  int port_;
  metrics::Registry registry_;
  ingress::Publisher publisher_;
  ingress::GroupOffsets processors_, sink_;
  ingress::Projections projections_;
  ingress::Baselines baselines_;
  std::unique_ptr<ingress::DecisionWatch> watch_;
  ingress::Server server_;
};

}  // namespace allot::testsupport
