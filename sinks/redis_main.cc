// allot-sink-redis: projects allot.decisions into Redis (key layout in sinks/redis_projection.h).
// Configuration from ALLOT_* variables (sinks/README.md); printed at start without the password.
#include <iostream>

#include "sinks/redis_projection.h"
#include "sinks/sink_main.h"

int main() {
  using allot::env_int;
  using allot::env_string;
  allot::sinks::SourceOptions source;
  allot::sinks::RedisOptions redis;
  int metrics_port = 0;
  std::string metrics_host;
  try {
    source = allot::sinks::source_options_from_env("allot-sink-redis");
    redis.host = env_string("ALLOT_REDIS_HOST", redis.host);
    redis.port = static_cast<int>(env_int("ALLOT_REDIS_PORT", redis.port, 1, 65535));
    redis.password = env_string("ALLOT_REDIS_PASSWORD", redis.password);
    redis.prefix = env_string("ALLOT_REDIS_PREFIX", redis.prefix);
    redis.claim_ttl_s = env_int("ALLOT_CLAIM_TTL_S", redis.claim_ttl_s, 0, int64_t{10} * 365 * 86400);
    metrics_port = static_cast<int>(env_int("ALLOT_METRICS_PORT", 9202, 1, 65535));
    metrics_host = env_string("ALLOT_METRICS_HOST", "127.0.0.1");
  } catch (const std::exception& e) {
    std::cerr << "allot-sink-redis: bad configuration: " << e.what() << "\n";
    return 2;
  }
  allot::log_info("sink-redis", "config: " + allot::sinks::describe(source) + " redis=" + redis.host + ":" +
                                    std::to_string(redis.port) + " prefix=" + redis.prefix +
                                    " claim_ttl_s=" + std::to_string(redis.claim_ttl_s) +
                                    " password=" + (redis.password.empty() ? "(none)" : "(set)") +
                                    " metrics=" + metrics_host + ":" + std::to_string(metrics_port));
  allot::metrics::Registry registry;
  allot::sinks::SourceProbe probe(registry, "redis");
  auto& writes = registry.counter("allot_sink_writes_total", "Rows upserted (mysql) or write commands sent (redis)")
                     .with({{"sink", "redis"}});
  allot::sinks::RedisProjection projection(redis, &writes);
  return allot::sinks::run_sink("sink-redis", source, projection, registry, probe, metrics_host, metrics_port);
}
