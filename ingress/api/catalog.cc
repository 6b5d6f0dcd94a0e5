#include "ingress/api/catalog.h"

#include "common/log.h"

namespace allot::ingress::api {

std::optional<bool> EventCatalog::known(const std::string& event_id) {
  {
    std::lock_guard lock(mu_);
    if (known_.count(event_id) > 0 || created_.count(event_id) > 0) return true;
  }
  try {
    if (auto e = projections_.event(event_id)) {
      mega_.learn(event_id, e->partitions);
      std::lock_guard lock(mu_);
      rules_[event_id] = DoorRules{e->admit_per_s, e->pow_bits};
      known_.insert(event_id);
      if (e->deleted) deleted_.insert(event_id);
      return true;
    }
  } catch (const ProjectionUnavailable&) {
    return std::nullopt;
  }
  if (processors_.caught_up() && redis_sink_.caught_up()) return false;
  return std::nullopt;
}

void EventCatalog::created(const std::string& event_id, DoorRules rules, int32_t slices) {
  if (slices > 1) mega_.learn(event_id, slices);
  std::lock_guard lock(mu_);
  created_.insert(event_id);
  rules_[event_id] = rules;
}

void EventCatalog::deleted(const std::string& event_id) {
  std::lock_guard lock(mu_);
  deleted_.insert(event_id);
}

bool EventCatalog::is_deleted(const std::string& event_id) const {
  std::lock_guard lock(mu_);
  return deleted_.count(event_id) > 0;
}

std::optional<int64_t> EventCatalog::room_rate(const std::string& event_id) const {
  std::lock_guard lock(mu_);
  auto it = rules_.find(event_id);
  if (it == rules_.end()) return std::nullopt;
  return it->second.admit_per_s;
}

std::optional<int32_t> EventCatalog::pow_bits(const std::string& event_id) const {
  std::lock_guard lock(mu_);
  auto it = rules_.find(event_id);
  if (it == rules_.end()) return std::nullopt;
  return it->second.pow_bits;
}

std::optional<int32_t> EventCatalog::partition_count() {
  if (int32_t n = partitions_.load(); n > 0) return n;
  try {
    int32_t n = publisher_.partition_count(std::chrono::seconds(2));
    if (n > 0) partitions_.store(n);
    return n > 0 ? std::optional<int32_t>(n) : std::nullopt;
  } catch (const std::exception& e) {
    log_warn("ingress", std::string("partition count unknown: ") + e.what());
    return std::nullopt;
  }
}

}  // namespace allot::ingress::api
