#pragma once
// The public keys of a JSON Web Key Set (RFC 7517), as the PEM that libjwt verifies with, by `kid`.
#include <map>
#include <string>
#include <string_view>

namespace allot::identity {

struct PublicKey {
  std::string alg;  // the one algorithm this key verifies: RS256/384/512 or ES256/384/512
  std::string pem;  // SubjectPublicKeyInfo
};

// RSA keys (n, e) and EC keys (crv P-256/P-384/P-521, x, y) with a `kid`; a key's `alg`, when given, must
// fit its type (else RS256 for RSA, and the curve's ES alg). Keys for encryption (`use` other than
// "sig"), symmetric keys and keys without a kid are left out. Throws std::invalid_argument when the
// document is not a key set or a key it keeps is malformed.
std::map<std::string, PublicKey> parse_jwks(std::string_view json);

}  // namespace allot::identity
