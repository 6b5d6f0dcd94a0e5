// README "Who is the user" against the running stack: the user of every user endpoint is the verified
// bearer token's, whatever the body says; a claim is read and changed only by its user; every refusal is
// a 401/403 with the JSON error body, and a refused confirm or cancel publishes nothing (read back from
// allot.commands). Tokens are signed here, as the operator's sign-in would, with the stack's secret.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/identity/identity.h"
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
  std::string signed_as(const json& claims) { return "Bearer " + hs256_with_key({{"alg", "HS256"}, {"typ", "JWT"}}, claims, jwt_secret()); }
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
  auto none = base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(claims.dump()) + ".";
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
        if (auto* k = std::get_if<topics::Confirm>(&c.body); k && k->claim_request_id == id) actors.push_back(k->user_id);
        if (auto* k = std::get_if<topics::Cancel>(&c.body); k && k->claim_request_id == id) actors.push_back("cancel");
      },
      [&] { return !actors.empty(); }, 30s);
  EXPECT_EQ(actors, std::vector<std::string>{"alice"}) << "bob's refused attempts must publish nothing";
}

}  // namespace
}  // namespace allot
