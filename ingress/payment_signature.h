#pragma once
// The payment provider's signed callback (README "Wallet"): a charge may come from the provider rather
// than the admin, signed with a secret the two share (ALLOT_PAYMENT_WEBHOOK_SECRET), as Stripe and most
// providers sign their webhooks. The header is
//   Payment-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// A signature older or newer than the tolerance is refused, so a captured callback cannot be replayed
// later; within it a replay is harmless (the payment_id makes it the same charge). Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace allot::ingress {

class PaymentSignatures {
 public:
  // An empty secret: no callback is ever accepted.
  explicit PaymentSignatures(std::string secret, int64_t tolerance_s = 300)
      : secret_(std::move(secret)), tolerance_s_(tolerance_s) {}
  bool enabled() const { return !secret_.empty(); }
  // Why `header` does not sign `body` at `now_s` (Unix seconds); nullopt when it does.
  std::optional<std::string> refusal(std::string_view header, std::string_view body, int64_t now_s) const;
  // The header the provider sends for `body` at `t` (tests, the bench, scripts).
  std::string sign(std::string_view body, int64_t t) const;

 private:
  std::string mac(int64_t t, std::string_view body) const;
  std::string secret_;
  int64_t tolerance_s_;
};

}  // namespace allot::ingress
