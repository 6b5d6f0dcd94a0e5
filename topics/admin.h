#pragma once
// Applies topic definitions to a broker with librdkafka's AdminClient: creates the missing topics, sets
// the configs of existing ones that differ, and reports the ones whose partition count or replication
// factor differ (it never alters those: a human decides). Replication is fitted to the cluster's size
// (topics.h, replication_for).
#include <map>
#include <string>
#include <vector>

#include "topics/topics.h"

namespace allot::topics {

struct ApplyReport {
  int cluster_size = 0;                // the broker count replication was fitted to
  int brokers_answering = 0;           // the brokers in the cluster's metadata
  std::vector<std::string> created;    // "name: partitions, replication"
  std::vector<std::string> unchanged;  // the same
  std::vector<std::string> altered;    // existing topics whose configs were set to the definition's
  std::vector<std::string> drifted;    // "name: what differs (want what)"
  std::vector<std::string> absent;     // internal topics the broker has not created yet
};

// cluster_size: the brokers the cluster is meant to have; 0 counts the brokers in its metadata (one that is
// down then lowers the count: scripts/stack passes its node count). Internal specs are checked, never created.
// Throws std::runtime_error when the broker cannot be reached or a creation fails.
ApplyReport apply_specs(const std::string& brokers, const std::vector<TopicSpec>& specs, int timeout_ms,
                        int cluster_size = 0);

// Replaces the topic's dynamic configs with exactly `configs` (left-out ones return to the broker's
// defaults); throws std::runtime_error on failure.
void set_topic_configs(const std::string& brokers, const std::string& topic,
                       const std::map<std::string, std::string>& configs, int timeout_ms);

// Deletes consumer groups (their committed offsets), so their next members start from the beginning.
// A group that does not exist is fine; one that still has members fails (stop its workers first).
void delete_groups(const std::string& brokers, const std::vector<std::string>& groups, int timeout_ms);

// Deletes topics (the benchmarks' throw-away ones); a topic that does not exist is fine.
void delete_topics(const std::string& brokers, const std::vector<std::string>& names, int timeout_ms);

}  // namespace allot::topics
