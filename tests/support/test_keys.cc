#include "test_keys.h"

#include "common/base64url.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <stdexcept>
#include <vector>

namespace allot::testsupport {

struct SigningKey::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string bn_param(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) throw std::runtime_error("no key parameter");
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return bytes;
}
}  // namespace

SigningKey::SigningKey(const std::string& kty, std::string kid) : kid_(std::move(kid)), key_(std::make_unique<Key>()) {
  if (kty == "RSA") {
    key_->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    alg_ = "RS256";
  } else {
    key_->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    alg_ = "ES256";
  }
  if (!key_->pkey) throw std::runtime_error("key generation failed");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_->pkey, nullptr, nullptr, 0, nullptr, nullptr);
  private_pem_ = bio_text(bio);
}

SigningKey::~SigningKey() = default;

nlohmann::json SigningKey::jwk() const {
  nlohmann::json j{{"kid", kid_}, {"use", "sig"}, {"alg", alg_}};
  if (alg_ == "RS256") {
    j["kty"] = "RSA";
    j["n"] = base64url_encode(bn_param(key_->pkey, OSSL_PKEY_PARAM_RSA_N));
    j["e"] = base64url_encode(bn_param(key_->pkey, OSSL_PKEY_PARAM_RSA_E));
  } else {
    j["kty"] = "EC";
    j["crv"] = "P-256";
    std::string x = bn_param(key_->pkey, OSSL_PKEY_PARAM_EC_PUB_X), y = bn_param(key_->pkey, OSSL_PKEY_PARAM_EC_PUB_Y);
    x.insert(0, 32 - x.size(), '\0');
    y.insert(0, 32 - y.size(), '\0');
    j["x"] = base64url_encode(x);
    j["y"] = base64url_encode(y);
  }
  return j;
}

std::string SigningKey::public_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_->pkey);
  return bio_text(bio);
}

std::string SigningKey::sign(const nlohmann::json& claims) const {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, claims.dump().c_str());
  jwt_add_header(jwt, "kid", kid_.c_str());
  jwt_set_alg(jwt, jwt_str_alg(alg_.c_str()), reinterpret_cast<const unsigned char*>(private_pem_.data()),
              static_cast<int>(private_pem_.size()));
  char* text = jwt_encode_str(jwt);
  std::string out = text ? text : "";
  free(text);
  jwt_free(jwt);
  if (out.empty()) throw std::runtime_error("signing failed");
  return out;
}

nlohmann::json user_claims(const std::string& user, int64_t now_s, const std::string& issuer,
                           const std::string& audience) {
  return {{"sub", user}, {"iss", issuer}, {"aud", audience}, {"iat", now_s}, {"nbf", now_s}, {"exp", now_s + 3600}};
}

std::string hs256_with_key(const nlohmann::json& header, const nlohmann::json& claims, const std::string& key) {
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace allot::testsupport
