#include "topics/slices.h"

#include <charconv>

#include "topics/topics.h"

namespace allot::topics {

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t slice_hash(std::string_view s) {
  uint64_t z = fnv1a64(s);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string slice_id(std::string_view parent, int32_t slice) {
  return std::string(parent) + "~" + std::to_string(slice);
}

std::optional<SliceRef> parse_slice_id(std::string_view id) {
  auto tilde = id.rfind('~');
  if (tilde == std::string_view::npos) return std::nullopt;
  auto parent = id.substr(0, tilde);
  auto digits = id.substr(tilde + 1);
  if (parent.size() > kMaxMegaEventIdLength || !valid_event_id(parent)) return std::nullopt;
  if (digits.empty() || digits.size() > 4 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  int32_t k = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
  if (ec != std::errc() || end != digits.data() + digits.size() || k < 0) return std::nullopt;
  return SliceRef{std::string(parent), k};
}

bool valid_topic_event_id(std::string_view id) { return valid_event_id(id) || parse_slice_id(id).has_value(); }

int64_t slice_stock(int64_t stock, int32_t partitions, int32_t slice) {
  if (partitions <= 1) return stock;
  return stock / partitions + (slice < stock % partitions ? 1 : 0);
}

int32_t user_slice(std::string_view user_id, int32_t partitions) {
  if (partitions <= 1) return 0;
  return static_cast<int32_t>(slice_hash(user_id) % static_cast<uint64_t>(partitions));
}

int32_t slice_partition(std::string_view parent, int32_t slice, int32_t partition_count) {
  const auto n = static_cast<uint64_t>(partition_count);
  return static_cast<int32_t>((slice_hash(parent) % n + static_cast<uint64_t>(slice)) % n);
}

}  // namespace allot::topics
