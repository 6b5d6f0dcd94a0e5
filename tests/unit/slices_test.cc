// Mega events (topics/slices.h): the pure parts, the request rules, the message fields and the checks
// verify adds for a mega event as a whole (each kind of violation must be caught).
#include "topics/slices.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <set>

#include "ingress/mega.h"
#include "ingress/requests.h"
#include "topics/messages.h"
#include "topics/topics.h"
#include "topics/verify.h"

namespace allot::topics {
namespace {

TEST(Slices, StockSharesSumToTheStockAndDifferByAtMostOne) {
  for (int64_t stock : {4, 5, 7, 10, 999, 1000, 1001, 100000000}) {
    for (int32_t k = 1; k <= 12; ++k) {
      if (stock < k) continue;
      int64_t sum = 0, lo = stock, hi = 0;
      for (int32_t s = 0; s < k; ++s) {
        const int64_t share = slice_stock(stock, k, s);
        sum += share;
        lo = std::min(lo, share);
        hi = std::max(hi, share);
      }
      EXPECT_EQ(sum, stock) << stock << "/" << k;
      EXPECT_LE(hi - lo, 1) << stock << "/" << k;
    }
  }
  EXPECT_EQ(slice_stock(10, 4, 0), 3);  // the first stock % K slices get one more
  EXPECT_EQ(slice_stock(10, 4, 1), 3);
  EXPECT_EQ(slice_stock(10, 4, 2), 2);
  EXPECT_EQ(slice_stock(10, 4, 3), 2);
  EXPECT_EQ(slice_stock(10, 1, 0), 10);
}

TEST(Slices, UsersAreRoutedStablyAndEvenly) {
  // FNV-1a 64 is fixed: these values must never change, or users would move between slices of a live event.
  EXPECT_EQ(fnv1a64(""), 14695981039346656037ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(slice_hash("a"), 198367012849983736ULL);  // must never change
  EXPECT_EQ(user_slice("anyone", 1), 0);
  // Ids that differ only in bits above each byte's lowest two spread over the slices too (plain FNV-1a % 4
  // would put all of these on one slice).
  std::set<int32_t> spread;
  for (const char* id : {"user-a", "user-e", "user-i", "user-m", "user-q", "user-u", "user-y", "user-A", "user-E"}) {
    spread.insert(user_slice(id, 4));
  }
  EXPECT_GE(spread.size(), 3u);
  std::set<uint64_t> plain;
  for (const char* id : {"user-a", "user-e", "user-i", "user-m", "user-q", "user-u", "user-y", "user-A", "user-E"}) {
    plain.insert(fnv1a64(id) % 4);
  }
  EXPECT_EQ(plain.size(), 1u) << "the weakness slice_hash exists for";
  std::map<int32_t, int> counts;
  for (int i = 0; i < 40000; ++i) {
    const auto user = "user-" + std::to_string(i);
    const int32_t s = user_slice(user, 4);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 4);
    ASSERT_EQ(s, user_slice(user, 4));
    ++counts[s];
  }
  for (const auto& [s, n] : counts) EXPECT_NEAR(n, 10000, 500) << "slice " << s;
}

TEST(Slices, TheSlicesOfAnEventSitOnDistinctPartitions) {
  for (const char* id : {"a", "mega", "spring-sale-2026", "x1"}) {
    for (int32_t k = 1; k <= 12; ++k) {
      std::set<int32_t> used;
      for (int32_t s = 0; s < k; ++s) {
        const int32_t p = slice_partition(id, s, 12);
        EXPECT_GE(p, 0);
        EXPECT_LT(p, 12);
        used.insert(p);
      }
      EXPECT_EQ(used.size(), static_cast<size_t>(k)) << id << " K=" << k;
    }
  }
}

TEST(Slices, SliceIdsParseBackAndNeverLookLikePublicIds) {
  EXPECT_EQ(slice_id("mega", 3), "mega~3");
  auto ref = parse_slice_id("mega~11");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->parent, "mega");
  EXPECT_EQ(ref->slice, 11);
  EXPECT_FALSE(parse_slice_id("mega"));
  EXPECT_FALSE(parse_slice_id("mega~"));
  EXPECT_FALSE(parse_slice_id("mega~01"));
  EXPECT_FALSE(parse_slice_id("mega~-1"));
  EXPECT_FALSE(parse_slice_id("Mega~1"));
  EXPECT_FALSE(parse_slice_id("~1"));
  EXPECT_FALSE(parse_slice_id(std::string(62, 'a') + "~1"));
  EXPECT_TRUE(parse_slice_id(std::string(61, 'a') + "~11"));
  EXPECT_FALSE(valid_event_id("mega~1"));  // the public API never takes one
  EXPECT_TRUE(valid_topic_event_id("mega~1"));
  EXPECT_TRUE(valid_topic_event_id("mega"));
}

TEST(Slices, CreateEventCarriesPartitionsAndTotalStock) {
  CreateEvent slice{"mega~2", "Mega", 3, 2, {}, {}};
  slice.partitions = 4;
  slice.total_stock = 10;
  Command c{"req-1", 5, slice};
  auto back = std::get<CreateEvent>(decode_command(encode(c)).body);
  EXPECT_EQ(back.event_id, "mega~2");
  EXPECT_EQ(back.partitions, 4);
  EXPECT_EQ(back.total_stock, 10);
  Decision d;
  d.type = "create_event";
  d.request_id = "req-1";
  d.event_id = "mega~2";
  d.outcome = Outcome::kCreated;
  d.event = slice;
  auto decoded = decode_decision(encode(d));
  ASSERT_TRUE(decoded.event);
  EXPECT_EQ(decoded.event->partitions, 4);
  EXPECT_EQ(decoded.event->total_stock, 10);
  // An ordinary event's encoding does not change.
  Command plain{"req-2", 5, CreateEvent{"e", "E", 3, 1, {}, {}}};
  EXPECT_EQ(encode(plain).find("partitions"), std::string::npos);
  // Claims on a slice take the fast path both ways.
  Command claim{"req-3", 7, Claim{"mega~2", "alice"}};
  auto claim_back = decode_command(encode(claim));
  EXPECT_EQ(std::get<Claim>(claim_back.body).event_id, "mega~2");
}

TEST(Slices, RequestsValidatePartitions) {
  auto status = [](std::string_view body) {
    auto v = ingress::parse_create_event(body);
    if (auto* e = std::get_if<ingress::ApiError>(&v)) return e->status;
    return 200;
  };
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":4})"), 200);
  EXPECT_EQ(
      std::get<CreateEvent>(ingress::parse_create_event(R"({"event_id":"m","title":"T","stock":100,"partitions":4})"))
          .partitions,
      4);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100})"), 200);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":1})"), 200);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":0})"), 400);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":-2})"), 400);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":2.5})"), 400);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":"4"})"), 400);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":3,"partitions":4})"), 200);  // one slice has no unit
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":2,"mode":"hold","hold_ms":5})"), 400);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":2,"mode":"raffle","closes_at":5})"), 400);
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":2,"admit_per_s":100})"),
            400);  // no waiting room
  EXPECT_EQ(status(R"({"event_id":"m","title":"T","stock":100,"partitions":1,"admit_per_s":100})"), 200);
  EXPECT_EQ(status(R"({"event_id":")" + std::string(62, 'a') + R"(","title":"T","stock":100,"partitions":2})"), 400);
  EXPECT_EQ(status(R"({"event_id":")" + std::string(62, 'a') + R"(","title":"T","stock":100,"partitions":1})"), 200);
}

// A mega event's decisions as the processors make them: K slices, each an fcfs event on its partition.
struct MegaRun {
  std::string parent = "m";
  int32_t k = 2;
  int64_t stock = 3;
  int64_t limit = 1;
  std::vector<Decision> decisions;
  std::map<int32_t, int64_t> next_offset, issued;

  Decision created(int32_t s) {
    CreateEvent e{slice_id(parent, s), "T", slice_stock(stock, k, s), limit, {}, {}};
    e.partitions = k;
    e.total_stock = stock;
    Decision d;
    d.type = "create_event";
    d.request_id = "create-" + std::to_string(s);
    d.event_id = e.event_id;
    d.outcome = Outcome::kCreated;
    d.event = e;
    d.command = {slice_partition(parent, s, 12), next_offset[s]++};
    return d;
  }
  Decision claim(int32_t s, const std::string& user, Outcome o) {
    Decision d;
    d.type = "claim";
    d.request_id = "req-" + std::to_string(decisions.size());
    d.event_id = slice_id(parent, s);
    d.user_id = user;
    d.outcome = o;
    if (o == Outcome::kIssued) d.coupon_seq = ++issued[s];
    d.command = {slice_partition(parent, s, 12), next_offset[s]++};
    return d;
  }
  // A user of slice s (the n-th one found).
  std::string user_of(int32_t s, int n = 0) const {
    for (int i = 0;; ++i) {
      auto u = "u" + std::to_string(i);
      if (user_slice(u, k) == s && n-- == 0) return u;
    }
  }
};

TEST(VerifySlices, ACorrectMegaRunIsClean) {
  MegaRun m;  // stock 3 on 2 slices: 2 + 1
  m.decisions = {m.created(0), m.created(1)};
  m.decisions.push_back(m.claim(0, m.user_of(0, 0), Outcome::kIssued));
  m.decisions.push_back(m.claim(1, m.user_of(1, 0), Outcome::kIssued));
  m.decisions.push_back(m.claim(1, m.user_of(1, 1), Outcome::kSoldOut));  // slice 1 sold out, slice 0 not
  m.decisions.push_back(m.claim(0, m.user_of(0, 0), Outcome::kDuplicate));
  m.decisions.push_back(m.claim(0, m.user_of(0, 1), Outcome::kIssued));
  auto r = verify({{}, m.decisions, {}});
  EXPECT_TRUE(r.ok()) << r.summary();
  EXPECT_EQ(r.mega_events, 1);
  EXPECT_EQ(r.issued, 3);
}

TEST(VerifySlices, CatchesAUserOnTheWrongSlice) {
  MegaRun m;
  m.decisions = {m.created(0), m.created(1)};
  m.decisions.push_back(m.claim(1, m.user_of(0), Outcome::kIssued));
  auto r = verify({{}, m.decisions, {}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.summary().find("belongs to slice"), std::string::npos) << r.summary();
}

TEST(VerifySlices, CatchesAStockThatIsNotTheShare) {
  MegaRun m;
  m.decisions = {m.created(0), m.created(1)};
  m.decisions[1].event->stock = 2;  // 2 + 2 > 3
  auto r = verify({{}, m.decisions, {}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.summary().find("not its share"), std::string::npos) << r.summary();
  EXPECT_NE(r.summary().find("sum to more"), std::string::npos) << r.summary();
}

TEST(VerifySlices, CatchesSlicesSharingAPartitionAndASliceOnTwo) {
  MegaRun m;
  m.decisions = {m.created(0), m.created(1)};
  m.decisions[1].command.partition = m.decisions[0].command.partition;
  auto r = verify({{}, m.decisions, {}});
  EXPECT_NE(r.summary().find("shares partition"), std::string::npos) << r.summary();
  MegaRun n;
  n.decisions = {n.created(0), n.created(1)};
  auto c = n.claim(0, n.user_of(0), Outcome::kIssued);
  c.command.partition = (c.command.partition + 5) % 12;
  n.decisions.push_back(c);
  r = verify({{}, n.decisions, {}});
  EXPECT_NE(r.summary().find("more than one partition"), std::string::npos) << r.summary();
}

TEST(VerifySlices, CatchesDisagreeingSlicesAndAReusedId) {
  MegaRun m;
  m.decisions = {m.created(0), m.created(1)};
  m.decisions[1].event->per_user_limit = 2;
  Decision plain;
  plain.type = "create_event";
  plain.request_id = "create-plain";
  plain.event_id = "m";
  plain.outcome = Outcome::kCreated;
  plain.event = CreateEvent{"m", "T", 5, 1, {}, {}};
  m.decisions.push_back(plain);
  auto r = verify({{}, m.decisions, {}});
  EXPECT_NE(r.summary().find("differ from the other slices"), std::string::npos) << r.summary();
  EXPECT_NE(r.summary().find("both an ordinary event and a mega event"), std::string::npos) << r.summary();
}

TEST(VerifySlices, CatchesIssuedBeyondTheWholeStock) {
  MegaRun m;
  m.decisions = {m.created(0), m.created(1)};
  m.decisions[0].event->total_stock = 1;  // the shares say 2 + 1; the total says 1
  m.decisions[1].event->total_stock = 1;
  m.decisions.push_back(m.claim(0, m.user_of(0, 0), Outcome::kIssued));
  m.decisions.push_back(m.claim(1, m.user_of(1, 0), Outcome::kIssued));
  auto r = verify({{}, m.decisions, {}});
  EXPECT_NE(r.summary().find("beyond the stock"), std::string::npos) << r.summary();
}

}  // namespace
}  // namespace allot::topics

namespace allot::ingress {
namespace {

// Records how the whole was answered.
class Recorder : public Delivery {
 public:
  Recorder(int& delivered, int& failed, topics::CommandPosition& at)
      : delivered_(delivered), failed_(failed), at_(at) {}
  void delivered(topics::CommandPosition position) override {
    ++delivered_;
    at_ = position;
  }
  void failed(const std::string&) override { ++failed_; }

 private:
  int& delivered_;
  int& failed_;
  topics::CommandPosition& at_;
};

TEST(FanOut, AnswersDeliveredOnceAllPartsAreStoredWithTheFirstPartsPosition) {
  int delivered = 0, failed = 0;
  topics::CommandPosition at;
  auto parts = fan_out(std::make_unique<Recorder>(delivered, failed, at), 3);
  ASSERT_EQ(parts.size(), 3u);
  parts[2]->delivered({7, 70});
  parts[0]->delivered({5, 50});
  EXPECT_EQ(delivered, 0) << "not before every part is stored";
  parts[1]->delivered({6, 60});
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(at.partition, 5);
  EXPECT_EQ(at.offset, 50);
}

TEST(FanOut, AnswersFailedOnceWhenAnyPartFailedAndOnlyAfterAllReported) {
  int delivered = 0, failed = 0;
  topics::CommandPosition at;
  auto parts = fan_out(std::make_unique<Recorder>(delivered, failed, at), 3);
  parts[0]->failed("timeout");
  EXPECT_EQ(failed, 0) << "a 503 only once no part is in flight";
  parts[1]->delivered({1, 1});
  parts[2]->failed("timeout");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(delivered, 0);
}

TEST(MegaEvents, RemembersWhatItLearned) {
  MegaEvents m;
  EXPECT_FALSE(m.partitions("e"));
  m.learn("e", 4);
  m.learn("f", 1);
  EXPECT_EQ(m.partitions("e"), 4);
  EXPECT_EQ(m.partitions("f"), 1);
}

}  // namespace
}  // namespace allot::ingress
