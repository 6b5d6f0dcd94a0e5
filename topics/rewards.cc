#include "topics/rewards.h"

#include <cstdio>

namespace allot::topics {

namespace {

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t splitmix64(uint64_t state) {
  uint64_t z = state + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

int64_t reward_amount(std::string_view event_id, int64_t n, int64_t average, int64_t count_before, int64_t sum_before) {
  int64_t low = 1, high = 2 * average;
  const int64_t target = average * count_before;
  if (sum_before > target) {
    high = average;  // above the target average: draw below it
  } else if (sum_before < target) {
    low = average;  // below: draw above it
  }
  const auto seed = fnv1a(std::string(event_id) + "|" + std::to_string(n));
  const auto span = static_cast<uint64_t>(high - low + 1);
  return low + static_cast<int64_t>(splitmix64(seed) % span);
}

std::string reward_request_id(std::string_view event_id, int64_t n) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(event_id)));
  return "rw-" + std::string(hex) + "-" + std::to_string(n);
}

}  // namespace allot::topics
