// The list of an event's record kinds (processors/keys.h) is what delete_event erases: these tests fail
// when a record of an event is written under a key the list does not cover.
#include "processors/keys.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "processors/domain.h"
#include "processors/memory_state.h"

namespace allot::processors {
namespace {

// Whether `key` is a record of `event_id` of some listed kind.
bool listed(std::string_view event_id, std::string_view key) {
  for (const auto& kind : kEventKinds) {
    if (kind.covers(event_id, key)) return true;
  }
  return false;
}

// Every key builder of an event's records, for one event.
std::vector<std::string> keys_of(const std::string& event_id) {
  return {event_key(event_id),
          user_key(event_id, "alice"),
          entry_key(event_id, 0),
          hold_key(event_id, "req-1"),
          hold_queue_key(event_id),
          join_key(event_id, "alice"),
          prequeue_key(event_id, 0),
          ticket_key(event_id, 1),
          rewards_key(event_id),
          terms_key(event_id),
          reservation_key(event_id, "o1", 1),
          coupon_key(event_id, "req-1"),
          seat_key(event_id, "A-1"),
          hold_seat_key(event_id, "req-1")};
}

TEST(EventKeys, EveryBuilderOfAnEventsRecordIsListedForThatEventOnly) {
  for (const auto& key : keys_of("e1")) {
    EXPECT_TRUE(listed("e1", key)) << key << " is an event's record that delete_event would not see";
    EXPECT_FALSE(listed("e10", key)) << key << " would be taken for a record of another event";
    EXPECT_FALSE(listed("e", key)) << key << " would be taken for a record of another event";
  }
  EXPECT_FALSE(listed("e1", request_key("e1"))) << "a request marker belongs to no event";
  EXPECT_FALSE(listed("t", kTimersKey));
  EXPECT_FALSE(listed("dan", balance_key("dan"))) << "a wallet belongs to no event";
}

TEST(EventKeys, KindsHaveDistinctPrefixesAndOnlyTheEventsOwnRecordStays) {
  std::set<std::string_view> prefixes;
  for (const auto& kind : kEventKinds) {
    EXPECT_TRUE(prefixes.insert(kind.prefix).second) << kind.prefix;
    EXPECT_EQ(kind.erased, kind.prefix != key_kind::kEvent.prefix) << kind.prefix;
  }
}

// Runs commands through decide() over one in-memory state, checking every key each one writes.
class EveryWrite : public ::testing::Test {
 protected:
  void run(const topics::Command& c) {
    auto r = decide(state_, c, {0, offset_++}, 1);
    ASSERT_TRUE(r);
    for (const auto& w : r->writes) {
      bool known = w.key.starts_with(kRequestPrefix) || w.key == kTimersKey || w.key.starts_with(kBalancePrefix) ||
                   w.key.starts_with(kOrderPrefix);
      for (const auto& id : events_) known = known || listed(id, w.key);
      EXPECT_TRUE(known) << w.key << " (written by a " << c.type() << ") is in no list of keys.h";
    }
    state_.apply(r->writes);
  }
  void create(topics::CreateEvent e, topics::EventMode mode, int64_t hold_ms = 0, int64_t admit_per_s = 0) {
    e.mode = mode;
    e.hold_ms = hold_ms;
    e.admit_per_s = admit_per_s;
    e.reward_average = 100;  // every event has rewards here, so their record is checked too
    events_.push_back(e.event_id);
    run({next(), 100, e});
  }
  std::string next() { return "q" + std::to_string(offset_); }
  MemoryState state_;
  std::vector<std::string> events_;
  int64_t offset_ = 0;
};

TEST_F(EveryWrite, OfEveryModeIsAListedRecordOfItsEventAndGoesWithTheDelete) {
  using M = topics::EventMode;
  create({"f1", "t", 5, 1, {}, {}}, M::kFcfs);
  create({"h1", "t", 5, 1, {}, {}}, M::kHold, 500);
  create({"r1", "t", 1, 1, {}, 5000}, M::kRaffle);
  create({"w1", "t", 5, 1, 2000, {}}, M::kFcfs, 0, 1);
  for (const std::string user : {"ann", "ben", "cat"}) {
    run({next(), 1000, topics::Claim{"f1", user}});
    run({next(), 1000, topics::Claim{"h1", user}});
    run({next(), 1000, topics::Claim{"r1", user}});
    run({next(), 1000, topics::Join{"w1", user}});
  }
  run({next(), 1100, topics::Confirm{{"h1", "q5", "ann"}}});
  topics::CreateEvent hall{"s1", "t", 3, 1, {}, {}};
  hall.seats = {"A-1", "A-2", "A-3"};
  hall.price = 100;
  create(hall, M::kHold, 500);
  // Seats: held, an order's line takes ann's over, gives it back, takes it again and sells it; cat's expires.
  run({"s-ann", 1000, topics::Claim{"s1", "ann", "A-1"}});
  run({"s-cat", 1000, topics::Claim{"s1", "cat", "A-3"}});
  auto line = [](const std::string& order) {
    topics::Reserve r;
    static_cast<topics::OrderPart&>(r) = {"s1", "ann", order, 1};
    r.qty = 1;
    r.seat = "A-1";
    return r;
  };
  run({next(), 1000, line("o1")});
  run({next(), 1000, topics::Release{{"s1", "ann", "o1", 1}, "A-1"}});
  run({next(), 1000, line("o2")});
  run({next(), 1000, topics::Finalize{{"s1", "ann", "o2", 1}, 100, "A-1"}});
  run({next(), 2100, topics::Tick{}});  // the waiting room opens, the other holds expire
  run({next(), 2200, topics::Claim{"w1", "ann"}});
  run({next(), 2300, topics::Join{"w1", "dan"}});
  run({next(), 2350, topics::Charge{"", "dan", 100}});
  for (const auto& id : events_) run({next(), 2400, topics::DeleteEvent{id}});
  for (const auto& [key, value] : state_.kv) {
    bool kept = key.starts_with(kRequestPrefix) || key == kTimersKey || key.starts_with(kBalancePrefix);
    for (const auto& id : events_) kept = kept || key == event_key(id);
    EXPECT_TRUE(kept) << key << " outlived its event's delete_event";
  }
}

TEST(EventKeys, DeleteErasesOneRecordOfEveryErasedKindAndNothingOfAnotherEvent) {
  MemoryState state;
  for (const std::string id : {"e1", "e10"}) {
    state.kv[event_key(id)] = encode_event({topics::CreateEvent{id, "t", 5, 1, {}, {}}});
    for (const auto& kind : kEventKinds) {
      if (kind.erased) state.kv[kind.under(id) + (kind.many ? "x" : "")] = "1 x";
    }
  }
  auto r = decide(state, {"del", 1000, topics::DeleteEvent{"e1"}}, {0, 0}, 1);
  ASSERT_TRUE(r);
  std::set<std::string> tombstones;
  for (const auto& w : r->writes) {
    if (!w.value) tombstones.insert(w.key);
  }
  for (const auto& kind : kEventKinds) {
    const auto key = kind.under("e1") + (kind.many ? "x" : "");
    EXPECT_EQ(tombstones.count(key), kind.erased ? 1u : 0u) << key;
  }
  EXPECT_EQ(tombstones.size(), kEventKinds.size() - 1) << "nothing of e10";
}

}  // namespace
}  // namespace allot::processors
