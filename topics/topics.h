#pragma once
// Topic names and their definitions (data in topics/topics.json), plus the id rules of DESIGN §5.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace allot::topics {

inline constexpr std::string_view kCommands = "allot.commands";
inline constexpr std::string_view kDecisions = "allot.decisions";
inline constexpr std::string_view kChangelog = "allot.changelog";

// One topic's definition. Replication is asked of a full cluster and fitted to the actual one by
// replication_for(): topics.json says 3 and 2, which a one-node cluster gets as 1 and 1.
struct TopicSpec {
  std::string name;
  int32_t partitions = 0;                      // 0 for an internal topic: the broker chooses, nobody checks
  std::map<std::string, std::string> configs;  // never min.insync.replicas: see min_insync_replicas
  int32_t replication_factor = 1;              // wanted on a cluster of at least this many brokers
  int32_t min_insync_replicas = 1;             // wanted with replication_factor replicas
  bool internal = false;  // created by the broker itself (__consumer_offsets, __transaction_state): checked only
};

// Parses topics.json: "topics" (ours, created by `allotctl topics apply`) then "internal_topics" (the
// broker's, checked only). "replication_factor" and "min_insync_replicas" at the top are every topic's
// default; a topic may set its own. Throws std::invalid_argument on a malformed definition.
std::vector<TopicSpec> parse_specs(const std::string& json_text);

// `specs` with each of allot's own topics (not the internal ones) at `partitions` partitions, the deployment's
// choice over topics.json's. One number for all three: a command, its decision and its state share a partition
// index. It is the most processors the topics can spread over (each processor needs one); fewer partitions
// cost fewer broker requests per claim (bench/README.md "Who sends the broker's requests, and fewer
// partitions"). Throws std::invalid_argument below 1.
std::vector<TopicSpec> with_partitions(std::vector<TopicSpec> specs, int32_t partitions);

// What a definition asks of a cluster of `brokers` brokers: on a cluster at least as large as its
// replication factor, the definition as it stands; on a smaller one, one replica per broker and
// min.insync.replicas capped at replication factor - 1 (so that one replica may be down and acks=all
// still succeed), at least 1. 3 and 2 give 1/1 on one broker, 2/1 on two, 3/2 on three or more.
struct Replication {
  int32_t replication_factor = 1;
  int32_t min_insync_replicas = 1;
};
Replication replication_for(const TopicSpec& spec, int brokers);

// event_id: [a-z0-9][a-z0-9-]{0,63}
bool valid_event_id(std::string_view id);
// user_id: [A-Za-z0-9_-]{1,64}
bool valid_user_id(std::string_view id);
// request ids (generated or from Idempotency-Key): [A-Za-z0-9_-]{1,64}, as user ids
bool valid_request_id(std::string_view id);
// Request ids the system gives its own commands: "pay-<payment_id>" (a provider's charge), "rw-..." (a
// unit's reward), "tick-..." (a tick), "os-..." (an order's steps). No client key may take one.
bool is_reserved_request_id(std::string_view id);

}  // namespace allot::topics
