#pragma once
// Proof of work at the door (README "Who is the user"): on an event created with pow_bits > 0 each claim
// and join must carry the solution of a challenge an ingress handed out, so a script pays CPU for every
// identity it plays. A challenge is stateless: "<expires_at>.<bits>.<nonce>.<hex HMAC-SHA256 of
// event|user|expires_at|bits|nonce>" under the key the admission tokens use (ALLOT_ADMISSION_KEY), so
// any ingress of the stack checks any other's. The proof is "<challenge>:<solution>", where SHA-256 of
// that whole text starts with `bits` zero bits. A redeemed challenge is remembered until it expires, so
// a solution is good once (at this ingress: each ingress keeps its own memory). Thread-safe.
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace allot::ingress {

class WorkChallenges {
 public:
  WorkChallenges(std::string key, int64_t ttl_ms) : key_(std::move(key)), ttl_ms_(ttl_ms) {}

  struct Challenge {
    std::string text;
    int64_t expires_at = 0;  // Unix ms
  };
  Challenge issue(std::string_view event_id, std::string_view user_id, int32_t bits, int64_t now) const;

  enum class Check { kValid, kMalformed, kForged, kExpired, kTooWeak, kReplayed };
  // Whether `proof` solves a challenge of this event, user and difficulty; a valid one is used up.
  Check redeem(std::string_view proof, std::string_view event_id, std::string_view user_id, int32_t bits, int64_t now);

 private:
  std::string mac(std::string_view event_id, std::string_view user_id, int64_t expires_at, int32_t bits,
                  std::string_view nonce) const;
  std::string key_;
  int64_t ttl_ms_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> used_;  // redeemed challenge MAC -> its expiry
  std::deque<std::pair<int64_t, std::string>> expiries_;
};

// Whether the SHA-256 of `text` starts with `bits` zero bits (what a solver searches for).
bool has_leading_zero_bits(std::string_view text, int32_t bits);

}  // namespace allot::ingress
