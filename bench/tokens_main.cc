// allot-bench-tokens: users' tokens for the identity bench (bench/identity_bench.sh), one "user token"
// line each, as bench/claim.lua reads them.
//   allot-bench-tokens --alg HS256|RS256|ES256 --users N --prefix P [--jwks FILE]
// HS256 tokens are signed with the stack's secret (as allotctl token); RS256/ES256 ones with a key made up
// here, whose public half goes to the JWKS FILE an ingress then verifies with (ALLOT_JWT_JWKS_FILE).
#include <fstream>
#include <iostream>
#include <string>

#include "common/clock.h"
#include "common/identity/identity.h"
#include "support.h"
#include "test_keys.h"

int main(int argc, char** argv) {
  std::string alg = "HS256", prefix = "u", jwks;
  long users = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--alg") alg = argv[i + 1];
    else if (a == "--users") users = std::stol(argv[i + 1]);
    else if (a == "--prefix") prefix = argv[i + 1];
    else if (a == "--jwks") jwks = argv[i + 1];
  }
  const int64_t now = allot::now_ms() / 1000;
  try {
    if (alg == "HS256") {
      const auto secret = allot::testsupport::jwt_secret();
      allot::identity::MintOptions o;
      o.issued_at_s = now;
      for (long u = 0; u < users; ++u) {
        o.user_id = prefix + std::to_string(u);
        std::cout << o.user_id << " " << allot::identity::mint_hs256(secret, o) << "\n";
      }
      return 0;
    }
    allot::testsupport::SigningKey key(alg == "RS256" ? "RSA" : "EC", "bench-" + alg);
    if (jwks.empty()) throw std::invalid_argument("--jwks FILE is needed for " + alg);
    std::ofstream(jwks) << nlohmann::json{{"keys", {key.jwk()}}}.dump();
    for (long u = 0; u < users; ++u) {
      const auto user = prefix + std::to_string(u);
      std::cout << user << " " << key.sign(allot::testsupport::user_claims(user, now)) << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "allot-bench-tokens: " << e.what() << "\n";
    return 1;
  }
}
