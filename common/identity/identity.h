#pragma once
// Who the user is (README "Who is the user"): the `sub` of a JSON Web Token that the operator's sign-in
// issued and signed, never an id the request body asserts.
//
// Keys: an HS256 shared secret, and public keys (RS256/384/512, ES256/384/512) from a JWKS file, picked
// by the token's `kid` and re-read when the file changes, so an identity provider can rotate keys without
// a restart. The signature is checked by libjwt (Debian libjwt-dev, over OpenSSL); this file only picks
// the key and the one algorithm that key may be used with, so neither `alg: none` nor an HS256 token
// keyed with a published public key can pass. Then exp (required), nbf, iss and aud, with a leeway.
//
// Verified tokens are remembered (by their text) until they expire: a client polls and retries with the
// same token, and an RSA or EC check costs a few hundred microseconds.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace allot::identity {

struct Settings {
  std::string hs256_secret;  // empty: HS256 tokens are refused
  std::string jwks_file;     // empty: RS/ES tokens are refused
  std::string issuer = "allot";
  std::string audience = "allot";
  int64_t leeway_s = 30;  // allowed clock skew for exp and nbf
  // A token whose `scope` (space-separated) holds this may read any user's claims, as the admin token can.
  std::string admin_scope = "allot:admin";
  size_t remembered = 200'000;  // verified tokens kept; past this the memory starts over
};

// ALLOT_JWT_HS256_SECRET (or ALLOT_JWT_HS256_SECRET_FILE), ALLOT_JWT_JWKS_FILE, ALLOT_JWT_ISSUER,
// ALLOT_JWT_AUDIENCE, ALLOT_JWT_LEEWAY_S. Throws std::invalid_argument on a bad value or an unreadable file.
Settings settings_from_env();

struct Identity {
  std::string user_id;  // the token's sub
  bool admin = false;   // the token's scope holds Settings::admin_scope
  int64_t expires_at_s = 0;
};

// Why a token is refused, for the 401's message ("expired", "signature does not verify", ...).
struct Refusal {
  std::string reason;
};

class Verifier {
 public:
  explicit Verifier(Settings settings);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // The identity in `token` (a compact JWS, without "Bearer "), or why it is refused. Thread-safe.
  std::variant<Identity, Refusal> verify(std::string_view token, int64_t now_s) const;
  // A key is configured: without one every token is refused.
  bool has_keys() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// An HS256 token for `user_id`, as the demo's sign-in, the tests and the benches make them.
struct MintOptions {
  std::string user_id;
  std::string issuer = "allot";
  std::string audience = "allot";
  int64_t issued_at_s = 0;
  int64_t ttl_s = 3600;
  bool admin = false;  // adds scope "allot:admin"
};
std::string mint_hs256(const std::string& secret, const MintOptions& options);

}  // namespace allot::identity
