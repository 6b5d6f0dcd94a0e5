#include "topics/verify.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace allot::topics {

namespace {

struct EventTrack {
  std::optional<CreateEvent> spec;  // from the created decision
  int64_t created_at_offset = -1;
  std::vector<const Decision*> claims;
};

// The outcome the contract demands for the next claim of an event, given what was issued before it.
Outcome expected_outcome(const EventTrack& t, const Decision& d, int64_t issued, int64_t user_issued) {
  if (!t.spec || d.command.offset < t.created_at_offset) return Outcome::kUnknownEvent;
  const auto& spec = *t.spec;
  if (spec.opens_at && d.received_at < *spec.opens_at) return Outcome::kNotOpen;
  if (spec.closes_at && d.received_at >= *spec.closes_at) return Outcome::kClosed;
  if (user_issued >= spec.per_user_limit) return Outcome::kDuplicate;
  if (issued >= spec.stock) return Outcome::kSoldOut;
  return Outcome::kIssued;
}

// Promises 2, 3 and 4 for one event: walk its claims in partition order (one event lives on one
// partition) and compare every outcome and coupon_seq with the contract's.
void check_event(const std::string& event_id, EventTrack& t, VerifyReport& r) {
  std::sort(t.claims.begin(), t.claims.end(),
            [](const Decision* a, const Decision* b) { return a->command.offset < b->command.offset; });
  int64_t issued = 0;
  std::unordered_map<std::string, int64_t> per_user;
  for (const auto* d : t.claims) {
    const std::string at = event_id + " offset " + std::to_string(d->command.offset) + " (" + d->user_id + ")";
    Outcome want = expected_outcome(t, *d, issued, per_user[d->user_id]);
    if (d->outcome != want) {
      r.violations.push_back(at + ": " + std::string(to_string(d->outcome)) + ", the contract says " +
                             std::string(to_string(want)));
    }
    if (d->outcome == Outcome::kIssued) {
      ++issued;
      ++per_user[d->user_id];
      if (!d->coupon_seq || *d->coupon_seq != issued) {
        r.violations.push_back(at + ": coupon_seq " + (d->coupon_seq ? std::to_string(*d->coupon_seq) : "none") +
                               ", expected " + std::to_string(issued) + " (gap, repeat or out of order)");
      }
      if (t.spec && issued > t.spec->stock) r.violations.push_back(at + ": issued beyond the stock");
      if (t.spec && per_user[d->user_id] > t.spec->per_user_limit) {
        r.violations.push_back(at + ": user above per_user_limit");
      }
    } else if (d->coupon_seq) {
      r.violations.push_back(at + ": coupon_seq on a non-issued decision");
    }
  }
  r.issued += issued;
}

}  // namespace

VerifyReport verify(const VerifyInput& in) {
  VerifyReport r;
  r.commands = static_cast<int64_t>(in.commands.size());
  r.decisions = static_cast<int64_t>(in.decisions.size());

  // Promise 1: one decision per request id.
  std::unordered_map<std::string, int> decided;
  for (const auto& d : in.decisions) {
    ++r.outcomes[std::string(to_string(d.outcome))];
    if (++decided[d.request_id] == 2) r.violations.push_back("request " + d.request_id + ": more than one decision");
  }
  std::unordered_set<std::string> commanded;
  for (const auto& c : in.commands) {
    commanded.insert(c.command.request_id);
    if (!decided.count(c.command.request_id)) {
      r.violations.push_back("command " + c.command.request_id + " at " + std::to_string(c.position.partition) + "/" +
                             std::to_string(c.position.offset) + ": never decided");
    }
  }
  for (const auto& id : in.accepted) {
    if (!decided.count(id)) r.violations.push_back("request " + id + ": accepted (202) but never decided");
  }
  for (const auto& d : in.decisions) {
    if (!in.commands.empty() && !commanded.count(d.request_id)) {
      r.violations.push_back("decision for request " + d.request_id + " without a command");
    }
  }

  // Promises 2, 3, 4 per event.
  std::map<std::string, EventTrack> events;
  for (const auto& d : in.decisions) {
    auto& t = events[d.event_id];
    if (d.type == "create_event") {
      if (d.outcome == Outcome::kCreated) {
        if (t.spec) r.violations.push_back(d.event_id + ": created twice");
        t.spec = d.event;
        t.created_at_offset = d.command.offset;
      }
    } else {
      t.claims.push_back(&d);
    }
  }
  for (auto& [id, t] : events) {
    if (t.spec) ++r.events;
    check_event(id, t, r);
  }
  return r;
}

std::string VerifyReport::summary() const {
  std::string s = (ok() ? "OK" : "VIOLATED") + std::string(": commands=") + std::to_string(commands) +
                  " decisions=" + std::to_string(decisions) + " events=" + std::to_string(events) +
                  " coupons=" + std::to_string(issued) + " |";
  for (const auto& [o, n] : outcomes) s += " " + o + "=" + std::to_string(n);
  s += " violations=" + std::to_string(violations.size());
  for (size_t i = 0; i < violations.size() && i < 20; ++i) s += "\n  " + violations[i];
  return s;
}

}  // namespace allot::topics
