// allot-sink-mysql: projects allot.decisions into the MySQL tables of sinks/schema.sql.
// Configuration from ALLOT_* variables (sinks/README.md); printed at start without the password.
#include <iostream>

#include "sinks/mysql_projection.h"
#include "sinks/sink_main.h"

int main() {
  using allot::env_int;
  using allot::env_string;
  allot::sinks::SourceOptions source;
  allot::sinks::MysqlOptions mysql;
  int metrics_port = 0;
  std::string metrics_host;
  try {
    // Larger batches than the Redis sink's: nothing answers a client from MySQL, and MariaDB's CPU per claim
    // falls by a quarter with 500 ms batches (bench/README.md "MySQL's batches").
    allot::sinks::SourceOptions defaults;
    defaults.batch_max = 5000;
    defaults.batch_max_ms = 500;
    source = allot::sinks::source_options_from_env("allot-sink-mysql", defaults);
    mysql.host = env_string("ALLOT_MYSQL_HOST", mysql.host);
    mysql.port = static_cast<int>(env_int("ALLOT_MYSQL_PORT", mysql.port, 1, 65535));
    mysql.user = env_string("ALLOT_MYSQL_USER", mysql.user);
    mysql.password = env_string("ALLOT_MYSQL_PASSWORD", mysql.password);
    mysql.database = env_string("ALLOT_MYSQL_DATABASE", mysql.database);
    metrics_port = static_cast<int>(env_int("ALLOT_METRICS_PORT", 9201, 1, 65535));
    metrics_host = env_string("ALLOT_METRICS_HOST", "127.0.0.1");
  } catch (const std::exception& e) {
    std::cerr << "allot-sink-mysql: bad configuration: " << e.what() << "\n";
    return 2;
  }
  allot::log_info("sink-mysql", "config: " + allot::sinks::describe(source) + " mysql=" + mysql.user + "@" +
                                    mysql.host + ":" + std::to_string(mysql.port) + "/" + mysql.database +
                                    " password=" + (mysql.password.empty() ? "(none)" : "(set)") +
                                    " metrics=" + metrics_host + ":" + std::to_string(metrics_port));
  allot::metrics::Registry registry;
  allot::sinks::SourceProbe probe(registry, "mysql");
  auto& rows = registry.counter("allot_sink_writes_total", "Rows upserted (mysql) or write commands sent (redis)")
                   .with({{"sink", "mysql"}});
  allot::sinks::MysqlProjection projection(mysql, &rows);
  return allot::sinks::run_sink("sink-mysql", source, projection, registry, probe, metrics_host, metrics_port);
}
