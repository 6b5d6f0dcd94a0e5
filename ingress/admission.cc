#include "ingress/admission.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

namespace allot::ingress {

std::string AdmissionTokens::mac(std::string_view event_id, std::string_view user_id, int64_t expires_at) const {
  const std::string message = std::string(event_id) + "|" + std::string(user_id) + "|" + std::to_string(expires_at);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

std::string AdmissionTokens::issue(std::string_view event_id, std::string_view user_id, int64_t admitted_at) const {
  const int64_t expires = expires_at(admitted_at);
  return std::to_string(expires) + "." + mac(event_id, user_id, expires);
}

AdmissionTokens::Check AdmissionTokens::check(std::string_view token, std::string_view event_id,
                                              std::string_view user_id, int64_t now) const {
  auto dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 15) return Check::kMalformed;
  int64_t expires = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + dot, expires);
  if (ec != std::errc() || end != token.data() + dot) return Check::kMalformed;
  const auto presented = token.substr(dot + 1);
  const auto expected = mac(event_id, user_id, expires);
  if (presented.size() != expected.size()) return Check::kMalformed;
  // Constant time: how much of a forged signature matched must not show in the answer's timing.
  if (CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) != 0) return Check::kForged;
  return now >= expires ? Check::kExpired : Check::kValid;
}

}  // namespace allot::ingress
