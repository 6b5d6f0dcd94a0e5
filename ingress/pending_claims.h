#pragma once
// Claims this ingress accepted (202) and may be asked about before the projection has their decision:
// request id -> event, user and position in allot.commands. Bounded: the oldest entries go first.
// Thread-safe.
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "topics/messages.h"

namespace allot::ingress {

struct PendingClaim {
  std::string event_id;
  std::string user_id;
  topics::CommandPosition position;
};

class PendingClaims {
 public:
  explicit PendingClaims(size_t capacity) : capacity_(capacity) {}
  void add(const std::string& request_id, PendingClaim claim) {
    std::lock_guard lock(mu_);
    if (claims_.emplace(request_id, std::move(claim)).second) order_.push_back(request_id);
    while (order_.size() > capacity_) {
      claims_.erase(order_.front());
      order_.pop_front();
    }
  }
  std::optional<PendingClaim> find(const std::string& request_id) const {
    std::lock_guard lock(mu_);
    auto it = claims_.find(request_id);
    return it == claims_.end() ? std::nullopt : std::optional(it->second);
  }

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, PendingClaim> claims_;
  std::deque<std::string> order_;
};

}  // namespace allot::ingress
