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

Decision charge(const std::string& user, int64_t offset, int64_t amount, int64_t balance,
                Outcome o = Outcome::kCredited, int32_t partition = 1) {
  Decision d;
  d.type = "charge";
  d.request_id = "pay-" + std::to_string(offset);
  d.user_id = user;
  d.outcome = o;
  d.amount = amount;
  d.balance = balance;
  d.command = {partition, offset};
  return d;
}

PositionedCommand charge_command(const std::string& user, int64_t offset, int64_t amount) {
  return {{1, offset}, Command{"pay-" + std::to_string(offset), 1, Charge{"", user, amount}}};
}

TEST(Verify, WalletsAddUpFromZeroInPartitionOrder) {
  VerifyInput in;
  // Out of order on purpose: the verifier walks each wallet by offset.
  in.decisions = {charge("bob", 3, 5, 5), charge("alice", 2, 300, 1000), charge("alice", 1, 700, 700),
                  charge("alice", 4, kMaxBalance, 1000, Outcome::kBalanceLimit)};
  in.commands = {charge_command("alice", 1, 700), charge_command("alice", 2, 300), charge_command("bob", 3, 5),
                 charge_command("alice", 4, kMaxBalance)};
  auto r = verify(in);
  EXPECT_TRUE(r.ok()) << r.summary();
  EXPECT_EQ(r.wallets, 2);
  EXPECT_EQ(r.money_credited, 1005);
  EXPECT_EQ(r.money_held, 1005);
  EXPECT_EQ(r.events, 0) << "a wallet is not an event";
}

TEST(Verify, CatchesMoneyFromNowhereAndAWrongRefusal) {
  auto violated = [](std::vector<Decision> decisions, std::vector<PositionedCommand> commands = {}) {
    VerifyInput in;
    in.decisions = std::move(decisions);
    in.commands = std::move(commands);
    return !verify(in).ok();
  };
  EXPECT_FALSE(violated({charge("a", 1, 10, 10), charge("a", 2, 5, 15)}));
  EXPECT_TRUE(violated({charge("a", 1, 10, 10), charge("a", 2, 5, 16)})) << "a balance the ledger does not give";
  EXPECT_TRUE(violated({charge("a", 1, 10, 10), charge("a", 2, 5, 10)})) << "credited but the balance did not move";
  EXPECT_TRUE(violated({charge("a", 1, 10, 10, Outcome::kBalanceLimit)})) << "refused within the limit";
  EXPECT_TRUE(violated({charge("a", 1, 10, 10)}, {charge_command("a", 1, 9)})) << "credited more than asked";
  EXPECT_TRUE(violated({charge("a", 1, 10, 10), charge("a", 2, 5, 15, Outcome::kCredited, 2)}))
      << "one wallet decided on two partitions";
  auto no_amount = charge("a", 1, 10, 10);
  no_amount.amount.reset();
  EXPECT_TRUE(violated({no_amount}));
  EXPECT_TRUE(violated({charge("a", 1, 10, 10), charge("a", 1, 10, 10)})) << "one charge decided twice";
  // A retried key's second command (no decision of its own) may ask another amount: not a violation.
  auto retried = charge_command("a", 2, 999);
  retried.command.request_id = "pay-1";
  EXPECT_FALSE(violated({charge("a", 1, 10, 10)}, {charge_command("a", 1, 10), retried}));
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
