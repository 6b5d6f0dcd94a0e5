#pragma once
// Signing keys a test makes up, as an identity provider would hold them: an RSA or EC key pair, its
// public half as a JWKS entry, and tokens signed with it (by libjwt, as the ingress verifies them).
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace allot::testsupport {

class SigningKey {
 public:
  // kty "RSA" (2048 bits, RS256) or "EC" (P-256, ES256).
  SigningKey(const std::string& kty, std::string kid);
  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  const std::string& kid() const { return kid_; }
  const std::string& alg() const { return alg_; }
  // {"kty","kid","use":"sig","alg",...}: the public key for a JWKS file.
  nlohmann::json jwk() const;
  std::string public_pem() const;
  // A compact JWS of `claims` with header {"alg", "kid"}.
  std::string sign(const nlohmann::json& claims) const;

 private:
  std::string kid_, alg_, private_pem_;
  struct Key;
  std::unique_ptr<Key> key_;
};

// Standard claims for `user`: iss/aud "allot" (or the given), iat/nbf now, exp in an hour.
nlohmann::json user_claims(const std::string& user, int64_t now_s, const std::string& issuer = "allot",
                           const std::string& audience = "allot");

// header.payload. with an HMAC-SHA256 signature over it keyed by `key`: lets a test forge what a
// careless verifier would accept (alg none, a public key used as an HS256 secret).
std::string hs256_with_key(const nlohmann::json& header, const nlohmann::json& claims, const std::string& key);

}  // namespace allot::testsupport
