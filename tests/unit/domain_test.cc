// decide() is pure: these tests drive it over an in-memory state, applying its writes like the runner.
#include "processors/domain.h"
#include "processors/memory_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "topics/draw.h"
#include "topics/rewards.h"
#include "topics/topics.h"
#include "topics/verify.h"

namespace allot::processors {
namespace {

using topics::Outcome;

using MapState = MemoryState;

class DecideTest : public ::testing::Test {
 protected:
  // Runs one command through decide() and applies its writes; returns the decision (or nullopt).
  std::optional<topics::Decision> run(const topics::Command& c, int64_t now = 1000) {
    commands_.push_back({{3, offset_}, c});
    auto r = decide(state_, c, {3, offset_++}, now);
    if (!r) return std::nullopt;
    state_.apply(r->writes);
    log_.push_back(r->decision);
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
  std::vector<topics::Decision> log_;                // every decision published, as the runner would
  std::vector<topics::PositionedCommand> commands_;  // every command decided, with its position
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

// Raffles and holds: what a command decides and what it causes (expiries, draw results).
class ModesTest : public DecideTest {
 protected:
  struct Step {
    topics::Decision decision;
    std::vector<topics::Decision> caused;
    bool published = true;
  };
  Step step(const topics::Command& c) {
    commands_.push_back({{3, offset_}, c});
    auto r = decide(state_, c, {3, offset_++}, 1000);
    EXPECT_TRUE(r);
    state_.apply(r->writes);
    if (r->publish) log_.push_back(r->decision);
    log_.insert(log_.end(), r->caused.begin(), r->caused.end());
    return {r->decision, r->caused, r->publish};
  }
  std::string next_id() { return "q" + std::to_string(offset_); }
  void raffle(const std::string& id, int64_t stock, int64_t closes_at = 10'000) {
    topics::CreateEvent e{id, "Raffle", stock, 1, {}, closes_at};
    e.mode = topics::EventMode::kRaffle;
    create(e);
  }
  void hold_event(const std::string& id, int64_t stock, int64_t hold_ms = 100, int64_t limit = 1) {
    topics::CreateEvent e{id, "Seats", stock, limit, {}, {}};
    e.mode = topics::EventMode::kHold;
    e.hold_ms = hold_ms;
    create(e);
  }
  Step claim_at(const std::string& event, const std::string& user, int64_t at) {
    return step({next_id(), at, topics::Claim{event, user}});
  }
  Step confirm(const std::string& event, const std::string& claim_id, const std::string& user, int64_t at) {
    return step({next_id(), at, topics::Confirm{{event, claim_id, user}}});
  }
  Step cancel(const std::string& event, const std::string& claim_id, const std::string& user, int64_t at) {
    return step({next_id(), at, topics::Cancel{{event, claim_id, user}}});
  }
  Step close(const std::string& event, int64_t at) { return step({next_id(), at, topics::CloseEvent{event}}); }
  Step tick(int64_t at) { return step({next_id(), at, topics::Tick{}}); }
};

// A tick moves a hold event's stream time while it holds units. A claim stamped before that tick (by another
// ingress thread) but decided after it is held until the tick's time + hold_ms, and the verifier, given the
// commands (the ticks among them), agrees: a partition run (100 ms delay) found it calling that a violation.
TEST_F(ModesTest, AClaimStampedBeforeATickButDecidedAfterItIsHeldFromTheTicksTime) {
  hold_event("ht", 3, 100);
  ASSERT_EQ(claim_at("ht", "a", 1000).decision.outcome, Outcome::kHeld);  // expires 1100; the event waits for ticks
  tick(1050);                                                             // stream time 1050, nothing expires
  auto late = claim_at("ht", "b", 1040);
  ASSERT_EQ(late.decision.outcome, Outcome::kHeld);
  EXPECT_EQ(late.decision.hold_expires_at, 1150);
  tick(1200);  // both expire, and the event stops waiting for ticks after this one
  tick(1300);  // moves nothing now
  auto after = claim_at("ht", "c", 1250);
  EXPECT_EQ(after.decision.hold_expires_at, 1350) << "the tick at 1300 moved an event that holds nothing";
  auto report = topics::verify({commands_, log_, {}});
  EXPECT_TRUE(report.ok()) << report.summary();
  // ...and still catches an expiry that is not the stream time + hold_ms.
  auto forged = log_;
  for (auto& d : forged) {
    if (d.request_id == late.decision.request_id) d.hold_expires_at = 1140;
  }
  EXPECT_FALSE(topics::verify({commands_, forged, {}}).ok());
}

TEST_F(ModesTest, RaffleTakesOneEntryPerUserThenDrawsStockDistinctWinnersAtTheClose) {
  raffle("r1", 3);
  std::vector<std::string> entry_ids;
  for (int i = 0; i < 10; ++i) {
    auto s = claim_at("r1", "u" + std::to_string(i), 1000 + i);
    EXPECT_EQ(s.decision.outcome, Outcome::kEntered);
    EXPECT_FALSE(s.decision.coupon_seq);
    entry_ids.push_back(s.decision.request_id);
  }
  EXPECT_EQ(claim_at("r1", "u3", 2000).decision.outcome, Outcome::kDuplicate);
  const int64_t close_offset = offset_;
  auto closed = close("r1", 5000);
  EXPECT_EQ(closed.decision.outcome, Outcome::kDrawn);
  EXPECT_EQ(closed.decision.entries, 10);
  EXPECT_EQ(closed.decision.remaining, 0);
  ASSERT_EQ(closed.caused.size(), 10u);
  std::set<int64_t> ranks;
  std::vector<std::string> winners;
  for (const auto& d : closed.caused) {
    EXPECT_EQ(d.type, topics::kDrawResult);
    if (d.outcome == Outcome::kWon) {
      ranks.insert(*d.coupon_seq);
      winners.push_back(d.request_id);
    } else {
      EXPECT_EQ(d.outcome, Outcome::kLost);
      EXPECT_FALSE(d.coupon_seq);
    }
  }
  EXPECT_EQ(ranks, (std::set<int64_t>{1, 2, 3}));
  // Anyone can re-run the draw from the log: the seed is the event id and the close's position.
  auto again = topics::draw_winners(topics::draw_seed("r1", {3, close_offset}), 10, 3);
  std::vector<std::string> rederived;
  for (auto i : again) rederived.push_back(entry_ids[static_cast<size_t>(i)]);
  std::sort(winners.begin(), winners.end());
  std::sort(rederived.begin(), rederived.end());
  EXPECT_EQ(winners, rederived);
  EXPECT_EQ(claim_at("r1", "late", 5001).decision.outcome, Outcome::kClosed);
  auto twice = close("r1", 5002);
  EXPECT_EQ(twice.decision.outcome, Outcome::kAlreadyClosed);
  EXPECT_TRUE(twice.caused.empty());
}

TEST_F(ModesTest, ADrawWithFewerEntriesThanStockMakesEveryEntryAWinner) {
  raffle("r2", 5);
  claim_at("r2", "a", 1000);
  claim_at("r2", "b", 1000);
  auto closed = close("r2", 2000);
  ASSERT_EQ(closed.caused.size(), 2u);
  for (const auto& d : closed.caused) EXPECT_EQ(d.outcome, Outcome::kWon);
  EXPECT_EQ(closed.decision.remaining, 3);
  EXPECT_TRUE(close("r2", 2001).caused.empty());
}

TEST_F(ModesTest, ATickPastClosesAtDrawsTheRaffleWithoutADecisionOfItsOwn) {
  raffle("r3", 1, 5000);
  claim_at("r3", "a", 1000);
  auto early = tick(4999);
  EXPECT_FALSE(early.published);
  EXPECT_TRUE(early.caused.empty());
  auto due = tick(5000);
  EXPECT_FALSE(due.published);
  ASSERT_EQ(due.caused.size(), 1u);
  EXPECT_EQ(due.caused[0].outcome, Outcome::kWon);
  EXPECT_TRUE(tick(6000).caused.empty());  // drawn once; the raffle no longer waits for time
  EXPECT_EQ(close("r3", 7000).decision.outcome, Outcome::kAlreadyClosed);
}

TEST_F(ModesTest, AHoldConfirmedIssuesTheUnitWithTheNextSequence) {
  hold_event("h1", 2);
  auto held = claim_at("h1", "alice", 1000);
  EXPECT_EQ(held.decision.outcome, Outcome::kHeld);
  EXPECT_EQ(held.decision.hold_expires_at, 1100);
  EXPECT_EQ(held.decision.remaining, 1);
  EXPECT_FALSE(held.decision.coupon_seq);
  auto ok = confirm("h1", held.decision.request_id, "alice", 1050);
  EXPECT_EQ(ok.decision.outcome, Outcome::kConfirmed);
  EXPECT_EQ(ok.decision.coupon_seq, 1);
  EXPECT_EQ(ok.decision.claim_request_id, held.decision.request_id);
  EXPECT_EQ(ok.decision.remaining, 1);
  EXPECT_EQ(confirm("h1", held.decision.request_id, "alice", 1060).decision.outcome, Outcome::kAlreadyEnded);
  EXPECT_EQ(cancel("h1", held.decision.request_id, "alice", 1060).decision.outcome, Outcome::kAlreadyEnded);
  EXPECT_TRUE(tick(5000).caused.empty());  // a confirmed hold never expires
}

TEST_F(ModesTest, WhenEveryUnitIsHeldClaimsAreSoldOutUntilOneIsReleased) {
  hold_event("h2", 1);
  auto a = claim_at("h2", "a", 1000);
  EXPECT_EQ(claim_at("h2", "b", 1010).decision.outcome, Outcome::kSoldOut);
  auto cancelled = cancel("h2", a.decision.request_id, "a", 1020);
  EXPECT_EQ(cancelled.decision.outcome, Outcome::kCancelled);
  EXPECT_EQ(cancelled.decision.remaining, 1);
  EXPECT_EQ(cancel("h2", a.decision.request_id, "a", 1021).decision.outcome, Outcome::kAlreadyEnded);
  // Released and claimed again right away (the same batch, for the runner): the next user holds it.
  EXPECT_EQ(claim_at("h2", "b", 1022).decision.outcome, Outcome::kHeld);
  // The canceller may claim again later, but the unit is taken.
  EXPECT_EQ(claim_at("h2", "a", 1023).decision.outcome, Outcome::kSoldOut);
}

TEST_F(ModesTest, AnExpiredHoldIsReleasedOnceAndItsConfirmComesTooLate) {
  hold_event("h3", 1, 100);
  auto a = claim_at("h3", "a", 1000);
  auto t = tick(1099);
  EXPECT_TRUE(t.caused.empty());
  t = tick(1100);
  ASSERT_EQ(t.caused.size(), 1u);
  EXPECT_EQ(t.caused[0].type, topics::kHoldExpired);
  EXPECT_EQ(t.caused[0].request_id, a.decision.request_id);
  EXPECT_EQ(t.caused[0].outcome, Outcome::kExpired);
  EXPECT_EQ(t.caused[0].remaining, 1);
  EXPECT_TRUE(tick(2000).caused.empty());  // ends exactly once
  EXPECT_EQ(confirm("h3", a.decision.request_id, "a", 2001).decision.outcome, Outcome::kExpired);
  EXPECT_EQ(claim_at("h3", "b", 2002).decision.outcome, Outcome::kHeld);
}

TEST_F(ModesTest, OneTickExpiresThousandsOfHoldsEachOnce) {
  constexpr int kHolds = 3000;
  hold_event("big", kHolds, 100);
  for (int i = 0; i < kHolds; ++i)
    ASSERT_EQ(claim_at("big", "u" + std::to_string(i), 1000).decision.outcome, Outcome::kHeld);
  auto t = tick(1100);
  ASSERT_EQ(t.caused.size(), static_cast<size_t>(kHolds));
  std::set<std::string> ended;
  for (const auto& d : t.caused) ended.insert(d.request_id);
  EXPECT_EQ(ended.size(), static_cast<size_t>(kHolds));
  auto e = decode_event(*state_.get(event_key("big")));
  EXPECT_EQ(e.held, 0);
  EXPECT_EQ(t.caused.back().remaining, kHolds);
  EXPECT_EQ(claim_at("big", "u0", 1200).decision.outcome, Outcome::kHeld);  // the user's count went back to 0
}

TEST_F(ModesTest, LaterCommandsOfTheEventExpireHoldsWithoutATick) {
  hold_event("h4", 1, 100);
  auto a = claim_at("h4", "a", 1000);
  auto b = claim_at("h4", "b", 1200);  // stream time 1200: a's hold ended at 1100
  EXPECT_EQ(b.decision.outcome, Outcome::kHeld);
  ASSERT_EQ(b.caused.size(), 1u);
  EXPECT_EQ(b.caused[0].request_id, a.decision.request_id);
  // A late-stamped command (another ingress's clock) cannot move stream time back.
  auto c = claim_at("h4", "c", 900);
  EXPECT_EQ(c.decision.outcome, Outcome::kSoldOut);
  EXPECT_TRUE(c.caused.empty());
}

TEST_F(ModesTest, OnlyTheHolderMayConfirmOrCancel) {
  hold_event("h5", 1);
  auto a = claim_at("h5", "alice", 1000);
  EXPECT_EQ(confirm("h5", a.decision.request_id, "mallory", 1001).decision.outcome, Outcome::kNotYours);
  EXPECT_EQ(cancel("h5", a.decision.request_id, "mallory", 1001).decision.outcome, Outcome::kNotYours);
  EXPECT_EQ(confirm("h5", "no-such-claim", "alice", 1001).decision.outcome, Outcome::kNotHeld);
  EXPECT_EQ(confirm("nope", a.decision.request_id, "alice", 1001).decision.outcome, Outcome::kUnknownEvent);
  EXPECT_EQ(confirm("h5", a.decision.request_id, "alice", 1002).decision.outcome, Outcome::kConfirmed);
}

TEST_F(ModesTest, ConfirmOnAFirstComeEventHoldsNothing) {
  create({"f1", "t", 1, 1, {}, {}});
  auto issued = claim_at("f1", "a", 1000);
  EXPECT_EQ(issued.decision.outcome, Outcome::kIssued);
  EXPECT_EQ(confirm("f1", issued.decision.request_id, "a", 1001).decision.outcome, Outcome::kNotHeld);
}

TEST_F(ModesTest, CloseStopsClaimsOfAFirstComeOrHoldEventButHoldsStillEnd) {
  hold_event("h6", 2);
  auto a = claim_at("h6", "a", 1000);
  EXPECT_EQ(close("h6", 1010).decision.outcome, Outcome::kClosed);
  EXPECT_EQ(claim_at("h6", "b", 1020).decision.outcome, Outcome::kClosed);
  EXPECT_EQ(confirm("h6", a.decision.request_id, "a", 1030).decision.outcome, Outcome::kConfirmed);
  EXPECT_EQ(close("h6", 1040).decision.outcome, Outcome::kAlreadyClosed);
}

// Held + issued never exceed stock, and every hold ends at most once, over a long mixed sequence.
TEST_F(ModesTest, HeldPlusIssuedNeverExceedsStockOverAMixedSequence) {
  hold_event("h7", 5, 50, 2);
  std::map<std::string, std::string> holder;  // live hold -> user
  std::set<std::string> ended;
  int64_t t = 1000;
  for (int i = 0; i < 400; ++i) {
    t += (i * 7) % 13;
    const std::string user = "u" + std::to_string(i % 17);
    std::vector<topics::Decision> ds;
    auto s = (i % 5 == 3 && !holder.empty()) ? (i % 2 ? confirm("h7", holder.begin()->first, holder.begin()->second, t)
                                                      : cancel("h7", holder.begin()->first, holder.begin()->second, t))
             : (i % 11 == 0)                 ? tick(t)
                                             : claim_at("h7", user, t);
    if (s.published) ds.push_back(s.decision);
    ds.insert(ds.end(), s.caused.begin(), s.caused.end());
    for (const auto& d : ds) {
      const auto& id =
          d.type == "claim" ? d.request_id : (d.claim_request_id.empty() ? d.request_id : d.claim_request_id);
      if (d.outcome == Outcome::kHeld) holder[id] = d.user_id;
      if (d.outcome == Outcome::kConfirmed || d.outcome == Outcome::kCancelled ||
          (d.outcome == Outcome::kExpired && d.type == topics::kHoldExpired)) {
        EXPECT_TRUE(ended.insert(id).second) << id << " ended twice";
        holder.erase(id);
      }
    }
    auto e = decode_event(*state_.get(event_key("h7")));
    ASSERT_LE(e.issued + e.held, 5) << "at step " << i;
    ASSERT_GE(e.held, 0);
    ASSERT_EQ(e.held, static_cast<int64_t>(holder.size()));
  }
  EXPECT_GE(ended.size(), 10u);  // the sequence does end holds every way
  // The verifier, written from the contract and not from decide(), agrees with every decision...
  auto report = topics::verify({{}, log_, {}});
  EXPECT_TRUE(report.ok()) << report.summary();
  // ...and notices a hold that ends twice, or a unit held beyond the stock.
  auto expiry = std::find_if(log_.begin(), log_.end(), [](const auto& d) { return d.type == topics::kHoldExpired; });
  ASSERT_NE(expiry, log_.end());
  auto twice = log_;
  twice.push_back(*expiry);
  EXPECT_FALSE(topics::verify({{}, twice, {}}).ok());
  auto oversold = log_;
  for (auto& d : oversold) {
    if (d.outcome == Outcome::kSoldOut) {
      d.outcome = Outcome::kHeld;
      d.hold_expires_at = d.received_at + 50;
      break;
    }
  }
  EXPECT_FALSE(topics::verify({{}, oversold, {}}).ok());
}

TEST_F(ModesTest, TheVerifierReDerivesTheDrawAndCatchesAChangedWinner) {
  raffle("r4", 3);
  for (int i = 0; i < 20; ++i) claim_at("r4", "u" + std::to_string(i), 1000 + i);
  close("r4", 2000);
  auto report = topics::verify({{}, log_, {}});
  ASSERT_TRUE(report.ok()) << report.summary();
  ASSERT_EQ(report.draws["r4"].size(), 3u);
  EXPECT_EQ(report.issued, 3);
  auto forged = log_;
  auto win = std::find_if(forged.begin(), forged.end(), [](const auto& d) { return d.outcome == Outcome::kWon; });
  auto lose = std::find_if(forged.begin(), forged.end(), [](const auto& d) { return d.outcome == Outcome::kLost; });
  ASSERT_TRUE(win != forged.end() && lose != forged.end());
  std::swap(win->outcome, lose->outcome);
  std::swap(win->coupon_seq, lose->coupon_seq);
  EXPECT_FALSE(topics::verify({{}, forged, {}}).ok());
}

// delete_event (issue 14.3): the event's counters stay; no state record of the event names a user.
class DeleteTest : public ModesTest {
 protected:
  Step erase(const std::string& event, int64_t at = 3000) { return step({next_id(), at, topics::DeleteEvent{event}}); }
  // State records that mention `who` in their key or value.
  std::vector<std::string> mentions(const std::string& who) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : state_.kv) {
      if (k.find(who) != std::string::npos || v.find(who) != std::string::npos) out.push_back(k);
    }
    return out;
  }
  EventState event(const std::string& id) const { return decode_event(state_.kv.at(event_key(id))); }
  void expect_verified() const {
    auto report = topics::verify({{}, log_, {}});
    EXPECT_TRUE(report.ok()) << report.summary();
  }
};

TEST_F(DeleteTest, AFirstComeEventKeepsItsCountersLosesItsUsersAndAnswersDeletedAfterwards) {
  create({"e1", "Coupons", 5, 1, {}, {}});
  create({"e2", "Other", 5, 1, {}, {}});
  claim("e1", "alice-7");
  claim("e1", "bob-7");
  claim("e2", "alice-7");
  ASSERT_FALSE(mentions("bob-7").empty());
  auto del = erase("e1");
  EXPECT_EQ(del.decision.type, "delete_event");
  EXPECT_EQ(del.decision.outcome, Outcome::kDeleted);
  EXPECT_EQ(del.decision.remaining, 3);
  EXPECT_TRUE(mentions("bob-7").empty());
  EXPECT_EQ(mentions("alice-7"), std::vector<std::string>{user_key("e2", "alice-7")})
      << "the other event keeps its users";
  auto e = event("e1");
  EXPECT_TRUE(e.deleted);
  EXPECT_EQ(e.issued, 2);
  auto later = claim("e1", "carol-7");
  EXPECT_EQ(later.outcome, Outcome::kDeleted);
  EXPECT_EQ(later.remaining, 3);
  EXPECT_TRUE(mentions("carol-7").empty()) << "a claim on a deleted event records nobody";
  EXPECT_EQ(close("e1", 3100).decision.outcome, Outcome::kDeleted);
  EXPECT_EQ(confirm("e1", "q2", "alice-7", 3200).decision.outcome, Outcome::kDeleted);
  EXPECT_EQ(erase("e1").decision.outcome, Outcome::kAlreadyDeleted);
  EXPECT_EQ(create({"e1", "Again", 9, 1, {}, {}}).outcome, Outcome::kAlreadyExists) << "the id stays taken";
  EXPECT_EQ(erase("nope").decision.outcome, Outcome::kUnknownEvent);
  EXPECT_EQ(claim("e2", "bob-7").outcome, Outcome::kIssued) << "other events go on";
  expect_verified();
}

TEST_F(DeleteTest, TheDeleteWritesATombstoneForEveryRecordKindThatHoldsAUser) {
  raffle("r1", 1);
  hold_event("h1", 3, 1000);
  claim_at("r1", "ann-1", 1000);
  auto held = claim_at("h1", "ben-1", 1000);
  ASSERT_TRUE(state_.kv.count("hq/h1"));
  ASSERT_TRUE(state_.kv.count("en/r1/0"));
  ASSERT_TRUE(state_.kv.count("h/h1/" + held.decision.request_id));
  auto tombstones = [](const std::vector<StateWrite>& writes) {
    std::set<std::string> keys;
    for (const auto& w : writes) {
      if (!w.value) keys.insert(w.key);
    }
    return keys;
  };
  auto r = decide(state_, {"del-h1", 1100, topics::DeleteEvent{"h1"}}, {3, offset_++}, 1100);
  ASSERT_TRUE(r);
  EXPECT_EQ(tombstones(r->writes),
            (std::set<std::string>{"hq/h1", "h/h1/" + held.decision.request_id, user_key("h1", "ben-1")}));
  state_.apply(r->writes);
  r = decide(state_, {"del-r1", 1100, topics::DeleteEvent{"r1"}}, {3, offset_++}, 1100);
  ASSERT_TRUE(r);
  EXPECT_EQ(tombstones(r->writes), (std::set<std::string>{"en/r1/0", user_key("r1", "ann-1")}));
  state_.apply(r->writes);
  EXPECT_EQ(state_.kv.at("t/timers"), "") << "neither event waits for time any more";
}

TEST_F(DeleteTest, ARaffleDeletedBeforeItsDrawNeverDraws) {
  raffle("r2", 2, 5000);
  for (int i = 0; i < 4; ++i) claim_at("r2", "entrant-" + std::to_string(i), 1000 + i);
  EXPECT_EQ(erase("r2", 2000).decision.outcome, Outcome::kDeleted);
  EXPECT_TRUE(mentions("entrant-").empty());
  EXPECT_TRUE(tick(6000).caused.empty()) << "no draw after the delete";
  EXPECT_EQ(claim_at("r2", "entrant-9", 2100).decision.outcome, Outcome::kDeleted);
  EXPECT_EQ(close("r2", 7000).decision.outcome, Outcome::kDeleted);
  EXPECT_EQ(event("r2").entries, 4);
  expect_verified();
}

TEST_F(DeleteTest, AHoldEventDeletedWithLiveHoldsExpiresNothingAndAnswersDeleted) {
  hold_event("h2", 3, 500);
  auto a = claim_at("h2", "holder-a", 1000);
  auto b = claim_at("h2", "holder-b", 1000);
  confirm("h2", a.decision.request_id, "holder-a", 1100);
  auto del = erase("h2", 1200);
  EXPECT_EQ(del.decision.outcome, Outcome::kDeleted);
  EXPECT_EQ(del.decision.remaining, 1);  // one confirmed, one held: the counters stay
  EXPECT_TRUE(mentions("holder-").empty());
  EXPECT_TRUE(tick(5000).caused.empty()) << "the live hold does not expire after the delete";
  EXPECT_EQ(confirm("h2", b.decision.request_id, "holder-b", 5100).decision.outcome, Outcome::kDeleted);
  EXPECT_EQ(cancel("h2", b.decision.request_id, "holder-b", 5200).decision.outcome, Outcome::kDeleted);
  auto e = event("h2");
  EXPECT_EQ(e.issued, 1);
  EXPECT_EQ(e.held, 1);
  expect_verified();
}

TEST_F(DeleteTest, TheVerifierCatchesADecisionAfterTheDeleteThatIsNotDeleted) {
  create({"e3", "t", 5, 1, {}, {}});
  claim("e3", "x");
  erase("e3");
  claim("e3", "y");
  expect_verified();
  auto forged = log_;
  forged.back().outcome = Outcome::kIssued;
  forged.back().coupon_seq = 2;
  EXPECT_FALSE(topics::verify({{}, forged, {}}).ok()) << "a claim issued after the delete";
  forged = log_;
  forged[2].outcome = Outcome::kAlreadyDeleted;
  EXPECT_FALSE(topics::verify({{}, forged, {}}).ok()) << "the first delete must answer deleted";
}

TEST(EventRecord, RoundTripsDeletedAndReadsTheRecordsWrittenBeforeIt) {
  EventState e{topics::CreateEvent{"", "t|x", 10, 1, {}, {}}, 3};
  e.deleted = true;
  EXPECT_TRUE(encode_event(e).starts_with("e4|"));
  auto back = decode_event(encode_event(e));
  EXPECT_TRUE(back.deleted);
  EXPECT_EQ(back.issued, 3);
  e.deleted = false;
  EXPECT_TRUE(encode_event(e).starts_with("e3|")) << "a live event's record is what older binaries read";
  EXPECT_FALSE(decode_event(encode_event(e)).deleted);
  EXPECT_EQ(back.spec.title, "t|x");
  auto e3 = decode_event("e3|10|1|3|||fcfs|0|0|0|7|1|old|title");
  EXPECT_FALSE(e3.deleted);
  EXPECT_TRUE(e3.closed);
  EXPECT_EQ(e3.spec.title, "old|title");
}

TEST(EventRecord, RoundTripsTheModeFields) {
  EventState e{topics::CreateEvent{"", "x|y", 10, 2, {}, 99}, 3, 4, 5, 6, true};
  e.spec.mode = topics::EventMode::kHold;
  e.spec.hold_ms = 1500;
  auto back = decode_event(encode_event(e));
  EXPECT_EQ(back.spec.mode, topics::EventMode::kHold);
  EXPECT_EQ(back.spec.hold_ms, 1500);
  EXPECT_EQ(back.issued, 3);
  EXPECT_EQ(back.held, 4);
  EXPECT_EQ(back.entries, 5);
  EXPECT_EQ(back.stream_time, 6);
  EXPECT_TRUE(back.closed);
  EXPECT_EQ(back.spec.title, "x|y");
  auto old = decode_event("e2|10|1|3|||t");  // a record from before the modes: first come, first served
  EXPECT_EQ(old.spec.mode, topics::EventMode::kFcfs);
  EXPECT_EQ(old.issued, 3);
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

// The waiting room: joins get tickets, admission follows them at admit_per_s per second of stream time,
// and only admitted users may claim.
class WaitingRoomTest : public ModesTest {
 protected:
  void room(const std::string& id, int64_t stock, int64_t admit_per_s, std::optional<int64_t> opens_at = {}) {
    topics::CreateEvent e{id, "Drop", stock, 1, opens_at, {}};
    e.admit_per_s = admit_per_s;
    topics::Command c{next_id(), 1000, e};
    auto r = decide(state_, c, {3, offset_++}, 1000);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->decision.outcome, Outcome::kCreated);
    state_.apply(r->writes);
    log_.push_back(r->decision);
  }
  Step join(const std::string& event, const std::string& user, int64_t at) {
    return step({next_id(), at, topics::Join{event, user}});
  }
  // The decisions (own and caused) that admitted someone, with their user and ticket.
  std::vector<std::pair<std::string, int64_t>> admissions() const {
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& d : log_) {
      if (d.outcome == Outcome::kAdmitted) out.emplace_back(d.user_id, *d.ticket);
    }
    return out;
  }
};

TEST_F(WaitingRoomTest, AdmitsInTicketOrderAtMostAdmitPerSecondAndOnlyAdmittedUsersClaim) {
  room("w", 100, 2);
  std::vector<Step> joins;
  for (int i = 0; i < 7; ++i) joins.push_back(join("w", "u" + std::to_string(i), 1000));
  // The first two fit the opening second; the rest wait with their ticket.
  EXPECT_EQ(joins[0].decision.outcome, Outcome::kAdmitted);
  EXPECT_EQ(joins[1].decision.outcome, Outcome::kAdmitted);
  for (int i = 2; i < 7; ++i) {
    EXPECT_EQ(joins[i].decision.outcome, Outcome::kQueued);
    EXPECT_EQ(joins[i].decision.ticket, i + 1);
    EXPECT_EQ(joins[i].decision.admitted, 2);
  }
  EXPECT_EQ(claim_at("w", "u5", 1100).decision.outcome, Outcome::kNotAdmitted);
  EXPECT_EQ(claim_at("w", "nobody", 1100).decision.outcome, Outcome::kNotAdmitted);
  EXPECT_EQ(claim_at("w", "u0", 1100).decision.outcome, Outcome::kIssued);
  EXPECT_TRUE(tick(1999).caused.empty());  // still the first second
  auto second = tick(2000);
  ASSERT_EQ(second.caused.size(), 2u);
  EXPECT_EQ(second.caused[0].type, topics::kAdmission);
  EXPECT_EQ(second.caused[0].ticket, 3);
  EXPECT_EQ(second.caused[1].admitted, 4);
  // A quiet stretch saves no allowance up: two per second, whenever the seconds come.
  EXPECT_EQ(tick(9000).caused.size(), 2u);
  EXPECT_EQ(tick(9500).caused.size(), 0u);
  EXPECT_EQ(tick(10000).caused.size(), 1u);
  auto order = admissions();
  ASSERT_EQ(order.size(), 7u);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i].second, static_cast<int64_t>(i) + 1);
  EXPECT_EQ(claim_at("w", "u5", 10001).decision.outcome, Outcome::kIssued);
  auto again = join("w", "u5", 10002);
  EXPECT_EQ(again.decision.outcome, Outcome::kAlreadyQueued);
  EXPECT_EQ(again.decision.ticket, 6);
  EXPECT_EQ(again.decision.claim_request_id, joins[5].decision.request_id);
  auto report = topics::verify({{}, log_, {}});
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST_F(WaitingRoomTest, PreQueuedUsersAreShuffledAtTheOpeningTheSameWayOnEveryReplay) {
  room("p", 10, 3, 5000);
  std::vector<std::string> users;
  for (int i = 0; i < 20; ++i) {
    users.push_back("early" + std::to_string(i));
    auto s = join("p", users.back(), 1000 + i);
    EXPECT_EQ(s.decision.outcome, Outcome::kPreQueued);
    EXPECT_FALSE(s.decision.ticket);
  }
  EXPECT_EQ(claim_at("p", "early0", 2000).decision.outcome, Outcome::kNotOpen);
  const int64_t opening_offset = offset_;
  auto opening = tick(5000);
  // 20 tickets, then the first 3 admitted.
  ASSERT_EQ(opening.caused.size(), 23u);
  std::vector<std::string> by_ticket(20);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(opening.caused[i].type, topics::kQueueTicket);
    by_ticket[*opening.caused[i].ticket - 1] = opening.caused[i].user_id;
  }
  for (int i = 20; i < 23; ++i) EXPECT_EQ(opening.caused[i].user_id, by_ticket[i - 20]);
  EXPECT_NE(by_ticket, users) << "arrival order kept: no shuffle";
  auto expected = topics::draw_winners(topics::draw_seed("p", {3, opening_offset}), 20, 20);
  for (int t = 0; t < 20; ++t) EXPECT_EQ(by_ticket[t], users[expected[t]]);
  // A join after the opening is behind everyone pre-queued, whenever it came.
  EXPECT_EQ(join("p", "late", 5001).decision.ticket, 21);
  EXPECT_EQ(claim_at("p", by_ticket[0], 5002).decision.outcome, Outcome::kIssued);
  EXPECT_EQ(claim_at("p", by_ticket[3], 5002).decision.outcome, Outcome::kNotAdmitted);
  auto report = topics::verify({{}, log_, {}});
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST_F(WaitingRoomTest, AJoinOnAnEventWithoutARoomOrClosedOrDeletedChangesNothing) {
  create({"plain", "t", 5, 1, {}, {}});
  EXPECT_EQ(join("plain", "a", 1000).decision.outcome, Outcome::kNoWaitingRoom);
  EXPECT_EQ(join("ghost", "a", 1000).decision.outcome, Outcome::kUnknownEvent);
  room("c", 5, 1);
  join("c", "a", 1000);
  join("c", "b", 1000);
  EXPECT_EQ(close("c", 1500).decision.outcome, Outcome::kClosed);
  EXPECT_EQ(join("c", "z", 1600).decision.outcome, Outcome::kClosed);
  auto del = step({next_id(), 1700, topics::DeleteEvent{"c"}});
  EXPECT_EQ(del.decision.outcome, Outcome::kDeleted);
  for (const char* prefix : {"w/c/", "wp/c/", "wq/c/"}) {
    int left = 0;
    state_.scan(prefix, [&](const std::string&, const std::string&) { ++left; });
    EXPECT_EQ(left, 0) << prefix;
  }
  EXPECT_EQ(join("c", "y", 1800).decision.outcome, Outcome::kDeleted);
}

TEST_F(WaitingRoomTest, TheVerifierCatchesAnAdmissionOutOfOrderOrAboveTheRate) {
  room("v", 10, 2);
  for (int i = 0; i < 6; ++i) join("v", "u" + std::to_string(i), 1000);
  tick(2000);
  ASSERT_TRUE(topics::verify({{}, log_, {}}).ok());
  auto too_fast = log_;
  auto extra = too_fast.back();
  extra.request_id = too_fast[5].request_id;  // u4's join
  extra.user_id = "u4";
  extra.ticket = 5;
  too_fast.push_back(extra);
  EXPECT_FALSE(topics::verify({{}, too_fast, {}}).ok()) << "a third admission in one second";
  auto unadmitted = log_;
  auto claim = unadmitted.back();
  claim.type = "claim";
  claim.request_id = "forged-claim";
  claim.user_id = "u5";
  claim.outcome = Outcome::kIssued;
  claim.coupon_seq = 1;
  claim.ticket.reset();
  unadmitted.push_back(claim);
  EXPECT_FALSE(topics::verify({{}, unadmitted, {}}).ok()) << "issued to a user never admitted";
}

TEST_F(DecideTest, ChargesCreditTheWalletOnceAndRefuseWhatWouldPassTheLimit) {
  auto first = run({"pay-1", 1000, topics::Charge{"", "alice", 700}});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type, "charge");
  EXPECT_EQ(first->outcome, Outcome::kCredited);
  EXPECT_EQ(first->user_id, "alice");
  EXPECT_EQ(first->event_id, "");
  EXPECT_EQ(first->amount, 700);
  EXPECT_EQ(first->balance, 700);
  EXPECT_FALSE(run({"pay-1", 1001, topics::Charge{"", "alice", 700}})) << "a retried key credits nothing more";
  EXPECT_EQ(run({"pay-2", 1002, topics::Charge{"", "alice", 300}})->balance, 1000);
  EXPECT_EQ(run({"pay-3", 1003, topics::Charge{"", "bob", 5}})->balance, 5) << "each user has a wallet of their own";
  EXPECT_EQ(state_.kv.at(balance_key("alice")), "1000");
  state_.kv[balance_key("carol")] = std::to_string(topics::kMaxBalance - 10);
  auto over = run({"pay-4", 1004, topics::Charge{"", "carol", 11}});
  EXPECT_EQ(over->outcome, Outcome::kBalanceLimit);
  EXPECT_EQ(over->balance, topics::kMaxBalance - 10) << "a refused charge leaves the balance as it was";
  EXPECT_EQ(run({"pay-5", 1005, topics::Charge{"", "carol", 10}})->balance, topics::kMaxBalance);
}

// Rewards (topics/rewards.h): each unit issued emits one reward command for its user's wallet, whose
// amount follows the published rule; the wallet credits it.
class RewardsTest : public ::testing::Test {
 protected:
  // Runs `c` and then every command it emitted (the wallet's side), as the two partitions would.
  void run(const topics::Command& c) {
    auto r = decide(state_, c, {2, offset_++}, 1000);
    if (!r) return;
    state_.apply(r->writes);
    if (r->publish) decisions_.push_back(r->decision);
    decisions_.insert(decisions_.end(), r->caused.begin(), r->caused.end());
    for (const auto& e : r->emitted) {
      emitted_.push_back(e);
      run(e);
    }
  }
  topics::CreateEvent event(const std::string& id, int64_t stock, topics::EventMode mode) {
    topics::CreateEvent e{id, "Rewarded", stock, 1, {}, {}};
    e.mode = mode;
    e.reward_average = 500;
    if (mode == topics::EventMode::kHold) e.hold_ms = 60'000;
    if (mode == topics::EventMode::kRaffle) e.closes_at = 5'000;
    return e;
  }
  std::string next() { return "q" + std::to_string(offset_); }
  MapState state_;
  int64_t offset_ = 0;
  std::vector<topics::Decision> decisions_;
  std::vector<topics::Command> emitted_;
};

TEST(Rewards, AmountsStayInRangeAndPullTheAverageToTheTarget) {
  int64_t count = 0, sum = 0;
  for (int64_t n = 1; n <= 2000; ++n) {
    auto amount = topics::reward_amount("drop", n, 500, count, sum);
    ASSERT_EQ(amount, topics::reward_amount("drop", n, 500, count, sum)) << "deterministic";
    ASSERT_GE(amount, 1);
    ASSERT_LE(amount, 1000);
    if (sum > 500 * count) {
      ASSERT_LE(amount, 500) << "above the target: drawn below it";
    }
    if (sum < 500 * count) {
      ASSERT_GE(amount, 500) << "below the target: drawn above it";
    }
    ++count;
    sum += amount;
    ASSERT_LE(std::abs(sum - 500 * count), 1000) << "the sum never strays more than 2A from n x A";
  }
  EXPECT_NEAR(static_cast<double>(sum) / static_cast<double>(count), 500.0, 1.0);
  EXPECT_NE(topics::reward_amount("drop", 7, 500, 0, 0), topics::reward_amount("other", 7, 500, 0, 0));
  EXPECT_EQ(topics::reward_request_id("drop", 7), topics::reward_request_id("drop", 7));
  EXPECT_NE(topics::reward_request_id("drop", 7), topics::reward_request_id("drop", 8));
  EXPECT_TRUE(topics::valid_request_id(topics::reward_request_id(std::string(64, 'e'), 100'000'000)));
}

TEST_F(RewardsTest, EachUnitIssuedInEveryModeCreditsItsUserOnceAndTheVerifierAgrees) {
  using topics::EventMode;
  run({"c-f", 100, event("f", 3, EventMode::kFcfs)});
  run({"c-h", 100, event("h", 2, EventMode::kHold)});
  run({"c-r", 100, event("r", 2, EventMode::kRaffle)});
  for (const std::string user : {"ann", "ben", "cat", "dan"}) {
    run({"f-" + user, 1000, topics::Claim{"f", user}});  // dan's is sold out: no reward
    run({"r-" + user, 1000, topics::Claim{"r", user}});
  }
  run({"hold-ann", 1000, topics::Claim{"h", "ann"}});
  run({"hold-ben", 1000, topics::Claim{"h", "ben"}});
  run({next(), 1100, topics::Confirm{{"h", "hold-ann", "ann"}}});
  run({next(), 1100, topics::Cancel{{"h", "hold-ben", "ben"}}});  // cancelled: no reward
  run({next(), 6000, topics::CloseEvent{"r"}});                   // draws 2 winners

  ASSERT_EQ(emitted_.size(), 3u + 1u + 2u);
  std::map<std::string, int64_t> credited;
  for (const auto& d : decisions_) {
    if (d.type == "reward") {
      EXPECT_EQ(d.outcome, Outcome::kCredited);
      credited[d.user_id] += *d.amount;
    }
  }
  int64_t balances = 0;
  for (const char* user : {"ann", "ben", "cat", "dan"}) {
    auto b = state_.kv.find(balance_key(user));
    EXPECT_EQ(b == state_.kv.end() ? 0 : std::stoll(b->second), credited[user]) << user;
    balances += credited[user];
  }
  EXPECT_GT(balances, 0);
  // The first unit of each event gets the rule's first amount.
  for (const auto& c : emitted_) {
    const auto& reward = std::get<topics::Reward>(c.body);
    EXPECT_EQ(c.key(), topics::wallet_key(reward.user_id));
    EXPECT_GE(reward.amount, 1);
    EXPECT_LE(reward.amount, 1000);
  }
  // A retried claim emits nothing more (its decision stands).
  auto again = decide(state_, {"f-ann", 1000, topics::Claim{"f", "ann"}}, {2, 99}, 1000);
  EXPECT_FALSE(again);

  topics::VerifyInput in;
  in.decisions = decisions_;
  auto report = topics::verify(in);
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.rewards, 6);
  EXPECT_EQ(report.money_credited, balances);

  // The verifier catches a reward of the wrong amount, a missing one and one paid twice.
  auto tampered = decisions_;
  for (auto& d : tampered) {
    if (d.type == "reward") {
      *d.amount += 1;
      *d.balance += 1;
      break;
    }
  }
  in.decisions = tampered;
  EXPECT_FALSE(topics::verify(in).ok()) << "an amount the rule does not give";
  auto missing = decisions_;
  std::erase_if(missing, [](const topics::Decision& d) { return d.type == "reward" && d.user_id == "cat"; });
  in.decisions = missing;
  EXPECT_FALSE(topics::verify(in).ok()) << "a unit without its reward";
  // ...unless the input does not hold that user's wallet: then that unit is not checked.
  in.wallet_users = std::set<std::string>{"ann", "ben", "dan"};
  auto partial = topics::verify(in);
  EXPECT_TRUE(partial.ok()) << partial.summary();
  EXPECT_LT(partial.rewards, 6);
  in.wallet_users.reset();

  // A reward for a unit never issued (dan's sold-out claim) is money from nowhere.
  auto extra = decisions_;
  for (const auto& d : decisions_) {
    if (d.type == "reward" && d.user_id == "cat") {
      auto forged = d;
      forged.request_id = topics::reward_request_id("f", 9);
      forged.claim_request_id = "f-dan";
      forged.user_id = "dan";
      forged.balance = forged.amount;
      forged.command.offset = 10'000;
      extra.push_back(forged);
    }
  }
  in.decisions = extra;
  auto forged = topics::verify(in);
  EXPECT_FALSE(forged.ok());
  EXPECT_NE(forged.summary().find("for no unit issued"), std::string::npos) << forged.summary();
}

TEST(RewardsRecord, RoundTripsAndACorruptOneThrows) {
  auto back = decode_rewards(encode_rewards({250, 7, 1801}));
  EXPECT_EQ(back.average, 250);
  EXPECT_EQ(back.count, 7);
  EXPECT_EQ(back.sum, 1801);
  EXPECT_THROW(decode_rewards("250 7"), std::runtime_error);
  EXPECT_THROW(decode_rewards("250 x 1"), std::runtime_error);
}

TEST(EventRecord, RoundTripsTheWaitingRoomFields) {
  EventState e;
  e.spec.title = "x|y";
  e.spec.stock = 9;
  e.spec.admit_per_s = 500;
  e.queue_open = true;
  e.queue_start = 1234;
  e.prequeued = 7;
  e.tickets = 11;
  e.admitted = 5;
  e.window = 3;
  e.window_admitted = 2;
  auto back = decode_event(encode_event(e));
  EXPECT_TRUE(encode_event(e).starts_with("e5|"));
  EXPECT_EQ(encode_event(back), encode_event(e));
  EXPECT_EQ(back.spec.admit_per_s, 500);
  EXPECT_EQ(back.window_admitted, 2);
  EXPECT_EQ(back.spec.title, "x|y");
}

}  // namespace
}  // namespace allot::processors
