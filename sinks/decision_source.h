#pragma once
// The consuming half shared by both sinks: reads allot.decisions (read_committed) in the sink's own
// consumer group, hands each batch to a Projection, and commits the group offsets only after the
// projection has written the batch. A failing projection is retried with capped exponential backoff,
// the same batch again and again: nothing is skipped and nothing is committed ahead of the database.
//
// Together with an idempotent Projection this gives "at least once into the database, exactly once
// in effect": a batch re-delivered after a crash between the database commit and the offset commit
// is applied a second time and changes nothing.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "topics/messages.h"

namespace allot::sinks {

// A target the decisions are projected into (MySQL, Redis). Called from the source's thread only.
class Projection {
 public:
  virtual ~Projection() = default;
  // Writes `batch` (topic order within each partition) so that applying it again changes nothing.
  // Throws on any failure: then none or part of it was written, and the same batch comes again.
  virtual void apply(const std::vector<topics::Decision>& batch) = 0;
  // Throws when the target cannot be reached; called while no decisions arrive, so that /healthz
  // also tells the truth about an idle sink.
  virtual void check() {}
};

struct SourceOptions {
  std::string brokers = "127.0.0.1:19092";
  std::string topic = "allot.decisions";
  std::string group_id;                // required: allot-sink-mysql / allot-sink-redis
  std::string instance_id;             // static group membership (group.instance.id): a restart takes over at once
  int batch_max = 1000;                // a batch closes at this many records...
  int batch_max_ms = 100;              // ...or this long after its first record, whichever comes first
  int backoff_min_ms = 100;            // first retry delay after a failed apply; doubles per failure...
  int backoff_max_ms = 5000;           // ...up to this
  int idle_check_ms = 5000;            // how often an idle sink asks the projection whether its target answers
  int max_poll_interval_ms = 3600000;  // retries do not poll: how long the group tolerates that
  // A fetch waits for this many bytes, or this long (librdkafka's fetch.min.bytes / fetch.wait.max.ms): fewer,
  // fuller fetches for the broker; a projection already waits up to batch_max_ms for its batch.
  int fetch_min_bytes = 1;
  int fetch_wait_max_ms = 500;
};

// Capped exponential backoff: min, 2*min, 4*min, ... max, max, ... until reset(). Pure arithmetic:
// the caller sleeps, so tests need no clock.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) : min_(min), max_(max), next_(min) {}
  std::chrono::milliseconds next();
  void reset() { next_ = min_; }

 private:
  std::chrono::milliseconds min_, max_, next_;
};

// Metrics of one sink; every series carries the label sink="<name>".
struct SourceProbe {
  SourceProbe(metrics::Registry& r, const std::string& sink);
  std::string sink;
  metrics::Counter& decisions;           // decisions applied (and committed)
  metrics::Counter& batches;             // batches applied
  metrics::Histogram& batch_seconds;     // apply + offset commit of one batch, retries included
  metrics::Histogram& apply_seconds;     // the projection's write of one batch (one attempt that succeeded)
  metrics::Histogram& commit_seconds;    // the offset commit of one batch
  metrics::Histogram& batch_size;        // records per batch
  metrics::Histogram& decision_age;      // from decided_at to the offset commit: how stale the projection is
  metrics::Counter& retries;             // failed applies (each is retried)
  metrics::Counter& undecodable;         // records skipped because they are not a decision
  metrics::Counter& commit_failures;     // offset commits that failed (the batch comes again; harmless)
  metrics::Family<metrics::Gauge>& lag;  // by partition, from librdkafka statistics
  metrics::Gauge& healthy;               // 1 when health() is empty
  metrics::Gauge& assigned;              // partitions assigned to this sink
};

// One per process, driven by run() on one thread; health() may be called from any thread.
class DecisionSource {
 public:
  DecisionSource(SourceOptions options, Projection& projection, SourceProbe& probe);
  ~DecisionSource();
  DecisionSource(const DecisionSource&) = delete;
  DecisionSource& operator=(const DecisionSource&) = delete;

  // Runs until `stop` is set, then finishes the batch in hand, commits it and closes the consumer
  // (returns 0). A stop while the projection keeps failing leaves that batch uncommitted: it is
  // re-delivered on the next start. Returns 1 on a fatal Kafka error (a failed assign or unassign
  // included), after closing the consumer so that the group reassigns its partitions at once, or
  // when the close itself fails.
  int run(const std::atomic<bool>& stop);

  // Empty when healthy, else why not (the projection's target unreachable, Kafka down, fatal error).
  std::string health() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::sinks
