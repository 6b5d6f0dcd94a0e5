#pragma once
// Compares the MySQL and Redis projections with what allot.decisions says (DESIGN §4, promise 5),
// per event: every claim's outcome and coupon, the event's stock/issued/remaining, the ranking.
// Used by `allotctl verify --projections` and by the projection tests.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "topics/messages.h"

namespace allot::topics {

struct ProjectedClaim {
  std::string user_id, outcome;
  int64_t coupon_seq = 0;  // 0 when none
  bool operator==(const ProjectedClaim&) const = default;
};

struct ProjectedEvent {
  std::map<std::string, ProjectedClaim> claims;  // request id -> claim
  int64_t stock = -1, issued = -1, remaining = -1;
  std::vector<std::string> ranking;  // user ids in coupon order
  bool operator==(const ProjectedEvent&) const = default;
};

// The truth for one event, from its decisions.
ProjectedEvent expected_projection(const std::vector<Decision>& decisions, const std::string& event_id);

struct StoreAddress {
  std::string mysql_host = "127.0.0.1";
  int mysql_port = 13306;
  std::string mysql_user = "root", mysql_password, mysql_database = "allot";
  std::string redis_host = "127.0.0.1";
  int redis_port = 16379;
  std::string redis_prefix = "allot:";
};

// What each store holds for the event; `request_ids` are the claims to look up in Redis.
// Throws std::runtime_error when a store is unreachable.
ProjectedEvent mysql_projection(const StoreAddress& a, const std::string& event_id);
ProjectedEvent redis_projection(const StoreAddress& a, const std::string& event_id,
                                const std::vector<std::string>& request_ids);

// "" when equal, else a one-line description of the first differences.
std::string describe_difference(const ProjectedEvent& expected, const ProjectedEvent& actual);

}  // namespace allot::topics
