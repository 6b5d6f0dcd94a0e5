#pragma once
// The processors' state store: RocksDB, one key space per input partition.
//
// Each partition's key space holds state records (opaque key -> value, encoded by processors/) and
// two stored offsets: the next input offset and the next changelog offset the state reflects. A commit
// writes records and offsets in one atomic WriteBatch, so after a crash the state and its offsets
// always agree. Owned by one processor; not thread-safe (one runner thread uses it).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb {
class DB;
}

namespace allot::state {

// Any non-OK RocksDB status surfaces as this; the message carries the status.
struct StateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Record {
  std::string key;
  std::optional<std::string> value;  // none: delete the key (a changelog tombstone)
};

struct StoredOffsets {
  int64_t input_next = 0;      // first command offset not yet reflected
  int64_t changelog_next = 0;  // first changelog offset not yet reflected
};

// What the processor's runner needs of a store; StateStore is the RocksDB one, tests wrap it to
// inject failures. Every method throws StateError on failure.
class Store {
 public:
  virtual ~Store() = default;
  [[nodiscard]] virtual std::optional<std::string> get(int32_t partition, std::string_view key) const = 0;
  [[nodiscard]] virtual StoredOffsets offsets(int32_t partition) const = 0;
  // Hands every record of the partition whose key starts with `prefix` to `on_record`, in key order.
  using OnRecord = std::function<void(std::string_view key, std::string_view value)>;
  virtual void scan(int32_t partition, std::string_view prefix, const OnRecord& on_record) const = 0;
  // Atomically writes (or, for a record without a value, deletes) `records` into the partition's key space together
  // with `offsets`.
  virtual void commit(int32_t partition, const std::vector<Record>& records, StoredOffsets offsets) = 0;
  // Deletes the partition's whole key space (records, offsets, lineage), e.g. before a full rebuild.
  virtual void clear(int32_t partition) = 0;
  // Which Kafka cluster and changelog the partition's state was restored from ("" when never set).
  // A store whose lineage differs from the live cluster's holds another cluster's state.
  [[nodiscard]] virtual std::string lineage(int32_t partition) const = 0;
  virtual void set_lineage(int32_t partition, std::string_view lineage) = 0;
};

class StateStore final : public Store {
 public:
  // Opens (creating if needed) the store at `path`.
  static std::unique_ptr<StateStore> open(const std::string& path);
  ~StateStore() override;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  [[nodiscard]] std::optional<std::string> get(int32_t partition, std::string_view key) const override;
  [[nodiscard]] StoredOffsets offsets(int32_t partition) const override;
  void scan(int32_t partition, std::string_view prefix, const OnRecord& on_record) const override;
  void commit(int32_t partition, const std::vector<Record>& records, StoredOffsets offsets) override;
  void clear(int32_t partition) override;
  [[nodiscard]] std::string lineage(int32_t partition) const override;
  void set_lineage(int32_t partition, std::string_view lineage) override;

  // Number of state records of the partition (a full scan: for tools and tests).
  [[nodiscard]] int64_t count(int32_t partition) const;

 private:
  explicit StateStore(rocksdb::DB* db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace allot::state
