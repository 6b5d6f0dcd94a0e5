#pragma once
// Publishing commands and answering them: 202 once the broker has a command (503 when it cannot store
// it), a command fanned out to every slice of a mega event under one answer, and the long poll that
// answers with the decision itself when it comes within ?wait_ms. Every handler publishes through here,
// so the test points ("command:publishing", "command:published") and the in-flight gauge are in one place.
// Threads: called from Pistache's handlers; deliveries answer from the publisher's poll thread, long polls
// from the decision watch's threads.
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "ingress/api/drain_gate.h"
#include "ingress/api/request.h"
#include "ingress/api/views.h"
#include "ingress/decision_watch.h"
#include "ingress/pending_claims.h"
#include "ingress/publisher.h"

namespace allot::ingress::api {

class Commands {
 public:
  // The 202 body of a stored command, made from its position (and the moment to learn what it created).
  using Accepted = std::function<nlohmann::json(topics::CommandPosition)>;
  // A slice's command body, for slice k of a mega event.
  using SliceBody = std::function<decltype(topics::Command::body)(int32_t k)>;

  Commands(CommandPublisher& publisher, DecisionWatch* decisions, PendingClaims& pending, const Views& views,
           ApiProbe& probe, const DrainGate& gate, TestHook hook)
      : publisher_(publisher),
        decisions_(decisions),
        pending_(pending),
        views_(views),
        probe_(probe),
        gate_(gate),
        hook_(std::move(hook)) {}

  // Publishes `c` and answers 202 with accepted(position) once stored, 503 otherwise.
  void publish(const topics::Command& c, Reply r, Accepted accepted);
  // Publishes one command per slice k of `event_id` (request ids "<id>-<k>", each on its slice's
  // partition of `partitions`), answered 202 with accepted(first position) once all are stored.
  void publish_to_slices(const std::string& id, const std::string& event_id, int32_t slices, int32_t partitions,
                         const SliceBody& body, Reply r, Accepted accepted);
  // Publishes a command whose decision the client may wait for (claim, join, confirm, cancel, an admin
  // command): 202 with its queue position, or with wait_ms > 0 its decision (200) when that comes in time.
  // It is remembered as pending of `event_id` (the public one; a mega event's claim goes to a slice) and
  // `user_id` for GET /api/claims/{id}.
  void publish_awaited(const topics::Command& c, Reply r, std::string event_id, std::string user_id, int wait_ms,
                       int32_t partition = -1);
  // Answers `r` when `id` is decided (200), or once `wait_ms` from the request's start passed: with its
  // pending status (200) or, for a POST (pending_status 202), as accepted. The calling thread does not wait.
  void long_poll(Reply r, const std::string& id, const PendingClaim& p, int wait_ms, int pending_status);
  // Answers `r` with `id`'s decision when it comes (200), or once `wait_ms` from the request's start passed (or
  // when too many wait) with `known`, what is known of it now: an order the projection has as placed.
  void long_poll(Reply r, const std::string& id, const ClaimView& known, int wait_ms);
  // Whether long polls can be served (the ingress reads the decisions).
  bool can_wait() const { return decisions_ != nullptr; }

 private:
  class Stored;
  class Awaited;
  // Answers `r` undecided: at the deadline (full false) or when max waiters are open (full true).
  using Undecided = std::function<void(Reply& r, bool full)>;
  void await_decision(Reply r, const std::string& id, int wait_ms, const Undecided& undecided);
  void hook(std::string_view point) const {
    if (hook_) hook_(point);
  }
  CommandPublisher& publisher_;
  DecisionWatch* decisions_;
  PendingClaims& pending_;
  const Views& views_;
  ApiProbe& probe_;
  const DrainGate& gate_;
  TestHook hook_;
};

}  // namespace allot::ingress::api
