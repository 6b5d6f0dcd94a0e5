// The API's 4xx/5xx rules without a broker or Redis: handlers from the route table (ingress/api/) over
// fakes of the publisher, the projection reader, the group offsets and the baselines.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/identity/identity.h"
#include "ingress/api/api.h"
#include "ingress/payment_signature.h"
#include "ingress/proof_of_work.h"

namespace allot::ingress {
namespace {

using nlohmann::json;

// What one request was answered.
struct Answered {
  int status = 0;
  std::string body;
  int retry_after_s = 0;
  int answers = 0;
  json error() const { return json::parse(body, nullptr, false)["error"]; }
  std::string code() const { return status >= 400 ? error().value("code", "") : ""; }
};

class FakeAnswer : public api::Answer {
 public:
  explicit FakeAnswer(std::shared_ptr<Answered> a) : a_(std::move(a)) {}
  void send(int status, const std::string& body, int retry_after_s) override {
    a_->status = status;
    a_->body = body;
    a_->retry_after_s = retry_after_s;
    a_->answers++;
  }

 private:
  std::shared_ptr<Answered> a_;
};

// Keeps what is published; delivers at once (auto_deliver) or when the test says.
class FakePublisher : public CommandPublisher {
 public:
  void publish(const topics::Command& c, std::unique_ptr<Delivery> d, int32_t partition) override {
    commands.push_back(c);
    partitions.push_back(partition);
    if (!auto_deliver) return pending.push_back(std::move(d));
    if (refuse) return d->failed("refused by the test");
    d->delivered({partition < 0 ? 0 : partition, static_cast<int64_t>(commands.size())});
  }
  int32_t partition_count(std::chrono::milliseconds) override { return 12; }
  bool ready() const override { return up && !broken; }
  bool failed() const override { return broken; }
  std::string fatal_error() const override { return broken ? "broken by the test" : ""; }
  void flush(int) override {}

  bool up = true, broken = false, auto_deliver = true, refuse = false;
  std::vector<topics::Command> commands;
  std::vector<int32_t> partitions;
  std::vector<std::unique_ptr<Delivery>> pending;
};

class FakeProjections : public ProjectionReader {
 public:
  std::optional<EventView> event(const std::string& id) const override {
    check();
    for (const auto& e : events_) {
      if (e.event_id == id) return e;
    }
    return std::nullopt;
  }
  std::vector<EventView> events(size_t) const override {
    check();
    return events_;
  }
  std::optional<ClaimView> claim(const std::string& id) const override {
    check();
    for (const auto& c : claims_) {
      if (c.request_id == id) return c;
    }
    return std::nullopt;
  }
  std::vector<RankEntry> ranking(const std::string&, size_t) const override {
    check();
    return {};
  }
  BaselineCounts baselines(const std::string&) const override {
    check();
    return {};
  }
  WalletView wallet(const std::string& user) const override {
    check();
    return {user, 0, {}};
  }
  std::vector<SeatView> seats(const std::string&) const override {
    check();
    return {};
  }
  std::vector<PopularProduct> popular(size_t) const override {
    check();
    return {};
  }
  void check() const {
    if (down) throw ProjectionUnavailable("down for the test");
  }
  std::vector<EventView> events_;
  std::vector<ClaimView> claims_;
  bool down = false;
};

class FakeOffsets : public QueueOffsets {
 public:
  int64_t queue_position(topics::CommandPosition) const override { return 3; }
  std::optional<int64_t> estimated_wait_ms(int64_t) const override { return std::nullopt; }
  bool caught_up() const override { return caught_up_; }
  bool caught_up_ = true;
};

class FakeBaselines : public BaselineClaims {
 public:
  void claim(Strategy, const std::string&, const std::string&, const std::string&, BaselineDone done) override {
    claims++;
    done(200, R"({"status":"issued"})");
  }
  int claims = 0;
};

EventView event(const std::string& id, int64_t admit_per_s = 0) {
  EventView e;
  e.event_id = id;
  e.title = id;
  e.stock = 10;
  e.remaining = 10;
  e.admit_per_s = admit_per_s;
  return e;
}

ClaimView claim_view(const std::string& request_id, const std::string& user, const std::string& status) {
  ClaimView c;
  c.request_id = request_id;
  c.event_id = "e1";
  c.user_id = user;
  c.status = status;
  return c;
}

constexpr const char* kAdmin = "admin-secret";
constexpr const char* kSecret = "the-stacks-hs256-secret-for-this-test";

// A token of `user` as the operator's sign-in would issue it.
std::string token(const std::string& user, identity::MintOptions o = {}) {
  o.user_id = user;
  if (o.issued_at_s == 0) o.issued_at_s = now_ms() / 1000;
  return identity::mint_hs256(kSecret, o);
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() {
    projections.events_.push_back(event("e1"));
    options.admin_token = kAdmin;
    options.admission_key = "room-key";
    options.identity.hs256_secret = kSecret;
  }
  api::Api& api() {
    if (!api_) {
      api_ = std::make_unique<api::Api>(options, publisher, ReadSide{projections, processors, sink, nullptr}, baselines,
                                        registry, gate);
    }
    return *api_;
  }
  // Calls the route named `name` with `req` and returns its answer.
  Answered call(const std::string& name, const api::Request& req) {
    auto answered = std::make_shared<Answered>();
    for (const auto& route : api().routes()) {
      if (route.name != name) continue;
      route.handler(req, api::Reply(std::make_unique<FakeAnswer>(answered), api().probe(), req.received));
      EXPECT_EQ(answered->answers, 1) << name << " must answer exactly once";
      if (answered->status >= 400) {
        EXPECT_FALSE(answered->code().empty()) << "error without a JSON code: " << answered->body;
        EXPECT_FALSE(answered->error().value("message", "").empty()) << answered->body;
      }
      return *answered;
    }
    ADD_FAILURE() << "no route " << name;
    return *answered;
  }
  static api::Request json_post(std::vector<std::pair<std::string, std::string>> params, std::string body) {
    api::Request r;
    r.params = std::move(params);
    r.headers = {{"content-type", "application/json"}};
    r.body = std::move(body);
    r.peer = "127.0.0.1";
    return r;
  }
  // `r` sent by signed-in `user`.
  static api::Request as(const std::string& user, api::Request r) {
    r.headers.emplace_back("authorization", "Bearer " + token(user));
    return r;
  }
  // A claim (or join) by `user`, whose body names `body_user` (the same user unless a test says).
  static api::Request claim_request(const std::string& event_id, const std::string& user,
                                    const std::optional<std::string>& body_user = std::nullopt) {
    return as(user, json_post({{"event_id", event_id}}, R"({"user_id":")" + body_user.value_or(user) + R"("})"));
  }
  // A confirm or cancel of claim `id` by `user`.
  static api::Request hold_request(const std::string& id, const std::string& user) {
    return as(user, json_post({{"request_id", id}}, "{}"));
  }
  // GET of claim or join `id` by `user`.
  static api::Request read_request(const std::string& id, const std::string& user) {
    return as(user, json_post({{"request_id", id}}, ""));
  }
  static api::Request admin(api::Request r) {
    r.headers.emplace_back("authorization", std::string("Bearer ") + kAdmin);
    return r;
  }

  metrics::Registry registry;
  FakePublisher publisher;
  FakeProjections projections;
  FakeOffsets processors, sink;
  FakeBaselines baselines;
  api::DrainGate gate;
  ApiOptions options;
  std::unique_ptr<api::Api> api_;
};

TEST_F(ApiTest, EveryRouteHasANameAndThePathsItAnswers) {
  std::vector<std::string> names;
  for (const auto& r : api().routes()) {
    EXPECT_FALSE(r.name.empty());
    EXPECT_EQ(r.path.front(), '/');
    names.push_back(r.name);
  }
  for (const char* name : {"create_event", "list_events", "get_event",  "delete_event", "get_ranking",
                           "close_event",  "claim",       "get_claim",  "confirm",      "cancel",
                           "join",         "get_queue",   "v1_claim",   "v2_claim",     "healthz",
                           "readyz",       "charge",      "get_wallet", "get_seats",    "get_popular_products"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

TEST_F(ApiTest, AnAcceptedClaimIs202WithItsQueuePositionOnlyOnceTheBrokerHasIt) {
  publisher.auto_deliver = false;
  auto answered = std::make_shared<Answered>();
  auto req = claim_request("e1", "alice");
  for (const auto& route : api().routes()) {
    if (route.name == "claim") {
      route.handler(req, api::Reply(std::make_unique<FakeAnswer>(answered), api().probe(), req.received));
    }
  }
  EXPECT_EQ(answered->answers, 0) << "answered before the broker acknowledged";
  ASSERT_EQ(publisher.pending.size(), 1u);
  publisher.pending[0]->delivered({4, 99});
  EXPECT_EQ(answered->status, 202);
  auto body = json::parse(answered->body);
  EXPECT_EQ(body["status"], "pending");
  EXPECT_EQ(body["queue_position"], 3);
  const auto& c = publisher.commands.at(0);
  EXPECT_EQ(std::get<topics::Claim>(c.body).user_id, "alice");
  EXPECT_EQ(body["request_id"], c.request_id);
}

TEST_F(ApiTest, AClaimTheBrokerDidNotStoreIs503WithRetryAfter) {
  publisher.refuse = true;
  auto a = call("claim", claim_request("e1", "alice"));
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.code(), "broker_unavailable");
  EXPECT_EQ(a.retry_after_s, 1);
}

TEST_F(ApiTest, TheDoorRefusesBadClaimsBeforeAnythingIsPublished) {
  options.max_body_bytes = 64;
  auto no_type = claim_request("e1", "alice");
  no_type.headers.clear();
  EXPECT_EQ(call("claim", no_type).status, 415);
  EXPECT_EQ(call("claim", claim_request("e1", std::string(60, 'a'))).code(), "body_too_large");
  EXPECT_EQ(call("claim", claim_request("E1!", "alice")).code(), "invalid_event_id");
  EXPECT_EQ(call("claim", as("alice", json_post({{"event_id", "e1"}}, "{not json"))).code(), "malformed_json");
  EXPECT_EQ(call("claim", claim_request("e1", "alice", "al ice")).status, 400);
  auto bad_key = claim_request("e1", "alice");
  bad_key.headers.emplace_back("idempotency-key", "no spaces allowed");
  EXPECT_EQ(call("claim", bad_key).code(), "invalid_idempotency_key");
  auto bad_wait = claim_request("e1", "alice");
  bad_wait.query.emplace_back("wait_ms", "99999999");
  EXPECT_EQ(call("claim", bad_wait).code(), "invalid_wait_ms");
  EXPECT_TRUE(publisher.commands.empty());
}

TEST_F(ApiTest, AnEventIsUnknownOnlyWhenTheIngressIsSure) {
  EXPECT_EQ(call("claim", claim_request("nope", "alice")).code(), "unknown_event");
  sink.caught_up_ = false;  // a creation may still be on its way: the processor decides
  EXPECT_EQ(call("claim", claim_request("nope", "alice")).status, 202);
  projections.down = true;
  EXPECT_EQ(call("claim", claim_request("nope2", "bob")).status, 202);
}

TEST_F(ApiTest, ADeletedEventsClaimsAndJoinsAre404) {
  projections.events_.push_back(event("gone"));
  projections.events_.back().deleted = true;
  EXPECT_EQ(call("claim", claim_request("gone", "alice")).code(), "event_deleted");
  EXPECT_EQ(call("join", claim_request("gone", "alice")).code(), "event_deleted");
  // Deleted through this ingress: 404 at once, before the projection says so.
  auto del = admin(json_post({{"event_id", "e1"}}, ""));
  EXPECT_EQ(call("delete_event", del).status, 202);
  EXPECT_EQ(call("claim", claim_request("e1", "alice")).code(), "event_deleted");
}

TEST_F(ApiTest, ABrokerThatIsDownOrFailedIs503) {
  publisher.up = false;
  auto a = call("claim", claim_request("e1", "alice"));
  EXPECT_EQ(a.code(), "broker_unavailable");
  EXPECT_EQ(a.retry_after_s, 1);
  publisher.broken = true;
  EXPECT_EQ(call("claim", claim_request("e1", "alice")).code(), "producer_failed");
  EXPECT_EQ(call("readyz", api::Request{}).status, 503);
  EXPECT_TRUE(publisher.commands.empty());
}

TEST_F(ApiTest, AStoppingIngressTakesNoCommandAndIsNotReady) {
  EXPECT_EQ(call("readyz", api::Request{}).status, 200);
  gate.close();
  EXPECT_EQ(call("claim", claim_request("e1", "alice")).code(), "shutting_down");
  EXPECT_EQ(call("close_event", admin(json_post({{"event_id", "e1"}}, ""))).code(), "shutting_down");
  auto ready = call("readyz", api::Request{});
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(json::parse(ready.body)["draining"], true);
  EXPECT_TRUE(publisher.commands.empty());
}

TEST_F(ApiTest, AdminEndpointsNeedTheAdminToken) {
  auto create = json_post({}, R"({"event_id":"e2","title":"t","stock":5})");
  EXPECT_EQ(call("create_event", create).status, 401);
  auto wrong = create;
  wrong.headers.emplace_back("authorization", "Bearer not-it");
  EXPECT_EQ(call("create_event", wrong).code(), "unauthorized");
  EXPECT_EQ(call("close_event", json_post({{"event_id", "e1"}}, "")).status, 401);
  EXPECT_EQ(call("delete_event", json_post({{"event_id", "e1"}}, "")).status, 401);
  EXPECT_TRUE(publisher.commands.empty());
  EXPECT_EQ(call("create_event", admin(create)).status, 202);
  EXPECT_EQ(call("create_event", admin(create)).code(), "event_exists") << "created here: 409 from now on";
  EXPECT_EQ(call("create_event", admin(json_post({}, R"({"event_id":"e1","title":"t","stock":5})"))).status, 409);
}

TEST_F(ApiTest, AMegaEventIsOneCommandPerSliceAnsweredOnce) {
  auto a = call("create_event", admin(json_post({}, R"({"event_id":"big","title":"t","stock":10,"partitions":4})")));
  EXPECT_EQ(a.status, 202);
  ASSERT_EQ(publisher.commands.size(), 4u);
  int64_t stock = 0;
  for (const auto& c : publisher.commands) stock += std::get<topics::CreateEvent>(c.body).stock;
  EXPECT_EQ(stock, 10);
  EXPECT_EQ(json::parse(a.body)["slice_request_ids"].size(), 4u);
  EXPECT_EQ(call("create_event", admin(json_post({}, R"({"event_id":"big2","title":"t","stock":10,"partitions":13})")))
                .status,
            400);
  // A claim on it goes to the user's slice; a close to every slice.
  EXPECT_EQ(call("claim", claim_request("big", "alice")).status, 202);
  EXPECT_NE(publisher.commands.back().event_id(), "big");
  EXPECT_EQ(call("close_event", admin(json_post({{"event_id", "big"}}, ""))).status, 202);
  EXPECT_EQ(publisher.commands.size(), 4u + 1u + 4u);
}

TEST_F(ApiTest, OnlyTheHolderMayConfirmOrCancelAHold) {
  projections.claims_.push_back(claim_view("held-1", "alice", "held"));
  projections.claims_.push_back(claim_view("done-1", "alice", "confirmed"));
  auto confirm = [&](const std::string& id, const std::string& user) {
    return call("confirm", hold_request(id, user));
  };
  EXPECT_EQ(confirm("held-1", "bob").code(), "not_yours");
  EXPECT_EQ(call("cancel", hold_request("held-1", "bob")).code(), "not_yours");
  // The user is the token's: naming alice in bob's body does not make it alice's.
  auto posing = as("bob", json_post({{"request_id", "held-1"}}, R"({"user_id":"alice"})"));
  EXPECT_EQ(call("confirm", posing).code(), "user_mismatch");
  EXPECT_EQ(confirm("done-1", "alice").code(), "not_held");
  EXPECT_EQ(confirm("nobody", "alice").code(), "unknown_claim");
  EXPECT_EQ(confirm("bad id!", "alice").code(), "invalid_request_id");
  EXPECT_TRUE(publisher.commands.empty()) << "a refused confirm publishes nothing";
  EXPECT_EQ(confirm("held-1", "alice").status, 202);
  ASSERT_EQ(publisher.commands.size(), 1u);
  EXPECT_EQ(std::get<topics::Confirm>(publisher.commands[0].body).claim_request_id, "held-1");
  EXPECT_NE(registry.render().find(R"(allot_ingress_rejections_total{reason="not_yours"} 2)"), std::string::npos);
}

TEST_F(ApiTest, AConfirmOfAClaimNotDecidedYetIs409) {
  EXPECT_EQ(call("claim", claim_request("e1", "alice")).status, 202);
  const auto id = publisher.commands.back().request_id;
  auto a = call("confirm", hold_request(id, "alice"));
  EXPECT_EQ(a.code(), "claim_pending");
  EXPECT_EQ(a.retry_after_s, 1);
}

TEST_F(ApiTest, WaitingRoomRules) {
  projections.events_.push_back(event("room", 10));
  EXPECT_EQ(call("claim", claim_request("room", "alice")).code(), "admission_required");
  auto forged = claim_request("room", "alice");
  forged.headers.emplace_back("admission-token", "forged");
  EXPECT_EQ(call("claim", forged).code(), "invalid_admission_token");
  EXPECT_EQ(call("join", claim_request("e1", "alice")).code(), "no_waiting_room");
  EXPECT_EQ(call("join", claim_request("room", "alice")).status, 202);
  EXPECT_TRUE(std::holds_alternative<topics::Join>(publisher.commands.back().body));
}

TEST_F(ApiTest, AFloodingUserIsCutAtTheDoorWithRetryAfter) {
  options.user_rate = 1;
  options.user_burst = 1;
  EXPECT_EQ(call("claim", claim_request("e1", "alice")).status, 202);
  auto a = call("claim", claim_request("e1", "alice"));
  EXPECT_EQ(a.code(), "rate_limited");
  EXPECT_GE(a.retry_after_s, 1);
  EXPECT_EQ(call("claim", claim_request("e1", "bob")).status, 202);
  EXPECT_EQ(call("v2_claim", claim_request("e1", "alice")).code(), "rate_limited") << "baselines share the door";
}

TEST_F(ApiTest, ReadsAnswer404Or503AsTheyShould) {
  EXPECT_EQ(call("get_claim", read_request("unknown", "alice")).code(), "not_found");
  EXPECT_EQ(call("get_event", json_post({{"event_id", "nope"}}, "")).status, 404);
  auto ranking = json_post({{"event_id", "e1"}}, "");
  ranking.query.emplace_back("limit", "0");
  EXPECT_EQ(call("get_ranking", ranking).code(), "invalid_limit");
  EXPECT_EQ(call("get_queue", read_request("unknown", "alice")).status, 404);
  projections.down = true;
  auto a = call("get_claim", read_request("unknown", "alice"));
  EXPECT_EQ(a.code(), "projection_unavailable");
  EXPECT_EQ(a.retry_after_s, 1);
  EXPECT_EQ(call("list_events", api::Request{}).status, 503);
}

TEST_F(ApiTest, APendingClaimIsReadBackFromThisIngress) {
  EXPECT_EQ(call("claim", claim_request("e1", "alice")).status, 202);
  const auto id = publisher.commands.back().request_id;
  auto a = call("get_claim", read_request(id, "alice"));
  EXPECT_EQ(a.status, 200);
  auto body = json::parse(a.body);
  EXPECT_EQ(body["status"], "pending");
  EXPECT_EQ(body["user_id"], "alice");
  EXPECT_EQ(call("get_claim", read_request(id, "bob")).code(), "not_found") << "someone else's pending claim";
}

TEST_F(ApiTest, BaselinesValidateLikeAllotsOwnClaim) {
  EXPECT_EQ(call("v1_claim", claim_request("E!", "alice")).code(), "invalid_event_id");
  EXPECT_EQ(baselines.claims, 0);
  EXPECT_EQ(call("v1_claim", claim_request("e1", "alice")).status, 200);
  EXPECT_EQ(baselines.claims, 1);
}

// README "Who is the user": every user endpoint takes the user from a verified bearer token.
TEST_F(ApiTest, EveryUserEndpointNeedsAValidToken) {
  auto bare = json_post({{"event_id", "e1"}, {"request_id", "r1"}}, R"({"user_id":"alice"})");
  for (const char* route : {"claim", "join", "v1_claim", "v2_claim", "confirm", "cancel", "get_claim", "get_queue"}) {
    EXPECT_EQ(call(route, bare).code(), "unauthenticated") << route;
    auto forged = bare;
    forged.headers.emplace_back("authorization", "Bearer " + token("alice") + "x");
    EXPECT_EQ(call(route, forged).code(), "invalid_token") << route;
    auto admin_token = admin(bare);  // the admin token is not a user
    if (std::string(route).rfind("get_", 0) != 0) {
      EXPECT_EQ(call(route, admin_token).status, 401) << route;
    }
  }
  identity::MintOptions expired;
  expired.issued_at_s = now_ms() / 1000 - 7200;
  auto old = json_post({{"event_id", "e1"}}, "{}");
  old.headers.emplace_back("authorization", "Bearer " + token("alice", expired));
  auto a = call("claim", old);
  EXPECT_EQ(a.status, 401);
  EXPECT_NE(a.error()["message"].get<std::string>().find("expired"), std::string::npos) << a.body;
  EXPECT_TRUE(publisher.commands.empty());
  EXPECT_EQ(baselines.claims, 0);
}

TEST_F(ApiTest, TheUserIsTheTokensAndABodyNamingSomeoneElseIs403) {
  EXPECT_EQ(call("claim", claim_request("e1", "alice", "bob")).code(), "user_mismatch");
  EXPECT_EQ(call("v2_claim", claim_request("e1", "alice", "bob")).code(), "user_mismatch");
  EXPECT_TRUE(publisher.commands.empty());
  EXPECT_EQ(call("claim", as("alice", json_post({{"event_id", "e1"}}, "{}"))).status, 202) << "no user_id: the token's";
  EXPECT_EQ(std::get<topics::Claim>(publisher.commands.back().body).user_id, "alice");
}

TEST_F(ApiTest, OnlyItsUserOrTheAdminReadsAClaimOrAJoin) {
  projections.claims_.push_back(claim_view("c-alice", "alice", "issued"));
  auto join = claim_view("j-alice", "alice", "queued");
  join.type = "join";
  projections.claims_.push_back(join);
  EXPECT_EQ(call("get_claim", read_request("c-alice", "alice")).status, 200);
  EXPECT_EQ(call("get_queue", read_request("j-alice", "alice")).status, 200);
  auto bob = call("get_claim", read_request("c-alice", "bob"));
  EXPECT_EQ(bob.status, 404) << "not revealing that it exists";
  auto never = call("get_claim", read_request("c-nobody", "bob"));
  EXPECT_EQ(bob.body.replace(bob.body.find("c-alice"), 7, "c-nobody"), never.body);
  EXPECT_EQ(call("get_queue", read_request("j-alice", "bob")).status, 404);
  EXPECT_EQ(call("get_claim", admin(json_post({{"request_id", "c-alice"}}, ""))).status, 200);
  identity::MintOptions operator_scope;
  operator_scope.admin = true;
  auto by_admin_jwt = json_post({{"request_id", "c-alice"}}, "");
  by_admin_jwt.headers.emplace_back("authorization", "Bearer " + token("ops", operator_scope));
  EXPECT_EQ(call("get_claim", by_admin_jwt).status, 200);
  // An event's deletion erased its users: only the admin still sees such a claim.
  projections.claims_.push_back(claim_view("c-erased", "", "deleted"));
  EXPECT_EQ(call("get_claim", read_request("c-erased", "alice")).status, 404);
}

TEST_F(ApiTest, AnotherUsersIdempotencyKeyDoesNotShowTheirDecision) {
  projections.claims_.push_back(claim_view("key-of-alice", "alice", "issued"));
  auto retry = claim_request("e1", "bob");
  retry.headers.emplace_back("idempotency-key", "key-of-alice");
  retry.query.emplace_back("wait_ms", "100");
  EXPECT_EQ(call("claim", retry).status, 409);
  auto own = claim_request("e1", "alice");
  own.headers.emplace_back("idempotency-key", "key-of-alice");
  own.query.emplace_back("wait_ms", "100");
  EXPECT_EQ(call("claim", own).status, 200);
}

TEST_F(ApiTest, TheDemosSignInIsOffUnlessSwitchedOn) {
  auto login = json_post({}, R"({"user_id":"alice"})");
  EXPECT_EQ(call("dev_login", login).code(), "dev_login_off");
  options.dev_login = true;
  api_.reset();  // the options are read at construction
  auto a = call("dev_login", login);
  ASSERT_EQ(a.status, 200) << a.body;
  auto signed_in = json_post({{"event_id", "e1"}}, "{}");
  signed_in.headers.emplace_back("authorization", "Bearer " + json::parse(a.body)["token"].get<std::string>());
  EXPECT_EQ(call("claim", signed_in).status, 202);
  EXPECT_EQ(call("dev_login", json_post({}, "{}")).status, 400);
}

TEST_F(ApiTest, OneAddressCannotClaimForACrowdOfIdentities) {
  options.address_rate = 1;
  options.address_burst = 3;
  options.trusted_proxies = {"10.0.0.1"};
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += call("claim", claim_request("e1", "bot-" + std::to_string(i))).status == 202;
  EXPECT_EQ(accepted, 3) << "ten identities from one address";
  auto a = call("claim", claim_request("e1", "bot-x"));
  EXPECT_EQ(a.code(), "rate_limited");
  EXPECT_NE(a.error()["message"].get<std::string>().find("address"), std::string::npos);
  // Behind our proxy each client has its own bucket; a client's own X-Forwarded-For is not believed.
  auto via = [&](const std::string& peer, const std::string& forwarded, const std::string& user) {
    auto r = claim_request("e1", user);
    r.peer = peer;
    r.headers.emplace_back("x-forwarded-for", forwarded);
    return call("claim", r).status;
  };
  EXPECT_EQ(via("10.0.0.1", "203.0.113.7", "carol"), 202);
  EXPECT_EQ(via("10.0.0.1", "127.0.0.1, 203.0.113.8", "dave"), 202) << "the hop our proxy appended counts";
  EXPECT_EQ(via("127.0.0.1", "203.0.113.9", "erin"), 429) << "an untrusted peer's header is ignored";
}

// Finds a solution of `challenge` by brute force, as a client would (small bits in tests).
std::string solve(const std::string& challenge, int32_t bits) {
  for (int64_t n = 0;; ++n) {
    auto proof = challenge + ":" + std::to_string(n);
    if (has_leading_zero_bits(proof, bits)) return proof;
  }
}

TEST_F(ApiTest, AnEventWithProofOfWorkTakesEachSolutionOnce) {
  projections.events_.push_back(event("pow"));
  projections.events_.back().pow_bits = 8;
  auto get_challenge = [&](const std::string& event_id, const std::string& user) {
    return call("pow_challenge", as(user, json_post({{"event_id", event_id}}, "")));
  };
  EXPECT_EQ(get_challenge("e1", "alice").code(), "no_proof_of_work");
  EXPECT_EQ(call("pow_challenge", json_post({{"event_id", "pow"}}, "")).code(), "unauthenticated");
  auto claim_with = [&](const std::string& user, const std::string& proof) {
    auto r = claim_request("pow", user);
    if (!proof.empty()) r.headers.emplace_back("proof-of-work", proof);
    return call("claim", r);
  };
  EXPECT_EQ(claim_with("alice", "").code(), "pow_required");
  auto issued = get_challenge("pow", "alice");
  ASSERT_EQ(issued.status, 200) << issued.body;
  auto body = json::parse(issued.body);
  EXPECT_EQ(body["bits"], 8);
  const auto challenge = body["challenge"].get<std::string>();
  const auto proof = solve(challenge, 8);
  EXPECT_EQ(claim_with("bob", proof).code(), "pow_invalid") << "alice's challenge is not bob's";
  std::string wrong = proof;
  for (int64_t n = 0; has_leading_zero_bits(wrong, 8); ++n) wrong = challenge + ":x" + std::to_string(n);
  EXPECT_EQ(claim_with("alice", wrong).code(), "pow_invalid") << "not a solution";
  EXPECT_EQ(claim_with("alice", "garbage").code(), "pow_invalid");
  EXPECT_TRUE(publisher.commands.empty());
  EXPECT_EQ(claim_with("alice", proof).status, 202);
  auto replayed = claim_with("alice", proof);
  EXPECT_EQ(replayed.code(), "pow_invalid");
  EXPECT_NE(replayed.body.find("used already"), std::string::npos) << replayed.body;
  EXPECT_EQ(publisher.commands.size(), 1u);
}

TEST(WorkChallenges, ExpiredAndOtherKeysChallengesAreRefused) {
  WorkChallenges work("key-1", 1000), other("key-2", 1000);
  auto c = work.issue("e1", "alice", 4, 10'000);
  auto proof = solve(c.text, 4);
  EXPECT_EQ(other.redeem(proof, "e1", "alice", 4, 10'001), WorkChallenges::Check::kForged);
  EXPECT_EQ(work.redeem(proof, "e1", "alice", 4, 11'000), WorkChallenges::Check::kExpired);
  EXPECT_EQ(work.redeem(proof, "e2", "alice", 4, 10'001), WorkChallenges::Check::kForged);
  EXPECT_EQ(work.redeem(solve(work.issue("e1", "alice", 2, 10'000).text, 2), "e1", "alice", 4, 10'001),
            WorkChallenges::Check::kTooWeak)
      << "an easier challenge than the event asks";
  EXPECT_EQ(work.redeem(proof, "e1", "alice", 4, 10'001), WorkChallenges::Check::kValid);
  EXPECT_EQ(work.redeem(proof, "e1", "alice", 4, 10'002), WorkChallenges::Check::kReplayed);
}

TEST_F(ApiTest, OnlyTheAdminOrTheProvidersSignedCallbackChargesAWallet) {
  options.payment_webhook_secret = "provider-secret";
  const std::string body = R"({"user_id":"alice","amount":1250,"payment_id":"pi_1"})";
  auto charge = [&](std::vector<std::pair<std::string, std::string>> headers, const std::string& b) {
    auto req = json_post({}, b);
    for (auto& h : headers) req.headers.push_back(std::move(h));
    return call("charge", req);
  };
  const size_t before = publisher.commands.size();
  EXPECT_EQ(charge({}, body).status, 401);
  EXPECT_EQ(charge({{"authorization", "Bearer " + token("alice")}}, body).status, 403) << "a user cannot credit";
  EXPECT_EQ(charge({{"payment-signature", "t=1,v1=00"}}, body).code(), "invalid_signature");
  PaymentSignatures provider("provider-secret");
  const int64_t now_s = now_ms() / 1000;
  EXPECT_EQ(charge({{"payment-signature", provider.sign(body, now_s - 3600)}}, body).code(), "invalid_signature")
      << "an old callback is not replayed";
  EXPECT_EQ(charge({{"payment-signature", provider.sign(body, now_s)}}, R"({"user_id":"alice","amount":99999})").code(),
            "invalid_signature")
      << "the signature covers the body";
  EXPECT_EQ(publisher.commands.size(), before) << "nothing refused is published";

  auto signed_call = charge({{"payment-signature", provider.sign(body, now_s)}}, body);
  EXPECT_EQ(signed_call.status, 202) << signed_call.body;
  ASSERT_EQ(publisher.commands.size(), before + 1);
  const auto& c = publisher.commands.back();
  EXPECT_EQ(c.request_id, "pay-pi_1") << "the provider's payment id names the charge";
  EXPECT_EQ(c.key(), "wallet/alice");
  EXPECT_EQ(std::get<topics::Charge>(c.body).amount, 1250);

  auto by_admin = charge({{"authorization", std::string("Bearer ") + kAdmin}}, R"({"user_id":"bob","amount":5})");
  EXPECT_EQ(by_admin.status, 202) << by_admin.body;
  identity::MintOptions admin_jwt;
  admin_jwt.admin = true;
  EXPECT_EQ(charge({{"authorization", "Bearer " + token("ops", admin_jwt)}}, R"({"user_id":"bob","amount":5})").status,
            202);
  for (const char* bad :
       {R"({"user_id":"bob","amount":0})", R"({"user_id":"bob","amount":1.5})", R"({"user_id":"bob","amount":"5"})",
        R"({"amount":5})", R"({"user_id":"b b","amount":5})", R"({"user_id":"bob","amount":5,"payment_id":"x y"})",
        R"({"user_id":"bob","amount":1000000001})"}) {
    EXPECT_EQ(charge({{"authorization", std::string("Bearer ") + kAdmin}}, bad).status, 400) << bad;
  }
  EXPECT_EQ(charge({{"authorization", std::string("Bearer ") + kAdmin}, {"idempotency-key", "not valid"}},
                   R"({"user_id":"bob","amount":5,"payment_id":"p1"})")
                .code(),
            "invalid_idempotency_key")
      << "a key is checked even when a payment id names the charge";
  for (const char* reserved : {"pay-pi_1", "rw-0123456789abcdef-1", "tick-5"}) {
    EXPECT_EQ(charge({{"authorization", std::string("Bearer ") + kAdmin}, {"idempotency-key", reserved}},
                     R"({"user_id":"bob","amount":5})")
                  .code(),
              "invalid_idempotency_key")
        << reserved << " is the system's own id";
    auto claim = claim_request("e1", "alice");
    claim.headers.emplace_back("idempotency-key", reserved);
    EXPECT_EQ(call("claim", claim).code(), "invalid_idempotency_key") << reserved;
  }
  const std::string unnamed = R"({"user_id":"alice","amount":5})";
  EXPECT_EQ(charge({{"payment-signature", provider.sign(unnamed, now_s)}}, unnamed).code(), "payment_id_required")
      << "a signed callback names its payment, so a replay is the same charge";
}

TEST_F(ApiTest, AWalletIsReadByItsUserOrTheAdmin) {
  auto get = [&](const std::string& authorization, const std::string& query_user = "") {
    api::Request req;
    if (!authorization.empty()) req.headers = {{"authorization", authorization}};
    if (!query_user.empty()) req.query = {{"user_id", query_user}};
    return call("get_wallet", req);
  };
  EXPECT_EQ(get("").status, 401);
  auto own = get("Bearer " + token("alice"));
  EXPECT_EQ(own.status, 200);
  EXPECT_EQ(json::parse(own.body)["user_id"], "alice");
  EXPECT_EQ(get("Bearer " + token("alice"), "bob").status, 403) << "not someone else's";
  EXPECT_EQ(json::parse(get(std::string("Bearer ") + kAdmin, "bob").body)["user_id"], "bob");
  EXPECT_EQ(get(std::string("Bearer ") + kAdmin).code(), "no_wallet") << "the admin names the user";
  projections.down = true;
  EXPECT_EQ(get("Bearer " + token("alice")).status, 503);
}

TEST_F(ApiTest, TheBenchSwitchBelievesTheBody) {
  options.bench_trust_body_user = true;
  api_.reset();
  EXPECT_EQ(call("claim", json_post({{"event_id", "e1"}}, R"({"user_id":"anyone"})")).status, 202);
  EXPECT_EQ(std::get<topics::Claim>(publisher.commands.back().body).user_id, "anyone");
}

}  // namespace
}  // namespace allot::ingress
