#include "topics/verify.h"

#include <algorithm>
#include <climits>

#include <set>
#include <unordered_map>
#include <unordered_set>
#include "topics/draw.h"
#include "topics/verify_orders.h"
#include "topics/verify_slices.h"
#include "topics/verify_wallets.h"

namespace allot::topics {

namespace {

struct EventTrack {
  std::optional<CreateEvent> spec;  // from the created decision
  int64_t created_at_offset = -1;
  int64_t created_received_at = 0;
  std::vector<const Decision*> decisions;  // every other decision about the event, caused ones included
  // The waiting room: the offset at which each user was admitted (check_waiting_room fills it).
  std::unordered_map<std::string, int64_t> admitted_at;
};

// Whether a claim at `d` comes from a user the waiting room admitted before it (or there is no room).
bool admitted_before(const EventTrack& t, const Decision& d) {
  if (!t.spec || t.spec->admit_per_s == 0) return true;
  auto it = t.admitted_at.find(d.user_id);
  return it != t.admitted_at.end() && it->second <= d.command.offset;
}

// The received_at of every tick on each partition, in offset order: ticks move stream time without a
// decision of their own.
using TickTimes = std::map<int32_t, std::vector<std::pair<int64_t, int64_t>>>;  // partition -> (offset, received_at)

std::string where(const std::string& event_id, const Decision& d) {
  return event_id + " offset " + std::to_string(d.command.offset) + " (" + d.type + " " + d.request_id +
         (d.user_id.empty() ? "" : " by " + d.user_id) + ")";
}

void expect_outcome(const std::string& event_id, const Decision& d, Outcome want, VerifyReport& r) {
  if (d.outcome != want) {
    r.violations.push_back(where(event_id, d) + ": " + std::string(to_string(d.outcome)) + ", the contract says " +
                           std::string(to_string(want)));
  }
}

// A decision about an event before its creation must be unknown_event; true when `d` was one (checked).
bool before_creation(const std::string& event_id, const EventTrack& t, const Decision& d, VerifyReport& r) {
  if (t.spec && d.command.offset >= t.created_at_offset) return false;
  expect_outcome(event_id, d, Outcome::kUnknownEvent, r);
  return true;
}

// delete_event: the first that deleted the event ends its history. Every later command about the event
// is answered deleted (a delete already_deleted); the decisions before it go to the mode's check, whose
// promises hold up to the delete. A delete before the creation was unknown_event like any command.
void split_at_delete(const std::string& event_id, EventTrack& t, VerifyReport& r) {
  auto del = std::find_if(t.decisions.begin(), t.decisions.end(), [&](const Decision* d) {
    return d->type == decision_type::kDeleteEvent && t.spec && d->command.offset >= t.created_at_offset;
  });
  for (auto it = t.decisions.begin(); it != del; ++it) {
    if ((*it)->type == decision_type::kDeleteEvent) expect_outcome(event_id, **it, Outcome::kUnknownEvent, r);
  }
  if (del == t.decisions.end()) {
    std::erase_if(t.decisions, [](const Decision* d) { return d->type == decision_type::kDeleteEvent; });
    return;
  }
  expect_outcome(event_id, **del, Outcome::kDeleted, r);
  for (auto it = del + 1; it != t.decisions.end(); ++it) {
    if (is_caused(**it)) {
      r.violations.push_back(where(event_id, **it) + ": decided after the event was deleted");
    } else {
      const bool again = (*it)->type == decision_type::kDeleteEvent;
      expect_outcome(event_id, **it, again ? Outcome::kAlreadyDeleted : Outcome::kDeleted, r);
    }
  }
  t.decisions.erase(del, t.decisions.end());
  std::erase_if(t.decisions, [](const Decision* d) { return d->type == decision_type::kDeleteEvent; });
  ++r.deleted_events;
}

// The claim's window (and an explicit close) come first in every mode.
std::optional<Outcome> window_outcome(const CreateEvent& spec, const Decision& d, bool closed) {
  if (spec.opens_at && d.received_at < *spec.opens_at) return Outcome::kNotOpen;
  if ((spec.closes_at && d.received_at >= *spec.closes_at) || closed) return Outcome::kClosed;
  return std::nullopt;
}

// The close_event outcome when the event is not a raffle that draws now.
Outcome close_outcome(bool& closed) {
  if (closed) return Outcome::kAlreadyClosed;
  closed = true;
  return Outcome::kClosed;
}

// First come, first served (promises 2, 3 and 4): walk the event's decisions in partition order (one
// event lives on one partition) and compare every outcome and coupon_seq with the contract's.
// A claim that names a seat on an event without a seat map (README "Seats") is unknown_seat where it would
// have taken a unit.
Outcome unless_seat_named(Outcome want, const Decision& d) {
  const bool takes = want == Outcome::kIssued || want == Outcome::kEntered;
  return takes && !d.seat.empty() ? Outcome::kUnknownSeat : want;
}

void check_fcfs(const std::string& event_id, const EventTrack& t, VerifyReport& r) {
  int64_t issued = 0;
  bool closed = false;
  std::unordered_map<std::string, int64_t> per_user;
  for (const auto* d : t.decisions) {
    const std::string at = where(event_id, *d);
    if (before_creation(event_id, t, *d, r)) continue;
    const auto& spec = *t.spec;
    if (d->type == decision_type::kCloseEvent) {
      expect_outcome(event_id, *d, close_outcome(closed), r);
      continue;
    }
    if (d->type != decision_type::kClaim) {  // confirm / cancel hold nothing here
      const bool hold_action = d->type == decision_type::kConfirm || d->type == decision_type::kCancel;
      expect_outcome(event_id, *d, hold_action ? Outcome::kNotHeld : Outcome::kUnknownEvent, r);
      continue;
    }
    Outcome want = window_outcome(spec, *d, closed)
                       .value_or(!admitted_before(t, *d)                       ? Outcome::kNotAdmitted
                                 : per_user[d->user_id] >= spec.per_user_limit ? Outcome::kDuplicate
                                 : issued >= spec.stock                        ? Outcome::kSoldOut
                                                                               : Outcome::kIssued);
    expect_outcome(event_id, *d, unless_seat_named(want, *d), r);
    if (d->outcome == Outcome::kIssued) {
      ++issued;
      ++per_user[d->user_id];
      if (!d->coupon_seq || *d->coupon_seq != issued) {
        r.violations.push_back(at + ": coupon_seq " + (d->coupon_seq ? std::to_string(*d->coupon_seq) : "none") +
                               ", expected " + std::to_string(issued) + " (gap, repeat or out of order)");
      }
      if (issued > spec.stock) r.violations.push_back(at + ": issued beyond the stock");
      if (per_user[d->user_id] > spec.per_user_limit) r.violations.push_back(at + ": user above per_user_limit");
    } else if (d->coupon_seq) {
      r.violations.push_back(at + ": coupon_seq on a non-issued decision");
    }
  }
  r.issued += issued;
}

// A sale event's own commands (its units are reserved and sold by orders: check_orders): a claim is
// order_only, a close closes it once, confirm and cancel hold nothing.
void check_sale(const std::string& event_id, const EventTrack& t, VerifyReport& r) {
  bool closed = false;
  for (const auto* d : t.decisions) {
    if (before_creation(event_id, t, *d, r)) continue;
    if (d->type == decision_type::kCloseEvent) {
      expect_outcome(event_id, *d, close_outcome(closed), r);
    } else if (d->type == decision_type::kClaim) {
      expect_outcome(event_id, *d, Outcome::kOrderOnly, r);
    } else {
      const bool hold_action = d->type == decision_type::kConfirm || d->type == decision_type::kCancel;
      expect_outcome(event_id, *d, hold_action ? Outcome::kNotHeld : Outcome::kUnknownEvent, r);
    }
  }
}

// Holds: a model of live holds replayed in partition order. At any offset held + issued <= stock;
// every hold ends at most once (confirmed, cancelled or expired), only by its holder, and expires
// exactly when the event's stream time (the latest received_at) reaches its expiry; confirmed holds
// get coupon_seq 1..issued. On a seated event (README "Seats") one seat has one holder: a claim holds a
// free seat of the map, an order line takes over its user's own live hold (which then does not expire) and
// ends it sold (confirmed) or gives it back; every seat refusal is true when given.
void check_hold(const std::string& event_id, const EventTrack& t, const TickTimes& ticks, VerifyReport& r) {
  struct Live {
    std::string user_id;
    int64_t expires_at;
    std::string seat{};
    bool reserved = false;  // an order is paying for it
  };
  const auto& seat_map = t.spec ? t.spec->seats : std::vector<std::string>{};
  const std::set<std::string> seats(seat_map.begin(), seat_map.end());
  std::map<std::string, std::string> taken;           // seat -> the claim holding it (live) or that bought it
  std::map<std::string, int64_t> expired_reserved;    // claim -> the offset a given-back hold expired at
  std::map<std::string, Live> live;                   // claim request id -> hold
  std::map<std::string, Live> ended;                  // claim request id -> its holder; expires_at 0 unless it expired
  std::unordered_map<std::string, int64_t> per_user;  // live holds + confirmed
  int64_t issued = 0, stream_time = t.created_received_at;  // the processor's starts at the creation
  bool closed = false;
  // The ticks of the event's partition move its stream time while it waits for time: from its first hold
  // on, until the first tick after which it holds none (that tick still moves it). So a claim decided after
  // such a tick, though stamped before it (another ingress thread), is held until the tick's time + hold_ms.
  const std::vector<std::pair<int64_t, int64_t>>* partition_ticks = nullptr;
  if (!t.decisions.empty()) {
    if (auto tk = ticks.find(t.decisions.front()->command.partition); tk != ticks.end()) partition_ticks = &tk->second;
  }
  size_t next_tick = 0;
  bool waits_for_ticks = false;
  int64_t tick_to_settle = -1;  // a tick whose decisions (expiries) decide whether the event still waits
  auto catch_up_ticks = [&](int64_t offset) {
    for (;;) {
      if (tick_to_settle >= 0 && tick_to_settle < offset) {
        if (live.empty()) waits_for_ticks = false;
        tick_to_settle = -1;
      }
      if (!partition_ticks || next_tick >= partition_ticks->size() || (*partition_ticks)[next_tick].first > offset) {
        return;
      }
      if (waits_for_ticks) {
        stream_time = std::max(stream_time, (*partition_ticks)[next_tick].second);
        tick_to_settle = (*partition_ticks)[next_tick].first;
      }
      ++next_tick;
    }
  };
  for (size_t i = 0; i < t.decisions.size(); ++i) {
    const Decision& d = *t.decisions[i];
    const std::string at = where(event_id, d);
    if (before_creation(event_id, t, d, r)) continue;
    const auto& spec = *t.spec;
    catch_up_ticks(d.command.offset);
    stream_time = std::max(stream_time, d.received_at);
    if (d.type == decision_type::kHoldExpired) {
      auto it = live.find(d.request_id);
      if (it == live.end()) {
        r.violations.push_back(at + ": expired a hold that is not live (ended twice, or never held)");
        continue;
      }
      if (it->second.reserved) {
        // Given back by a failed order past its expiry: it ends at once, stamped with the order's time. Only
        // at that release, and only past its expiry by the partition's stream time, which ticks the event's
        // decisions do not show also move.
        expired_reserved[d.request_id] = d.command.offset;
        const bool at_release = std::any_of(
            t.decisions.begin() + static_cast<std::ptrdiff_t>(i), t.decisions.end(), [&](const Decision* e) {
              return e->command.offset == d.command.offset && e->type == decision_type::kRelease &&
                     e->claim_request_id == d.request_id;
            });
        int64_t partition_time = stream_time;
        if (auto tk = ticks.find(d.command.partition); tk != ticks.end()) {
          for (const auto& [offset, at_ms] : tk->second) {
            if (offset < d.command.offset) partition_time = std::max(partition_time, at_ms);
          }
        }
        if (!at_release) r.violations.push_back(at + ": an order's hold expired without its release");
        if (it->second.expires_at > partition_time) r.violations.push_back(at + ": given back and expired early");
      } else if (it->second.expires_at > stream_time) {
        r.violations.push_back(at + ": expired before its expiry");
      }
      taken.erase(it->second.seat);
      --per_user[it->second.user_id];
      ended[d.request_id] = it->second;
      live.erase(it);
      continue;
    }
    // Before a command of the event is judged, every hold whose expiry stream time reached has ended.
    for (const auto& [id, h] : live) {
      if (!h.reserved && h.expires_at <= stream_time) {
        r.violations.push_back(at + ": hold " + id + " outlived its expiry");
      }
    }
    if (d.type == decision_type::kCloseEvent) {
      expect_outcome(event_id, d, close_outcome(closed), r);
    } else if (d.type == decision_type::kClaim) {
      const auto held = static_cast<int64_t>(live.size());
      Outcome want = window_outcome(spec, d, closed)
                         .value_or(!admitted_before(t, d)                       ? Outcome::kNotAdmitted
                                   : per_user[d.user_id] >= spec.per_user_limit ? Outcome::kDuplicate
                                   : issued + held >= spec.stock                ? Outcome::kSoldOut
                                                                                : Outcome::kHeld);
      if (want == Outcome::kHeld && (spec.seated() || !d.seat.empty())) {
        want = !spec.seated() && !d.seat.empty() ? Outcome::kUnknownSeat
               : d.seat.empty()                  ? Outcome::kSeatRequired
               : !seats.count(d.seat)            ? Outcome::kUnknownSeat
               : taken.count(d.seat)             ? Outcome::kSeatTaken
                                                 : Outcome::kHeld;
      }
      expect_outcome(event_id, d, want, r);
      if (d.outcome == Outcome::kHeld) {
        if (!d.hold_expires_at || *d.hold_expires_at != stream_time + spec.hold_ms) {
          r.violations.push_back(at + ": held without the expiry stream time + hold_ms");
        }
        live[d.request_id] = {d.user_id, d.hold_expires_at.value_or(0), d.seat};
        waits_for_ticks = true;
        if (!d.seat.empty()) {
          if (taken.count(d.seat)) r.violations.push_back(at + ": seat " + d.seat + " held twice");
          taken[d.seat] = d.request_id;
        }
        ++per_user[d.user_id];
      }
    } else if (d.type == decision_type::kReserve) {
      // An order line on a seat: the user's own live hold, or a true refusal.
      auto holder = taken.find(d.seat);
      auto hold = holder == taken.end() ? live.end() : live.find(holder->second);
      const bool own = hold != live.end() && hold->second.user_id == d.user_id && !hold->second.reserved;
      const Outcome want = !spec.seated() || !seats.count(d.seat) ? Outcome::kUnknownSeat
                           : spec.price == 0                      ? Outcome::kNotForSale
                           : holder == taken.end()                ? Outcome::kNotHeld
                           : own                                  ? Outcome::kReserved
                                                                  : Outcome::kSeatTaken;
      expect_outcome(event_id, d, want, r);
      if (d.outcome == Outcome::kReserved && own) {
        hold->second.reserved = true;
        if (d.claim_request_id != holder->second) r.violations.push_back(at + ": reserved another claim's hold");
        if (d.amount != spec.price) r.violations.push_back(at + ": a seat's amount is not its price");
      }
    } else if (d.type == decision_type::kFinalize || d.type == decision_type::kRelease) {
      auto it = live.find(d.claim_request_id);
      const bool ends = d.outcome == Outcome::kSold || d.outcome == Outcome::kReleased;
      if (ends && it != live.end() && it->second.reserved && it->second.seat == d.seat) {
        if (d.outcome == Outcome::kSold) {
          ++issued;
          if (d.coupon_seq != issued) r.violations.push_back(at + ": coupon_seq not the next in 1..issued");
          ended[d.claim_request_id] = {it->second.user_id, 0};
          live.erase(it);
        } else {
          it->second.reserved = false;  // back to its holder, with its expiry
        }
      } else if (ends && !(d.outcome == Outcome::kReleased && expired_reserved.count(d.claim_request_id) &&
                           expired_reserved[d.claim_request_id] == d.command.offset)) {
        r.violations.push_back(at + ": ends seat " + d.seat + " that no order reserved");
      }
    } else if (d.type == decision_type::kConfirm || d.type == decision_type::kCancel) {
      auto it = live.find(d.claim_request_id);
      auto gone = ended.find(d.claim_request_id);
      Outcome want = Outcome::kNotHeld;
      if (it != live.end()) {
        const bool paid_seat = !it->second.seat.empty() && spec.price > 0;
        want = it->second.user_id != d.user_id     ? Outcome::kNotYours
               : it->second.reserved               ? Outcome::kReserved
               : d.type != decision_type::kConfirm ? Outcome::kCancelled
               : paid_seat                         ? Outcome::kOrderOnly
                                                   : Outcome::kConfirmed;
      } else if (gone != ended.end()) {  // the holder learns how it ended; anyone else that it is not theirs
        want = gone->second.user_id != d.user_id ? Outcome::kNotYours
               : gone->second.expires_at         ? Outcome::kExpired
                                                 : Outcome::kAlreadyEnded;
      }
      expect_outcome(event_id, d, want, r);
      if (it != live.end() && (d.outcome == Outcome::kConfirmed || d.outcome == Outcome::kCancelled)) {
        if (d.outcome == Outcome::kConfirmed) {
          ++issued;
          if (d.coupon_seq != issued) r.violations.push_back(at + ": coupon_seq not the next in 1..issued");
        } else {
          --per_user[it->second.user_id];
          taken.erase(it->second.seat);
        }
        ended[d.claim_request_id] = {it->second.user_id, 0};
        live.erase(it);
      }
    }
    if (issued + static_cast<int64_t>(live.size()) > spec.stock) {
      r.violations.push_back(at + ": held + issued above the stock");
    }
  }
  r.issued += issued;
  r.live_holds += static_cast<int64_t>(live.size());
}

bool is_waiting_room_decision(const Decision& d) {
  return d.type == decision_type::kJoin || d.type == decision_type::kQueueTicket || d.type == decision_type::kAdmission;
}

// The waiting room (README "Waiting room"), walked in partition order; its decisions then leave the
// track, so the mode's check sees claims only. Promises: one place per user; joins before the opening
// are pre-queued and, at the opening, get tickets 1..n in exactly the order topics/draw.h gives for the
// opening command's position (re-derived here); later joins get the next ticket; admission follows the
// tickets, each once, and by stream time T at most admit_per_s x (whole seconds since the opening + 1)
// are admitted. Stream time here also counts the partition's ticks, so it is never behind the
// processor's and the rate bound never accuses a correct processor.
void check_waiting_room(const std::string& event_id, EventTrack& t, const TickTimes& ticks, VerifyReport& r) {
  std::vector<const Decision*> room;
  std::erase_if(t.decisions, [&](const Decision* d) {
    if (!is_waiting_room_decision(*d)) return false;
    room.push_back(d);
    return true;
  });
  if (room.empty()) return;
  const int64_t rate = t.spec ? t.spec->admit_per_s : 0;
  std::vector<const Decision*> prequeue;               // pre_queued joins, in partition order
  std::unordered_map<std::string, int64_t> ticket_of;  // user -> ticket (0 while pre-queued)
  std::vector<std::string> line;                       // line[ticket - 1] = user
  std::optional<int64_t> opened_at_offset;
  int64_t stream_time = t.created_received_at, admitted = 0;
  size_t next_tick = 0;
  // The first close_event's offset: joins after it are closed.
  int64_t closed_from = INT64_MAX;
  for (const auto* o : t.decisions) {
    if (o->type == decision_type::kCloseEvent) closed_from = std::min(closed_from, o->command.offset);
  }
  auto open = [&] { return t.spec && (!t.spec->opens_at || stream_time >= *t.spec->opens_at); };
  for (const auto* d : room) {
    const std::string at = where(event_id, *d);
    if (before_creation(event_id, t, *d, r)) continue;
    if (rate == 0) {
      if (d->type == decision_type::kJoin) {
        expect_outcome(event_id, *d, Outcome::kNoWaitingRoom, r);
      } else {
        r.violations.push_back(at + ": a waiting room decision for an event without one");
      }
      continue;
    }
    if (auto it = ticks.find(d->command.partition); it != ticks.end()) {
      while (next_tick < it->second.size() && it->second[next_tick].first <= d->command.offset) {
        stream_time = std::max(stream_time, it->second[next_tick++].second);
      }
    }
    stream_time = std::max(stream_time, d->received_at);
    const bool closed = d->command.offset > closed_from;
    if (d->type == decision_type::kQueueTicket) {
      if (opened_at_offset && *opened_at_offset != d->command.offset) r.violations.push_back(at + ": a second opening");
      opened_at_offset = d->command.offset;
      auto it = ticket_of.find(d->user_id);
      if (it == ticket_of.end() || it->second != 0 || !d->ticket) {
        r.violations.push_back(at + ": a ticket for a user not pre-queued (or a second one)");
        continue;
      }
      it->second = *d->ticket;
      if (line.size() < static_cast<size_t>(*d->ticket)) line.resize(static_cast<size_t>(*d->ticket));
      line[static_cast<size_t>(*d->ticket) - 1] = d->user_id;
      continue;
    }
    const bool join = d->type == decision_type::kJoin;
    if (d->type == decision_type::kAdmission || (join && d->outcome == Outcome::kAdmitted)) {
      if (join) {
        if (ticket_of.count(d->user_id)) r.violations.push_back(at + ": a second place in line");
        line.push_back(d->user_id);
        ticket_of[d->user_id] = static_cast<int64_t>(line.size());
        if (d->ticket != static_cast<int64_t>(line.size())) r.violations.push_back(at + ": not the next ticket");
      }
      ++admitted;
      if (!d->ticket || *d->ticket != admitted || ticket_of[d->user_id] != admitted) {
        r.violations.push_back(at + ": admitted out of ticket order (expected ticket " + std::to_string(admitted) +
                               ")");
      }
      if (!t.admitted_at.emplace(d->user_id, d->command.offset).second) r.violations.push_back(at + ": admitted twice");
      const int64_t start = t.spec->opens_at.value_or(t.created_received_at);
      const int64_t allowed = rate * ((stream_time - start) / 1000 + 1);
      if (stream_time < start || admitted > allowed) {
        r.violations.push_back(at + ": admitted above admit_per_s (" + std::to_string(admitted) + " by stream time " +
                               std::to_string(stream_time) + ", at most " + std::to_string(allowed) + ")");
      }
      continue;
    }
    // A join answered otherwise.
    Outcome want = Outcome::kQueued;
    if (auto it = ticket_of.find(d->user_id); it != ticket_of.end()) {
      want = Outcome::kAlreadyQueued;
      if (it->second != d->ticket.value_or(0)) r.violations.push_back(at + ": told another place than its first join");
    } else if (closed || (t.spec->closes_at && d->received_at >= *t.spec->closes_at)) {
      want = Outcome::kClosed;
    } else if (!open()) {
      want = Outcome::kPreQueued;
      prequeue.push_back(d);
      ticket_of[d->user_id] = 0;
    } else {
      line.push_back(d->user_id);
      ticket_of[d->user_id] = static_cast<int64_t>(line.size());
      if (d->ticket != static_cast<int64_t>(line.size())) r.violations.push_back(at + ": not the next ticket");
    }
    expect_outcome(event_id, *d, want, r);
    if (d->outcome == Outcome::kPreQueued) continue;
    // The opening handed out the pre-queue's tickets before any later join's.
    if (want == Outcome::kQueued && line.size() == 1 && !prequeue.empty() && !opened_at_offset) {
      r.violations.push_back(at + ": queued before the pre-queue got its tickets");
    }
  }
  if (prequeue.empty()) return;
  if (!opened_at_offset) {
    if (open()) r.violations.push_back(event_id + ": opened without shuffling its pre-queue");
    return;
  }
  // The shuffle, re-derived from the opening command's position alone.
  auto order = draw_winners(draw_seed(event_id, {prequeue.front()->command.partition, *opened_at_offset}),
                            static_cast<int64_t>(prequeue.size()), static_cast<int64_t>(prequeue.size()));
  auto& shuffled = r.shuffles[event_id];
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& user = prequeue[static_cast<size_t>(order[i])]->user_id;
    shuffled.push_back(user);
    if (ticket_of[user] != static_cast<int64_t>(i) + 1) {
      r.violations.push_back(event_id + ": " + user + " got ticket " + std::to_string(ticket_of[user]) +
                             ", the shuffle re-derived from the log says " + std::to_string(i + 1));
    }
  }
}

// Raffles: one entry per user inside the window; one draw, at close_event or at the first command at
// or past closes_at, whose winners are exactly what topics/draw.h gives for this event, the draw's
// position and the entries in partition order; every entry learns won or lost once.
void check_raffle(const std::string& event_id, const EventTrack& t, VerifyReport& r) {
  std::vector<const Decision*> entries;
  std::unordered_set<std::string> entered_users;
  std::optional<CommandPosition> drawn_at;
  std::map<std::string, const Decision*> results;  // entry request id -> its draw result
  bool closed = false;
  for (const auto* d : t.decisions) {
    const std::string at = where(event_id, *d);
    if (before_creation(event_id, t, *d, r)) continue;
    const auto& spec = *t.spec;
    if (d->type == decision_type::kDrawResult) {
      if (drawn_at && drawn_at->offset != d->command.offset) r.violations.push_back(at + ": a second draw");
      if (!drawn_at && d->received_at < *spec.closes_at) {
        // Only close_event may draw before closes_at; its own decision follows at the same offset.
        auto own = std::find_if(t.decisions.begin(), t.decisions.end(), [&](const Decision* o) {
          return o->command.offset == d->command.offset && o->type == decision_type::kCloseEvent;
        });
        if (own == t.decisions.end()) r.violations.push_back(at + ": drawn before closes_at without close_event");
      }
      drawn_at = d->command;
      closed = true;
      if (!results.emplace(d->request_id, d).second) r.violations.push_back(at + ": entry drawn twice");
      continue;
    }
    if (d->type == decision_type::kCloseEvent) {
      // A close that drew answers drawn; the draw's results share its offset.
      if (drawn_at && drawn_at->offset == d->command.offset) {
        expect_outcome(event_id, *d, Outcome::kDrawn, r);
        if (d->entries != static_cast<int64_t>(entries.size())) r.violations.push_back(at + ": entries count differs");
      } else {
        expect_outcome(event_id, *d, closed ? Outcome::kAlreadyClosed : Outcome::kDrawn, r);
        closed = true;
      }
      continue;
    }
    if (d->type != decision_type::kClaim) {
      expect_outcome(event_id, *d, Outcome::kNotHeld, r);
      continue;
    }
    Outcome want = window_outcome(spec, *d, closed)
                       .value_or(entered_users.count(d->user_id) ? Outcome::kDuplicate : Outcome::kEntered);
    expect_outcome(event_id, *d, unless_seat_named(want, *d), r);
    if (d->outcome == Outcome::kEntered) {
      entries.push_back(d);
      entered_users.insert(d->user_id);
    }
  }
  if (!drawn_at) return;  // not drawn yet: nothing more to check
  const auto& spec = *t.spec;
  auto winners = draw_winners(draw_seed(event_id, *drawn_at), static_cast<int64_t>(entries.size()), spec.stock);
  auto& drawn = r.draws[event_id];
  for (size_t rank = 0; rank < winners.size(); ++rank) {
    drawn.push_back(entries[static_cast<size_t>(winners[rank])]->user_id);
  }
  std::vector<int64_t> want_rank(entries.size(), 0);
  for (size_t rank = 0; rank < winners.size(); ++rank)
    want_rank[static_cast<size_t>(winners[rank])] = static_cast<int64_t>(rank) + 1;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto it = results.find(entries[i]->request_id);
    if (it == results.end()) {
      r.violations.push_back(event_id + ": entry " + entries[i]->request_id + " got no draw result");
      continue;
    }
    const Decision& res = *it->second;
    const bool won = want_rank[i] > 0;
    if (res.outcome != (won ? Outcome::kWon : Outcome::kLost) || (won && res.coupon_seq != want_rank[i]) ||
        res.user_id != entries[i]->user_id) {
      r.violations.push_back(where(event_id, res) + ": the draw re-derived from the log says " +
                             (won ? "won rank " + std::to_string(want_rank[i]) : std::string("lost")));
    }
    results.erase(it);
  }
  for (const auto& [id, res] : results) r.violations.push_back(where(event_id, *res) + ": draw result for no entry");
  r.issued += static_cast<int64_t>(winners.size());
}

}  // namespace

VerifyReport verify(const VerifyInput& in) {
  VerifyReport r;
  r.commands = static_cast<int64_t>(in.commands.size());
  r.decisions = static_cast<int64_t>(in.decisions.size());

  // Promise 1: one decision per request id (the decisions a later command caused are not answers).
  std::unordered_map<std::string, int> decided;
  for (const auto& d : in.decisions) {
    ++r.outcomes[std::string(to_string(d.outcome))];
    if (is_caused(d)) continue;
    if (++decided[d.request_id] == 2) r.violations.push_back("request " + d.request_id + ": more than one decision");
  }
  std::unordered_set<std::string> commanded;
  for (const auto& c : in.commands) {
    commanded.insert(c.command.request_id);
    if (std::holds_alternative<Tick>(c.command.body)) continue;  // ticks have no decision of their own
    if (!decided.count(c.command.request_id)) {
      r.violations.push_back("command " + c.command.request_id + " at " + std::to_string(c.position.partition) + "/" +
                             std::to_string(c.position.offset) + ": never decided");
    }
  }
  for (const auto& id : in.accepted) {
    if (!decided.count(id)) r.violations.push_back("request " + id + ": accepted (202) but never decided");
  }
  for (const auto& d : in.decisions) {
    if (!in.commands.empty() && !is_caused(d) && !commanded.count(d.request_id)) {
      r.violations.push_back("decision for request " + d.request_id + " without a command");
    }
  }

  TickTimes ticks;
  for (const auto& c : in.commands) {
    if (std::holds_alternative<Tick>(c.command.body)) {
      ticks[c.position.partition].emplace_back(c.position.offset, c.command.received_at);
    }
  }
  for (auto& [partition, times] : ticks) std::sort(times.begin(), times.end());

  // Promises 2, 3, 4 per event.
  std::map<std::string, EventTrack> events;
  std::vector<const Decision*> seat_steps;  // an order's steps on a seat
  for (const auto& d : in.decisions) {
    if (is_wallet_decision(d) || is_order_step_type(d.type)) {  // check_wallets, check_orders
      if (!d.seat.empty()) seat_steps.push_back(&d);            // and a hold event's own (check_hold)
      continue;
    }
    auto& t = events[d.event_id];
    if (d.type == decision_type::kCreateEvent) {
      if (d.outcome == Outcome::kCreated) {
        if (t.spec) r.violations.push_back(d.event_id + ": created twice");
        t.spec = d.event;
        t.created_at_offset = d.command.offset;
        t.created_received_at = d.received_at;
      }
    } else {
      t.decisions.push_back(&d);
    }
  }
  for (const auto* d : seat_steps) {
    // A hold event's seat, taken over by an order line and ended by its finalize or release (check_hold);
    // on any other event a seat's line is refused unknown_seat (check_orders judges it as a step).
    auto it = events.find(d->event_id);
    if (it != events.end() && it->second.spec && it->second.spec->mode == EventMode::kHold) {
      it->second.decisions.push_back(d);
    }
  }
  for (auto& [id, t] : events) {
    // Partition order; at one offset what the command caused (expiries, a draw) came before its answer.
    std::stable_sort(t.decisions.begin(), t.decisions.end(), [](const Decision* a, const Decision* b) {
      if (a->command.offset != b->command.offset) return a->command.offset < b->command.offset;
      return is_caused(*a) && !is_caused(*b);
    });
    if (t.spec) ++r.events;
    split_at_delete(id, t, r);
    check_waiting_room(id, t, ticks, r);
    switch (t.spec ? t.spec->mode : EventMode::kFcfs) {
      case EventMode::kFcfs:
        check_fcfs(id, t, r);
        break;
      case EventMode::kHold:
        check_hold(id, t, ticks, r);
        break;
      case EventMode::kRaffle:
        check_raffle(id, t, r);
        break;
      case EventMode::kSale:
        check_sale(id, t, r);
        break;
    }
  }
  check_slices(in.decisions, r);  // mega events as a whole
  check_wallets(in, r);
  check_rewards(in, r);
  check_orders(in, r);
  return r;
}

std::string VerifyReport::summary() const {
  std::string s =
      (ok() ? "OK" : "VIOLATED") + std::string(": commands=") + std::to_string(commands) +
      " decisions=" + std::to_string(decisions) + " events=" + std::to_string(events) +
      " coupons=" + std::to_string(issued) +
      (deleted_events ? " deleted_events=" + std::to_string(deleted_events) : "") +
      (mega_events ? " mega_events=" + std::to_string(mega_events) : "") +
      (live_holds ? " live_holds=" + std::to_string(live_holds) : "") +
      (wallets ? " wallets=" + std::to_string(wallets) + " money_credited=" + std::to_string(money_credited) +
                     " money_held=" + std::to_string(money_held)
               : "") +
      (rewards ? " rewards=" + std::to_string(rewards) : "") +
      (orders ? " orders=" + std::to_string(orders) + " paid=" + std::to_string(orders_paid) +
                    " failed=" + std::to_string(orders_failed) + " open=" + std::to_string(orders_open) +
                    " units_sold=" + std::to_string(units_sold) + " money_paid=" + std::to_string(money_paid) +
                    " money_refunded=" + std::to_string(money_refunded)
              : "") +
      " |";
  for (const auto& [o, n] : outcomes) s += " " + o + "=" + std::to_string(n);
  s += " violations=" + std::to_string(violations.size());
  for (size_t i = 0; i < violations.size() && i < 20; ++i) s += "\n  " + violations[i];
  return s;
}

}  // namespace allot::topics
