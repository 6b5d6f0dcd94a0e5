// The verifier must catch each kind of violation; a checker that cannot fail proves nothing.
#include "topics/verify.h"

#include <gtest/gtest.h>

namespace allot::topics {
namespace {

Decision created(const std::string& event, int64_t stock, int64_t offset, int64_t limit = 1) {
  Decision d;
  d.type = "create_event";
  d.request_id = "create-" + event;
  d.event_id = event;
  d.outcome = Outcome::kCreated;
  d.command = {0, offset};
  d.event = CreateEvent{event, "t", stock, limit, {}, {}};
  return d;
}

Decision claim(const std::string& event, const std::string& user, int64_t offset, Outcome o,
               std::optional<int64_t> seq = {}) {
  Decision d;
  d.type = "claim";
  d.request_id = "req-" + std::to_string(offset);
  d.event_id = event;
  d.user_id = user;
  d.outcome = o;
  d.coupon_seq = seq;
  d.command = {0, offset};
  return d;
}

TEST(Verify, ACorrectRunIsClean) {
  VerifyInput in;
  in.decisions = {created("e", 2, 0), claim("e", "a", 1, Outcome::kIssued, 1), claim("e", "a", 2, Outcome::kDuplicate),
                  claim("e", "b", 3, Outcome::kIssued, 2), claim("e", "c", 4, Outcome::kSoldOut)};
  in.accepted = {"req-1", "req-2", "req-3", "req-4"};
  auto r = verify(in);
  EXPECT_TRUE(r.ok()) << r.summary();
  EXPECT_EQ(r.issued, 2);
  EXPECT_EQ(r.events, 1);
}

TEST(Verify, CatchesOversell) {
  VerifyInput in;
  in.decisions = {created("e", 1, 0), claim("e", "a", 1, Outcome::kIssued, 1), claim("e", "b", 2, Outcome::kIssued, 2)};
  EXPECT_FALSE(verify(in).ok());
}

TEST(Verify, CatchesAGapInSequences) {
  VerifyInput in;
  in.decisions = {created("e", 5, 0), claim("e", "a", 1, Outcome::kIssued, 1), claim("e", "b", 2, Outcome::kIssued, 3)};
  EXPECT_FALSE(verify(in).ok());
}

TEST(Verify, CatchesUnfairOrder) {
  VerifyInput in;  // the earlier claim lost, the later one won
  in.decisions = {created("e", 1, 0), claim("e", "a", 1, Outcome::kSoldOut), claim("e", "b", 2, Outcome::kIssued, 1)};
  EXPECT_FALSE(verify(in).ok());
}

TEST(Verify, CatchesAUserAboveTheLimit) {
  VerifyInput in;
  in.decisions = {created("e", 5, 0), claim("e", "a", 1, Outcome::kIssued, 1), claim("e", "a", 2, Outcome::kIssued, 2)};
  EXPECT_FALSE(verify(in).ok());
}

TEST(Verify, CatchesTwoDecisionsForOneRequest) {
  VerifyInput in;
  auto c = claim("e", "a", 1, Outcome::kIssued, 1);
  auto again = claim("e", "b", 2, Outcome::kSoldOut);
  again.request_id = c.request_id;
  in.decisions = {created("e", 1, 0), c, again};
  EXPECT_FALSE(verify(in).ok());
}

TEST(Verify, CatchesAnAcceptedRequestNeverDecided) {
  VerifyInput in;
  in.decisions = {created("e", 1, 0)};
  in.accepted = {"lost-one"};
  auto r = verify(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.summary().find("lost-one"), std::string::npos);
}

TEST(Verify, CatchesACommandNeverDecided) {
  VerifyInput in;
  in.decisions = {created("e", 1, 0)};
  in.commands = {{{0, 0}, Command{"create-e", 0, CreateEvent{"e", "t", 1, 1, {}, {}}}},
                 {{0, 1}, Command{"orphan", 0, Claim{"e", "a"}}}};
  EXPECT_FALSE(verify(in).ok());
}

TEST(Verify, ClaimsBeforeCreationMustBeUnknownEvent) {
  VerifyInput in;
  in.decisions = {claim("e", "a", 0, Outcome::kUnknownEvent), created("e", 1, 1),
                  claim("e", "b", 2, Outcome::kIssued, 1)};
  EXPECT_TRUE(verify(in).ok()) << verify(in).summary();
  in.decisions[2].outcome = Outcome::kUnknownEvent;
  in.decisions[2].coupon_seq.reset();
  EXPECT_FALSE(verify(in).ok());
}

}  // namespace
}  // namespace allot::topics
