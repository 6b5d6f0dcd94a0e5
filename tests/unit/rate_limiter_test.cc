#include "ingress/rate_limiter.h"

#include <gtest/gtest.h>

namespace allot::ingress {
namespace {

TEST(RateLimiter, AllowsABurstThenTheRate) {
  RateLimiter limiter(2.0, 3.0);  // 2/s, burst 3
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.allow("alice", 1000)) << i;
  int64_t retry = 0;
  EXPECT_FALSE(limiter.allow("alice", 1000, &retry));
  EXPECT_EQ(retry, 500);
  EXPECT_FALSE(limiter.allow("alice", 1499));
  EXPECT_TRUE(limiter.allow("alice", 1500));  // one token after 500 ms
  EXPECT_FALSE(limiter.allow("alice", 1500));
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter limiter(1.0, 1.0);
  EXPECT_TRUE(limiter.allow("alice", 0));
  EXPECT_FALSE(limiter.allow("alice", 0));
  EXPECT_TRUE(limiter.allow("bob", 0));  // alice's flood does not touch bob
}

TEST(RateLimiter, ForgetsKeysOnceTheyAreFullAgain) {
  RateLimiter limiter(10.0, 10.0);  // full again 1 s after the last use
  for (int i = 0; i < 100; ++i) limiter.allow("user-" + std::to_string(i), 0);
  EXPECT_EQ(limiter.tracked_keys(), 100u);
  limiter.allow("late", 5000);
  EXPECT_EQ(limiter.tracked_keys(), 1u);
}

TEST(RateLimiter, ZeroRateMeansUnlimited) {
  RateLimiter limiter(0, 0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.allow("x", 0));
}

}  // namespace
}  // namespace allot::ingress
