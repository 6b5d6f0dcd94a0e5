#include "topics/messages.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "topics/topics.h"

// GCC 12 warns of an overlapping memcpy in std::string's assignment of short literals once this file's tests
// change its inlining (a false positive, GCC bug 105651); nothing here copies overlapping memory.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

namespace allot::topics {
namespace {

// The claim's direct encoding is byte for byte the JSON document's dump; ids that would need escaping
// take the document's path.
TEST(Messages, ClaimEncodingIsTheJsonDocument) {
  Command c{"req-1", 1796000000000, Claim{"spring-sale", "user_1"}};
  nlohmann::json j{{"request_id", "req-1"},
                   {"received_at", 1796000000000},
                   {"type", "claim"},
                   {"event_id", "spring-sale"},
                   {"user_id", "user_1"}};
  EXPECT_EQ(encode(c), j.dump());
  Command odd{"req-2", 1, Claim{"spring-sale", "quote\"d"}};
  EXPECT_EQ(nlohmann::json::parse(encode(odd)).at("user_id"), "quote\"d");
}

TEST(Messages, ClaimCommandRoundTrips) {
  Command c{"abc", 42, Claim{"spring-sale", "user_1"}};
  auto back = decode_command(encode(c));
  EXPECT_EQ(back.request_id, "abc");
  EXPECT_EQ(back.received_at, 42);
  ASSERT_TRUE(back.is_claim());
  EXPECT_EQ(std::get<Claim>(back.body).user_id, "user_1");
  EXPECT_EQ(back.event_id(), "spring-sale");
}

TEST(Messages, DeleteEventRoundTripsAndNeedsAValidEventId) {
  Command c{"r9", 7, DeleteEvent{"spring-sale"}};
  EXPECT_EQ(c.type(), "delete_event");
  auto back = decode_command(encode(c));
  ASSERT_TRUE(std::holds_alternative<DeleteEvent>(back.body));
  EXPECT_EQ(back.event_id(), "spring-sale");
  EXPECT_THROW(decode_command(R"({"request_id":"r","received_at":1,"type":"delete_event","event_id":"Bad!"})"),
               DecodeError);
  EXPECT_EQ(outcome_from_string("deleted"), Outcome::kDeleted);
  EXPECT_EQ(to_string(Outcome::kAlreadyDeleted), "already_deleted");
}

TEST(Messages, CreateEventRoundTripsWithWindow) {
  Command c{"r1", 1, CreateEvent{"e1", "Title", 100, 2, 1000, 2000}};
  auto e = std::get<CreateEvent>(decode_command(encode(c)).body);
  EXPECT_EQ(e.stock, 100);
  EXPECT_EQ(e.per_user_limit, 2);
  EXPECT_EQ(e.opens_at, 1000);
  EXPECT_EQ(e.closes_at, 2000);
}

TEST(Messages, DecisionRoundTrips) {
  Decision d;
  d.type = "claim";
  d.request_id = "r";
  d.event_id = "e";
  d.user_id = "u";
  d.outcome = Outcome::kIssued;
  d.coupon_seq = 7;
  d.remaining = 93;
  d.command = {3, 99};
  d.decided_at = 5;
  auto back = decode_decision(encode(d));
  EXPECT_EQ(back.outcome, Outcome::kIssued);
  EXPECT_EQ(back.coupon_seq, 7);
  EXPECT_EQ(back.command.partition, 3);
  EXPECT_EQ(back.command.offset, 99);
  EXPECT_EQ(back.remaining, 93);
}

// The decision encoder writes JSON by hand (hot path); it must print exactly what a JSON library
// prints for the same object, escapes included.
TEST(Messages, DecisionEncodingIsByteIdenticalToNlohmannsDump) {
  Decision d;
  d.type = "claim";
  d.request_id = "r-1";
  d.event_id = "ev";
  d.user_id = "u_1";
  d.outcome = Outcome::kIssued;
  d.coupon_seq = 7;
  d.remaining = -0;
  d.command = {11, 123456789012};
  d.decided_at = 1764000000000;
  d.received_at = -5;
  d.event = CreateEvent{"ev", "Quote \" back \\ ctl \x01\x1f tab\t nl\n cr\r bs\b ff\f é €", 100, 2, 1, std::nullopt};
  nlohmann::json ref{
      {"type", d.type},
      {"request_id", d.request_id},
      {"event_id", d.event_id},
      {"outcome", "issued"},
      {"remaining", d.remaining},
      {"command_partition", d.command.partition},
      {"command_offset", d.command.offset},
      {"decided_at", d.decided_at},
      {"received_at", d.received_at},
      {"user_id", d.user_id},
      {"coupon_seq", 7},
      {"event",
       {{"event_id", "ev"}, {"title", d.event->title}, {"stock", 100}, {"per_user_limit", 2}, {"opens_at", 1}}}};
  EXPECT_EQ(encode(d), ref.dump());
  Decision create;
  create.type = "create_event";
  create.request_id = "c";
  create.event_id = "e";
  create.outcome = Outcome::kCreated;
  nlohmann::json ref2{{"type", "create_event"}, {"request_id", "c"}, {"event_id", "e"},
                      {"outcome", "created"},   {"remaining", 0},    {"command_partition", 0},
                      {"command_offset", 0},    {"decided_at", 0},   {"received_at", 0}};
  EXPECT_EQ(encode(create), ref2.dump());
}

// Claims take a fast path when plain; every variant must decode (or fail) as the full parser decides.
TEST(Messages, ClaimsDecodeTheSameWhateverTheirSpelling) {
  auto claim_of = [](std::string_view text) {
    auto c = decode_command(text);
    const auto& claim = std::get<Claim>(c.body);
    return c.request_id + "|" + std::to_string(c.received_at) + "|" + claim.event_id + "|" + claim.user_id;
  };
  const std::string expected = "r1|42|ev|u_1";
  EXPECT_EQ(claim_of(R"({"event_id":"ev","received_at":42,"request_id":"r1","type":"claim","user_id":"u_1"})"),
            expected);
  EXPECT_EQ(claim_of(R"( { "type" : "claim" , "user_id":"u_1","event_id":"ev","request_id":"r1","received_at":42 } )"),
            expected);
  EXPECT_EQ(claim_of(R"({"event_id":"\u0065v","received_at":42,"request_id":"r1","type":"claim","user_id":"u_1"})"),
            expected)
      << "escapes go the full way";
  EXPECT_EQ(claim_of(R"({"event_id":"ev","received_at":42,"request_id":"r1","type":"claim","user_id":"u_1","x":[1]})"),
            expected)
      << "unknown fields are ignored, as before";
  EXPECT_EQ(claim_of(R"({"event_id":"ev","received_at":42.0,"request_id":"r1","type":"claim","user_id":"u_1"})"),
            expected)
      << "a number spelled as a float, as the JSON library reads it";
  EXPECT_EQ(
      claim_of(
          R"({"event_id":"xx","event_id":"ev","received_at":42,"request_id":"r1","type":"claim","user_id":"u_1"})"),
      expected)
      << "a repeated key: the last wins, as in the JSON library";
  EXPECT_THROW(decode_command(R"({"event_id":"EV","received_at":42,"request_id":"r1","type":"claim","user_id":"u_1"})"),
               DecodeError);
  EXPECT_THROW(
      decode_command(R"({"event_id":"ev","received_at":42,"request_id":"r 1","type":"claim","user_id":"u_1"})"),
      DecodeError);
  EXPECT_THROW(decode_command(R"({"event_id":"ev","received_at":42,"request_id":"r1","type":"claim","user_id":"ü"})"),
               DecodeError);
  EXPECT_THROW(decode_command(R"({"event_id":"ev","received_at":"42","request_id":"r1","type":"claim","user_id":"u"})"),
               DecodeError);
  EXPECT_THROW(decode_command(R"({"event_id":"ev","received_at":42,"request_id":"r1","type":"claim","user_id":"u"} x)"),
               DecodeError);
  EXPECT_THROW(decode_command(R"({"event_id":"ev","received_at":042,"request_id":"r1","type":"claim","user_id":"u"})"),
               DecodeError)
      << "a leading zero is not JSON";
  EXPECT_THROW(decode_command(R"({"event_id":"ev","received_at":42,"request_id":"r1","type":"claim"})"), DecodeError);
  EXPECT_THROW(decode_command(R"({"event_id":"ev","received_at":42,"request_id":"r1","type":"clam","user_id":"u"})"),
               DecodeError);
}

// Decisions take a fast path when flat and plain (as encode() writes all but an event's creation); every
// spelling must decode (or fail) as the full parser decides. The same text with an unknown member appended goes
// the full way (the fast path refuses what it does not know), so the two are compared field by field.
TEST(Messages, DecisionsDecodeTheSameWhateverTheirSpelling) {
  Decision d;
  d.type = "order_result";
  d.request_id = "r-1";
  d.event_id = "ev";
  d.user_id = "u_1";
  d.outcome = Outcome::kFailed;
  d.reason = Outcome::kSoldOut;
  d.coupon_seq = 7;
  d.remaining = -3;
  d.hold_expires_at = 1764000000123;
  d.claim_request_id = "c-9";
  d.entries = 11;
  d.ticket = 12;
  d.admitted = 13;
  d.amount = 1250;
  d.balance = 0;
  d.order_id = "o-1";
  d.line = 2;
  d.qty = 3;
  d.seat = "A-12";
  d.command = {11, 123456789012};
  d.decided_at = 1764000000000;
  d.received_at = 1763999999990;
  const std::string plain = encode(d);
  auto full_way = [](std::string text) {
    text.insert(text.size() - 1, R"(,"x":[1])");
    return text;
  };
  EXPECT_EQ(encode(decode_decision(plain)), plain);
  EXPECT_EQ(encode(decode_decision(full_way(plain))), plain);

  auto reencoded = [](std::string_view text) { return encode(decode_decision(text)); };
  const std::string expected = reencoded(
      R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim","user_id":"u"})");
  EXPECT_EQ(
      reencoded(
          R"( { "type" : "claim" , "user_id":"u","event_id":"ev","request_id":"r","outcome":"issued","remaining":0,
                  "command_partition":1,"command_offset":5,"decided_at":9 } )"),
      expected);
  EXPECT_EQ(
      reencoded(
          R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"\u0065v","outcome":"issued","remaining":0,"request_id":"r","type":"claim","user_id":"u"})"),
      expected)
      << "escapes go the full way";
  EXPECT_EQ(
      reencoded(
          R"({"command_offset":5,"command_partition":1,"decided_at":9.0,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim","user_id":"u"})"),
      expected)
      << "a number spelled as a float, as the JSON library reads it";
  EXPECT_EQ(
      reencoded(
          R"({"command_offset":4,"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim","user_id":"u"})"),
      expected)
      << "a repeated key: the last wins, as in the JSON library";
  EXPECT_EQ(
      reencoded(
          R"({"command_offset":5,"command_partition":1,"coupon_seq":null,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim","user_id":"u"})"),
      expected)
      << "null is an absent optional field";
  EXPECT_EQ(
      decode_decision(
          R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim"})")
          .user_id,
      "");
  // What the flat reader refuses and the full parser reads: the same result either way.
  for (
      const std::string& spelling :
      {std::string(
           R"({"command_offset":5,"command_partition":4294967297,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":-0,"request_id":"r","type":"claim","user_id":"u"})"),
       std::string(
           R"({"command_offset":9223372036854775807,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim","user_id":"u"})"),
       std::string("{\"command_offset\" :\t5 "
                   ",\"command_partition\":1,\"decided_at\":9,\"event_id\":\"ev\",\"outcome\":\"issued\","
                   "\"remaining\":0,\"request_id\":\"r\",\"type\":\"claim\",\"user_id\":\"u\"\r\n}")}) {
    EXPECT_EQ(reencoded(spelling), reencoded(full_way(spelling))) << spelling;
  }
  const std::vector<std::string> bad{
      R"({"command_offset":05,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim"})",
      R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim"} x)",
      R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","request_id":"r","type":"claim"})",
      R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"isued","remaining":0,"request_id":"r","type":"claim"})",
      R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"failed","reason":"nope","remaining":0,"request_id":"r","type":"order_result"})",
      R"({"command_offset":"5","command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim"})",
      R"({"command_offset":5,"command_partition":1,"decided_at":9,"event_id":"ev","outcome":"issued","remaining":0,"request_id":"r","type":"claim","user_id":7})",
  };
  for (const auto& text : bad) EXPECT_THROW(decode_decision(text), DecodeError) << text;
}

TEST(Messages, BadCommandsAreRejected) {
  EXPECT_THROW(decode_command("not json"), DecodeError);
  EXPECT_THROW(decode_command("[]"), DecodeError);
  EXPECT_THROW(decode_command(R"({"type":"claim","request_id":"r","received_at":1,"event_id":"BAD","user_id":"u"})"),
               DecodeError);
  EXPECT_THROW(decode_command(R"({"type":"nope","request_id":"r","received_at":1,"event_id":"e"})"), DecodeError);
  EXPECT_THROW(decode_command(R"({"type":"claim","request_id":"r","received_at":"x","event_id":"e","user_id":"u"})"),
               DecodeError);
}

TEST(Messages, ChargeRoundTripsKeyedByTheWalletAndItsDecisionByteIdentical) {
  Command c{"pay-1", 42, Charge{"", "alice", 1250}};
  auto back = decode_command(encode(c));
  ASSERT_TRUE(std::holds_alternative<Charge>(back.body));
  EXPECT_EQ(std::get<Charge>(back.body).user_id, "alice");
  EXPECT_EQ(std::get<Charge>(back.body).amount, 1250);
  EXPECT_EQ(back.type(), "charge");
  EXPECT_EQ(back.event_id(), "");
  EXPECT_EQ(back.key(), "wallet/alice");
  EXPECT_EQ(Command({"r", 1, Claim{"ev", "alice"}}).key(), "ev");
  for (const char* bad : {R"({"type":"charge","request_id":"r","received_at":1,"user_id":"a b","amount":5})",
                          R"({"type":"charge","request_id":"r","received_at":1,"user_id":"a","amount":0})",
                          R"({"type":"charge","request_id":"r","received_at":1,"user_id":"a","amount":1000000001})",
                          R"({"type":"charge","request_id":"r","received_at":1,"user_id":"a"})"}) {
    EXPECT_THROW(decode_command(bad), DecodeError) << bad;
  }
  Decision d;
  d.type = "charge";
  d.request_id = "pay-1";
  d.user_id = "alice";
  d.outcome = Outcome::kCredited;
  d.amount = 1250;
  d.balance = 5000;
  nlohmann::json ref{{"type", "charge"},       {"request_id", "pay-1"}, {"event_id", ""},  {"user_id", "alice"},
                     {"outcome", "credited"},  {"remaining", 0},        {"amount", 1250},  {"balance", 5000},
                     {"command_partition", 0}, {"command_offset", 0},   {"decided_at", 0}, {"received_at", 0}};
  EXPECT_EQ(encode(d), ref.dump());
  auto decoded = decode_decision(encode(d));
  EXPECT_EQ(decoded.amount, 1250);
  EXPECT_EQ(decoded.balance, 5000);
  EXPECT_EQ(decoded.outcome, Outcome::kCredited);
}

TEST(Messages, OutcomeNamesRoundTrip) {
  for (auto o : {Outcome::kIssued, Outcome::kSoldOut, Outcome::kDuplicate, Outcome::kNotOpen, Outcome::kClosed,
                 Outcome::kUnknownEvent, Outcome::kCreated, Outcome::kAlreadyExists, Outcome::kCredited,
                 Outcome::kBalanceLimit}) {
    EXPECT_EQ(outcome_from_string(to_string(o)), o);
  }
  EXPECT_FALSE(outcome_from_string("bogus"));
}

TEST(Messages, InstantsParse) {
  EXPECT_EQ(parse_instant("1000"), 1000);
  EXPECT_EQ(parse_instant("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(parse_instant("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(parse_instant("2026-11-22T10:00:00Z"), 1795341600000);
  EXPECT_FALSE(parse_instant("2026-11-22T10:00:00+01:00"));
  EXPECT_FALSE(parse_instant("yesterday"));
  EXPECT_FALSE(parse_instant(""));
}

TEST(Ids, FollowTheContract) {
  EXPECT_TRUE(valid_event_id("a"));
  EXPECT_TRUE(valid_event_id("spring-sale-2026"));
  EXPECT_FALSE(valid_event_id("-a"));
  EXPECT_FALSE(valid_event_id("A"));
  EXPECT_FALSE(valid_event_id(""));
  EXPECT_FALSE(valid_event_id(std::string(65, 'a')));
  EXPECT_TRUE(valid_event_id(std::string(64, 'a')));
  EXPECT_TRUE(valid_user_id("User_1-x"));
  EXPECT_FALSE(valid_user_id("a b"));
  EXPECT_FALSE(valid_user_id("\xc3\xa9"));
  EXPECT_FALSE(valid_user_id(std::string(65, 'a')));
}

TEST(TopicSpecs, TheCheckedInDefinitionsParse) {
  auto specs = parse_specs(R"({"topics":[{"name":"x","partitions":3,"configs":{"cleanup.policy":"compact"}}]})");
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].configs.at("cleanup.policy"), "compact");
  EXPECT_THROW(parse_specs(R"({"topics":[{"name":"x","partitions":0}]})"), std::invalid_argument);
}

TEST(TopicSpecs, ADeploymentsPartitionCountSetsEveryOwnTopicAndNoInternalOne) {
  auto specs = with_partitions(parse_specs(R"({"topics":[{"name":"a","partitions":12},{"name":"b","partitions":12}],
    "internal_topics":[{"name":"__consumer_offsets"}]})"),
                               4);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].partitions, 4);
  EXPECT_EQ(specs[1].partitions, 4);
  EXPECT_EQ(specs[2].partitions, 0);  // the broker's own topic: nobody sets it
  EXPECT_THROW(with_partitions(specs, 0), std::invalid_argument);
}

TEST(TopicSpecs, ReplicationDefaultsOverridesAndInternalTopics) {
  auto specs = parse_specs(R"({"replication_factor":3,"min_insync_replicas":2,
    "topics":[{"name":"a","partitions":2},{"name":"b","partitions":1,"replication_factor":1,"min_insync_replicas":1}],
    "internal_topics":[{"name":"__consumer_offsets"}]})");
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].replication_factor, 3);
  EXPECT_EQ(specs[0].min_insync_replicas, 2);
  EXPECT_FALSE(specs[0].internal);
  EXPECT_EQ(specs[1].replication_factor, 1);
  EXPECT_TRUE(specs[2].internal);
  EXPECT_EQ(specs[2].partitions, 0);
  EXPECT_EQ(specs[2].replication_factor, 3);
  // Without replication settings: one replica, as before.
  EXPECT_EQ(parse_specs(R"({"topics":[{"name":"x","partitions":1}]})")[0].replication_factor, 1);
  // min.insync.replicas is fitted to the cluster: never a plain config; never above the replication factor.
  EXPECT_THROW(parse_specs(R"({"topics":[{"name":"x","partitions":1,"configs":{"min.insync.replicas":"2"}}]})"),
               std::invalid_argument);
  EXPECT_THROW(
      parse_specs(R"({"topics":[{"name":"x","partitions":1,"replication_factor":1,"min_insync_replicas":2}]})"),
      std::invalid_argument);
  EXPECT_THROW(parse_specs(R"({"topics":[],"internal_topics":[{"name":"y","configs":{"a":"b"}}]})"),
               std::invalid_argument);
}

TEST(TopicSpecs, ReplicationIsFittedToTheClusterSize) {
  TopicSpec s;
  s.replication_factor = 3;
  s.min_insync_replicas = 2;
  auto fit = [&](int brokers) {
    auto r = replication_for(s, brokers);
    return std::pair(r.replication_factor, r.min_insync_replicas);
  };
  EXPECT_EQ(fit(1), std::pair(1, 1));
  EXPECT_EQ(fit(2), std::pair(2, 1));  // one replica may be down
  EXPECT_EQ(fit(3), std::pair(3, 2));
  EXPECT_EQ(fit(5), std::pair(3, 2));
  EXPECT_EQ(fit(0), std::pair(1, 1));
  s.min_insync_replicas = 3;  // as written on a cluster large enough, even without room for a replica down
  EXPECT_EQ(fit(3), std::pair(3, 3));
  EXPECT_EQ(fit(2), std::pair(2, 1));
}

TEST(TopicSpecs, TheCheckedInFileAsksForThreeReplicasTwoInSync) {
  std::ifstream in(std::string(ALLOT_SOURCE_DIR) + "/topics/topics.json");
  ASSERT_TRUE(in) << "topics/topics.json";
  std::stringstream text;
  text << in.rdbuf();
  auto specs = parse_specs(text.str());
  std::set<std::string> internal;
  for (const auto& s : specs) {
    if (s.internal) internal.insert(s.name);
    EXPECT_EQ(replication_for(s, 1).replication_factor, 1) << s.name;
    EXPECT_EQ(replication_for(s, 1).min_insync_replicas, 1) << s.name;
    EXPECT_EQ(replication_for(s, 3).replication_factor, 3) << s.name;
    EXPECT_EQ(replication_for(s, 3).min_insync_replicas, 2) << s.name;
  }
  EXPECT_EQ(internal, (std::set<std::string>{"__consumer_offsets", "__transaction_state"}));
}

}  // namespace
}  // namespace allot::topics
