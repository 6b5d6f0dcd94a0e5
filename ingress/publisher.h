#pragma once
// Publishes commands to allot.commands with the idempotent producer (acks=all) and reports each
// delivery exactly once.
// Threads: publish() is called from any thread (Pistache's handlers). One background thread only polls:
// it serves every delivery report (so every 202) and librdkafka's error events. A second one checks broker
// readiness with a blocking metadata request once a second, so that request never delays a 202: over its
// own connections, so it never waits behind produce requests either.
// A fatal producer error (the idempotent producer can no longer promise order without duplicates, e.g. an
// "out of order sequence number" after a partition leader lost what it could not replicate) ends that
// producer, not the ingress: while failed() every publish fails at once (503), the poll thread answers what
// the failed producer still held (503: the client's retry with the same Idempotency-Key is harmless), and
// then creates a new producer (a new producer id, so a new sequence) and clears failed().
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "topics/messages.h"

namespace RdKafka {
class Producer;
class Topic;
class DeliveryReportCb;
class EventCb;
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
  // 10 ms: librdkafka sends one partition per produce request, so with claims on every partition the linger
  // sets the records per request (2 ms: 3.7, 5 ms: 4.4-5.2, 10 ms: 6.8-7.1); the processors' idle close (20 ms)
  // must outlast it (bench/README.md "The ingress's linger at 5 ms", "The idle close at 20 ms").
  int linger_ms = 10;
  std::string compression = "none";  // librdkafka's compression.type: none, lz4, zstd (bench/README.md "Compression")
  // Points: "publisher:readiness_check" (readiness thread, before its metadata request),
  // "publisher:replacing_producer" (poll thread, after a fatal error, before it replaces the producer).
  TestHook test_hook;
};

// What the API and the server need of a publisher (unit tests of the API use a fake).
class CommandPublisher {
 public:
  virtual ~CommandPublisher() = default;
  // Takes ownership of `delivery` and calls exactly one of its methods, possibly before returning.
  // The command goes to the partition of its event id, or to `partition` when given (a tick's).
  virtual void publish(const topics::Command& command, std::unique_ptr<Delivery> delivery, int32_t partition = -1) = 0;
  // Partitions of the commands topic (a metadata request); throws when the broker cannot say in time.
  virtual int32_t partition_count(std::chrono::milliseconds timeout) = 0;
  // A broker answered the last readiness check with a leader for the commands topic, and the producer
  // has not failed.
  virtual bool ready() const = 0;
  // The producer failed fatally and is being replaced; commands are refused meanwhile (see fatal_error()).
  virtual bool failed() const = 0;
  // Why the producer failed; empty while it has not (or once replaced).
  virtual std::string fatal_error() const = 0;
  // Waits up to `timeout_ms` for every delivery to be reported.
  virtual void flush(int timeout_ms) = 0;
};

class Publisher : public CommandPublisher {
 public:
  Publisher(PublisherOptions options, metrics::Registry& registry);
  ~Publisher() override;  // flushes what is in flight (bounded by the delivery timeout)
  void publish(const topics::Command& command, std::unique_ptr<Delivery> delivery, int32_t partition = -1) override;
  int32_t partition_count(std::chrono::milliseconds timeout) override;
  bool ready() const override { return ready_.load() && !failed_.load(); }
  bool failed() const override { return failed_.load(); }
  std::string fatal_error() const override;
  int64_t in_flight() const { return in_flight_.load(); }
  void flush(int timeout_ms) override;
  // Tests only: raises a real fatal idempotent-producer error inside librdkafka (as a broker's
  // out-of-order sequence answer would); it is reported like any other, from the poll thread.
  void raise_fatal_error_for_test();

 private:
  void poll_loop();
  void readiness_loop();
  bool commands_topic_led();
  void on_fatal_error();
  std::unique_ptr<RdKafka::Producer> make_producer();
  void replace_failed_producer();
  void serve_retired();
  PublisherOptions opt_;
  std::unique_ptr<RdKafka::DeliveryReportCb> reports_;
  std::unique_ptr<RdKafka::EventCb> events_;
  // publish() and partition_count() share it; only the poll thread replaces producer_, holding it alone.
  mutable std::shared_mutex producer_mu_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::vector<std::unique_ptr<RdKafka::Producer>> retired_;  // poll thread only: replaced, with reports still due
  std::unique_ptr<RdKafka::Producer> readiness_probe_;       // metadata requests only; never produces
  std::unique_ptr<RdKafka::Topic> commands_topic_;           // readiness_probe_'s handle of opt_.topic
  metrics::Histogram& produce_seconds_;
  metrics::Gauge& failed_gauge_;
  metrics::Counter& replacements_;
  std::chrono::steady_clock::time_point last_replacement_{};  // poll thread only
  std::atomic<bool> ready_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> in_flight_{0};
  mutable std::mutex mu_;
  std::condition_variable wake_;  // ends the readiness thread's wait at stop
  std::string fatal_;             // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread poller_;
  std::thread checker_;
  friend class DeliveryReports;
  friend class ProducerEvents;
};

}  // namespace allot::ingress
