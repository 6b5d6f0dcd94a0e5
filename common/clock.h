#pragma once
// Wall-clock time as Unix milliseconds: the one place every binary reads it (decided_at, received_at,
// ages). Code that must be deterministic (decide()) takes time as an argument instead. And the time left
// until a steady-clock deadline, for waits bounded by one.
#include <chrono>
#include <cstdint>

namespace allot {

inline int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Milliseconds from now until `deadline` (negative once it has passed).
inline std::chrono::milliseconds ms_until(std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(deadline - steady_clock::now());
}

}  // namespace allot
