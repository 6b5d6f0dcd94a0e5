#pragma once
// Publishes commands to allot.commands with the idempotent producer (acks=all) and reports each
// delivery exactly once. A background thread serves delivery reports and checks broker readiness.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/metrics.h"
#include "topics/messages.h"

namespace RdKafka {
class Producer;
class DeliveryReportCb;
}  // namespace RdKafka

namespace allot::ingress {

// Tests only: called at named points of a background thread or a handler, where a test may pause it to
// force a schedule. Empty in production.
using TestHook = std::function<void(std::string_view point)>;

// Told once how a publish ended: with the command's position (the broker has it) or an error.
class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual void delivered(topics::CommandPosition position) = 0;
  virtual void failed(const std::string& reason) = 0;
};

struct PublisherOptions {
  std::string brokers = "127.0.0.1:19092";
  std::string topic = "allot.commands";
  int delivery_timeout_ms = 5000;  // past this a command is answered 503, never 202
  int linger_ms = 2;
  // Points: "publisher:readiness_check" (before the readiness metadata request).
  TestHook test_hook;
};

class Publisher {
 public:
  Publisher(PublisherOptions options, metrics::Registry& registry);
  ~Publisher();  // flushes what is in flight (bounded by the delivery timeout)
  // Takes ownership of `delivery` and calls exactly one of its methods, possibly before returning.
  void publish(const topics::Command& command, std::unique_ptr<Delivery> delivery);
  // The broker answered a metadata request recently.
  bool ready() const { return ready_.load(); }
  int64_t in_flight() const { return in_flight_.load(); }
  // Waits up to `timeout_ms` for every delivery to be reported.
  void flush(int timeout_ms);
  // Tests only: raises a real fatal idempotent-producer error inside librdkafka (as a broker's
  // out-of-order sequence answer would).
  void raise_fatal_error_for_test();

 private:
  void poll_loop();
  PublisherOptions opt_;
  std::unique_ptr<RdKafka::DeliveryReportCb> reports_;
  std::unique_ptr<RdKafka::Producer> producer_;
  metrics::Histogram& produce_seconds_;
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> stop_{false};
  std::thread poller_;
  friend class DeliveryReports;
};

}  // namespace allot::ingress
