#include "ingress/ticker.h"

#include <random>
#include <string>

#include "common/clock.h"
#include "common/log.h"

namespace allot::ingress {

namespace {

// A tick's answer is no one's: a lost tick only delays expiries until the next one.
class TickDelivery : public Delivery {
 public:
  explicit TickDelivery(metrics::Counter& failed) : failed_(failed) {}
  void delivered(topics::CommandPosition) override {}
  void failed(const std::string&) override { failed_.inc(); }

 private:
  metrics::Counter& failed_;
};

std::string tick_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return "tick-" + std::to_string(rng() >> 1);
}

}  // namespace

Ticker::Ticker(Publisher& publisher, int interval_ms, metrics::Registry& registry)
    : Ticker(publisher, interval_ms,
             registry.counter("allot_ingress_ticks_total", "Ticks appended to allot.commands, by result")) {}

Ticker::Ticker(Publisher& publisher, int interval_ms, metrics::Family<metrics::Counter>& ticks)
    : publisher_(publisher),
      interval_ms_(interval_ms),
      sent_(ticks.with({{"result", "sent"}})),
      failed_(ticks.with({{"result", "failed"}})) {
  if (interval_ms_ > 0) thread_ = std::thread([this] { run(); });
}

Ticker::~Ticker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ticker::run() {
  int32_t partitions = 0;
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    if (partitions == 0) {
      try {
        partitions = publisher_.partition_count(std::chrono::seconds(2));
      } catch (const std::exception& e) {
        log_warn("ingress", std::string("ticker: ") + e.what() + "; retrying");
      }
    }
    if (publisher_.ready()) {
      for (int32_t p = 0; p < partitions; ++p) {
        publisher_.publish({tick_id(), now_ms(), topics::Tick{}}, std::make_unique<TickDelivery>(failed_), p);
        sent_.inc();
      }
    }
    lock.lock();
  }
}

}  // namespace allot::ingress
