#pragma once
// Waits (bounded) until MySQL and Redis equal what allot.decisions says for one event
// (topics/projection_check.h); a test expectation fails with the last difference otherwise.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "topics/projection_check.h"

namespace allot::testsupport {

// The stack's stores, from ALLOT_MYSQL_PORT / ALLOT_REDIS_PORT when set.
inline topics::StoreAddress store_address() {
  topics::StoreAddress where;
  if (const char* port = std::getenv("ALLOT_MYSQL_PORT")) where.mysql_port = std::stoi(port);
  if (const char* port = std::getenv("ALLOT_REDIS_PORT")) where.redis_port = std::stoi(port);
  return where;
}

inline void expect_projections_match(const std::vector<topics::Decision>& decisions, const std::string& event,
                                     std::chrono::seconds timeout = std::chrono::seconds(120)) {
  const auto where = store_address();
  auto truth = topics::expected_projection(decisions, event);
  ASSERT_FALSE(truth.claims.empty());
  const auto ids = topics::request_ids(truth);
  std::string in_mysql, in_redis;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    in_mysql = topics::describe_difference(truth, topics::mysql_projection(where, event));
    in_redis = topics::describe_difference(truth, topics::redis_projection(where, event, ids));
    if (in_mysql.empty() && in_redis.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(in_mysql, "") << "MySQL differs from allot.decisions for " << event;
  EXPECT_EQ(in_redis, "") << "Redis differs from allot.decisions for " << event;
}

}  // namespace allot::testsupport
