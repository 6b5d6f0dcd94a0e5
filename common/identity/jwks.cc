#include "common/identity/jwks.h"

#include "common/base64url.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace allot::identity {

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBuild = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using KeyContext = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

[[noreturn]] void malformed(const std::string& kid, const std::string& why) {
  throw std::invalid_argument("JWKS key \"" + kid + "\": " + why);
}

std::string member(const nlohmann::json& key, const char* name, const std::string& kid) {
  if (!key.contains(name) || !key.at(name).is_string()) malformed(kid, std::string("no \"") + name + "\"");
  return key.at(name).get<std::string>();
}

// Builds a public key of `type` ("RSA", "EC") from OpenSSL parameters and writes it as PEM.
std::string to_pem(const char* type, OSSL_PARAM_BLD* build, const std::string& kid) {
  Params params(OSSL_PARAM_BLD_to_param(build));
  KeyContext ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    malformed(kid, "not a valid public key");
  }
  Key key(raw);
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) malformed(kid, "cannot be written as PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

PublicKey rsa_key(const nlohmann::json& jwk, const std::string& kid) {
  auto n = base64url_decode(member(jwk, "n", kid));
  auto e = base64url_decode(member(jwk, "e", kid));
  auto as_bn = [](const std::string& bytes) {
    return Bignum(
        BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
  };
  Bignum bn_n = as_bn(n), bn_e = as_bn(e);
  ParamBuild build(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !build || OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    malformed(kid, "bad n or e");
  }
  std::string alg = jwk.value("alg", "RS256");
  if (alg != "RS256" && alg != "RS384" && alg != "RS512") malformed(kid, "an RSA key cannot be used with " + alg);
  return PublicKey{alg, to_pem("RSA", build.get(), kid)};
}

PublicKey ec_key(const nlohmann::json& jwk, const std::string& kid) {
  struct Curve {
    const char *jose, *openssl, *alg;
    size_t bytes;
  };
  static constexpr Curve kCurves[] = {
      {"P-256", "prime256v1", "ES256", 32}, {"P-384", "secp384r1", "ES384", 48}, {"P-521", "secp521r1", "ES512", 66}};
  auto crv = member(jwk, "crv", kid);
  const Curve* curve = nullptr;
  for (const auto& c : kCurves) {
    if (crv == c.jose) curve = &c;
  }
  if (!curve) malformed(kid, "unknown curve " + crv);
  auto x = base64url_decode(member(jwk, "x", kid));
  auto y = base64url_decode(member(jwk, "y", kid));
  if (x.size() != curve->bytes || y.size() != curve->bytes) malformed(kid, "x or y of the wrong length");
  std::string point = "\x04" + x + y;  // uncompressed point
  ParamBuild build(OSSL_PARAM_BLD_new());
  if (!build || OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->openssl, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    malformed(kid, "bad point");
  }
  std::string alg = jwk.value("alg", curve->alg);
  if (alg != curve->alg) malformed(kid, "a " + crv + " key cannot be used with " + alg);
  return PublicKey{alg, to_pem("EC", build.get(), kid)};
}

}  // namespace

std::map<std::string, PublicKey> parse_jwks(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("keys") || !doc.at("keys").is_array()) {
    throw std::invalid_argument("not a JSON Web Key Set: {\"keys\": [...]} expected");
  }
  std::map<std::string, PublicKey> keys;
  for (const auto& jwk : doc.at("keys")) {
    if (!jwk.is_object() || !jwk.contains("kid") || !jwk.at("kid").is_string()) continue;
    if (jwk.contains("use") && jwk.at("use") != "sig") continue;
    auto kid = jwk.at("kid").get<std::string>();
    auto kty = jwk.value("kty", "");
    if (kty == "RSA") {
      keys[kid] = rsa_key(jwk, kid);
    } else if (kty == "EC") {
      keys[kid] = ec_key(jwk, kid);
    }
  }
  return keys;
}

}  // namespace allot::identity
