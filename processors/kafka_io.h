#pragma once
// The librdkafka implementations of the runner's I/O (io.h), and the wiring used by the binaries.
//
// KafkaIo owns a read_committed consumer in the processors' group and one transactional producer
// (transactional.id "allot-<instance_id>", which fences any earlier instance with the same id), and
// reads the changelog with short-lived plain consumers. Created and used on the runner's thread.
#include <atomic>
#include <memory>
#include <string>

#include "processors/io.h"
#include "processors/runner.h"

namespace allot::processors {

struct KafkaIoOptions {
  int linger_ms = 5;                 // how long the transactional producer lets a batch fill
  std::string compression = "none";  // its compression.type: none, lz4, zstd (bench/README.md "Compression")
  // How long the broker holds a fetch of allot.commands that finds nothing new (librdkafka's fetch.wait.max.ms).
  int fetch_wait_max_ms = 500;
  // ...and how many bytes it waits for (fetch.min.bytes): with more than 1, a fetch under load comes back
  // fuller, but one at rest waits fetch_wait_max_ms for a lone command.
  int fetch_min_bytes = 1;
  // The group drops a member that has not collected for this long (librdkafka's max.poll.interval.ms).
  int max_poll_interval_ms = 300000;
};

class KafkaIo {
 public:
  // Connects, initializes transactions (fencing an earlier instance) and subscribes; throws on failure.
  KafkaIo(const RunnerOptions& options, RunnerProbe& probe, const KafkaIoOptions& kafka = {});
  ~KafkaIo();
  KafkaIo(const KafkaIo&) = delete;
  KafkaIo& operator=(const KafkaIo&) = delete;

  CommandSource& source();
  TxnProducer& producer();
  ChangelogReader& changelog();
  RunnerIo io() { return {source(), producer(), changelog()}; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a processor over Kafka until `stop` (0) or a fatal error (1); what allot-processor's main does.
int run_processor(const RunnerOptions& options, state::Store& store, RunnerProbe& probe, const std::atomic<bool>& stop,
                  const KafkaIoOptions& kafka = {});

}  // namespace allot::processors
