#include "ingress/mega.h"

namespace allot::ingress {

void MegaEvents::learn(const std::string& event_id, int32_t partitions) {
  std::lock_guard lock(mu_);
  partitions_[event_id] = partitions;
}

std::optional<int32_t> MegaEvents::partitions(const std::string& event_id) const {
  std::lock_guard lock(mu_);
  auto it = partitions_.find(event_id);
  if (it == partitions_.end()) return std::nullopt;
  return it->second;
}

namespace {

struct FanOutState {
  std::mutex mu;
  std::unique_ptr<Delivery> whole;
  size_t outstanding = 0;
  std::optional<topics::CommandPosition> first;
  std::string failure;  // empty while none failed

  // One part reported; the last one answers the whole.
  void reported(size_t index, std::optional<topics::CommandPosition> position, const std::string& reason) {
    std::unique_ptr<Delivery> answer;
    {
      std::lock_guard lock(mu);
      if (position && index == 0) first = position;
      if (!position && failure.empty()) failure = reason.empty() ? "failed" : reason;
      if (--outstanding > 0) return;
      answer = std::move(whole);
    }
    if (!answer) return;
    if (failure.empty()) {
      answer->delivered(first.value_or(topics::CommandPosition{}));
    } else {
      answer->failed(failure);
    }
  }
};

class Part : public Delivery {
 public:
  Part(std::shared_ptr<FanOutState> state, size_t index) : state_(std::move(state)), index_(index) {}
  void delivered(topics::CommandPosition position) override { state_->reported(index_, position, ""); }
  void failed(const std::string& reason) override { state_->reported(index_, std::nullopt, reason); }

 private:
  std::shared_ptr<FanOutState> state_;
  size_t index_;
};

}  // namespace

std::vector<std::unique_ptr<Delivery>> fan_out(std::unique_ptr<Delivery> whole, size_t n) {
  auto state = std::make_shared<FanOutState>();
  state->whole = std::move(whole);
  state->outstanding = n;
  std::vector<std::unique_ptr<Delivery>> parts;
  parts.reserve(n);
  for (size_t i = 0; i < n; ++i) parts.push_back(std::make_unique<Part>(state, i));
  return parts;
}

}  // namespace allot::ingress
