#include "topics/draw.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace allot::topics {

uint64_t draw_seed(std::string_view event_id, CommandPosition close) {
  std::string text = std::string(event_id) + "|" + std::to_string(close.partition) + "|" + std::to_string(close.offset);
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<int64_t> draw_winners(uint64_t seed, int64_t entries, int64_t stock) {
  if (entries <= 0 || stock <= 0) return {};
  std::vector<int64_t> order(static_cast<size_t>(entries));
  std::iota(order.begin(), order.end(), 0);
  const int64_t winners = std::min(stock, entries);
  uint64_t state = seed;
  for (int64_t j = 0; j < winners; ++j) {
    // Modulo bias is below 2^-40 for any entry count a drop has; simple to re-implement elsewhere.
    auto pick = j + static_cast<int64_t>(splitmix64(state) % static_cast<uint64_t>(entries - j));
    std::swap(order[static_cast<size_t>(j)], order[static_cast<size_t>(pick)]);
  }
  order.resize(static_cast<size_t>(winners));
  return order;
}

}  // namespace allot::topics
