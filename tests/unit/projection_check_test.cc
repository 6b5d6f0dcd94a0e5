// expected_projection is pure: what the read side must show for a history that mixes the three modes,
// decided by the real core (tests/support/mode_history.h), spelled out value by value.
#include <gtest/gtest.h>

#include "mode_history.h"
#include "topics/projection_check.h"

namespace allot::topics {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

class ExpectedProjection : public ::testing::Test {
 protected:
  testsupport::ModeHistory h = testsupport::mixed_mode_history("pc", kT0);
  ProjectedEvent of(const std::string& event) { return expected_projection(h.decisions, event); }
};

TEST_F(ExpectedProjection, FirstComeShowsIssuedClaimsAndRejectionsAsDecided) {
  auto p = of(h.fcfs);
  EXPECT_EQ(p.mode, "fcfs");
  EXPECT_EQ((std::vector<int64_t>{p.stock, p.issued, p.held, p.entries, p.remaining}),
            (std::vector<int64_t>{2, 2, 0, 0, 0}));
  EXPECT_FALSE(p.closed);
  EXPECT_EQ(p.claims.size(), 4u);
  EXPECT_EQ(p.claims[h.fcfs_sold_out], (ProjectedClaim{"cid", "sold_out", 0, 0}));
  EXPECT_EQ(p.ranking, (std::vector<std::string>{"ann", "bob"}));
  EXPECT_TRUE(p.requests.empty());
}

TEST_F(ExpectedProjection, RaffleEntriesEndWonOrLostAndTheCloseIsARequest) {
  auto p = of(h.raffle);
  EXPECT_EQ(p.mode, "raffle");
  EXPECT_EQ((std::vector<int64_t>{p.stock, p.issued, p.held, p.entries, p.remaining}),
            (std::vector<int64_t>{2, 2, 0, 4, 0}));
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.claims.size(), 6u);  // four entries, a duplicate, a claim after the close
  std::map<int64_t, std::string> winners;
  int lost = 0;
  for (const auto& id : h.entries) {
    const auto& c = p.claims[id];
    if (c.status == "won") winners[c.coupon_seq] = c.user_id;
    lost += c.status == "lost" && c.coupon_seq == 0;
  }
  EXPECT_EQ(lost, 2);
  ASSERT_EQ(winners.size(), 2u);
  EXPECT_EQ(winners.begin()->first, 1);
  EXPECT_EQ(p.ranking, (std::vector<std::string>{winners[1], winners[2]}));
  ASSERT_EQ(p.requests.size(), 2u);
  std::multiset<std::string> closes;
  for (const auto& [id, r] : p.requests) closes.insert(r.type + ":" + r.status);
  EXPECT_EQ(closes, (std::multiset<std::string>{"close_event:already_closed", "close_event:drawn"}));
}

TEST_F(ExpectedProjection, HoldsEndConfirmedCancelledOrExpiredAndOneIsStillHeld) {
  auto p = of(h.hold);
  EXPECT_EQ(p.mode, "hold");
  EXPECT_EQ((std::vector<int64_t>{p.stock, p.issued, p.held, p.entries, p.remaining}),
            (std::vector<int64_t>{2, 1, 1, 0, 0}));
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.claims[h.held_confirmed], (ProjectedClaim{"h1", "confirmed", 1, kT0 + 40 + 1000}));
  EXPECT_EQ(p.claims[h.held_cancelled], (ProjectedClaim{"h2", "cancelled", 0, kT0 + 41 + 1000}));
  EXPECT_EQ(p.claims[h.held_expired], (ProjectedClaim{"h3", "expired", 0, kT0 + 60 + 1000}));
  EXPECT_EQ(p.claims[h.held_open], (ProjectedClaim{"h5", "held", 0, kT0 + 2002 + 1000}));
  EXPECT_EQ(p.claims.size(), 6u);  // and two sold_out
  EXPECT_EQ(p.ranking, (std::vector<std::string>{"h1"}));
  std::multiset<std::string> requests;
  for (const auto& [id, r] : p.requests) requests.insert(r.type + ":" + r.status + ":" + std::to_string(r.coupon_seq));
  EXPECT_EQ(requests, (std::multiset<std::string>{"cancel:already_ended:0", "cancel:cancelled:0",
                                                  "close_event:closed:0", "confirm:confirmed:1", "confirm:expired:0",
                                                  "confirm:not_held:0", "confirm:not_yours:0"}));
  // Redis is asked for every claim and request.
  EXPECT_EQ(request_ids(p).size(), 13u);
}

TEST_F(ExpectedProjection, ADeletedEventKeepsItsCountersAndStatusesButNoUserIdAndNoRanking) {
  const auto before = of(h.hold);
  Decision del;
  del.type = "delete_event";
  del.request_id = "del-1";
  del.event_id = h.hold;
  del.outcome = Outcome::kDeleted;
  Decision late = del;
  late.type = "claim";
  late.request_id = "late-1";
  late.user_id = "zed";
  h.decisions.push_back(del);
  h.decisions.push_back(late);
  auto p = of(h.hold);
  EXPECT_TRUE(p.deleted);
  EXPECT_EQ((std::vector<int64_t>{p.issued, p.held, p.remaining}),
            (std::vector<int64_t>{before.issued, before.held, before.remaining}));
  EXPECT_TRUE(p.ranking.empty());
  EXPECT_EQ(p.claims[h.held_confirmed], (ProjectedClaim{"", "confirmed", 1, kT0 + 40 + 1000}));
  EXPECT_EQ(p.claims["late-1"], (ProjectedClaim{"", "deleted", 0, 0}));
  for (const auto& [id, c] : p.claims) EXPECT_EQ(c.user_id, "") << id;
  for (const auto& [id, r] : p.requests) EXPECT_EQ(r.user_id, "") << id;
  EXPECT_EQ(p.requests["del-1"].status, "deleted");
  EXPECT_NE(describe_difference(p, before), "");
}

// A join's record carries its place in line and its admission, from its own decision or a later one.
TEST_F(ExpectedProjection, AJoinShowsItsTicketAndAdmissionFromItsOwnOrALaterDecision) {
  auto decided = [&](const std::string& type, const std::string& id, const std::string& user, Outcome outcome,
                     std::optional<int64_t> ticket, int64_t at) {
    Decision d;
    d.type = type;
    d.request_id = id;
    d.event_id = h.fcfs;
    d.user_id = user;
    d.outcome = outcome;
    d.ticket = ticket;
    d.decided_at = at;
    h.decisions.push_back(d);
  };
  decided("join", "j-early", "eve", Outcome::kPreQueued, std::nullopt, kT0 + 1);
  decided(std::string(kQueueTicket), "j-early", "eve", Outcome::kQueued, 1, kT0 + 100);
  decided("join", "j-now", "fay", Outcome::kQueued, 2, kT0 + 101);
  decided("join", "j-again", "fay", Outcome::kAlreadyQueued, 2, kT0 + 102);  // the first join's ticket, not its own
  decided(std::string(kAdmission), "j-early", "eve", Outcome::kAdmitted, 1, kT0 + 1100);
  decided("join", "j-in", "gus", Outcome::kAdmitted, 3, kT0 + 1200);
  auto p = of(h.fcfs);
  EXPECT_EQ(p.requests["j-early"], (ProjectedRequest{"join", "eve", "pre_queued", "", 0, 1, kT0 + 1100}));
  EXPECT_EQ(p.requests["j-now"], (ProjectedRequest{"join", "fay", "queued", "", 0, 2, 0}));
  EXPECT_EQ(p.requests["j-again"], (ProjectedRequest{"join", "fay", "already_queued", "", 0, 0, 0}));
  EXPECT_EQ(p.requests["j-in"], (ProjectedRequest{"join", "gus", "admitted", "", 0, 3, kT0 + 1200}));
  EXPECT_EQ(p.requests.size(), 4u);
  auto without_admission = p;
  without_admission.requests["j-early"].admitted_at = 0;
  EXPECT_NE(describe_difference(p, without_admission).find("admitted at"), std::string::npos)
      << describe_difference(p, without_admission);
}

TEST_F(ExpectedProjection, AnEventNeverCreatedProjectsNothing) { EXPECT_EQ(of(h.ghost), ProjectedEvent{}); }

TEST_F(ExpectedProjection, AWrongStatusOrCounterIsDescribed) {
  auto want = of(h.hold);
  EXPECT_EQ(describe_difference(want, want), "");
  auto got = want;
  got.claims[h.held_open].status = "expired";
  EXPECT_NE(describe_difference(want, got).find("claim " + h.held_open + ": expired"), std::string::npos)
      << describe_difference(want, got);
  got = want;
  got.held = 0;
  EXPECT_NE(describe_difference(want, got), "");
  got = want;
  got.requests.begin()->second.status = "pending";
  EXPECT_NE(describe_difference(want, got), "");
}

// Orders: placed until their order_result; a failed one keeps its reason, a paid one its amount; one still open
// stays placed with no amount. A store that lost an end, or holds an order the log does not, is described.
TEST(ExpectedOrders, AnOrderIsPlacedUntilItsResultAndADifferenceIsDescribed) {
  auto decision = [](const std::string& order, std::string_view type, Outcome outcome) {
    Decision d;
    d.type = std::string(type);
    d.request_id = d.order_id = order;
    d.user_id = "ann";
    d.outcome = outcome;
    return d;
  };
  auto failed = decision("o1", decision_type::kOrderResult, Outcome::kFailed);
  failed.amount = 700;
  failed.reason = Outcome::kSoldOut;
  auto paid = decision("o2", decision_type::kOrderResult, Outcome::kPaid);
  paid.amount = 300;
  auto reserve = decision("o2", decision_type::kReserve, Outcome::kReserved);  // a step: no row of its own
  auto want = expected_orders({decision("o1", decision_type::kOrder, Outcome::kPlaced),
                               decision("o2", decision_type::kOrder, Outcome::kPlaced), reserve, failed, paid,
                               decision("o3", decision_type::kOrder, Outcome::kPlaced)});
  EXPECT_EQ(want, (ProjectedOrders{{"o1", {"ann", "failed", "sold_out", 700}},
                                   {"o2", {"ann", "paid", "", 300}},
                                   {"o3", {"ann", "placed", "", 0}}}));
  EXPECT_EQ(describe_order_difference(want, want), "");
  auto got = want;
  got["o1"] = {"ann", "placed", "", 0};
  EXPECT_NE(describe_order_difference(want, got).find("order o1: placed 0 user 'ann' (want failed 700 sold_out"),
            std::string::npos)
      << describe_order_difference(want, got);
  got = want;
  got["o4"] = {"bob", "paid", "", 1};
  EXPECT_NE(describe_order_difference(want, got).find("4 orders (want 3)"), std::string::npos);
}

}  // namespace
}  // namespace allot::topics
