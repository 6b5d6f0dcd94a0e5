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

struct TopicSpec {
  std::string name;
  int32_t partitions = 0;
  std::map<std::string, std::string> configs;
};

// Parses topics.json; throws std::invalid_argument on a malformed definition.
std::vector<TopicSpec> parse_specs(const std::string& json_text);

// event_id: [a-z0-9][a-z0-9-]{0,63}
bool valid_event_id(std::string_view id);
// user_id: [A-Za-z0-9_-]{1,64}
bool valid_user_id(std::string_view id);
// request ids (generated or from Idempotency-Key): [A-Za-z0-9_-]{1,64}, as user ids
bool valid_request_id(std::string_view id);

}  // namespace allot::topics
