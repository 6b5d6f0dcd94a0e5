#pragma once
// Every JSON body the API answers with besides errors: events, decided requests, pending claims, queue
// places. The pure ones are free functions; those that need the read side (a queue position, the event's
// admitted count, an admission token) are members of Views. Thread-safe (the read side is).
#include <string>

#include <nlohmann/json.hpp>

#include "ingress/admission.h"
#include "ingress/group_offsets.h"
#include "ingress/pending_claims.h"
#include "ingress/projections.h"

namespace allot::ingress::api {

// GET /api/events/{id} and each item of GET /api/events.
// With `baselines`, also what the seed experiment's v1 and v2 issued of it by their own accounting.
nlohmann::json event_json(const EventView& e, const BaselineCounts& baselines = {});
// A decided claim, confirm, cancel or admin command, from the projection or from the decision itself.
std::string decided_json(const ClaimView& c);
// GET /api/wallet.
nlohmann::json wallet_json(const WalletView& w);
// One entry of GET /api/events/{id}/ranking.
nlohmann::json rank_json(const RankEntry& e);

class Views {
 public:
  Views(const ProjectionReader& projections, const QueueOffsets& processors, const AdmissionTokens& tokens)
      : projections_(projections), processors_(processors), tokens_(tokens) {}
  // The 202 body of an accepted claim: its request id, pending, its queue position (and wait estimate).
  std::string accepted_body(const std::string& request_id, const PendingClaim& p) const;
  // A pending claim's status (GET /api/claims/{id} before its decision).
  std::string pending_body(const std::string& request_id, const PendingClaim& p) const;
  // A join as its user sees it: its status now (pre_queued, queued with ticket, position and an estimated
  // wait, admitted with an admission token), or the join's own outcome (closed, no_waiting_room, ...).
  std::string queue_body(ClaimView join) const;
  // A long poll's or a status read's answer: a join as queue_body, everything else as decided_json.
  std::string answer_body(const ClaimView& c) const;

 private:
  const ProjectionReader& projections_;
  const QueueOffsets& processors_;
  const AdmissionTokens& tokens_;
};

}  // namespace allot::ingress::api
