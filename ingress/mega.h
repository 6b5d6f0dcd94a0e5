#pragma once
// The ingress's side of mega events (topics/slices.h): which events are split into how many slices, and
// one answer for a command published to every slice.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ingress/publisher.h"

namespace allot::ingress {

// Events and their slice counts, as this ingress learned them: from a create it accepted (at once) or
// from the projection (ingress/projections.h aggregates a mega event's slices). Safe across threads.
class MegaEvents {
 public:
  void learn(const std::string& event_id, int32_t partitions);
  // nullopt: this ingress has not learned the event (a claim then goes to the event id's own partition).
  std::optional<int32_t> partitions(const std::string& event_id) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, int32_t> partitions_;
};

// `n` deliveries that together answer `whole` once: delivered (with the first one's position) when all n
// were delivered, failed when any failed; either way only after all n reported, so a 202 means every one
// of the n commands is stored.
std::vector<std::unique_ptr<Delivery>> fan_out(std::unique_ptr<Delivery> whole, size_t n);

}  // namespace allot::ingress
