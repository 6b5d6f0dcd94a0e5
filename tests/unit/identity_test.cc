// common/identity: which tokens are accepted (README "Who is the user"). Keys are made up here, as an
// identity provider's would be; signatures are libjwt's.
#include "common/identity/identity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/base64url.h"
#include "common/identity/jwks.h"
#include "test_keys.h"

namespace allot::identity {
namespace {

using nlohmann::json;
using testsupport::SigningKey;
using testsupport::user_claims;

constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret = "an-hs256-secret-of-the-operator-32b";

std::string refusal(const Verifier& v, const std::string& token) {
  auto r = v.verify(token, kNow);
  return std::holds_alternative<Refusal>(r) ? std::get<Refusal>(r).reason : "accepted";
}
std::string user_of(const Verifier& v, const std::string& token) {
  auto r = v.verify(token, kNow);
  return std::holds_alternative<Identity>(r) ? std::get<Identity>(r).user_id
                                             : "refused: " + std::get<Refusal>(r).reason;
}

// A JWKS file in a fresh directory, rewritten by replace().
class JwksFile {
 public:
  JwksFile()
      : path_(std::filesystem::temp_directory_path() /
              ("allot-jwks-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".json")) {}
  ~JwksFile() { std::filesystem::remove(path_); }
  void replace(const std::vector<const SigningKey*>& keys) {
    json set{{"keys", json::array()}};
    for (const auto* k : keys) set["keys"].push_back(k->jwk());
    auto tmp = path_.string() + ".tmp";
    std::ofstream(tmp) << set.dump();
    std::filesystem::rename(tmp, path_);  // as a key rotation would: a new file in one step
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

Settings hs256_only() {
  Settings s;
  s.hs256_secret = kSecret;
  return s;
}

std::string minted(const std::string& user, int64_t iat = kNow, int64_t ttl = 3600) {
  MintOptions o;
  o.user_id = user;
  o.issued_at_s = iat;
  o.ttl_s = ttl;
  return mint_hs256(kSecret, o);
}

TEST(Identity, AnHs256TokenOfTheSecretNamesItsUser) {
  Verifier v(hs256_only());
  EXPECT_EQ(user_of(v, minted("alice")), "alice");
  MintOptions other;
  other.user_id = "alice";
  other.issued_at_s = kNow;
  EXPECT_EQ(refusal(v, mint_hs256("some-other-secret-of-32-bytes!!!", other)), "signature does not verify");
  auto t = minted("alice");
  t[t.size() - 3] = t[t.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(refusal(v, t), "signature does not verify");
  EXPECT_EQ(refusal(v, "not-a-token"), "not a signed JWT (header.payload.signature)");
}

TEST(Identity, TimeIssuerAndAudienceAreChecked) {
  Verifier v(hs256_only());
  EXPECT_EQ(refusal(v, minted("alice", kNow - 7200, 3600)), "expired");
  EXPECT_EQ(user_of(v, minted("alice", kNow - 3600 - 10, 3600)), "alice") << "within the 30 s leeway";
  EXPECT_EQ(refusal(v, minted("alice", kNow + 120)), "not valid yet");
  EXPECT_EQ(user_of(v, minted("alice", kNow + 20)), "alice") << "nbf within the leeway";
  auto claims = user_claims("alice", kNow);
  auto with = [&](const char* k, json value) {
    auto c = claims;
    c[k] = std::move(value);
    return testsupport::hs256_with_key({{"alg", "HS256"}, {"typ", "JWT"}}, c, kSecret);
  };
  EXPECT_EQ(refusal(v, with("iss", "someone-else")), "wrong issuer");
  EXPECT_EQ(refusal(v, with("aud", "another-api")), "wrong audience");
  EXPECT_EQ(user_of(v, with("aud", json::array({"another-api", "allot"}))), "alice") << "aud may be a list";
  EXPECT_EQ(refusal(v, with("sub", 42)), "no sub");
  auto no_exp = claims;
  no_exp.erase("exp");
  EXPECT_EQ(refusal(v, testsupport::hs256_with_key({{"alg", "HS256"}}, no_exp, kSecret)), "no exp");
  // libjwt 1.10 takes only typ JWT (or none): RFC 9068's at+jwt is refused, with that reason.
  EXPECT_EQ(user_of(v, testsupport::hs256_with_key({{"alg", "HS256"}}, claims, kSecret)), "alice");
  EXPECT_EQ(refusal(v, testsupport::hs256_with_key({{"alg", "HS256"}, {"typ", "at+jwt"}}, claims, kSecret)),
            "typ must be JWT");
}

TEST(Identity, UnsignedTokensAreRefused) {
  Verifier v(hs256_only());
  auto claims = user_claims("alice", kNow).dump();
  auto none = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(claims) + ".";
  EXPECT_EQ(refusal(v, none), "unsigned token");
  auto none_signed = testsupport::hs256_with_key({{"alg", "none"}}, user_claims("alice", kNow), kSecret);
  EXPECT_EQ(refusal(v, none_signed), "algorithm none is not accepted");
  EXPECT_EQ(refusal(v, testsupport::hs256_with_key({{"alg", "HS512"}}, user_claims("alice", kNow), kSecret)),
            "algorithm HS512 is not accepted");
}

TEST(Identity, RsaAndEcKeysComeFromTheJwksByKid) {
  SigningKey rsa("RSA", "rsa-1"), ec("EC", "ec-1");
  JwksFile file;
  file.replace({&rsa, &ec});
  Settings s;
  s.jwks_file = file.path();
  Verifier v(s);
  EXPECT_EQ(user_of(v, rsa.sign(user_claims("alice", kNow))), "alice");
  EXPECT_EQ(user_of(v, ec.sign(user_claims("bob", kNow))), "bob");
  SigningKey stranger("RSA", "rsa-1");  // same kid, another key
  EXPECT_EQ(refusal(v, stranger.sign(user_claims("alice", kNow))), "signature does not verify");
  SigningKey unknown("EC", "ec-9");
  EXPECT_EQ(refusal(v, unknown.sign(user_claims("alice", kNow))), "unknown kid");
  EXPECT_EQ(refusal(v, minted("alice")), "HS256 tokens are not accepted here");
}

// The classic confusion: an HS256 token whose secret is the provider's published RSA public key.
TEST(Identity, APublicKeyIsNeverAnHmacSecret) {
  SigningKey rsa("RSA", "rsa-1");
  JwksFile file;
  file.replace({&rsa});
  Settings s = hs256_only();
  s.jwks_file = file.path();
  Verifier v(s);
  auto forged =
      testsupport::hs256_with_key({{"alg", "HS256"}, {"kid", "rsa-1"}}, user_claims("alice", kNow), rsa.public_pem());
  EXPECT_EQ(refusal(v, forged), "signature does not verify");
  auto as_rs =
      testsupport::hs256_with_key({{"alg", "RS256"}, {"kid", "rsa-1"}}, user_claims("alice", kNow), rsa.public_pem());
  EXPECT_EQ(refusal(v, as_rs), "signature does not verify");
  SigningKey ec("EC", "ec-1");
  file.replace({&rsa, &ec});
  auto wrong_alg = testsupport::hs256_with_key({{"alg", "RS256"}, {"kid", "ec-1"}}, user_claims("alice", kNow), "x");
  EXPECT_EQ(refusal(v, wrong_alg), "key ec-1 is for ES256, not RS256");
}

TEST(Identity, ARotatedJwksFileIsReadWithoutARestart) {
  SigningKey old_key("RSA", "2026-11"), new_key("EC", "2026-12");
  JwksFile file;
  file.replace({&old_key});
  Settings s;
  s.jwks_file = file.path();
  Verifier v(s);
  auto old_token = old_key.sign(user_claims("alice", kNow));
  EXPECT_EQ(user_of(v, old_token), "alice");
  file.replace({&old_key, &new_key});
  EXPECT_EQ(user_of(v, new_key.sign(user_claims("bob", kNow))), "bob") << "a new kid is looked up at once";
  file.replace({&new_key});
  usleep(1'100'000);  // the file is looked at about every second
  EXPECT_EQ(refusal(v, old_token), "unknown kid") << "a retired key's tokens stop, also remembered ones";
}

TEST(Identity, AnAdminScopeMakesAnAdmin) {
  Verifier v(hs256_only());
  MintOptions o;
  o.user_id = "ops";
  o.issued_at_s = kNow;
  o.admin = true;
  auto r = v.verify(mint_hs256(kSecret, o), kNow);
  ASSERT_TRUE(std::holds_alternative<Identity>(r));
  EXPECT_TRUE(std::get<Identity>(r).admin);
  EXPECT_FALSE(std::get<Identity>(v.verify(minted("alice"), kNow)).admin);
}

TEST(Jwks, MalformedSetsAndKeysAreRefusedAndOthersSkipped) {
  EXPECT_THROW(parse_jwks("[]"), std::invalid_argument);
  EXPECT_THROW(parse_jwks(R"({"keys":[{"kid":"a","kty":"RSA","n":"!!","e":"AQAB"}]})"), std::invalid_argument);
  EXPECT_THROW(parse_jwks(R"({"keys":[{"kid":"a","kty":"EC","crv":"P-256","x":"AA","y":"AA"}]})"),
               std::invalid_argument);
  auto keys = parse_jwks(R"({"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"},{"kty":"RSA","n":"x","e":"AQAB"},
                                       {"kty":"RSA","kid":"enc","use":"enc","n":"x","e":"AQAB"}]})");
  EXPECT_TRUE(keys.empty()) << "symmetric, kid-less and encryption keys are left out";
}

}  // namespace
}  // namespace allot::identity
