#include "state/store.h"

#include <rocksdb/db.h>

#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <algorithm>
#include <filesystem>

namespace allot::state {

namespace {

// Key layout: 4-byte big-endian partition, a tag byte, then the rest. Big-endian keeps each
// partition's keys contiguous, so clear() and count() are range operations.
constexpr char kRecordTag = 'r';
constexpr char kMetaTag = 'm';

std::string prefix(int32_t partition, char tag) {
  std::string p(5, '\0');
  auto u = static_cast<uint32_t>(partition);
  p[0] = static_cast<char>(u >> 24);
  p[1] = static_cast<char>(u >> 16);
  p[2] = static_cast<char>(u >> 8);
  p[3] = static_cast<char>(u);
  p[4] = tag;
  return p;
}

std::string record_key(int32_t partition, std::string_view key) { return prefix(partition, kRecordTag).append(key); }
std::string meta_key(int32_t partition, std::string_view name) { return prefix(partition, kMetaTag).append(name); }

void check(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) throw StateError(std::string("rocksdb ") + what + ": " + s.ToString());
}

int64_t read_offset(rocksdb::DB& db, int32_t partition, std::string_view name) {
  std::string v;
  auto s = db.Get(rocksdb::ReadOptions(), meta_key(partition, name), &v);
  if (s.IsNotFound()) return 0;
  check(s, "get offset");
  return std::stoll(v);
}

}  // namespace

std::unique_ptr<StateStore> StateStore::open(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // Level compaction with the defaults: the state is small per key and read-mostly by point lookups.
  // Batches skip the WAL (see commit()): the changelog in Kafka is the durable copy, as in Kafka
  // Streams' RocksDB stores. Closing the store flushes the memtable (avoid_flush_during_shutdown is off).
  options.IncreaseParallelism(2);
  options.OptimizeLevelStyleCompaction();
  // Small memtables: every claim inserts ~2.5 keys and looks up ~3, and in a 128 MB skip list
  // (OptimizeLevelStyleCompaction's size) each step is a cache miss. Measured in bench/README.md.
  options.write_buffer_size = 8 << 20;
  // Most lookups miss (a new request id, a user's first claim): bloom filters answer a miss without
  // searching the memtable's skip list or reading a table block.
  options.memtable_prefix_bloom_size_ratio = 0.1;
  options.memtable_whole_key_filtering = true;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  std::error_code ec;  // RocksDB creates only the last folder of the path
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  check(rocksdb::DB::Open(options, path, &db), "open");
  return std::unique_ptr<StateStore>(new StateStore(db));
}

StateStore::StateStore(rocksdb::DB* db) : db_(db) {}
StateStore::~StateStore() = default;

std::optional<std::string> StateStore::get(int32_t partition, std::string_view key) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), record_key(partition, key), &v);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "get");
  return v;
}

StoredOffsets StateStore::offsets(int32_t partition) const {
  return {read_offset(*db_, partition, "input_next"), read_offset(*db_, partition, "changelog_next")};
}

void StateStore::commit(int32_t partition, const std::vector<Record>& records, StoredOffsets offsets) {
  rocksdb::WriteBatch batch;
  check(batch.Put(meta_key(partition, "changelog_next"), std::to_string(offsets.changelog_next)), "batch put");
  check(batch.Put(meta_key(partition, "input_next"), std::to_string(offsets.input_next)), "batch put");
  // In key order: the memtable's skip list starts each insert from where the previous one went, so
  // sorted inserts skip most of the search. Stable, so of two records with one key the later still wins.
  std::vector<const Record*> sorted;
  sorted.reserve(records.size());
  for (const auto& r : records) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Record* a, const Record* b) { return a->key < b->key; });
  for (const auto* r : sorted) {
    if (r->value) {
      check(batch.Put(record_key(partition, r->key), *r->value), "batch put");
    } else {
      check(batch.Delete(record_key(partition, r->key)), "batch delete");
    }
  }
  rocksdb::WriteOptions wo;
  // No WAL: a crash loses the batches since the last memtable flush, records and stored offsets
  // together (one WriteBatch, one sequence number), so what survives is an earlier consistent point, and
  // restore() replays the rest from the changelog. Kafka Streams runs its stores the same way.
  wo.disableWAL = true;
  check(db_->Write(wo, &batch), "write");
}

std::string StateStore::lineage(int32_t partition) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_key(partition, "lineage"), &v);
  if (s.IsNotFound()) return {};
  check(s, "get lineage");
  return v;
}

void StateStore::set_lineage(int32_t partition, std::string_view lineage) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  check(db_->Put(wo, meta_key(partition, "lineage"), rocksdb::Slice(lineage.data(), lineage.size())), "put lineage");
}

void StateStore::clear(int32_t partition) {
  rocksdb::WriteBatch batch;
  static_assert(kMetaTag < kRecordTag);  // one range covers both tags of the partition
  check(batch.DeleteRange(prefix(partition, kMetaTag), prefix(partition, kRecordTag + 1)), "delete range");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  check(db_->Write(wo, &batch), "clear");
}

void StateStore::scan(int32_t partition, std::string_view key_prefix, const OnRecord& on_record) const {
  const auto begin = record_key(partition, key_prefix);
  const size_t skip = prefix(partition, kRecordTag).size();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(begin); it->Valid() && it->key().starts_with(begin); it->Next()) {
    auto key = it->key(), value = it->value();
    on_record(std::string_view(key.data() + skip, key.size() - skip), std::string_view(value.data(), value.size()));
  }
  check(it->status(), "iterate");
}

int64_t StateStore::count(int32_t partition) const {
  auto begin = prefix(partition, kRecordTag);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  int64_t n = 0;
  for (it->Seek(begin); it->Valid() && it->key().starts_with(begin); it->Next()) ++n;
  check(it->status(), "iterate");
  return n;
}

}  // namespace allot::state
