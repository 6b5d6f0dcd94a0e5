#include "ingress/group_offsets.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <numeric>

#include "common/kafka.h"
#include "common/log.h"

namespace allot::ingress {

GroupOffsets::GroupOffsets(std::string brokers, std::string group, std::string topic, int refresh_ms, int64_t end_slack)
    : brokers_(std::move(brokers)),
      group_(std::move(group)),
      topic_(std::move(topic)),
      refresh_ms_(refresh_ms),
      end_slack_(end_slack) {
  thread_ = std::thread([this] { refresh_loop(); });
}

GroupOffsets::~GroupOffsets() {
  stop_ = true;
  thread_.join();
}

int64_t GroupOffsets::queue_position(topics::CommandPosition p) const {
  std::lock_guard lock(mu_);
  int64_t committed = p.partition >= 0 && static_cast<size_t>(p.partition) < committed_.size()
                          ? committed_[static_cast<size_t>(p.partition)]
                          : 0;
  return std::max<int64_t>(0, p.offset - committed);
}

double GroupOffsets::rate() const {
  std::lock_guard lock(mu_);
  return rate_;
}

std::optional<int64_t> GroupOffsets::estimated_wait_ms(int64_t queue_position) const {
  double r = rate();
  if (queue_position == 0) return 0;
  if (r < 1.0) return std::nullopt;
  return static_cast<int64_t>(static_cast<double>(queue_position) * 1000.0 / r);
}

bool GroupOffsets::caught_up() const {
  std::lock_guard lock(mu_);
  if (!known_) return false;
  for (size_t p = 0; p < ends_.size(); ++p) {
    if (p >= committed_.size() || committed_[p] < ends_[p] - end_slack_) return false;
  }
  return true;
}

void GroupOffsets::record(std::vector<int64_t> committed, std::vector<int64_t> ends) {
  auto now = std::chrono::steady_clock::now();
  int64_t total = std::accumulate(committed.begin(), committed.end(), int64_t{0});
  std::lock_guard lock(mu_);
  if (last_total_ >= 0) {
    double secs = std::chrono::duration<double>(now - last_at_).count();
    double instant = secs > 0 ? static_cast<double>(std::max<int64_t>(0, total - last_total_)) / secs : 0;
    rate_ = 0.5 * rate_ + 0.5 * instant;  // smoothed over the last few refreshes
  }
  last_total_ = total;
  last_at_ = now;
  committed_ = std::move(committed);
  ends_ = std::move(ends);
  known_ = true;
}

void GroupOffsets::refresh_loop() {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  int32_t partitions = 0;
  while (!stop_) {
    try {
      if (!consumer) {
        // Only OffsetFetch and ListOffsets requests: no subscribe (never joins), auto-commit off (never commits).
        consumer = kafka::make_consumer({{"bootstrap.servers", brokers_},
                                         {"group.id", group_},
                                         {"enable.auto.commit", "false"},
                                         {"isolation.level", "read_committed"}});
        partitions = kafka::partition_count(*consumer, topic_, std::chrono::milliseconds(2000));
      }
      // Two requests a refresh: one OffsetFetch for the committed offsets, and one ListOffsets ("latest", the
      // isolation level above, as query_watermark_offsets asks) per leader for every partition's end.
      // query_watermark_offsets took two ListOffsets per partition: ~100 requests a second at rest.
      kafka::PartitionList committed_query, end_query;
      for (int32_t p = 0; p < partitions; ++p) {
        committed_query.items.push_back(RdKafka::TopicPartition::create(topic_, p));
        end_query.items.push_back(RdKafka::TopicPartition::create(topic_, p, RdKafka::Topic::OFFSET_END));
      }
      bool ok = consumer->committed(committed_query.items, 2000) == RdKafka::ERR_NO_ERROR &&
                consumer->offsetsForTimes(end_query.items, 2000) == RdKafka::ERR_NO_ERROR;
      std::vector<int64_t> committed, ends;
      for (int32_t p = 0; ok && p < partitions; ++p) {
        const auto* end = end_query.items[static_cast<size_t>(p)];
        ok = end->err() == RdKafka::ERR_NO_ERROR && end->offset() >= 0;
        committed.push_back(std::max<int64_t>(0, committed_query.items[static_cast<size_t>(p)]->offset()));
        ends.push_back(end->offset());
      }
      if (ok) record(std::move(committed), std::move(ends));
    } catch (const std::exception& e) {
      log_warn("ingress", "group offsets of " + group_ + ": " + e.what());
      consumer.reset();
    }
    for (int waited = 0; waited < refresh_ms_ && !stop_; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // Never joined the group (no subscribe): a failed close keeps nobody waiting, so it is only logged.
  if (consumer) {
    if (auto code = consumer->close(); code != RdKafka::ERR_NO_ERROR) {
      log_warn("ingress", "closing the group offsets reader: " + RdKafka::err2str(code));
    }
  }
}

}  // namespace allot::ingress
