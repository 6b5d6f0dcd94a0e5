#pragma once
// Token buckets per key (a user id, a client address): `rate` tokens a second up to `burst`. Time comes
// in as an argument, so tests drive it by hand. Thread-safe; keys idle long enough to be full again are
// forgotten, so memory follows the active keys, not every key ever seen.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace allot::ingress {

class RateLimiter {
 public:
  // rate <= 0 disables the limiter (everything allowed).
  RateLimiter(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst) {}
  // Takes one token for `key` at `now_ms`; false when the bucket is empty. Sets *retry_after_ms (if
  // given) to when the next token arrives.
  bool allow(const std::string& key, int64_t now_ms, int64_t* retry_after_ms = nullptr);
  size_t tracked_keys() const;

 private:
  struct Bucket {
    double tokens;
    int64_t at_ms;
  };
  void forget_idle(int64_t now_ms);
  double rate_, burst_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  int64_t last_sweep_ms_ = 0;
};

}  // namespace allot::ingress
