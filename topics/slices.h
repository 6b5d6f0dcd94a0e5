#pragma once
// Mega events (issue 14, part 2): an event created with `partitions: K` (K > 1) is K ordinary events,
// its slices, with ids "<event_id>~<k>" (k = 0..K-1; '~' is not allowed in a public event id, so a
// slice id never collides with an event's), each on its own partition of allot.commands and each with
// its share of the stock. A user always goes to slice user_slice(user_id, K), so all of one user's
// claims on the event are ordered on one partition and the per-user limit is exact. Everything here is
// pure: the ingress routes with it, `allotctl verify` re-checks with it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace allot::topics {

// A mega event's id leaves room for "~<k>" within the 64 characters of an id column.
inline constexpr size_t kMaxMegaEventIdLength = 61;
// The most slices a message may describe (the ingress allows at most the partition count).
inline constexpr int32_t kMaxSlices = 1000;

struct SliceRef {
  std::string parent;  // the event's public id
  int32_t slice = 0;   // 0..K-1
};

// FNV-1a 64 of `s` (as topics/draw.cc): stable across builds, machines and releases.
uint64_t fnv1a64(std::string_view s);

std::string slice_id(std::string_view parent, int32_t slice);
// "<parent>~<k>" with a valid parent id and k a decimal number without a leading zero; else nullopt.
std::optional<SliceRef> parse_slice_id(std::string_view id);
// What commands and decisions on the topics may carry as event_id: a public id or a slice id.
bool valid_topic_event_id(std::string_view id);

// Slice k's stock: stock / K, and one more for the first stock % K slices (they sum to stock).
int64_t slice_stock(int64_t stock, int32_t partitions, int32_t slice);
// FNV-1a's low bits depend only on the low bits of each byte (h mod 4 is fixed by every byte's two lowest
// bits), so ids that differ in other bits ("user-a", "user-e") would share a slice: the slices take the
// hash through splitmix64's finalizer, which spreads every input bit over the low ones.
uint64_t slice_hash(std::string_view s);
// The slice a user's claims go to: slice_hash(user_id) % K.
int32_t user_slice(std::string_view user_id, int32_t partitions);
// The partition of slice k among `partition_count` partitions: (slice_hash(parent) % N + k) % N, so the K
// slices (K <= N) sit on K distinct, consecutive partitions; the processors' roundrobin assignor deals
// consecutive partitions to different processors, so K slices use min(K, processors) of them.
int32_t slice_partition(std::string_view parent, int32_t slice, int32_t partition_count);

}  // namespace allot::topics
