#include "ingress/payment_signature.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <charconv>
#include <cstdlib>

namespace allot::ingress {

std::string PaymentSignatures::mac(int64_t t, std::string_view body) const {
  std::string message = std::to_string(t) + "." + std::string(body);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(len * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[out[i] >> 4];
    hex[2 * i + 1] = kHex[out[i] & 0xf];
  }
  return hex;
}

std::string PaymentSignatures::sign(std::string_view body, int64_t t) const {
  return "t=" + std::to_string(t) + ",v1=" + mac(t, body);
}

std::optional<std::string> PaymentSignatures::refusal(std::string_view header, std::string_view body,
                                                      int64_t now_s) const {
  if (!enabled()) return "no payment callback secret is configured (ALLOT_PAYMENT_WEBHOOK_SECRET)";
  // "t=<digits>,v1=<hex>"
  if (!header.starts_with("t=")) return "Payment-Signature must be t=<Unix seconds>,v1=<hex HMAC-SHA256>";
  auto comma = header.find(",v1=");
  if (comma == std::string_view::npos) return "Payment-Signature must be t=<Unix seconds>,v1=<hex HMAC-SHA256>";
  auto t_text = header.substr(2, comma - 2);
  int64_t t = 0;
  auto [end, ec] = std::from_chars(t_text.data(), t_text.data() + t_text.size(), t);
  if (ec != std::errc() || end != t_text.data() + t_text.size() || t_text.size() > 12 || t <= 0) {
    return "the signature's t is not Unix seconds";
  }
  if (std::llabs(now_s - t) > tolerance_s_) {
    return "the signature's t is more than " + std::to_string(tolerance_s_) + " s from now";
  }
  auto presented = header.substr(comma + 4);
  const auto want = mac(t, body);
  if (presented.size() != want.size() || CRYPTO_memcmp(presented.data(), want.data(), want.size()) != 0) {
    return "the signature does not match the body";
  }
  return std::nullopt;
}

}  // namespace allot::ingress
