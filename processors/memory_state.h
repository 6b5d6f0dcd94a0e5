#pragma once
// A partition's state in memory, for tests and tools that run decide() without RocksDB: what the
// runner's overlay over the store does, over one ordered map.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "processors/domain.h"

namespace allot::processors {

class MemoryState : public StateView {
 public:
  std::optional<std::string> get(const std::string& key) const override {
    auto it = kv.find(key);
    return it == kv.end() ? std::nullopt : std::optional(it->second);
  }
  void scan(std::string_view prefix, const OnRecord& on_record) const override {
    for (auto it = kv.lower_bound(std::string(prefix)); it != kv.end() && it->first.starts_with(prefix); ++it) {
      on_record(it->first, it->second);
    }
  }
  // Applies decide()'s writes in order; a write without a value deletes its key.
  void apply(std::vector<StateWrite>& writes) {
    for (auto& w : writes) {
      if (w.value) {
        kv[w.key] = std::move(*w.value);
      } else {
        kv.erase(w.key);
      }
    }
  }
  std::map<std::string, std::string> kv;
};

}  // namespace allot::processors
