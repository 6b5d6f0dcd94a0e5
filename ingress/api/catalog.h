#pragma once
// What this ingress knows about events, learned from the projection and from the creations and deletions
// it accepted itself: which exist, which are deleted, which have a waiting room, how many slices a mega
// event has (topics/slices.h), and how many partitions the commands topic has. It answers "does this event
// exist?" without a broker round trip once it learned the answer. Thread-safe; owned by the Api.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ingress/group_offsets.h"
#include "ingress/mega.h"
#include "ingress/projections.h"
#include "ingress/publisher.h"

namespace allot::ingress::api {

class EventCatalog {
 public:
  // `processors` and `redis_sink` tell whether a creation may still be in flight (see known()).
  EventCatalog(const ProjectionReader& projections, const QueueOffsets& processors, const QueueOffsets& redis_sink,
               CommandPublisher& publisher)
      : projections_(projections), processors_(processors), redis_sink_(redis_sink), publisher_(publisher) {}

  // Whether the event exists: true once the projection shows it or this ingress accepted its creation;
  // false only when sure (the projection lacks it and both the processors and the Redis sink have
  // caught up, so no creation is in flight); nullopt when it cannot tell.
  std::optional<bool> known(const std::string& event_id);
  // What the ingress checks at the door of an event's claims and joins.
  struct DoorRules {
    int64_t admit_per_s = 0;  // a waiting room's rate; 0 = none
    int32_t pow_bits = 0;     // proof of work; 0 = none
  };
  // This ingress's creation was stored (202): the event exists from now on, with its rules and slices.
  void created(const std::string& event_id, DoorRules rules, int32_t slices);
  // Seen deleted in the projection, or deleted through this ingress: its claims are answered 404.
  void deleted(const std::string& event_id);
  bool is_deleted(const std::string& event_id) const;
  // The event's waiting-room rate (0: none); nullopt until learned.
  std::optional<int64_t> room_rate(const std::string& event_id) const;
  // The proof of work the event asks (0: none); nullopt until learned.
  std::optional<int32_t> pow_bits(const std::string& event_id) const;
  // A mega event's slice count; nullopt until learned (a command then goes to the event id's partition).
  std::optional<int32_t> slices(const std::string& event_id) const { return mega_.partitions(event_id); }
  // The commands topic's partition count (asked once; it does not change: key routing relies on it too);
  // nullopt when the broker cannot say now.
  std::optional<int32_t> partition_count();

 private:
  const ProjectionReader& projections_;
  const QueueOffsets& processors_;
  const QueueOffsets& redis_sink_;
  CommandPublisher& publisher_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> known_;    // seen in the projection (deleted ones too: their ids stay taken)
  std::unordered_set<std::string> created_;  // accepted by this ingress, perhaps not projected yet
  std::unordered_set<std::string> deleted_;
  std::unordered_map<std::string, DoorRules> rules_;  // learned with known_ and created_
  MegaEvents mega_;
  std::atomic<int32_t> partitions_{0};  // 0 until asked
};

}  // namespace allot::ingress::api
