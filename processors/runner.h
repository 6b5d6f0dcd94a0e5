#pragma once
// The processor runner: drives decide() exactly-once over Kafka (DESIGN §4, EOS v2 / KIP-447).
//
// One runner per process, on one thread. It owns a read_committed consumer in the group and one
// transactional producer. A transaction is opened and committed entirely inside one batch, never
// across a consume() call, so a rebalance never meets an open transaction: revoked partitions simply
// lose their uncommitted batch entries, and assigned ones are restored from the changelog first.
#include <atomic>
#include <cstdint>
#include <string>

#include "common/metrics.h"
#include "state/store.h"

namespace allot::processors {

struct RunnerOptions {
  std::string brokers = "127.0.0.1:19092";
  std::string group_id = "allot-processor";
  std::string instance_id = "processor-1";  // the transactional.id is derived from it: keep it stable
  std::string commands_topic = "allot.commands";
  std::string decisions_topic = "allot.decisions";
  std::string changelog_topic = "allot.changelog";
  int batch_max_commands = 1000;  // a transaction closes at this many commands...
  int batch_max_ms = 50;          // ...or this long after its first command, whichever comes first
  int transaction_timeout_ms = 15000;
  int restore_timeout_ms = 120000;
};

// Metrics the runner updates; the binary exposes the registry on /metrics.
struct RunnerProbe {
  explicit RunnerProbe(metrics::Registry& r);
  metrics::Family<metrics::Counter>& commands;  // by outcome
  metrics::Histogram& batch_size;
  metrics::Histogram& commit_seconds;
  metrics::Counter& aborts;
  metrics::Counter& poison;
  metrics::Counter& restores;
  metrics::Counter& restored_records;
  metrics::Histogram& restore_seconds;
  metrics::Family<metrics::Gauge>& lag;  // by partition, from librdkafka statistics
  metrics::Gauge& assigned;
  metrics::Family<metrics::Gauge>& event_stock;   // by event, as last decided here
  metrics::Family<metrics::Gauge>& event_issued;  // by event, as last decided here
};

class Runner {
 public:
  Runner(RunnerOptions options, state::StateStore& store, RunnerProbe& probe);
  ~Runner();
  // Runs until `stop` is set (returns 0 after a clean shutdown) or a fatal error (returns 1).
  int run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::processors
