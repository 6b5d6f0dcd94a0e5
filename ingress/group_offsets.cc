#include "ingress/group_offsets.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>

#include "common/kafka.h"
#include "common/log.h"

namespace allot::ingress {

GroupOffsets::GroupOffsets(std::string brokers, std::string group, std::string topic, int refresh_ms)
    : brokers_(std::move(brokers)), group_(std::move(group)), topic_(std::move(topic)), refresh_ms_(refresh_ms) {
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

void GroupOffsets::refresh_loop() {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  int32_t partitions = 0;
  while (!stop_) {
    try {
      if (!consumer) {
        // Only OffsetFetch requests: no subscribe (never joins the group), auto-commit off (never commits).
        consumer = kafka::make_consumer({{"bootstrap.servers", brokers_},
                                         {"group.id", group_},
                                         {"enable.auto.commit", "false"},
                                         {"isolation.level", "read_committed"}});
        partitions = kafka::partition_count(*consumer, topic_, std::chrono::milliseconds(2000));
      }
      std::vector<RdKafka::TopicPartition*> tps;
      for (int32_t p = 0; p < partitions; ++p) tps.push_back(RdKafka::TopicPartition::create(topic_, p));
      if (consumer->committed(tps, 2000) == RdKafka::ERR_NO_ERROR) {
        std::vector<int64_t> fresh;
        for (auto* tp : tps) fresh.push_back(std::max<int64_t>(0, tp->offset()));
        std::lock_guard lock(mu_);
        committed_ = std::move(fresh);
      }
      RdKafka::TopicPartition::destroy(tps);
    } catch (const std::exception& e) {
      log_warn("ingress", std::string("group offsets: ") + e.what());
      consumer.reset();
    }
    for (int waited = 0; waited < refresh_ms_ && !stop_; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (consumer) consumer->close();
}

}  // namespace allot::ingress
