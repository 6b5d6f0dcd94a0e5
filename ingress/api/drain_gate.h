#pragma once
// The stop of an ingress, seen by its handlers: once closed, no new command is taken; a handler that
// may publish holds a Scope from before its check until its publish returned, so the drain can wait
// for every such handler before the final flush (no command is published after that flush).
// Thread-safe: handlers enter from Pistache's threads, the drain closes and waits from main's.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace allot::ingress::api {

class DrainGate {
 public:
  class Scope {
   public:
    explicit Scope(DrainGate& g) : g_(g) { g_.active_.fetch_add(1); }
    ~Scope() {
      if (g_.active_.fetch_sub(1) == 1) {
        std::lock_guard lock(g_.mu_);  // so a drain between its check and its wait cannot miss this
        g_.idle_.notify_all();
      }
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    DrainGate& g_;
  };

  bool draining() const { return draining_.load(); }
  void close() { draining_ = true; }
  // Waits until no Scope is open or `deadline`; false when some are still open then.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return idle_.wait_until(lock, deadline, [this] { return active_.load() == 0; });
  }
  int active() const { return active_.load(); }

 private:
  std::atomic<bool> draining_{false};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::condition_variable idle_;
};

}  // namespace allot::ingress::api
