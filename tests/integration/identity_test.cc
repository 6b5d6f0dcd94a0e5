// README "Who is the user" against the running stack: the user of every user endpoint is the verified
// bearer token's, whatever the body says; a claim is read and changed only by its user; every refusal is
// a 401/403 with the JSON error body, and a refused confirm or cancel publishes nothing (read back from
// allot.commands). Tokens are signed here, as the operator's sign-in would, with the stack's secret.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/base64url.h"
#include "common/identity/identity.h"
#include "in_process_ingress.h"
#include "ingress/proof_of_work.h"
#include "stack_api.h"
#include "support.h"
#include "test_keys.h"
#include "topics/messages.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;

void expect_error(const HttpResponse& r, int status, const std::string& code, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error") && j["error"].is_object()) << what << ": " << r.body;
  EXPECT_EQ(j["error"].value("code", ""), code) << what << ": " << r.body;
  EXPECT_FALSE(j["error"].value("message", "").empty()) << what;
  EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type").rfind("application/json", 0) : 1, 0u)
      << what;
}

class Identity : public ::testing::Test {
 protected:
  HttpClient http_{http_port()};
  const int64_t now_s_ = now_ms() / 1000;
  HttpResponse claim_with(const std::string& event, const std::string& authorization, const std::string& body = "{}") {
    std::vector<std::pair<std::string, std::string>> h;
    if (!authorization.empty()) h.emplace_back("Authorization", authorization);
    return http_.post_json("/api/events/" + event + "/claims", body, h);
  }
  std::string signed_as(const json& claims) {
    return "Bearer " + hs256_with_key({{"alg", "HS256"}, {"typ", "JWT"}}, claims, jwt_secret());
  }
};

TEST_F(Identity, EveryTokenThatIsNotAValidUsersIs401WithTheErrorBody) {
  const auto event = unique_id("id-401");
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", event}, {"title", "Tokens"}, {"stock", 5}}));
  TopicTail commands("allot.commands");
  auto claims = user_claims("alice", now_s_);
  auto with = [&](const char* k, json v) {
    auto c = claims;
    c[k] = std::move(v);
    return c;
  };
  expect_error(claim_with(event, ""), 401, "unauthenticated", "no token");
  expect_error(claim_with(event, "Basic YWxpY2U6eA=="), 401, "invalid_token", "not a bearer");
  expect_error(claim_with(event, "Bearer " + user_token("alice") + "A"), 401, "invalid_token", "bad signature");
  auto none = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(claims.dump()) + ".";
  expect_error(claim_with(event, "Bearer " + none), 401, "invalid_token", "alg none");
  SigningKey rsa("RSA", "stack-has-no-such-kid");
  expect_error(claim_with(event, "Bearer " + hs256_with_key({{"alg", "HS256"}}, claims, rsa.public_pem())), 401,
               "invalid_token", "HS256 keyed with an RSA public key");
  expect_error(claim_with(event, "Bearer " + rsa.sign(claims)), 401, "invalid_token", "unknown kid");
  expect_error(claim_with(event, signed_as(with("exp", now_s_ - 3600))), 401, "invalid_token", "expired");
  expect_error(claim_with(event, signed_as(with("nbf", now_s_ + 3600))), 401, "invalid_token", "not yet valid");
  expect_error(claim_with(event, signed_as(with("iss", "someone-else"))), 401, "invalid_token", "wrong iss");
  expect_error(claim_with(event, signed_as(with("aud", "another-api"))), 401, "invalid_token", "wrong aud");
  expect_error(claim_with(event, signed_as(with("sub", "not a user id"))), 401, "invalid_token", "bad sub");
  expect_error(claim_with(event, "Bearer " + admin_token()), 401, "invalid_token", "the admin token is no user");
  for (const char* path : {"/api/v1/events/", "/api/v2/events/"}) {
    expect_error(http_.post_json(path + event + "/claims", R"({"user_id":"alice"})"), 401, "unauthenticated", path);
  }
  expect_error(http_.request("GET", "/api/claims/nothing-here"), 401, "unauthenticated", "GET claim");
  expect_error(http_.request("GET", "/api/queue/nothing-here"), 401, "unauthenticated", "GET queue");

  // One accepted claim, so the read below knows where to stop: the event's commands are on one partition,
  // in order, so anything a refusal had published would come before it.
  auto ok = claim_with(event, signed_as(claims));
  ASSERT_EQ(ok.status, 202) << ok.body;
  const auto ok_id = json_field(ok, "request_id");
  size_t published = 0;
  bool seen_ok = false;
  commands.read_until(
      [&](const RdKafka::Message& m) {
        auto c = topics::decode_command(std::string_view(static_cast<const char*>(m.payload()), m.len()));
        if (c.event_id() != event) return;
        ++published;
        seen_ok = seen_ok || c.request_id == ok_id;
      },
      [&] { return seen_ok; }, 30s);
  EXPECT_TRUE(seen_ok);
  EXPECT_EQ(published, 1u) << "a refused claim reached allot.commands";
}

TEST_F(Identity, TheBodyCannotNameAnotherUser) {
  const auto event = unique_id("id-403");
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", event}, {"title", "Mismatch"}, {"stock", 5}}));
  expect_error(http_.post_json("/api/events/" + event + "/claims", R"({"user_id":"bob"})", as_user("alice")), 403,
               "user_mismatch", "alice's token, bob's body");
  expect_error(http_.post_json("/api/v2/events/" + event + "/claims", R"({"user_id":"bob"})", as_user("alice")), 403,
               "user_mismatch", "v2");
  auto own = http_.post_json("/api/events/" + event + "/claims?wait_ms=10000", "{}", as_user("alice"));
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(json_field(own, "user_id"), "alice");
  EXPECT_EQ(json_field(own, "status"), "issued");
}

TEST_F(Identity, OnlyTheHolderConfirmsOrCancelsAndOnlyTheUserReadsTheirClaim) {
  const auto event = unique_id("id-owner");
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", event}, {"title", "Seats"}, {"stock", 2}, {"mode", "hold"}, {"hold_ms", 600000}}));
  TopicTail commands("allot.commands");
  auto held = http_.post_json("/api/events/" + event + "/claims?wait_ms=10000", "{}", as_user("alice"));
  ASSERT_EQ(held.status, 200) << held.body;
  ASSERT_EQ(json_field(held, "status"), "held") << held.body;
  const auto id = json_field(held, "request_id");

  for (const char* action : {"confirm", "cancel"}) {
    expect_error(http_.post_json("/api/claims/" + id + "/" + action, "{}", as_user("bob")), 403, "not_yours", action);
    // Naming alice in the body does not make bob alice.
    expect_error(http_.post_json("/api/claims/" + id + "/" + action, R"({"user_id":"alice"})", as_user("bob")), 403,
                 "user_mismatch", action);
  }
  auto bobs_read = http_.request("GET", "/api/claims/" + id, "", as_user("bob"));
  auto nothing = http_.request("GET", "/api/claims/" + unique_id("never"), "", as_user("bob"));
  expect_error(bobs_read, 404, "not_found", "bob reads alice's claim");
  EXPECT_EQ(bobs_read.body.find("alice"), std::string::npos) << bobs_read.body;
  EXPECT_EQ(json::parse(bobs_read.body)["error"]["code"], json::parse(nothing.body)["error"]["code"]);
  auto alices_read = http_.request("GET", "/api/claims/" + id, "", as_user("alice"));
  EXPECT_EQ(alices_read.status, 200) << alices_read.body;
  EXPECT_EQ(http_.request("GET", "/api/claims/" + id, "", as_admin()).status, 200);

  // Alice confirms: the only confirm or cancel of her claim in allot.commands is hers.
  auto confirmed = http_.post_json("/api/claims/" + id + "/confirm?wait_ms=10000", "{}", as_user("alice"));
  ASSERT_EQ(confirmed.status, 200) << confirmed.body;
  EXPECT_EQ(json_field(confirmed, "status"), "confirmed");
  std::vector<std::string> actors;
  commands.read_until(
      [&](const RdKafka::Message& m) {
        auto c = topics::decode_command(std::string_view(static_cast<const char*>(m.payload()), m.len()));
        if (auto* k = std::get_if<topics::Confirm>(&c.body); k && k->claim_request_id == id)
          actors.push_back(k->user_id);
        if (auto* k = std::get_if<topics::Cancel>(&c.body); k && k->claim_request_id == id) actors.push_back("cancel");
      },
      [&] { return !actors.empty(); }, 30s);
  EXPECT_EQ(actors, std::vector<std::string>{"alice"}) << "bob's refused attempts must publish nothing";
}

// An identity provider's public keys in a JWKS file: RS256 and ES256 by kid, no HS/RS confusion, and a
// rotation (a new key added, the old one retired) taken without a restart. An ingress of this process
// reads the file, as the stack's would with ALLOT_JWT_JWKS_FILE.
TEST_F(Identity, KeysOfAJwksFileByKidAndARotationWithoutARestart) {
  const auto event = unique_id("id-jwks");
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", event}, {"title", "Provider"}, {"stock", 100}}));
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("allot-jwks-" + std::to_string(::getpid()) + ".json");
  auto write_keys = [&](const std::vector<const SigningKey*>& keys) {
    json set{{"keys", json::array()}};
    for (const auto* k : keys) set["keys"].push_back(k->jwk());
    std::ofstream(path.string() + ".tmp") << set.dump();
    std::filesystem::rename(path.string() + ".tmp", path);
  };
  SigningKey rsa("RSA", "2026-11-rsa"), ec("EC", "2026-12-ec");
  write_keys({&rsa});
  InProcessIngressOptions o;
  o.user_rate = 0;
  o.identity = identity::Settings{};
  o.identity->jwks_file = path.string();
  InProcessIngress ingress(o);
  ingress.wait_ready();
  HttpClient http(ingress.port());
  auto claim = [&](const std::string& token) {
    return http.post_json("/api/events/" + event + "/claims", "{}", {{"Authorization", "Bearer " + token}});
  };
  EXPECT_EQ(claim(rsa.sign(user_claims("alice", now_s_))).status, 202);
  expect_error(claim(ec.sign(user_claims("bob", now_s_))), 401, "invalid_token", "a kid not in the file yet");
  expect_error(
      claim(hs256_with_key({{"alg", "HS256"}, {"kid", rsa.kid()}}, user_claims("mallory", now_s_), rsa.public_pem())),
      401, "invalid_token", "HS256 keyed with the provider's RSA public key");
  expect_error(claim(user_token("carol")), 401, "invalid_token", "HS256 when only the JWKS is configured");

  write_keys({&rsa, &ec});  // the provider adds its next key
  EXPECT_EQ(claim(ec.sign(user_claims("bob", now_s_))).status, 202) << "the new key, without a restart";
  const auto old_token = rsa.sign(user_claims("dave", now_s_));
  EXPECT_EQ(claim(old_token).status, 202);
  write_keys({&ec});                    // and retires the old one
  std::this_thread::sleep_for(1500ms);  // the file is looked at about every second
  expect_error(claim(old_token), 401, "invalid_token", "a token of a retired key, also one verified before");
  std::filesystem::remove(path);
}

// One client address cannot claim for a crowd of identities: per-address buckets whatever the tokens say.
TEST_F(Identity, OneAddressCannotClaimForACrowdOfIdentities) {
  const auto event = unique_id("id-addr");
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", event}, {"title", "Bots"}, {"stock", 100}}));
  InProcessIngressOptions o;
  o.address_rate = 1;
  o.address_burst = 5;
  InProcessIngress ingress(o);
  ingress.wait_ready();
  HttpClient http(ingress.port());
  int accepted = 0, limited = 0;
  for (int i = 0; i < 20; ++i) {
    const auto user = "bot-" + std::to_string(i);
    auto r = http.post_json("/api/events/" + event + "/claims", "{}", as_user(user));
    if (r.status == 202) ++accepted;
    if (r.status == 429) {
      ++limited;
      expect_error(r, 429, "rate_limited", user);
      EXPECT_TRUE(r.headers.count("retry-after")) << "429 without Retry-After";
    }
  }
  EXPECT_LE(accepted, 6) << "twenty identities from one address got through";
  EXPECT_GE(accepted, 5);
  EXPECT_EQ(accepted + limited, 20);
}

// An event with pow_bits: no proof, a wrong one, another user's, a replayed one are 403; a fresh solution
// of the user's own challenge is a claim.
TEST_F(Identity, ProofOfWorkMissingWrongReplayedAndValid) {
  const auto event = unique_id("id-pow");
  ASSERT_NO_FATAL_FAILURE(create_event({{"event_id", event}, {"title", "Bot-proof"}, {"stock", 10}, {"pow_bits", 12}}));
  auto claim = [&](const std::string& user, const std::string& proof) {
    auto h = as_user(user);
    if (!proof.empty()) h.emplace_back("Proof-Of-Work", proof);
    return http_.post_json("/api/events/" + event + "/claims?wait_ms=10000", "{}", h);
  };
  expect_error(claim("alice", ""), 403, "pow_required", "no proof");
  auto issued = http_.request("GET", "/api/events/" + event + "/challenge", "", as_user("alice"));
  ASSERT_EQ(issued.status, 200) << issued.body;
  auto body = json::parse(issued.body);
  EXPECT_EQ(body["bits"], 12);
  const auto challenge = body["challenge"].get<std::string>();
  std::string proof, wrong;  // a solution, and a candidate that is none
  for (int64_t n = 0; (proof.empty() || wrong.empty()) && n < 100'000'000; ++n) {
    auto candidate = challenge + ":" + std::to_string(n);
    if (ingress::has_leading_zero_bits(candidate, 12)) {
      if (proof.empty()) proof = candidate;
    } else if (wrong.empty()) {
      wrong = candidate;
    }
  }
  ASSERT_FALSE(proof.empty()) << "no solution found";
  expect_error(claim("alice", wrong), 403, "pow_invalid", "not a solution");
  expect_error(claim("bob", proof), 403, "pow_invalid", "alice's challenge, bob's claim");
  auto ok = claim("alice", proof);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json_field(ok, "status"), "issued");
  expect_error(claim("alice", proof), 403, "pow_invalid", "the same solution again");
}

}  // namespace
}  // namespace allot
