#include "ingress/requests.h"
#include "ingress/payment_signature.h"

#include "ingress/admission.h"

#include <gtest/gtest.h>

namespace allot::ingress {
namespace {

int status_of(const std::variant<topics::CreateEvent, ApiError>& v) {
  return std::holds_alternative<ApiError>(v) ? std::get<ApiError>(v).status : 0;
}

TEST(CreateEventBody, AcceptsTheContract) {
  auto v = parse_create_event(R"({"event_id":"e1","title":"T","stock":100,"per_user_limit":2,
                                  "opens_at":"2026-11-22T10:00:00Z","closes_at":1795345200000})");
  ASSERT_TRUE(std::holds_alternative<topics::CreateEvent>(v));
  const auto& e = std::get<topics::CreateEvent>(v);
  EXPECT_EQ(e.stock, 100);
  EXPECT_EQ(e.per_user_limit, 2);
  EXPECT_EQ(e.opens_at, 1795341600000);
  EXPECT_EQ(e.closes_at, 1795345200000);
}

TEST(CreateEventBody, RejectsBadInputWith400) {
  for (const char* body :
       {"", "{", "[]", "null", R"({"title":"T","stock":1})", R"({"event_id":"E","title":"T","stock":1})",
        R"({"event_id":"e","stock":1})", R"({"event_id":"e","title":"","stock":1})",
        R"({"event_id":"e","title":"T","stock":-1})", R"({"event_id":"e","title":"T","stock":1.5})",
        R"({"event_id":"e","title":"T","stock":"1"})", R"({"event_id":"e","title":"T","stock":1e300})",
        R"({"event_id":"e","title":"T","stock":99999999999999999999999})",
        R"({"event_id":"e","title":"T","stock":1,"per_user_limit":0})",
        R"({"event_id":"e","title":"T","stock":1,"opens_at":"tomorrow"})",
        R"({"event_id":"e","title":"T","stock":1,"closes_at":null})",
        R"({"event_id":"e","title":"T","stock":1,"closes_at":253402300800000})",  // past year 9999
        R"({"event_id":"e","title":"T","stock":1,"opens_at":-1})",
        R"({"event_id":"e","title":"T","stock":1,"per_user_limit":null})"}) {
    EXPECT_EQ(status_of(parse_create_event(body)), 400) << body;
  }
}

TEST(OrderBody, TakesItemsAndACouponForTheTokensUserAndRefusesUnknownFields) {
  auto ok = parse_order(R"({"items":[{"event_id":"shoe","qty":2},{"event_id":"hat"}],
                            "coupon":{"event_id":"save","claim_request_id":"c1"}})",
                        "ann");
  ASSERT_TRUE(std::holds_alternative<topics::Order>(ok));
  const auto& order = std::get<topics::Order>(ok);
  EXPECT_EQ(order.user_id, "ann");
  ASSERT_EQ(order.items.size(), 2u);
  EXPECT_EQ(order.items[1].qty, 1);
  EXPECT_EQ(order.coupon->claim_request_id, "c1");
  for (const char* bad : {
           R"({"items":[]})",
           R"({"items":[{"event_id":"shoe","qty":0}]})",
           R"({"items":[{"event_id":"shoe","qty":1.5}]})",
           R"({"items":[{"event_id":"shoe","price":1}]})",
           R"({"items":[{"event_id":"shoe"}],"total":1})",
           R"({"items":[{"event_id":"shoe"}],"coupon":{"event_id":"save","claim_request_id":"c1","x":1}})",
           R"({"items":[{"event_id":"shoe"}],"coupon":{"event_id":"save"}})",
           R"([1])",
       }) {
    auto refused = parse_order(bad, "ann");
    ASSERT_TRUE(std::holds_alternative<ApiError>(refused)) << bad;
    EXPECT_EQ(std::get<ApiError>(refused).status, 400) << bad;
  }
}

TEST(SeatBodies, AMapIsAListOrRowsTimesNumbersAndAClaimOrALineNamesOneSeat) {
  auto rows = parse_create_event(
      R"({"event_id":"hall","title":"Hall","mode":"hold","hold_ms":60000,"price":2500,
          "seats":{"rows":["A","B"],"per_row":3}})");
  ASSERT_TRUE(std::holds_alternative<topics::CreateEvent>(rows)) << std::get<ApiError>(rows).message;
  const auto& hall = std::get<topics::CreateEvent>(rows);
  EXPECT_EQ(hall.seats, (std::vector<std::string>{"A-1", "A-2", "A-3", "B-1", "B-2", "B-3"}));
  EXPECT_EQ(hall.stock, 6) << "the map's size";
  auto list = parse_create_event(R"({"event_id":"box","title":"Box","mode":"hold","hold_ms":1,"seats":["x.1","x.2"]})");
  ASSERT_TRUE(std::holds_alternative<topics::CreateEvent>(list));
  EXPECT_EQ(std::get<topics::CreateEvent>(list).stock, 2);
  for (const char* bad : {
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":[]})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":["A-1","A-1"]})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":["A-1"],"stock":1})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":[1]})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":{"rows":["A"],"per_row":0}})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":{"rows":["A","B"],"per_row":101}})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":{"rows":["ABCDEFGHIJK"],"per_row":1}})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":{"rows":["A"]}})",
           R"({"event_id":"h","title":"H","seats":["A-1"]})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"seats":["A-1"],"reward_average":10})",
           R"({"event_id":"h","title":"H","mode":"hold","hold_ms":1,"stock":1,"price":100})",
       }) {
    EXPECT_EQ(status_of(parse_create_event(bad)), 400) << bad;
  }
  EXPECT_EQ(std::get<std::string>(parse_claim_seat(R"({"user_id":"ann","seat":"B-2"})")), "B-2");
  EXPECT_EQ(std::get<std::string>(parse_claim_seat(R"({"user_id":"ann"})")), "");
  EXPECT_TRUE(std::holds_alternative<ApiError>(parse_claim_seat(R"({"seat":7})")));
  EXPECT_TRUE(std::holds_alternative<ApiError>(parse_claim_seat(R"({"seat":"no seat"})")));
  auto line = parse_order(R"({"items":[{"event_id":"hall","seat":"A-1"}]})", "ann");
  ASSERT_TRUE(std::holds_alternative<topics::Order>(line));
  EXPECT_EQ(std::get<topics::Order>(line).items[0].seat, "A-1");
  EXPECT_TRUE(
      std::holds_alternative<ApiError>(parse_order(R"({"items":[{"event_id":"hall","seat":"A-1","qty":2}]})", "ann")));
}

TEST(ClaimBody, AcceptsAUserAndRejectsTheRest) {
  auto ok = parse_claim(R"({"user_id":"alice_01"})");
  ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(ok));
  EXPECT_EQ(std::get<std::optional<std::string>>(ok), "alice_01");
  // The user is the token's: a body may leave its id out.
  auto bare = parse_claim("{}");
  ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(bare));
  EXPECT_FALSE(std::get<std::optional<std::string>>(bare).has_value());
  for (const char* body : {"", "nope", R"({"user_id":5})", R"({"user_id":""})", R"({"user_id":"a b"})",
                           R"({"user_id":null})", R"({"user_id":["a"]})", "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]"}) {
    auto v = parse_claim(body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(v)) << body;
    EXPECT_EQ(std::get<ApiError>(v).status, 400) << body;
  }
  EXPECT_EQ(std::get<ApiError>(parse_claim("{bad")).code, "malformed_json");
}

TEST(ContentType, OnlyJson) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
  EXPECT_FALSE(is_json_content_type(""));
}

TEST(Bearer, MatchesOnlyTheExactToken) {
  EXPECT_TRUE(bearer_matches("Bearer s3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer s3cret2", "s3cret"));
  EXPECT_FALSE(bearer_matches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer ", ""));  // an unset token never matches
}

TEST(ErrorBody, HasCodeAndMessage) {
  EXPECT_EQ(error_body({400, "x", "y \"q\""}), R"({"error":{"code":"x","message":"y \"q\""}})");
}

// The plain body is read without a JSON document; every other body answers as the full parser does.
TEST(ClaimBody, PlainAndGeneralBodiesParseAlike) {
  for (std::string body : {R"({"user_id":"u1"})", " {\n \"user_id\" :\t\"u1\" } ", R"({"user_id":"u\u0031"})",
                           R"({"user_id":"u1","extra":1})"}) {
    auto v = parse_claim(body);
    ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(v)) << body;
    EXPECT_EQ(std::get<std::optional<std::string>>(v), "u1") << body;
  }
  for (std::string body : {R"({"user_id":"u 1"})", R"({"user_id":""})", R"({"user_id":"u1"}x)", R"({"user_id":1})",
                           R"({"user_id":"u1")", "{\"user_id\":\"u1\"}\x01", R"({"user_id":"u1\"})"}) {
    auto v = parse_claim(body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(v)) << body;
    EXPECT_EQ(std::get<ApiError>(v).status, 400) << body;
  }
}

TEST(CreateEventBody, AdmitPerSecondIsAPositiveIntegerAndNotForRaffles) {
  auto ok = parse_create_event(R"({"event_id":"w","title":"t","stock":5,"admit_per_s":500})");
  ASSERT_TRUE(std::holds_alternative<topics::CreateEvent>(ok));
  EXPECT_EQ(std::get<topics::CreateEvent>(ok).admit_per_s, 500);
  for (const char* body :
       {R"({"event_id":"w","title":"t","stock":5,"admit_per_s":0})",
        R"({"event_id":"w","title":"t","stock":5,"admit_per_s":"10"})",
        R"({"event_id":"w","title":"t","stock":5,"admit_per_s":1.5})",
        R"({"event_id":"w","title":"t","stock":5,"admit_per_s":10,"mode":"raffle","closes_at":5})"}) {
    auto bad = parse_create_event(body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(bad)) << body;
    EXPECT_EQ(std::get<ApiError>(bad).status, 400) << body;
  }
}

TEST(AdmissionTokens, AdmitOnlyTheirEventAndUserUntilTheyExpire) {
  AdmissionTokens tokens("secret", 60'000);
  const auto token = tokens.issue("drop", "alice", 1'000'000);
  using Check = AdmissionTokens::Check;
  EXPECT_EQ(tokens.check(token, "drop", "alice", 1'000'001), Check::kValid);
  EXPECT_EQ(tokens.check(token, "drop", "alice", 1'060'000), Check::kExpired);
  EXPECT_EQ(tokens.check(token, "drop", "bob", 1'000'001), Check::kForged);
  EXPECT_EQ(tokens.check(token, "other", "alice", 1'000'001), Check::kForged);
  EXPECT_EQ(AdmissionTokens("another key", 60'000).check(token, "drop", "alice", 1'000'001), Check::kForged);
  // A later expiry written into the token breaks its signature.
  auto stretched = "9" + token;
  EXPECT_EQ(tokens.check(stretched, "drop", "alice", 1'000'001), Check::kForged);
  for (const char* bad : {"", ".", "abc", "123.", "12x.abcd", "1000.zz"}) {
    EXPECT_EQ(tokens.check(bad, "drop", "alice", 0), Check::kMalformed) << bad;
  }
}

TEST(PaymentSignatures, SignTheBodyAtATimeWithTheSharedSecretOnly) {
  PaymentSignatures provider("shared"), other("not-shared"), off("");
  const std::string body = R"({"user_id":"alice","amount":5})";
  const auto header = provider.sign(body, 1000);
  EXPECT_FALSE(provider.refusal(header, body, 1000));
  EXPECT_FALSE(provider.refusal(header, body, 1300)) << "within the tolerance";
  EXPECT_TRUE(provider.refusal(header, body, 1301)) << "too late";
  EXPECT_TRUE(provider.refusal(header, body, 699)) << "too early";
  EXPECT_TRUE(provider.refusal(header, body + " ", 1000)) << "another body";
  EXPECT_TRUE(other.refusal(header, body, 1000)) << "another secret";
  EXPECT_TRUE(off.refusal(header, body, 1000)) << "no secret: nothing is accepted";
  EXPECT_FALSE(off.enabled());
  for (const char* bad : {"", "v1=00", "t=x,v1=00", "t=1000", "t=1000,v1="}) {
    EXPECT_TRUE(provider.refusal(bad, body, 1000)) << bad;
  }
}

}  // namespace
}  // namespace allot::ingress
