#include "common/identity/identity.h"

#include <jwt.h>
#include <strings.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "common/base64url.h"
#include "common/config.h"
#include "common/identity/jwks.h"

namespace allot::identity {

namespace {

std::string read_secret_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("ALLOT_JWT_HS256_SECRET_FILE: cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  std::string secret = s.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw std::invalid_argument("ALLOT_JWT_HS256_SECRET_FILE: " + path + " is empty");
  return secret;
}

using Jwt = std::unique_ptr<jwt_t, decltype(&jwt_free)>;

struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;
  int64_t modified_ns = 0;
  bool operator==(const FileStamp& o) const {
    return device == o.device && inode == o.inode && size == o.size && modified_ns == o.modified_ns;
  }
};

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size, int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The registered claims a token is judged by.
struct Claims {
  std::optional<int64_t> exp, nbf;
  std::optional<std::string> iss, sub;
  std::vector<std::string> aud;  // a string aud is a list of one
  std::string scope;
};

// Through libjwt's getters, when every claim has the common shape (integer times, string iss, aud and
// sub); nullopt otherwise (an aud list, a fractional time, a missing claim), for json_claims to read.
std::optional<Claims> simple_claims(jwt_t* jwt) {
  Claims c;
  errno = 0;
  c.exp = jwt_get_grant_int(jwt, "exp");
  if (errno != 0) return std::nullopt;
  errno = 0;
  const long nbf = jwt_get_grant_int(jwt, "nbf");
  if (errno == 0) {
    c.nbf = nbf;
  } else {
    std::unique_ptr<char, decltype(&std::free)> other(jwt_get_grants_json(jwt, "nbf"), std::free);
    if (other) return std::nullopt;  // an nbf that is not an integer
  }
  const char* iss = jwt_get_grant(jwt, "iss");
  const char* aud = jwt_get_grant(jwt, "aud");
  const char* sub = jwt_get_grant(jwt, "sub");
  if (!iss || !aud || !sub) return std::nullopt;
  c.iss = iss;
  c.aud = {aud};
  c.sub = sub;
  if (const char* scope = jwt_get_grant(jwt, "scope")) c.scope = scope;
  return c;
}

// From the claims' JSON: any shape RFC 7519 allows; nullopt when it is not an object or a time is not a number.
std::optional<Claims> json_claims(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  Claims c;
  for (auto [name, slot] : {std::pair{"exp", &c.exp}, std::pair{"nbf", &c.nbf}}) {
    if (!j.contains(name)) continue;
    if (!j.at(name).is_number()) return std::nullopt;
    *slot = static_cast<int64_t>(j.at(name).get<double>());
  }
  auto text_of = [&j](const char* name) -> std::optional<std::string> {
    if (!j.contains(name) || !j.at(name).is_string()) return std::nullopt;
    return j.at(name).get<std::string>();
  };
  c.iss = text_of("iss");
  c.sub = text_of("sub");
  c.scope = text_of("scope").value_or("");
  if (j.contains("aud")) {
    const auto& aud = j.at("aud");
    if (aud.is_string()) c.aud.push_back(aud.get<std::string>());
    if (aud.is_array()) {
      for (const auto& a : aud) {
        if (a.is_string()) c.aud.push_back(a.get<std::string>());
      }
    }
  }
  return c;
}

}  // namespace

Settings settings_from_env() {
  Settings s;
  s.hs256_secret = env_string("ALLOT_JWT_HS256_SECRET", "");
  auto secret_file = env_string("ALLOT_JWT_HS256_SECRET_FILE", "");
  if (!secret_file.empty()) {
    if (!s.hs256_secret.empty()) {
      throw std::invalid_argument("set ALLOT_JWT_HS256_SECRET or ALLOT_JWT_HS256_SECRET_FILE, not both");
    }
    s.hs256_secret = read_secret_file(secret_file);
  }
  s.jwks_file = env_string("ALLOT_JWT_JWKS_FILE", "");
  s.issuer = env_string("ALLOT_JWT_ISSUER", s.issuer);
  s.audience = env_string("ALLOT_JWT_AUDIENCE", s.audience);
  s.leeway_s = env_int("ALLOT_JWT_LEEWAY_S", s.leeway_s, 0, 3600);
  return s;
}

struct Verifier::State {
  explicit State(Settings s) : settings(std::move(s)) {}
  Settings settings;

  // The JWKS file's keys, re-read when the file changes (checked about every second, and at once when
  // a token names a kid we do not have).
  mutable std::mutex keys_mu;
  mutable std::map<std::string, PublicKey> keys;
  mutable FileStamp keys_stamp;
  mutable int64_t keys_checked_ms = -1'000'000;
  mutable std::string keys_error;
  mutable std::atomic<int64_t> next_check_ms{0};  // verify()'s own look at the file, about every second

  // Verified tokens, by their text, in shards so that Pistache's threads rarely meet on one lock.
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Identity> tokens;
  };
  mutable std::array<Shard, 16> remembered;

  Shard& shard_of(std::string_view token) const { return remembered[std::hash<std::string_view>{}(token) % 16]; }

  void forget_all() const {
    for (auto& s : remembered) {
      std::lock_guard lock(s.mu);
      s.tokens.clear();
    }
  }

  // Re-reads the JWKS file if it changed; keeps the old keys when the new file is unreadable or malformed
  // (a half-written file must not lock everyone out). Called under keys_mu.
  void refresh_keys(int64_t now_ms, int64_t min_interval_ms) const {
    if (settings.jwks_file.empty() || now_ms - keys_checked_ms < min_interval_ms) return;
    keys_checked_ms = now_ms;
    auto stamp = stamp_of(settings.jwks_file);
    if (stamp == keys_stamp) return;
    try {
      std::ifstream in(settings.jwks_file);
      if (!in) throw std::invalid_argument("cannot read " + settings.jwks_file);
      std::stringstream text;
      text << in.rdbuf();
      keys = parse_jwks(text.str());
      keys_stamp = stamp;
      keys_error.clear();
      forget_all();  // a key taken out of the set must stop its tokens now
    } catch (const std::exception& e) {
      keys_error = e.what();
    }
  }

  std::optional<PublicKey> key(const std::string& kid) const {
    std::lock_guard lock(keys_mu);
    int64_t now = steady_ms();
    refresh_keys(now, 1000);
    auto it = keys.find(kid);
    if (it == keys.end()) {
      refresh_keys(now, 0);  // a stat(); the file is parsed again only when it changed
      it = keys.find(kid);
    }
    if (it == keys.end()) return std::nullopt;
    return it->second;
  }

  std::variant<Identity, Refusal> check(std::string_view token, int64_t now_s) const;
  std::variant<Identity, Refusal> judge(const Claims& claims, int64_t now_s) const;
};

std::variant<Identity, Refusal> Verifier::State::check(std::string_view token, int64_t now_s) const {
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Refusal{"not a signed JWT (header.payload.signature)"};
  }
  if (second + 1 == token.size()) return Refusal{"unsigned token"};
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base64url_decode(token.substr(0, first)));
  } catch (const std::exception&) {
    return Refusal{"malformed header"};
  }
  if (!header.is_object() || !header.contains("alg") || !header.at("alg").is_string()) {
    return Refusal{"no alg in the header"};
  }
  const auto alg = header.at("alg").get<std::string>();
  // libjwt refuses any typ but JWT; say so rather than blame the signature.
  if (header.contains("typ") &&
      !(header.at("typ").is_string() && strcasecmp(header.at("typ").get<std::string>().c_str(), "JWT") == 0)) {
    return Refusal{"typ must be JWT"};
  }
  // The key decides the algorithm, never the token: HS256 only with the shared secret, RS/ES only with
  // the JWKS key the kid names and the one alg that key is for.
  std::string key;
  if (alg == "HS256") {
    if (settings.hs256_secret.empty()) return Refusal{"HS256 tokens are not accepted here"};
    key = settings.hs256_secret;
  } else if (alg.size() == 5 && (alg.rfind("RS", 0) == 0 || alg.rfind("ES", 0) == 0)) {
    if (settings.jwks_file.empty()) return Refusal{alg + " tokens are not accepted here"};
    if (!header.contains("kid") || !header.at("kid").is_string()) return Refusal{"no kid in the header"};
    auto kid = header.at("kid").get<std::string>();
    auto found = this->key(kid);
    if (!found) return Refusal{"unknown kid"};
    if (found->alg != alg) return Refusal{"key " + kid + " is for " + found->alg + ", not " + alg};
    key = found->pem;
  } else {
    return Refusal{"algorithm " + alg + " is not accepted"};
  }
  jwt_t* raw = nullptr;
  std::string text(token);
  int rc =
      jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key.data()), static_cast<int>(key.size()));
  Jwt jwt(raw, jwt_free);
  if (rc != 0 || !jwt) return Refusal{"signature does not verify"};
  if (jwt_get_alg(jwt.get()) != jwt_str_alg(alg.c_str())) return Refusal{"algorithm mismatch"};
  auto claims = simple_claims(jwt.get());  // the common shape, without a JSON document
  if (!claims) {
    std::unique_ptr<char, decltype(&std::free)> grants(jwt_get_grants_json(jwt.get(), nullptr), std::free);
    claims = json_claims(grants ? grants.get() : "");
    if (!claims) return Refusal{"malformed claims"};
  }
  return judge(*claims, now_s);
}

std::variant<Identity, Refusal> Verifier::State::judge(const Claims& c, int64_t now_s) const {
  if (!c.exp) return Refusal{"no exp"};
  if (now_s > *c.exp + settings.leeway_s) return Refusal{"expired"};
  if (c.nbf && now_s + settings.leeway_s < *c.nbf) return Refusal{"not valid yet"};
  if (!settings.issuer.empty() && c.iss != settings.issuer) return Refusal{"wrong issuer"};
  if (!settings.audience.empty() && std::find(c.aud.begin(), c.aud.end(), settings.audience) == c.aud.end()) {
    return Refusal{"wrong audience"};
  }
  if (!c.sub || c.sub->empty()) return Refusal{"no sub"};
  Identity who;
  who.user_id = *c.sub;
  who.expires_at_s = *c.exp + settings.leeway_s;
  std::istringstream words(c.scope);
  for (std::string w; words >> w;) who.admin = who.admin || w == settings.admin_scope;
  return who;
}

Verifier::Verifier(Settings settings) : state_(std::make_unique<State>(std::move(settings))) {
  std::lock_guard lock(state_->keys_mu);
  state_->refresh_keys(steady_ms(), 0);
  if (!state_->keys_error.empty()) throw std::invalid_argument("ALLOT_JWT_JWKS_FILE: " + state_->keys_error);
}

Verifier::~Verifier() = default;

bool Verifier::has_keys() const {
  return !state_->settings.hs256_secret.empty() || !state_->settings.jwks_file.empty();
}

std::variant<Identity, Refusal> Verifier::verify(std::string_view token, int64_t now_s) const {
  if (!state_->settings.jwks_file.empty()) {
    // Also a remembered token must stop working about a second after its key left the file.
    int64_t now = steady_ms();
    if (now >= state_->next_check_ms.load(std::memory_order_relaxed)) {
      state_->next_check_ms.store(now + 1000, std::memory_order_relaxed);
      std::lock_guard lock(state_->keys_mu);
      state_->refresh_keys(now, 1000);
    }
  }
  auto& shard = state_->shard_of(token);
  {
    std::lock_guard lock(shard.mu);
    if (auto it = shard.tokens.find(std::string(token)); it != shard.tokens.end()) {
      if (now_s <= it->second.expires_at_s) return it->second;
      shard.tokens.erase(it);
    }
  }
  auto checked = state_->check(token, now_s);
  if (auto* who = std::get_if<Identity>(&checked)) {
    std::lock_guard lock(shard.mu);
    if (shard.tokens.size() * 16 >= state_->settings.remembered) shard.tokens.clear();
    shard.tokens.emplace(std::string(token), *who);
  }
  return checked;
}

std::string mint_hs256(const std::string& secret, const MintOptions& o) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new failed");
  Jwt jwt(raw, jwt_free);
  int64_t iat = o.issued_at_s;
  bool ok = jwt_add_grant(raw, "sub", o.user_id.c_str()) == 0 && jwt_add_grant(raw, "iss", o.issuer.c_str()) == 0 &&
            jwt_add_grant(raw, "aud", o.audience.c_str()) == 0 && jwt_add_grant_int(raw, "iat", iat) == 0 &&
            jwt_add_grant_int(raw, "nbf", iat) == 0 && jwt_add_grant_int(raw, "exp", iat + o.ttl_s) == 0 &&
            (!o.admin || jwt_add_grant(raw, "scope", "allot:admin") == 0) &&
            jwt_set_alg(raw, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                        static_cast<int>(secret.size())) == 0;
  if (!ok) throw std::runtime_error("cannot build the token");
  std::unique_ptr<char, decltype(&std::free)> text(jwt_encode_str(raw), std::free);
  if (!text) throw std::runtime_error("jwt_encode_str failed");
  return text.get();
}

}  // namespace allot::identity
