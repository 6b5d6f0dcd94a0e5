#pragma once
// The processors' state store: RocksDB, one key space per input partition.
//
// Each partition's key space holds state records (opaque key -> value, encoded by processors/) and
// two stored offsets: the next input offset and the next changelog offset the state reflects. A commit
// writes records and offsets in one atomic WriteBatch, so after a crash the state and its offsets
// always agree. Owned by one processor; not thread-safe (one runner thread uses it).
#include <cstdint>
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
  std::string value;
};

struct StoredOffsets {
  int64_t input_next = 0;      // first command offset not yet reflected
  int64_t changelog_next = 0;  // first changelog offset not yet reflected
};

class StateStore {
 public:
  // Opens (creating if needed) the store at `path`.
  static std::unique_ptr<StateStore> open(const std::string& path);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  [[nodiscard]] std::optional<std::string> get(int32_t partition, std::string_view key) const;
  [[nodiscard]] StoredOffsets offsets(int32_t partition) const;

  // Atomically writes `records` into the partition's key space together with `offsets`.
  void commit(int32_t partition, const std::vector<Record>& records, StoredOffsets offsets);

  // Deletes the partition's whole key space (records and offsets), e.g. before a full rebuild.
  void clear(int32_t partition);

  // Number of state records of the partition (a full scan: for tools and tests).
  [[nodiscard]] int64_t count(int32_t partition) const;

 private:
  explicit StateStore(rocksdb::DB* db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace allot::state
