#pragma once
// The HTTP API without HTTP: every resource's handlers over plain requests (api/request.h), wired to the
// publisher and the read side through interfaces, so their 4xx rules are unit-tested with fakes. The
// HTTP server (ingress/http/) serves the route table; ingress/server.h owns both and the drain.
// One file per resource: events.cc, claims.cc, queue.cc, baselines.cc, ops.cc, sign_in.cc, wallet.cc.
#include <memory>
#include <string>
#include <vector>

#include "common/identity/identity.h"
#include "common/metrics.h"
#include "ingress/api/drain_gate.h"
#include "ingress/api/request.h"
#include "ingress/baselines.h"
#include "ingress/decision_watch.h"
#include "ingress/group_offsets.h"
#include "ingress/projections.h"
#include "ingress/publisher.h"

namespace allot::ingress {

// What the API reads from besides its own state.
struct ReadSide {
  const ProjectionReader& projections;    // Redis projection (events, claims, rankings)
  const QueueOffsets& processor_offsets;  // group allot-processor on allot.commands: queue positions
  const QueueOffsets& sink_offsets;       // group allot-sink-redis on allot.decisions: is the projection caught up
  DecisionWatch* decisions = nullptr;     // wakes long polls; null: ?wait_ms= is validated but answers at once
};

struct ApiOptions {
  size_t max_body_bytes = 4096;                // larger claim/event bodies get 413
  std::string admin_token;                     // empty: admin endpoints always answer 401
  size_t pending_capacity = 1'000'000;         // accepted claims remembered for GET /api/claims/{id}
  double user_rate = 20, user_burst = 40;      // claims per second per user id (0: no limit)
  double address_rate = 0, address_burst = 0;  // claims per second per client address (0: no limit)
  std::vector<std::string> trusted_proxies;    // peers whose X-Forwarded-For names the client (api/checks.h)
  int max_wait_ms = 30'000;                    // cap of ?wait_ms= (long poll); larger values get 400
  std::string admission_key;                   // signs waiting-room admission tokens (ingress/admission.h)
  int64_t admission_ttl_ms = 600'000;          // how long an admission token lets its user claim
  int64_t pow_ttl_ms = 300'000;                // how long a proof-of-work challenge may be solved
  // Who the user is: the keys and claims bearer JWTs are verified with (README "Who is the user").
  identity::Settings identity;
  // POST /api/dev/login signs anyone in by name with the HS256 secret: for the demo only (ALLOT_DEV_LOGIN).
  bool dev_login = false;
  // The payment provider's callback secret (ALLOT_PAYMENT_WEBHOOK_SECRET; ingress/payment_signature.h);
  // empty: only the admin charges wallets.
  std::string payment_webhook_secret;
  // Bench only (ALLOT_BENCH_TRUST_BODY_USER): the body's user_id is believed and anyone reads any claim,
  // as before identity; the same-run baseline of what verifying tokens costs. Never in production.
  bool bench_trust_body_user = false;
  // Points: "command:publishing" / "command:published" (a handler, around its publish).
  TestHook test_hook;
};

namespace api {

class Api {
 public:
  Api(ApiOptions options, CommandPublisher& publisher, ReadSide read, BaselineClaims& baselines,
      metrics::Registry& registry, DrainGate& gate);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;
  // Every route of every resource.
  const Routes& routes() const;
  ApiProbe& probe();
  // Answers the open long polls now (as still pending).
  void release_long_polls();

  struct Context;  // what the resources' handlers share (api/context.h; internal to ingress/api/)

 private:
  std::unique_ptr<Context> context_;
  Routes routes_;
};

}  // namespace api
}  // namespace allot::ingress
