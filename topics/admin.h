#pragma once
// Applies topic definitions to a broker with librdkafka's AdminClient: creates the missing topics
// and reports the ones whose partition count or configs differ (it never alters them: a human decides).
#include <string>
#include <vector>

#include "topics/topics.h"

namespace allot::topics {

struct ApplyReport {
  std::vector<std::string> created;
  std::vector<std::string> unchanged;
  std::vector<std::string> drifted;  // "name: what differs"
};

// Throws std::runtime_error when the broker cannot be reached or a creation fails.
ApplyReport apply_specs(const std::string& brokers, const std::vector<TopicSpec>& specs, int timeout_ms);

// Deletes consumer groups (their committed offsets), so their next members start from the beginning.
// A group that does not exist is fine; one that still has members fails (stop its workers first).
void delete_groups(const std::string& brokers, const std::vector<std::string>& groups, int timeout_ms);

// Deletes topics (the benchmarks' throw-away ones); a topic that does not exist is fine.
void delete_topics(const std::string& brokers, const std::vector<std::string>& names, int timeout_ms);

}  // namespace allot::topics
