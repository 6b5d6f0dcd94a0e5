#pragma once
// Wakes long-polling requests (GET /api/claims/{id}?wait_ms=N) the moment their claim is decided, without
// asking Redis again: the ingress reads allot.decisions itself (read_committed, every partition assigned
// from its end at start, no consumer group joined, nothing committed) and keeps the claim decisions it
// saw in a bounded memory, newest last. A decision is kept as its raw JSON and decoded only when someone
// asks for it or waits for it: most are never asked about, and a JSON document per decision showed in
// the profile.
// Threads: wait()/find() from any thread (Pistache's handlers, the publisher's poll thread). One consumer
// thread answers waiters whose claim was decided; one timer thread answers those whose time ran out.
// Each waiter's callback runs exactly once, on one of those two threads, never under a lock of ours,
// and must not throw or block. At destruction every waiter still open is answered as timed out.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/metrics.h"
#include "ingress/projections.h"

namespace RdKafka {
class KafkaConsumer;
}

namespace allot::ingress {

struct DecisionWatchOptions {
  std::string brokers = "127.0.0.1:19092";
  std::string topic = "allot.decisions";
  size_t remembered = 50'000;   // claim decisions kept in memory (their JSON, about 300-500 bytes each)
  size_t max_waiters = 50'000;  // open long polls; beyond this wait() refuses (the handler answers 503)
};

class DecisionWatch {
 public:
  // Called once: with the decision, or with nullptr when the deadline passed first (or at shutdown).
  using Callback = std::function<void(const ClaimView* decided)>;
  enum class Result { kDecided, kWaiting, kFull };

  // Starts reading the topic from its end (in the background: the broker may still be down).
  DecisionWatch(DecisionWatchOptions options, metrics::Registry& registry);
  ~DecisionWatch();
  DecisionWatch(const DecisionWatch&) = delete;
  DecisionWatch& operator=(const DecisionWatch&) = delete;

  // The decision of `request_id` if this ingress has seen it.
  std::optional<ClaimView> find(const std::string& request_id) const;
  // Atomically: when the decision is already known, fills *decided and returns kDecided (the callback is
  // not called); otherwise keeps `callback` until the decision or `deadline` (kWaiting), or refuses when
  // max_waiters are open (kFull).
  Result wait(const std::string& request_id, std::chrono::steady_clock::time_point deadline, Callback callback,
              ClaimView* decided);
  size_t waiters() const;
  // The topic's partitions are assigned: decisions committed from about now on wake their waiters.
  bool reading() const { return reading_.load(); }
  // Answers every open waiter as timed out, now, on the calling thread, and waits (bounded) for the
  // answers other threads are giving: the server calls it before it stops, so no answer outlives the
  // connections it goes through.
  void release_all();

 private:
  struct Waiter {
    std::string request_id;
    std::chrono::steady_clock::time_point deadline;
    Callback callback;
  };
  DecisionWatch(DecisionWatchOptions options, metrics::Registry& registry, metrics::Family<metrics::Counter>& answers);
  bool assign();
  void consume_loop();
  void timer_loop();
  void decided(std::string request_id, const std::string& raw);
  void remember(std::string request_id, const std::string& raw);  // under mu_
  void forget_event(std::string_view event_id);
  void done_answering(size_t n);

  DecisionWatchOptions opt_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  metrics::Gauge& waiters_gauge_;
  metrics::Counter& woken_;
  metrics::Counter& timed_out_;
  mutable std::mutex mu_;
  std::condition_variable deadline_changed_;
  std::condition_variable answered_;  // answering_ dropped to 0
  size_t answering_ = 0;              // callbacks taken out of waiters_ and not yet done
  uint64_t next_id_ = 0;
  std::map<uint64_t, Waiter> waiters_;
  std::set<std::pair<std::chrono::steady_clock::time_point, uint64_t>> deadlines_;
  std::unordered_multimap<std::string, uint64_t> by_request_;
  std::unordered_map<std::string, std::string> recent_;  // request id -> the decision's JSON
  std::deque<std::string> order_;
  std::set<std::string, std::less<>> deleted_events_;  // seen deleted (rare: kept for the process's life)
  std::atomic<bool> stop_{false};
  std::atomic<bool> reading_{false};
  std::thread consumer_thread_;
  std::thread timer_thread_;
};

}  // namespace allot::ingress
