#include "ingress/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace allot::ingress {

bool RateLimiter::allow(const std::string& key, int64_t now_ms, int64_t* retry_after_ms) {
  if (rate_ <= 0) return true;
  std::lock_guard lock(mu_);
  forget_idle(now_ms);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now_ms});
  auto& b = it->second;
  if (!fresh) {
    b.tokens =
        std::min(burst_, b.tokens + static_cast<double>(std::max<int64_t>(0, now_ms - b.at_ms)) * rate_ / 1000.0);
    b.at_ms = now_ms;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  if (retry_after_ms) *retry_after_ms = static_cast<int64_t>(std::ceil((1.0 - b.tokens) * 1000.0 / rate_));
  return false;
}

size_t RateLimiter::tracked_keys() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

// Once a second at most: drop buckets that have refilled completely (they equal a fresh one).
void RateLimiter::forget_idle(int64_t now_ms) {
  if (now_ms - last_sweep_ms_ < 1000) return;
  last_sweep_ms_ = now_ms;
  const double full_after_ms = burst_ * 1000.0 / rate_;
  std::erase_if(buckets_,
                [&](const auto& kv) { return static_cast<double>(now_ms - kv.second.at_ms) >= full_after_ms; });
}

}  // namespace allot::ingress
