#pragma once
// Kafka client setup shared by every binary: configuration maps, and reading a topic's
// committed records up to its end (used by restores, the verifier and tests).
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace allot::kafka {

using Settings = std::map<std::string, std::string>;

// RAII owners of librdkafka's C++ objects that callers must free by hand.
struct ErrorDeleter {
  void operator()(RdKafka::Error* e) const { delete e; }
};
using ErrorPtr = std::unique_ptr<RdKafka::Error, ErrorDeleter>;

// A list of TopicPartition pointers, destroyed with the list.
struct PartitionList {
  std::vector<RdKafka::TopicPartition*> items;
  PartitionList() = default;
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
  ~PartitionList() { RdKafka::TopicPartition::destroy(items); }
};

// A librdkafka configuration from `settings`; throws std::runtime_error naming the bad key. Unless
// `settings` say otherwise, a request waits 10 s for its answer (socket.timeout.ms), not librdkafka's 60 s:
// a paused broker (SIGSTOP, a long GC) keeps its connections open, and only the timeout moves a client on.
std::unique_ptr<RdKafka::Conf> make_conf(const Settings& settings);

std::unique_ptr<RdKafka::KafkaConsumer> make_consumer(const Settings& settings);
std::unique_ptr<RdKafka::Producer> make_producer(const Settings& settings);

// A consumer of `topic` in a consumer group the way processors and sinks consume: read_committed, offsets
// committed by hand (never auto-committed or auto-stored), a new group starts at the earliest offset,
// 10 s session, statistics every 2 s. `settings` add to those or override them (bootstrap.servers,
// group.id and client.id at least). The callbacks are installed and the topic subscribed; throws
// std::runtime_error on any failure.
std::unique_ptr<RdKafka::KafkaConsumer> make_group_consumer(Settings settings, const std::string& topic,
                                                            RdKafka::RebalanceCb* rebalance, RdKafka::EventCb* events);

// Partition count of `topic`; throws when the topic does not exist or metadata is unavailable.
int32_t partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout);

// A partition's low and high watermarks. Leadership that is moving (a broker just isolated or back, a
// restart, an election) answers "not leader", "offset not available" or a transport error for a few seconds:
// those are asked again, every 250 ms, until `timeout` has passed, and the last of them that said more than
// "timed out" is returned; any other error at once. (A request already sent to a silent broker may outlast
// `timeout`: librdkafka 2.0 bounds it by socket.timeout.ms, not by the call's timeout.)
RdKafka::ErrorCode watermarks(RdKafka::KafkaConsumer& consumer, const std::string& topic, int32_t partition,
                              int64_t* low, int64_t* high, std::chrono::milliseconds timeout);

// The topic's id (KIP-516), base64url as Kafka's tools print it. A recreated topic gets a new id under
// the same name. librdkafka 2.0 does not expose topic ids, so this asks a broker directly with one
// Metadata v11 request; throws std::runtime_error when no broker answers within `timeout` or the topic is
// unknown. Each broker of the list gets a few seconds per attempt (a paused broker never answers), in turn.
std::string topic_id(const std::string& brokers, const std::string& topic, std::chrono::milliseconds timeout);

struct PartitionStart {
  int32_t partition = 0;
  int64_t from = 0;  // first offset to read
  int64_t to = -1;   // read up to this offset (exclusive); -1: the high watermark seen at the call
};

// Reads the committed records (read_committed) of `topic` on the given partitions, from each start to
// its end, and hands every record to `on_record`. Waits while an open
// transaction holds the end back; throws std::runtime_error when `timeout` passes first.
// Returns the number of records read.
int64_t read_committed_to_end(const std::string& brokers, const std::string& topic,
                              const std::vector<PartitionStart>& starts,
                              const std::function<void(const RdKafka::Message&)>& on_record,
                              std::chrono::milliseconds timeout);

// Same, for every partition of the topic from offset 0.
int64_t read_all_committed(const std::string& brokers, const std::string& topic,
                           const std::function<void(const RdKafka::Message&)>& on_record,
                           std::chrono::milliseconds timeout);

// Which of the given partitions hold a committed record in their range [from, to): a partition whose range
// has only transaction markers and aborted records (what a processor killed in mid-transaction leaves at
// the end) holds none. Reads at most one record per partition; throws like read_committed_to_end.
std::set<int32_t> partitions_with_committed_records(const std::string& brokers, const std::string& topic,
                                                    const std::vector<PartitionStart>& ranges,
                                                    std::chrono::milliseconds timeout);

// Consumes into `batch` until it holds `max_records`, or `max_ms` after its first record, or `idle_ms`
// (> 0) pass without a next record, or `keep_going()` turns false. Returns at once with an empty batch after
// 100 ms without a record, so the caller can look at its stop flag. Returns the first error that is not a
// timeout or a partition end (the batch so far stays), or ERR_NO_ERROR.
using Batch = std::vector<std::unique_ptr<RdKafka::Message>>;
RdKafka::ErrorCode collect_batch(RdKafka::KafkaConsumer& consumer, Batch& batch, size_t max_records, int max_ms,
                                 const std::function<bool()>& keep_going, std::string& error, int idle_ms = 0);

}  // namespace allot::kafka
