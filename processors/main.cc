// allot-processor: decides commands exactly-once. Configuration from ALLOT_* variables (README).
#include <csignal>
#include <iostream>

#include "common/config.h"
#include "common/log.h"
#include "common/ops_server.h"
#include "processors/kafka_io.h"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
}  // namespace

int main() {
  using allot::env_int;
  using allot::env_string;
  allot::processors::RunnerOptions opt;
  std::string state_dir;
  int metrics_port = 0;
  std::string metrics_host;
  size_t max_event_series = 0;
  allot::processors::KafkaIoOptions kafka;
  try {
    opt.brokers = env_string("ALLOT_KAFKA_BROKERS", opt.brokers);
    opt.instance_id = env_string("ALLOT_INSTANCE_ID", opt.instance_id);
    opt.batch_max_commands = static_cast<int>(env_int("ALLOT_BATCH_MAX_COMMANDS", opt.batch_max_commands, 1, 100000));
    opt.batch_max_ms = static_cast<int>(env_int("ALLOT_BATCH_MAX_MS", opt.batch_max_ms, 1, 10000));
    opt.batch_idle_ms = static_cast<int>(env_int("ALLOT_BATCH_IDLE_MS", opt.batch_idle_ms, 0, 10000));
    opt.transaction_timeout_ms =
        static_cast<int>(env_int("ALLOT_TXN_TIMEOUT_MS", opt.transaction_timeout_ms, 1000, 900000));
    state_dir = env_string("ALLOT_STATE_DIR", ".run/" + opt.instance_id + "/state");
    metrics_port = static_cast<int>(env_int("ALLOT_METRICS_PORT", 9101, 1, 65535));
    metrics_host = env_string("ALLOT_METRICS_HOST", "127.0.0.1");
    max_event_series = static_cast<size_t>(env_int("ALLOT_METRICS_MAX_EVENTS", 200, 1, 1000000));
    kafka.linger_ms = static_cast<int>(env_int("ALLOT_PROCESSOR_LINGER_MS", kafka.linger_ms, 0, 1000));
    kafka.compression = allot::env_choice("ALLOT_PROCESSOR_COMPRESSION", kafka.compression, allot::kCompressionTypes);
    kafka.fetch_wait_max_ms =
        static_cast<int>(env_int("ALLOT_PROCESSOR_FETCH_WAIT_MS", kafka.fetch_wait_max_ms, 1, 10000));
    kafka.fetch_min_bytes =
        static_cast<int>(env_int("ALLOT_PROCESSOR_FETCH_MIN_BYTES", kafka.fetch_min_bytes, 1, 100000000));
  } catch (const std::exception& e) {
    std::cerr << "allot-processor: bad configuration: " << e.what() << "\n";
    return 2;
  }
  allot::log_info("processor",
                  "config: brokers=" + opt.brokers + " instance=" + opt.instance_id + " state_dir=" + state_dir +
                      " batch_max_commands=" + std::to_string(opt.batch_max_commands) + " batch_max_ms=" +
                      std::to_string(opt.batch_max_ms) + " batch_idle_ms=" + std::to_string(opt.batch_idle_ms) +
                      " txn_timeout_ms=" + std::to_string(opt.transaction_timeout_ms) +
                      " linger_ms=" + std::to_string(kafka.linger_ms) + " compression=" + kafka.compression +
                      " fetch_wait_max_ms=" + std::to_string(kafka.fetch_wait_max_ms) +
                      " fetch_min_bytes=" + std::to_string(kafka.fetch_min_bytes) + " metrics=" + metrics_host + ":" +
                      std::to_string(metrics_port));
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  try {
    auto store = allot::state::StateStore::open(state_dir);
    allot::metrics::Registry registry;
    allot::processors::RunnerProbe probe(registry, max_event_series);
    allot::OpsServer ops(metrics_host, metrics_port, registry, [] { return std::string(); });
    return allot::processors::run_processor(opt, *store, probe, g_stop, kafka);
  } catch (const std::exception& e) {
    allot::log_error("processor", std::string("fatal: ") + e.what());
    return 1;
  }
}
