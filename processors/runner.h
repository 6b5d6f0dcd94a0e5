#pragma once
// The processor runner: drives decide() exactly-once (DESIGN §4, EOS v2 / KIP-447) through the I/O of
// io.h. This is the batch state machine only: collect, decide, produce, send offsets, commit, store,
// and on errors abort and rewind. The librdkafka implementations of its I/O are in kafka_io.h.
//
// One runner per process, on one thread. A transaction is opened and committed entirely inside one
// batch, never across collect(), so a rebalance never meets an open transaction: revoked partitions
// simply lose their uncommitted batch entries, and assigned ones are restored from the changelog first.
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/metrics.h"
#include "processors/io.h"
#include "state/store.h"

namespace allot::processors {

struct RunnerOptions {
  std::string brokers = "127.0.0.1:19092";
  std::string group_id = "allot-processor";
  std::string instance_id = "processor-1";  // the transactional.id is derived from it: keep it stable
  std::string commands_topic = "allot.commands";
  std::string decisions_topic = "allot.decisions";
  std::string changelog_topic = "allot.changelog";
  int batch_max_commands = 5000;  // a transaction closes at this many commands...
  // ...or this long after its first command, whichever comes first. 100 ms, not 50: under load a batch runs to
  // this bound, and each transaction costs the broker requests per partition it touches (bench/README.md
  // "Cost per claim": v3 0.35 instead of 0.42 CPU s per 1,000 seed claims, same p99 or better)...
  int batch_max_ms = 100;
  // ...or when nothing more has come for this long (0: wait the whole batch_max_ms). A quiet partition's
  // command, such as an order's next step, is decided without waiting out the window. It must outlast the
  // ingress's linger (ingress/publisher.h): under load commands arrive in clumps one linger apart, and a gap
  // shorter than the linger closed half-full batches (many events: 2x the transactions). 20 ms with a 10 ms
  // linger, not 10 with 5: many events v3 0.52-0.55 instead of 0.70-0.82 CPU s per 1,000 claims; a trickle
  // of 250 claims/s answers ~7 ms later at the median (bench/README.md "The idle close at 20 ms").
  int batch_idle_ms = 20;
  int transaction_timeout_ms = 15000;
  int restore_timeout_ms = 120000;
  int retry_backoff_ms = 100;  // between attempts of a retriable transactional call
};

// Metrics the runner updates; the binary exposes the registry on /metrics.
struct RunnerProbe {
  // Per-event series are kept for the `max_event_series` events decided most recently; older ones drop out,
  // so a long run over many events does not grow the exposition without bound.
  explicit RunnerProbe(metrics::Registry& r, size_t max_event_series = 200);
  void set_event_levels(const std::string& event_id, int64_t stock, int64_t issued);
  metrics::Family<metrics::Counter>& commands;  // by outcome
  metrics::Histogram& batch_size;
  metrics::Histogram& commit_seconds;
  metrics::Counter& aborts;
  metrics::Counter& poison;
  metrics::Counter& restores;
  metrics::Counter& restored_records;
  metrics::Histogram& restore_seconds;
  metrics::Counter& state_resets;        // local state dropped: another cluster's, or ahead of the changelog
  metrics::Family<metrics::Gauge>& lag;  // by partition, from librdkafka statistics
  metrics::Gauge& assigned;
  metrics::Family<metrics::Gauge>& event_stock;   // by event, as last decided here
  metrics::Family<metrics::Gauge>& event_issued;  // by event, as last decided here

 private:
  size_t max_event_series_;
  std::list<std::string> recent_events_;  // most recently set first
  std::unordered_map<std::string, std::list<std::string>::iterator> event_slot_;
};

// The processor's I/O, created by the binary (kafka_io.h) or by a test (fakes).
struct RunnerIo {
  CommandSource& source;
  TxnProducer& producer;
  ChangelogReader& changelog;
};

class Runner {
 public:
  Runner(RunnerOptions options, state::Store& store, RunnerProbe& probe, RunnerIo io);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Runs until `stop` is set (returns 0 after a clean shutdown) or a fatal error (returns 1; the
  // consumer is closed first so the group moves its partitions at once).
  int run(const std::atomic<bool>& stop);

  // One turn of run()'s loop: collect a batch (rebalances are handled in there) and process it.
  // Returns false once the runner hit a fatal error (why: fatal_error()). For tests.
  bool step(const std::atomic<bool>& stop);
  [[nodiscard]] const std::string& fatal_error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::processors
