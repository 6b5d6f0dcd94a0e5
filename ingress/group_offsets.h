#pragma once
// Keeps a consumer group's committed offsets on one topic fresh in the background (with the topic's
// end offsets), so queue positions, wait estimates and "is this group caught up" cost no broker round
// trip per request. Never joins the group and never commits.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "topics/messages.h"

namespace allot::ingress {

// What the API asks of a consumer group's progress.
class QueueOffsets {
 public:
  virtual ~QueueOffsets() = default;
  // Commands ahead of `p` on its partition that the group has not yet committed (>= 0).
  virtual int64_t queue_position(topics::CommandPosition p) const = 0;
  // Estimated wait for a queue position, from the recent rate; nullopt when the group made no progress lately.
  virtual std::optional<int64_t> estimated_wait_ms(int64_t queue_position) const = 0;
  // At the last refresh, the group had committed everything up to each partition's end.
  virtual bool caught_up() const = 0;
};

class GroupOffsets : public QueueOffsets {
 public:
  // `end_slack`: how far below the end a caught-up group may stay. 0 for a plain topic; 1 for a
  // transactional one, whose last offset is a commit marker no consumer commits past.
  GroupOffsets(std::string brokers, std::string group, std::string topic, int refresh_ms, int64_t end_slack = 0);
  ~GroupOffsets();
  int64_t queue_position(topics::CommandPosition p) const override;
  // The group's recent progress in records per second (smoothed); 0 when idle or unknown.
  double rate() const;
  std::optional<int64_t> estimated_wait_ms(int64_t queue_position) const override;
  bool caught_up() const override;

 private:
  void refresh_loop();
  void record(std::vector<int64_t> committed, std::vector<int64_t> ends);
  std::string brokers_, group_, topic_;
  int refresh_ms_;
  int64_t end_slack_;
  mutable std::mutex mu_;
  std::vector<int64_t> committed_;  // per partition; 0 until known
  std::vector<int64_t> ends_;
  bool known_ = false;
  double rate_ = 0;
  int64_t last_total_ = -1;
  std::chrono::steady_clock::time_point last_at_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace allot::ingress
