#include "ingress/proof_of_work.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>

namespace allot::ingress {

namespace {
std::string hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}
}  // namespace

bool has_leading_zero_bits(std::string_view text, int32_t bits) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  for (int32_t i = 0; i < bits; ++i) {
    if (digest[i / 8] & (0x80 >> (i % 8))) return false;
  }
  return true;
}

std::string WorkChallenges::mac(std::string_view event_id, std::string_view user_id, int64_t expires_at, int32_t bits,
                                std::string_view nonce) const {
  std::string message = std::string(event_id) + "|" + std::string(user_id) + "|" + std::to_string(expires_at) + "|" +
                        std::to_string(bits) + "|" + std::string(nonce);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), out, &len);
  return hex(out, len);
}

WorkChallenges::Challenge WorkChallenges::issue(std::string_view event_id, std::string_view user_id, int32_t bits,
                                                int64_t now) const {
  unsigned char random[8];
  RAND_bytes(random, sizeof random);
  const std::string nonce = hex(random, sizeof random);
  const int64_t expires_at = now + ttl_ms_;
  return {std::to_string(expires_at) + "." + std::to_string(bits) + "." + nonce + "." +
              mac(event_id, user_id, expires_at, bits, nonce),
          expires_at};
}

WorkChallenges::Check WorkChallenges::redeem(std::string_view proof, std::string_view event_id,
                                             std::string_view user_id, int32_t bits, int64_t now) {
  // <expires_at>.<bits>.<nonce>.<mac>:<solution>
  auto colon = proof.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == proof.size() || proof.size() - colon - 1 > 64) {
    return Check::kMalformed;
  }
  std::string_view challenge = proof.substr(0, colon), parts[4];
  std::string_view rest = challenge;
  for (int i = 0; i < 4; ++i) {
    auto dot = i < 3 ? rest.find('.') : rest.size();
    if (dot == std::string_view::npos) return Check::kMalformed;
    parts[i] = rest.substr(0, dot);
    rest = i < 3 ? rest.substr(dot + 1) : std::string_view();
  }
  int64_t expires_at = 0;
  int32_t challenge_bits = 0;
  if (!parse_number(parts[0], expires_at) || !parse_number(parts[1], challenge_bits)) return Check::kMalformed;
  const std::string expected = mac(event_id, user_id, expires_at, challenge_bits, parts[2]);
  if (parts[3].size() != expected.size() || CRYPTO_memcmp(parts[3].data(), expected.data(), expected.size()) != 0) {
    return Check::kForged;
  }
  if (now >= expires_at) return Check::kExpired;
  if (challenge_bits < bits || !has_leading_zero_bits(proof, bits)) return Check::kTooWeak;
  std::lock_guard lock(mu_);
  while (!expiries_.empty() && expiries_.front().first <= now) {
    used_.erase(expiries_.front().second);
    expiries_.pop_front();
  }
  if (!used_.emplace(std::string(parts[3]), expires_at).second) return Check::kReplayed;
  expiries_.emplace_back(expires_at, std::string(parts[3]));  // challenges share one ttl: in expiry order
  return Check::kValid;
}

}  // namespace allot::ingress
