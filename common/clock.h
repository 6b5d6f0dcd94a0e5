#pragma once
// Wall-clock time as Unix milliseconds: the one place every binary reads it (decided_at, received_at,
// ages). Code that must be deterministic (decide()) takes time as an argument instead.
#include <chrono>
#include <cstdint>

namespace allot {

inline int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace allot
