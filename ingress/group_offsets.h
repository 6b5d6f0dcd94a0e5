#pragma once
// Keeps the processor group's committed offsets on allot.commands fresh in the background, so a
// claim's queue position costs no broker round trip. Never joins the group and never commits.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "topics/messages.h"

namespace allot::ingress {

class GroupOffsets {
 public:
  GroupOffsets(std::string brokers, std::string group, std::string topic, int refresh_ms);
  ~GroupOffsets();
  // Commands ahead of `p` on its partition that the processors have not yet committed (>= 0).
  int64_t queue_position(topics::CommandPosition p) const;

 private:
  void refresh_loop();
  std::string brokers_, group_, topic_;
  int refresh_ms_;
  mutable std::mutex mu_;
  std::vector<int64_t> committed_;  // per partition; 0 until known
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace allot::ingress
