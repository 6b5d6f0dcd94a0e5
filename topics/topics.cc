#include "topics/topics.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace allot::topics {

namespace {

// One entry of "topics" or "internal_topics"; `defaults` holds the file's replication settings.
TopicSpec parse_spec(const nlohmann::json& t, const TopicSpec& defaults, bool internal) {
  TopicSpec s = defaults;
  s.internal = internal;
  s.name = t.at("name").get<std::string>();
  if (s.name.empty()) throw std::invalid_argument("a topic without a name");
  if (!internal) {
    s.partitions = t.at("partitions").get<int32_t>();
    if (s.partitions < 1) throw std::invalid_argument(s.name + ": partitions must be at least 1");
  }
  s.replication_factor = t.value("replication_factor", s.replication_factor);
  s.min_insync_replicas = t.value("min_insync_replicas", s.min_insync_replicas);
  if (s.replication_factor < 1 || s.min_insync_replicas < 1 || s.min_insync_replicas > s.replication_factor) {
    throw std::invalid_argument(s.name + ": need 1 <= min_insync_replicas <= replication_factor");
  }
  if (t.contains("configs")) {
    if (internal) throw std::invalid_argument(s.name + ": the broker configures internal topics");
    for (const auto& [k, v] : t.at("configs").items()) s.configs[k] = v.get<std::string>();
  }
  if (s.configs.count("min.insync.replicas")) {
    throw std::invalid_argument(s.name + ": say min_insync_replicas (fitted to the cluster), not a config");
  }
  return s;
}

}  // namespace

std::vector<TopicSpec> with_partitions(std::vector<TopicSpec> specs, int32_t partitions) {
  if (partitions < 1) throw std::invalid_argument("partitions must be at least 1");
  for (auto& s : specs) {
    if (!s.internal) s.partitions = partitions;
  }
  return specs;
}

std::vector<TopicSpec> parse_specs(const std::string& json_text) {
  std::vector<TopicSpec> out;
  try {
    auto doc = nlohmann::json::parse(json_text);
    TopicSpec defaults;
    defaults.replication_factor = doc.value("replication_factor", 1);
    defaults.min_insync_replicas = doc.value("min_insync_replicas", 1);
    for (const auto& t : doc.at("topics")) out.push_back(parse_spec(t, defaults, false));
    for (const auto& t : doc.value("internal_topics", nlohmann::json::array())) {
      out.push_back(parse_spec(t, defaults, true));
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("topics definition: ") + e.what());
  }
  return out;
}

Replication replication_for(const TopicSpec& spec, int brokers) {
  if (brokers >= spec.replication_factor) return {spec.replication_factor, spec.min_insync_replicas};
  Replication r;
  r.replication_factor = std::max(1, brokers);
  r.min_insync_replicas = std::max(1, std::min(spec.min_insync_replicas, r.replication_factor - 1));
  return r;
}

namespace {
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_word(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '-'; }
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

bool is_reserved_request_id(std::string_view id) {
  return id.starts_with("pay-") || id.starts_with("rw-") || id.starts_with("tick-") || id.starts_with("os-");
}

}  // namespace allot::topics
