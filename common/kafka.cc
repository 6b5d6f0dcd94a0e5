#include "common/kafka.h"

#include <stdexcept>
#include <unordered_map>

#include "common/log.h"

namespace allot::kafka {

namespace {

// Closes a consumer that only assigned (never joined a group), so nobody waits on its leaving: a
// failed close is logged, not thrown (it may run while another error is on its way out).
void close_reader(RdKafka::KafkaConsumer& consumer, const std::string& topic) {
  if (auto code = consumer.close(); code != RdKafka::ERR_NO_ERROR) {
    log_warn("kafka", "closing the reader of " + topic + ": " + RdKafka::err2str(code));
  }
}

}  // namespace

std::unique_ptr<RdKafka::Conf> make_conf(const Settings& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [key, value] : settings) {
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error("kafka config " + key + ": " + err);
    }
  }
  return conf;
}

std::unique_ptr<RdKafka::KafkaConsumer> make_consumer(const Settings& settings) {
  auto conf = make_conf(settings);
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("kafka consumer: " + err);
  return c;
}

std::unique_ptr<RdKafka::Producer> make_producer(const Settings& settings) {
  auto conf = make_conf(settings);
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw std::runtime_error("kafka producer: " + err);
  return p;
}

int32_t partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&handle, topic, nullptr, err));
  if (!t) throw std::runtime_error("topic handle " + topic + ": " + err);
  RdKafka::Metadata* raw = nullptr;
  auto code = handle.metadata(false, t.get(), &raw, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (code != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("metadata for " + topic + ": " + RdKafka::err2str(code));
  }
  for (const auto* tm : *md->topics()) {
    if (tm->topic() == topic) {
      if (tm->err() != RdKafka::ERR_NO_ERROR) {
        throw std::runtime_error("topic " + topic + ": " + RdKafka::err2str(tm->err()));
      }
      return static_cast<int32_t>(tm->partitions()->size());
    }
  }
  throw std::runtime_error("topic " + topic + " not found");
}

int64_t read_committed_to_end(const std::string& brokers, const std::string& topic,
                              const std::vector<PartitionStart>& starts,
                              const std::function<void(const RdKafka::Message&)>& on_record,
                              std::chrono::milliseconds timeout) {
  auto consumer = make_consumer({{"bootstrap.servers", brokers},
                                 {"group.id", "allot-reader"},  // required by the API; never committed
                                 {"enable.auto.commit", "false"},
                                 {"enable.auto.offset.store", "false"},
                                 {"isolation.level", "read_committed"},
                                 {"enable.partition.eof", "true"},
                                 {"fetch.max.bytes", "52428800"}});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unordered_map<int32_t, int64_t> end;  // partition -> high watermark at the start
  PartitionList assignment;
  for (const auto& s : starts) {
    int64_t low = 0, high = 0;
    auto code = consumer->query_watermark_offsets(topic, s.partition, &low, &high,
                                                  static_cast<int>(timeout.count()));
    if (code != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("watermarks of " + topic + "/" + std::to_string(s.partition) + ": " +
                               RdKafka::err2str(code));
    }
    if (s.from >= high) continue;
    end[s.partition] = high;
    assignment.items.push_back(RdKafka::TopicPartition::create(topic, s.partition, std::max(s.from, low)));
  }
  if (assignment.items.empty()) return 0;
  if (auto code = consumer->assign(assignment.items); code != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("assign " + topic + ": " + RdKafka::err2str(code));
  }
  int64_t count = 0;
  while (!end.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      close_reader(*consumer, topic);
      throw std::runtime_error("reading " + topic + " to its end timed out (an open transaction?)");
    }
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR:
        ++count;
        on_record(*m);
        if (auto it = end.find(m->partition()); it != end.end() && m->offset() + 1 >= it->second) end.erase(it);
        break;
      case RdKafka::ERR__PARTITION_EOF:
        // The EOF offset is where a read_committed fetch stops: past aborted records and markers.
        if (auto it = end.find(m->partition()); it != end.end() && m->offset() >= it->second) end.erase(it);
        break;
      case RdKafka::ERR__TIMED_OUT:
        break;
      default:
        close_reader(*consumer, topic);
        throw std::runtime_error("reading " + topic + ": " + m->errstr());
    }
  }
  close_reader(*consumer, topic);
  return count;
}

RdKafka::ErrorCode collect_batch(RdKafka::KafkaConsumer& consumer, Batch& batch, size_t max_records, int max_ms,
                                 const std::function<bool()>& keep_going, std::string& error) {
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (batch.size() < max_records && keep_going()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    int wait = batch.empty()
                   ? 100
                   : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    std::unique_ptr<RdKafka::Message> m(consumer.consume(std::max(wait, 1)));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR:
        if (batch.empty()) deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
        batch.push_back(std::move(m));
        break;
      case RdKafka::ERR__TIMED_OUT:
        if (batch.empty()) return RdKafka::ERR_NO_ERROR;
        break;
      case RdKafka::ERR__PARTITION_EOF:
        break;
      default:
        error = m->errstr();
        return m->err();
    }
  }
  return RdKafka::ERR_NO_ERROR;
}

int64_t read_all_committed(const std::string& brokers, const std::string& topic,
                           const std::function<void(const RdKafka::Message&)>& on_record,
                           std::chrono::milliseconds timeout) {
  auto producer = make_producer({{"bootstrap.servers", brokers}});
  int32_t n = partition_count(*producer, topic, timeout);
  std::vector<PartitionStart> starts;
  for (int32_t p = 0; p < n; ++p) starts.push_back({p, 0});
  return read_committed_to_end(brokers, topic, starts, on_record, timeout);
}

}  // namespace allot::kafka
