// Integration test against the real Redis of the local stack (scripts/stack up), through hiredis
// 0.14 (the old API): strings, sorted sets and an atomic Lua script. A server that cannot be
// reached fails the test.
//
// Server: ALLOT_REDIS_HOST (127.0.0.1), ALLOT_REDIS_PORT (16379).
#include <hiredis/hiredis.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/redis.h"

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

using allot::redis::Context;
using allot::redis::Reply;

// Decrements KEYS[1] by one when it is positive, atomically; returns the new value, or -1 when
// there was nothing left. The shape of the v2 baseline's claim.
constexpr const char* kDecrementIfPositive = R"lua(
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 0 then return -1 end
return redis.call('DECR', KEYS[1])
)lua";

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string host = env_or("ALLOT_REDIS_HOST", "127.0.0.1");
    const int port = std::stoi(env_or("ALLOT_REDIS_PORT", "16379"));
    try {
      ctx_ = allot::redis::connect(host, port, std::chrono::seconds(5));
    } catch (const std::exception& e) {
      FAIL() << e.what() << " (is `scripts/stack up` running?)";
    }

    auto now = std::chrono::system_clock::now().time_since_epoch();
    prefix_ = "allot-it:" + std::to_string(::getpid()) + ":" +
              std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count()) + ":";
  }

  void TearDown() override {
    if (!ctx_ || ctx_->err) return;
    for (const auto& key : keys_) {
      Reply r(command({"DEL", key}));
      EXPECT_TRUE(r && r->type == REDIS_REPLY_INTEGER);
    }
  }

  std::string key(const std::string& name) {
    keys_.push_back(prefix_ + name);
    return keys_.back();
  }

  // Runs one command given as separate arguments (binary safe, no format string parsing).
  Reply command(const std::vector<std::string>& args) {
    Reply reply = allot::redis::command(ctx_.get(), args);
    EXPECT_NE(reply, nullptr) << args[0] << ": " << ctx_->errstr;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
      ADD_FAILURE() << args[0] << ": " << std::string(reply->str, reply->len);
    }
    return reply;
  }

  static std::string str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string(r->str, r->len)
                                                                                 : std::string("<not a string>");
  }

  Context ctx_;
  std::string prefix_;
  std::vector<std::string> keys_;
};

TEST_F(RedisTest, SetThenGetReturnsTheValue) {
  using namespace std::string_literals;
  const std::string k = key("greeting");
  const std::string value = "hello \xE2\x9C\x93 \0binary"s;  // UTF-8 and a NUL: binary safe
  ASSERT_EQ(value.size(), 17u);
  Reply set = command({"SET", k, value});
  ASSERT_TRUE(set);
  EXPECT_EQ(str(set.get()), "OK");

  Reply get = command({"GET", k});
  ASSERT_TRUE(get);
  EXPECT_EQ(str(get.get()), value);

  Reply missing = command({"GET", k + ":missing"});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->type, REDIS_REPLY_NIL);
}

TEST_F(RedisTest, SortedSetRangesWithScores) {
  const std::string k = key("ranking");
  Reply added = command({"ZADD", k, "30", "carol", "10", "alice", "20", "bob"});
  ASSERT_TRUE(added);
  ASSERT_EQ(added->type, REDIS_REPLY_INTEGER);
  EXPECT_EQ(added->integer, 3);

  Reply range = command({"ZRANGE", k, "0", "-1", "WITHSCORES"});
  ASSERT_TRUE(range);
  ASSERT_EQ(range->type, REDIS_REPLY_ARRAY);
  std::vector<std::string> flat;
  for (size_t i = 0; i < range->elements; ++i) flat.push_back(str(range->element[i]));
  EXPECT_EQ(flat, (std::vector<std::string>{"alice", "10", "bob", "20", "carol", "30"}));
}

TEST_F(RedisTest, LuaDecrementIfPositiveStopsAtZero) {
  const std::string k = key("stock");
  Reply set = command({"SET", k, "2"});
  ASSERT_TRUE(set);

  std::vector<long long> results;
  for (int i = 0; i < 4; ++i) {
    Reply r = command({"EVAL", kDecrementIfPositive, "1", k});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->type, REDIS_REPLY_INTEGER) << str(r.get());
    results.push_back(r->integer);
  }
  EXPECT_EQ(results, (std::vector<long long>{1, 0, -1, -1}));

  Reply left = command({"GET", k});
  ASSERT_TRUE(left);
  EXPECT_EQ(str(left.get()), "0");

  // A key that never existed counts as zero: nothing to take.
  Reply none = command({"EVAL", kDecrementIfPositive, "1", key("never-set")});
  ASSERT_TRUE(none);
  ASSERT_EQ(none->type, REDIS_REPLY_INTEGER);
  EXPECT_EQ(none->integer, -1);
}

}  // namespace
