#pragma once
// What both sink binaries' main() share: the ALLOT_SINK_* settings, and running a projection behind a
// DecisionSource with /metrics and /healthz until SIGTERM. Included by the mains only: nothing else in
// sinks/ reads the environment.
#include <atomic>
#include <csignal>
#include <string>
#include <utility>

#include "common/config.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "sinks/decision_source.h"

namespace allot::sinks {

// ALLOT_KAFKA_BROKERS, ALLOT_SINK_GROUP (default `group`), ALLOT_SINK_INSTANCE_ID (default <group>-1),
// ALLOT_SINK_BATCH_MAX, ALLOT_SINK_BATCH_MAX_MS, ALLOT_SINK_BACKOFF_MIN_MS, ALLOT_SINK_BACKOFF_MAX_MS,
// ALLOT_SINK_FETCH_MIN_BYTES, ALLOT_SINK_FETCH_WAIT_MS.
// `defaults` is the sink's own choice where the variables are unset. Throws std::invalid_argument on a bad value.
inline SourceOptions source_options_from_env(const std::string& group, SourceOptions defaults = {}) {
  SourceOptions o = std::move(defaults);
  o.brokers = env_string("ALLOT_KAFKA_BROKERS", o.brokers);
  o.group_id = env_string("ALLOT_SINK_GROUP", group);
  o.instance_id = env_string("ALLOT_SINK_INSTANCE_ID", o.group_id + "-1");
  o.batch_max = static_cast<int>(env_int("ALLOT_SINK_BATCH_MAX", o.batch_max, 1, 100000));
  o.batch_max_ms = static_cast<int>(env_int("ALLOT_SINK_BATCH_MAX_MS", o.batch_max_ms, 1, 60000));
  o.backoff_min_ms = static_cast<int>(env_int("ALLOT_SINK_BACKOFF_MIN_MS", o.backoff_min_ms, 1, 600000));
  o.backoff_max_ms = static_cast<int>(env_int("ALLOT_SINK_BACKOFF_MAX_MS", o.backoff_max_ms, o.backoff_min_ms, 600000));
  o.fetch_min_bytes = static_cast<int>(env_int("ALLOT_SINK_FETCH_MIN_BYTES", o.fetch_min_bytes, 1, 100000000));
  o.fetch_wait_max_ms = static_cast<int>(env_int("ALLOT_SINK_FETCH_WAIT_MS", o.fetch_wait_max_ms, 1, 10000));
  return o;
}

inline std::string describe(const SourceOptions& o) {
  return "brokers=" + o.brokers + " topic=" + o.topic + " group=" + o.group_id + " instance=" + o.instance_id +
         " batch_max=" + std::to_string(o.batch_max) + " batch_max_ms=" + std::to_string(o.batch_max_ms) +
         " backoff_ms=" + std::to_string(o.backoff_min_ms) + ".." + std::to_string(o.backoff_max_ms) +
         " fetch_min_bytes=" + std::to_string(o.fetch_min_bytes) +
         " fetch_wait_ms=" + std::to_string(o.fetch_wait_max_ms);
}

namespace detail {
inline std::atomic<bool> g_stop{false};
inline void on_signal(int) { g_stop = true; }
}  // namespace detail

// Serves /metrics and /healthz on `metrics_host`:`metrics_port` and runs the source until SIGTERM/SIGINT.
// Returns the process exit status.
inline int run_sink(const std::string& name, const SourceOptions& options, Projection& projection,
                    metrics::Registry& registry, SourceProbe& probe, const std::string& metrics_host,
                    int metrics_port) {
  std::signal(SIGTERM, detail::on_signal);
  std::signal(SIGINT, detail::on_signal);
  try {
    DecisionSource source(options, projection, probe);
    OpsServer ops(metrics_host, metrics_port, registry, [&source] { return source.health(); });
    return source.run(detail::g_stop);
  } catch (const std::exception& e) {
    log_error(name, std::string("fatal: ") + e.what());
    return 1;
  }
}

}  // namespace allot::sinks
