#pragma once
// Appends a tick to every partition of allot.commands at a fixed interval: the stream time by which the
// processors expire holds and draw raffles whose closes_at passed, when no other command of the event
// comes (DESIGN §4: time reaches decide() only through the log). Several ingresses may tick the same
// partitions; ticks are idempotent, so that only costs a few records.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/metrics.h"
#include "ingress/publisher.h"

namespace allot::ingress {

class Ticker {
 public:
  // interval_ms <= 0: no ticks (holds then expire only with the event's next command).
  Ticker(Publisher& publisher, int interval_ms, metrics::Registry& registry);
  ~Ticker();  // stops the thread
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  Ticker(Publisher& publisher, int interval_ms, metrics::Family<metrics::Counter>& ticks);
  void run();
  Publisher& publisher_;
  int interval_ms_;
  metrics::Counter& sent_;
  metrics::Counter& failed_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace allot::ingress
