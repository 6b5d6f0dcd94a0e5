#include "topics/topics.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace allot::topics {

std::vector<TopicSpec> parse_specs(const std::string& json_text) {
  std::vector<TopicSpec> out;
  try {
    auto doc = nlohmann::json::parse(json_text);
    for (const auto& t : doc.at("topics")) {
      TopicSpec s;
      s.name = t.at("name").get<std::string>();
      s.partitions = t.at("partitions").get<int32_t>();
      if (s.name.empty() || s.partitions < 1) throw std::invalid_argument("bad topic " + s.name);
      if (t.contains("configs")) {
        for (const auto& [k, v] : t.at("configs").items()) s.configs[k] = v.get<std::string>();
      }
      out.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("topics definition: ") + e.what());
  }
  return out;
}

namespace {
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_word(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}
}  // namespace

bool valid_event_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || !is_lower_alnum(id[0])) return false;
  for (char c : id) {
    if (!is_lower_alnum(c) && c != '-') return false;
  }
  return true;
}

bool valid_user_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!is_word(c)) return false;
  }
  return true;
}

bool valid_request_id(std::string_view id) { return valid_user_id(id); }

}  // namespace allot::topics
