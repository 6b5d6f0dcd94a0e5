#pragma once
// The processor's I/O, as the runner's state machine sees it (after redpanda's transform/io.h).
//
// The runner (runner.h) drives one batch at a time through these three interfaces; the librdkafka
// implementations live in kafka_io.h and are created only by the binaries, and unit tests drive the
// same state machine through fakes. Every call is made from the runner's one thread; a CommandSource
// calls its RebalanceHandler back from inside collect() (as librdkafka does from inside consume()).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allot::processors {

// How an I/O call ended, in librdkafka's classes of error (STYLE: "three error classes").
struct IoStatus {
  enum class Code {
    kOk,
    kRetriable,  // try the same call again
    kAbortable,  // abort the transaction, rewind to the committed offsets, start again
    kFatal,      // fenced or broken: exit non-zero and let the supervisor restart
  };
  Code code = Code::kOk;
  std::string message;

  static IoStatus ok() { return {}; }
  static IoStatus retriable(std::string m) { return {Code::kRetriable, std::move(m)}; }
  static IoStatus abortable(std::string m) { return {Code::kAbortable, std::move(m)}; }
  static IoStatus fatal(std::string m) { return {Code::kFatal, std::move(m)}; }
  bool is_ok() const { return code == Code::kOk; }
};

// Next offset per partition (of allot.commands, or of allot.changelog).
using OffsetMap = std::map<int32_t, int64_t>;
// A start offset meaning "the partition's first record" (librdkafka's OFFSET_BEGINNING).
inline constexpr int64_t kFromBeginning = -2;

// One command as read from allot.commands.
struct InputRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string value;
};

// Told about group rebalances, from inside CommandSource::collect().
class RebalanceHandler {
 public:
  virtual ~RebalanceHandler() = default;
  virtual void on_assigned(const std::vector<int32_t>& partitions) = 0;
  virtual void on_revoked(const std::vector<int32_t>& partitions) = 0;
};

// The read_committed consumer of allot.commands in the processors' group.
class CommandSource {
 public:
  virtual ~CommandSource() = default;
  virtual void set_rebalance_handler(RebalanceHandler* handler) = 0;
  // Appends records to `batch` until it holds `max_records`, or `max_ms` after its first record, or
  // `idle_ms` (> 0) pass without a next one, or `keep_going()` turns false; returns at once with nothing
  // after a short idle wait.
  [[nodiscard]] virtual IoStatus collect(std::vector<InputRecord>& batch, size_t max_records, int max_ms, int idle_ms,
                                         const std::function<bool()>& keep_going) = 0;
  // The group's committed offsets of `partitions` (absent = none committed). Stable: waits while a
  // transaction that sent offsets for them is still open, so the answer is final (KIP-447).
  [[nodiscard]] virtual IoStatus committed(const std::vector<int32_t>& partitions, OffsetMap& out) = 0;
  // Starts consuming exactly these partitions at these offsets, or kFromBeginning (replaces the assignment).
  [[nodiscard]] virtual IoStatus assign(const OffsetMap& start) = 0;
  [[nodiscard]] virtual IoStatus unassign() = 0;
  // Moves an assigned partition's read position (after an abort).
  [[nodiscard]] virtual IoStatus seek(int32_t partition, int64_t offset) = 0;
  // Partitions assigned now.
  [[nodiscard]] virtual std::vector<int32_t> assignment() = 0;
  // Told the next offsets of a committed batch (librdkafka's stored offsets feed its lag statistics).
  virtual void record_progress(const OffsetMap& /*next*/) {}
  // The Kafka cluster's id ("" when unknown).
  [[nodiscard]] virtual std::string cluster_id() = 0;
  // Leaves the group at once, so the partitions move without waiting for a session timeout.
  virtual void close() = 0;
};

// The transactional producer: decisions and changelog records plus the input offsets, atomically.
class TxnProducer {
 public:
  virtual ~TxnProducer() = default;
  [[nodiscard]] virtual IoStatus begin() = 0;
  // Queues one record of the open transaction; not kOk means the transaction cannot complete.
  [[nodiscard]] virtual IoStatus produce_decision(int32_t partition, std::string_view key, std::string_view value) = 0;
  // A command for another partition (processors/domain.h Result::emitted) to the commands topic, on the
  // partition of its key, as the ingress places its own.
  [[nodiscard]] virtual IoStatus produce_command(std::string_view key, std::string_view value) = 0;
  // A changelog record without a value is a tombstone (a null Kafka value): compaction drops the key.
  [[nodiscard]] virtual IoStatus produce_changelog(int32_t partition, std::string_view key,
                                                   std::optional<std::string_view> value) = 0;
  // Adds the consumer's next offsets to the transaction, under the group's current generation.
  [[nodiscard]] virtual IoStatus send_offsets(const OffsetMap& next) = 0;
  [[nodiscard]] virtual IoStatus commit() = 0;
  [[nodiscard]] virtual IoStatus abort() = 0;
  // After a commit: per partition, the offset after the last changelog record of that transaction.
  [[nodiscard]] virtual OffsetMap changelog_next() const = 0;
};

// Read access to allot.changelog for restores.
class ChangelogReader {
 public:
  virtual ~ChangelogReader() = default;
  // The changelog topic's id: a topic deleted and created again under the same name gets a new one.
  [[nodiscard]] virtual std::string topic_id() = 0;
  // The end (high watermark) of each partition now; throws std::runtime_error.
  [[nodiscard]] virtual OffsetMap end_offsets(const std::vector<int32_t>& partitions) = 0;
  // Reads the committed records of each partition from `from[p]` to `to[p]` and hands each to
  // `on_record(partition, offset, key, value)` (no value: a tombstone); returns how many; throws
  // std::runtime_error.
  using OnRecord = std::function<void(int32_t, int64_t, std::string_view, std::optional<std::string_view>)>;
  virtual int64_t read(const OffsetMap& from, const OffsetMap& to, const OnRecord& on_record) = 0;
};

}  // namespace allot::processors
