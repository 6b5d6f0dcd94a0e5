#pragma once
// Admission tokens of the waiting room (README "Waiting room"): the ingress signs one for a user the
// processor admitted, and the claim endpoint checks it. A token is "<expires_at>.<hex HMAC-SHA256 of
// event_id|user_id|expires_at>" under a key from configuration (ALLOT_ADMISSION_KEY), so any ingress with
// the key checks any other's tokens without shared state. Pure apart from the hash; unit-tested.
#include <cstdint>
#include <string>
#include <string_view>

namespace allot::ingress {

class AdmissionTokens {
 public:
  AdmissionTokens(std::string key, int64_t ttl_ms) : key_(std::move(key)), ttl_ms_(ttl_ms) {}
  // The token of a user admitted at `admitted_at` (Unix ms); it expires ttl_ms later.
  std::string issue(std::string_view event_id, std::string_view user_id, int64_t admitted_at) const;
  int64_t expires_at(int64_t admitted_at) const { return admitted_at + ttl_ms_; }
  enum class Check { kValid, kMalformed, kForged, kExpired };
  // Whether `token` admits `user_id` to `event_id` at `now`. kForged covers a token signed with another
  // key or for another event or user.
  Check check(std::string_view token, std::string_view event_id, std::string_view user_id, int64_t now) const;

 private:
  std::string mac(std::string_view event_id, std::string_view user_id, int64_t expires_at) const;
  std::string key_;
  int64_t ttl_ms_;
};

}  // namespace allot::ingress
