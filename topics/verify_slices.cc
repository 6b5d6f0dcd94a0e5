#include "topics/verify_slices.h"

#include <map>
#include <set>
#include <unordered_map>

#include "topics/slices.h"

namespace allot::topics {

namespace {

struct SliceTrack {
  std::optional<CreateEvent> spec;  // from its created decision
  std::set<int32_t> partitions;     // where its decisions (its commands) are
  int64_t issued = 0;
};

struct MegaTrack {
  std::map<int32_t, SliceTrack> slices;
  std::unordered_map<std::string, int64_t> issued_per_user;
};

}  // namespace

void check_slices(const std::vector<Decision>& decisions, VerifyReport& r) {
  std::map<std::string, MegaTrack> megas;
  std::set<std::string> plain_created;
  for (const auto& d : decisions) {
    auto ref = parse_slice_id(d.event_id);
    if (!ref) {
      if (d.type == decision_type::kCreateEvent && d.outcome == Outcome::kCreated) {
        plain_created.insert(d.event_id);
      }
      continue;
    }
    auto& slice = megas[ref->parent].slices[ref->slice];
    slice.partitions.insert(d.command.partition);
    if (d.type == decision_type::kCreateEvent && d.outcome == Outcome::kCreated) slice.spec = d.event;
  }
  for (const auto& d : decisions) {
    auto ref = parse_slice_id(d.event_id);
    if (!ref || d.type != decision_type::kClaim) continue;
    auto& mega = megas[ref->parent];
    const auto& spec = mega.slices[ref->slice].spec;
    if (!spec) continue;  // before its creation: unknown_event, checked by verify()
    const std::string at = d.event_id + " offset " + std::to_string(d.command.offset) + " (claim " + d.request_id +
                           " by " + d.user_id + ")";
    if (!d.user_id.empty() && user_slice(d.user_id, spec->partitions) != ref->slice) {
      r.violations.push_back(at + ": the user belongs to slice " +
                             std::to_string(user_slice(d.user_id, spec->partitions)));
    }
    if (d.outcome == Outcome::kIssued) {
      ++mega.slices[ref->slice].issued;
      if (++mega.issued_per_user[d.user_id] > spec->per_user_limit) {
        r.violations.push_back(at + ": user above per_user_limit over the whole mega event");
      }
    }
  }
  for (const auto& [parent, mega] : megas) {
    ++r.mega_events;
    if (plain_created.count(parent)) r.violations.push_back(parent + ": both an ordinary event and a mega event");
    std::optional<CreateEvent> first;
    std::map<int32_t, int32_t> owner;  // partition -> slice
    int64_t stock = 0, issued = 0;
    for (const auto& [k, slice] : mega.slices) {
      const std::string at = slice_id(parent, k);
      if (slice.partitions.size() > 1) r.violations.push_back(at + ": decisions on more than one partition");
      for (int32_t p : slice.partitions) {
        auto [it, fresh] = owner.emplace(p, k);
        if (!fresh && it->second != k) {
          r.violations.push_back(at + ": shares partition " + std::to_string(p) + " with slice " +
                                 std::to_string(it->second));
        }
      }
      issued += slice.issued;
      if (!slice.spec) continue;
      const auto& spec = *slice.spec;
      if (!first) first = spec;
      if (spec.partitions != first->partitions || spec.total_stock != first->total_stock ||
          spec.per_user_limit != first->per_user_limit) {
        r.violations.push_back(at + ": partitions, total_stock or per_user_limit differ from the other slices'");
      }
      if (k >= spec.partitions)
        r.violations.push_back(at + ": slice number beyond partitions " + std::to_string(spec.partitions));
      if (!spec.total_stock || spec.stock != slice_stock(*spec.total_stock, spec.partitions, k)) {
        r.violations.push_back(at + ": stock " + std::to_string(spec.stock) + " is not its share of the total");
      }
      stock += spec.stock;
    }
    if (!first) continue;
    const int64_t total = first->total_stock.value_or(0);
    if (stock > total) r.violations.push_back(parent + ": the slices' stocks sum to more than the event's stock");
    if (issued > total)
      r.violations.push_back(parent + ": issued " + std::to_string(issued) + " beyond the stock " +
                             std::to_string(total));
  }
}

}  // namespace allot::topics
