// decide() is pure: these tests drive it over an in-memory state, applying its writes like the runner.
#include "processors/domain.h"

#include <gtest/gtest.h>

#include <map>

namespace allot::processors {
namespace {

using topics::Outcome;

class MapState : public StateView {
 public:
  std::optional<std::string> get(const std::string& key) const override {
    auto it = kv.find(key);
    return it == kv.end() ? std::nullopt : std::optional(it->second);
  }
  std::map<std::string, std::string> kv;
};

class DecideTest : public ::testing::Test {
 protected:
  // Runs one command through decide() and applies its writes; returns the decision (or nullopt).
  std::optional<topics::Decision> run(const topics::Command& c, int64_t now = 1000) {
    auto r = decide(state_, c, {3, offset_++}, now);
    if (!r) return std::nullopt;
    for (auto& w : r->writes) state_.kv[w.key] = w.value;
    return r->decision;
  }
  topics::Decision create(topics::CreateEvent e) {
    return *run({"req-create-" + e.event_id + std::to_string(offset_), 500, e});
  }
  topics::Decision claim(const std::string& event, const std::string& user, int64_t received_at = 1000) {
    return *run({"req-" + std::to_string(offset_), received_at, topics::Claim{event, user}});
  }
  MapState state_;
  int64_t offset_ = 0;
};

TEST_F(DecideTest, CreatesAnEventOnceThenAnswersAlreadyExists) {
  auto first = create({"e1", "Coupons", 2, 1, {}, {}});
  EXPECT_EQ(first.type, "create_event");
  EXPECT_EQ(first.outcome, Outcome::kCreated);
  EXPECT_EQ(first.remaining, 2);
  claim("e1", "alice");
  auto again = create({"e1", "Other title", 50, 1, {}, {}});
  EXPECT_EQ(again.outcome, Outcome::kAlreadyExists);
  EXPECT_EQ(again.remaining, 1);  // the original event stands, with its claim
  ASSERT_TRUE(again.event);
  EXPECT_EQ(again.event->title, "Coupons");
}

TEST_F(DecideTest, ClaimBeforeTheEventExistsIsUnknownEvent) {
  auto d = claim("nope", "alice");
  EXPECT_EQ(d.outcome, Outcome::kUnknownEvent);
  EXPECT_FALSE(d.coupon_seq);
  EXPECT_EQ(d.type, "claim");
  EXPECT_EQ(d.user_id, "alice");
}

TEST_F(DecideTest, IssuesInOrderUpToTheLastUnitThenSoldOut) {
  create({"e1", "t", 3, 1, {}, {}});
  for (int i = 1; i <= 3; ++i) {
    auto d = claim("e1", "u" + std::to_string(i));
    EXPECT_EQ(d.outcome, Outcome::kIssued);
    EXPECT_EQ(d.coupon_seq, i);
    EXPECT_EQ(d.remaining, 3 - i);
  }
  auto late = claim("e1", "u4");
  EXPECT_EQ(late.outcome, Outcome::kSoldOut);
  EXPECT_FALSE(late.coupon_seq);
  EXPECT_EQ(late.remaining, 0);
}

TEST_F(DecideTest, ZeroStockIsSoldOutAtOnce) {
  create({"e0", "t", 0, 1, {}, {}});
  EXPECT_EQ(claim("e0", "alice").outcome, Outcome::kSoldOut);
}

TEST_F(DecideTest, OneUserClaimingFiveTimesWithLimitOneGetsOneIssuedFourDuplicates) {
  create({"e1", "t", 100, 1, {}, {}});
  EXPECT_EQ(claim("e1", "alice").outcome, Outcome::kIssued);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(claim("e1", "alice").outcome, Outcome::kDuplicate);
  EXPECT_EQ(claim("e1", "bob").coupon_seq, 2);
}

TEST_F(DecideTest, LimitAboveOneAllowsThatManyPerUser) {
  create({"e1", "t", 10, 3, {}, {}});
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(claim("e1", "alice").coupon_seq, i);
  EXPECT_EQ(claim("e1", "alice").outcome, Outcome::kDuplicate);
  EXPECT_EQ(claim("e1", "bob").coupon_seq, 4);
}

TEST_F(DecideTest, DuplicateWinsOverSoldOutForAUserAtTheLimit) {
  create({"e1", "t", 1, 1, {}, {}});
  claim("e1", "alice");
  EXPECT_EQ(claim("e1", "alice").outcome, Outcome::kDuplicate);
  EXPECT_EQ(claim("e1", "bob").outcome, Outcome::kSoldOut);
}

TEST_F(DecideTest, WindowEdgesOpenInclusiveCloseExclusive) {
  create({"w", "t", 10, 1, 2000, 3000});
  EXPECT_EQ(claim("w", "a", 1999).outcome, Outcome::kNotOpen);
  EXPECT_EQ(claim("w", "b", 2000).outcome, Outcome::kIssued);
  EXPECT_EQ(claim("w", "c", 2999).outcome, Outcome::kIssued);
  EXPECT_EQ(claim("w", "d", 3000).outcome, Outcome::kClosed);
  EXPECT_EQ(claim("w", "e", 5000).outcome, Outcome::kClosed);
}

TEST_F(DecideTest, WindowIsJudgedByReceivedAtNotByProcessingTime) {
  create({"w", "t", 10, 1, {}, 3000});
  // received before closing, decided long after: still issued
  auto d = *run({"late-processed", 2500, topics::Claim{"w", "a"}}, 99999);
  EXPECT_EQ(d.outcome, Outcome::kIssued);
  EXPECT_EQ(d.decided_at, 99999);
  EXPECT_EQ(d.received_at, 2500);
}

TEST_F(DecideTest, ARetriedRequestIdGetsNoSecondDecision) {
  create({"e1", "t", 5, 1, {}, {}});
  topics::Command c{"idem-1", 1000, topics::Claim{"e1", "alice"}};
  ASSERT_TRUE(run(c));
  EXPECT_FALSE(run(c));
  EXPECT_EQ(claim("e1", "bob").coupon_seq, 2);  // the retry took no unit
}

TEST_F(DecideTest, DecisionCarriesTheCommandPosition) {
  create({"e1", "t", 5, 1, {}, {}});
  auto r = decide(state_, {"r9", 1000, topics::Claim{"e1", "alice"}}, {7, 4242}, 1234);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->decision.command.partition, 7);
  EXPECT_EQ(r->decision.command.offset, 4242);
  EXPECT_EQ(r->decision.decided_at, 1234);
  EXPECT_EQ(r->decision.request_id, "r9");
}

TEST_F(DecideTest, IsDeterministic) {
  create({"e1", "t", 5, 1, {}, {}});
  topics::Command c{"r1", 1000, topics::Claim{"e1", "alice"}};
  auto a = decide(state_, c, {1, 1}, 5);
  auto b = decide(state_, c, {1, 1}, 5);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(topics::encode(a->decision), topics::encode(b->decision));
  ASSERT_EQ(a->writes.size(), b->writes.size());
  for (size_t i = 0; i < a->writes.size(); ++i) {
    EXPECT_EQ(a->writes[i].key, b->writes[i].key);
    EXPECT_EQ(a->writes[i].value, b->writes[i].value);
  }
}

TEST_F(DecideTest, NonIssuedClaimsChangeNoCounters) {
  create({"e1", "t", 0, 1, {}, {}});
  auto r = decide(state_, {"r1", 1000, topics::Claim{"e1", "alice"}}, {0, 0}, 0);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->writes.size(), 1u);  // only the request marker
  EXPECT_EQ(r->writes[0].key, request_key("r1"));
}

TEST(EventRecord, RoundTripsEveryFieldIncludingATitleWithSeparators) {
  EventState e{topics::CreateEvent{"", "Spring | sale, \"50%\"", 100, 2, 1700000000000, 1700000600000}, 42};
  auto back = decode_event(encode_event(e));
  EXPECT_EQ(back.spec.title, e.spec.title);
  EXPECT_EQ(back.spec.stock, 100);
  EXPECT_EQ(back.spec.per_user_limit, 2);
  EXPECT_EQ(back.issued, 42);
  EXPECT_EQ(back.spec.opens_at, 1700000000000);
  EXPECT_EQ(back.spec.closes_at, 1700000600000);
  auto open = decode_event(encode_event({topics::CreateEvent{"", "", 5, 1, {}, {}}, 0}));
  EXPECT_FALSE(open.spec.opens_at);
  EXPECT_FALSE(open.spec.closes_at);
  EXPECT_EQ(open.spec.title, "");
}

TEST(EventRecord, ReadsTheJsonRecordsOfEarlierChangelogs) {
  auto e = decode_event(R"({"title":"old","stock":10,"per_user_limit":1,"issued":3,"opens_at":5})");
  EXPECT_EQ(e.spec.title, "old");
  EXPECT_EQ(e.spec.stock, 10);
  EXPECT_EQ(e.issued, 3);
  EXPECT_EQ(e.spec.opens_at, 5);
  EXPECT_FALSE(e.spec.closes_at);
}

TEST(EventRecord, ACorruptRecordThrows) {
  EXPECT_ANY_THROW(decode_event("e2|10|1"));
  EXPECT_ANY_THROW(decode_event("e2|ten|1|0|||t"));
}

}  // namespace
}  // namespace allot::processors
