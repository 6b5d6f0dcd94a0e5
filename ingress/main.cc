// allot-ingress: the HTTP API. Configuration from ALLOT_* variables (README).
#include <atomic>
#include <csignal>
#include <iostream>
#include <random>
#include <sstream>

#include "common/config.h"
#include "common/log.h"
#include "ingress/server.h"
#include "ingress/ticker.h"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
}  // namespace

int main() {
  using allot::env_int;
  using allot::env_string;
  allot::ingress::ServerOptions server;
  allot::ingress::PublisherOptions publisher;
  int offsets_refresh_ms = 0;
  int tick_ms = 1000;
  allot::ingress::ProjectionOptions projection;
  allot::ingress::BaselineOptions baseline;
  allot::ingress::DecisionWatchOptions decisions;
  try {
    server.host = env_string("ALLOT_HTTP_HOST", server.host);
    server.port = static_cast<int>(env_int("ALLOT_HTTP_PORT", server.port, 1, 65535));
    server.threads = static_cast<int>(env_int("ALLOT_HTTP_THREADS", server.threads, 1, 64));
    server.max_body_bytes = static_cast<size_t>(env_int("ALLOT_MAX_BODY_BYTES", 4096, 64, 1 << 20));
    server.admin_token = env_string("ALLOT_ADMIN_TOKEN", "");
    server.admission_key = env_string("ALLOT_ADMISSION_KEY", "");
    server.admission_ttl_ms = env_int("ALLOT_ADMISSION_TTL_MS", server.admission_ttl_ms, 1000, 86'400'000);
    server.user_rate = static_cast<double>(env_int("ALLOT_RATE_PER_USER", 20, 0, 1000000));
    server.user_burst = static_cast<double>(env_int("ALLOT_BURST_PER_USER", 40, 1, 1000000));
    server.address_rate = static_cast<double>(env_int("ALLOT_RATE_PER_ADDRESS", 0, 0, 10000000));
    server.address_burst = static_cast<double>(env_int("ALLOT_BURST_PER_ADDRESS", 1000, 1, 10000000));
    std::stringstream proxies(env_string("ALLOT_TRUSTED_PROXIES", ""));
    for (std::string p; std::getline(proxies, p, ',');) {
      if (!p.empty()) server.trusted_proxies.push_back(p);
    }
    server.identity = allot::identity::settings_from_env();
    server.dev_login = env_int("ALLOT_DEV_LOGIN", 0, 0, 1) == 1;
    server.payment_webhook_secret = env_string("ALLOT_PAYMENT_WEBHOOK_SECRET", "");
    server.bench_trust_body_user = env_int("ALLOT_BENCH_TRUST_BODY_USER", 0, 0, 1) == 1;
    server.static_dir = env_string("ALLOT_STATIC_DIR", "ingress/web");
    server.max_wait_ms = static_cast<int>(env_int("ALLOT_MAX_WAIT_MS", server.max_wait_ms, 0, 300000));
    publisher.brokers = env_string("ALLOT_KAFKA_BROKERS", publisher.brokers);
    // Another commands topic lets a test or a benchmark run an ingress whose claims no processor decides.
    publisher.topic = env_string("ALLOT_COMMANDS_TOPIC", publisher.topic);
    decisions.brokers = publisher.brokers;
    publisher.delivery_timeout_ms =
        static_cast<int>(env_int("ALLOT_PRODUCE_TIMEOUT_MS", publisher.delivery_timeout_ms, 100, 300000));
    publisher.linger_ms = static_cast<int>(env_int("ALLOT_PRODUCE_LINGER_MS", publisher.linger_ms, 0, 1000));
    publisher.compression =
        allot::env_choice("ALLOT_PRODUCE_COMPRESSION", publisher.compression, allot::kCompressionTypes);
    offsets_refresh_ms = static_cast<int>(env_int("ALLOT_OFFSETS_REFRESH_MS", 500, 50, 60000));
    tick_ms = static_cast<int>(env_int("ALLOT_TICK_MS", tick_ms, 0, 3600000));
    projection.host = env_string("ALLOT_REDIS_HOST", projection.host);
    projection.port = static_cast<int>(env_int("ALLOT_REDIS_PORT", projection.port, 1, 65535));
    projection.prefix = env_string("ALLOT_REDIS_PREFIX", projection.prefix);
    baseline.mysql_host = env_string("ALLOT_MYSQL_HOST", baseline.mysql_host);
    baseline.mysql_port = static_cast<int>(env_int("ALLOT_MYSQL_PORT", baseline.mysql_port, 1, 65535));
    baseline.mysql_user = env_string("ALLOT_MYSQL_USER", baseline.mysql_user);
    baseline.mysql_password = env_string("ALLOT_MYSQL_PASSWORD", "");
    baseline.mysql_database = env_string("ALLOT_MYSQL_DATABASE", baseline.mysql_database);
    baseline.redis_host = projection.host;
    baseline.redis_port = projection.port;
    baseline.redis_prefix = projection.prefix;
    baseline.workers = static_cast<int>(env_int("ALLOT_BASELINE_POOL", baseline.workers, 1, 512));
  } catch (const std::exception& e) {
    std::cerr << "allot-ingress: bad configuration: " << e.what() << "\n";
    return 2;
  }
  allot::log_info(
      "ingress",
      "config: http=" + server.host + ":" + std::to_string(server.port) + " threads=" + std::to_string(server.threads) +
          " max_body_bytes=" + std::to_string(server.max_body_bytes) + " brokers=" + publisher.brokers +
          " commands_topic=" + publisher.topic + " max_wait_ms=" + std::to_string(server.max_wait_ms) +
          " produce_timeout_ms=" + std::to_string(publisher.delivery_timeout_ms) +
          " linger_ms=" + std::to_string(publisher.linger_ms) + " compression=" + publisher.compression +
          " tick_ms=" + std::to_string(tick_ms) + " redis=" + projection.host + ":" + std::to_string(projection.port) +
          " mysql=" + baseline.mysql_user + "@" + baseline.mysql_host + ":" + std::to_string(baseline.mysql_port) +
          "/" + baseline.mysql_database + " baseline_pool=" + std::to_string(baseline.workers) +
          " rate_per_user=" + std::to_string(static_cast<int>(server.user_rate)) +
          "/s rate_per_address=" + std::to_string(static_cast<int>(server.address_rate)) +
          "/s jwt: hs256=" + (server.identity.hs256_secret.empty() ? "off" : "on") +
          " jwks=" + (server.identity.jwks_file.empty() ? "(unset)" : server.identity.jwks_file) +
          " iss=" + server.identity.issuer + " aud=" + server.identity.audience + " dev_login=" +
          (server.dev_login ? "on" : "off") + " admin_token=" + (server.admin_token.empty() ? "(unset)" : "(set)"));
  if (server.bench_trust_body_user) {
    allot::log_warn(
        "ingress",
        "ALLOT_BENCH_TRUST_BODY_USER=1: tokens are NOT verified, the body's user_id is believed (benchmarks only)");
  } else if (server.identity.hs256_secret.empty() && server.identity.jwks_file.empty()) {
    allot::log_warn("ingress",
                    "no ALLOT_JWT_HS256_SECRET[_FILE] nor ALLOT_JWT_JWKS_FILE: every user endpoint answers 401");
  }
  if (server.admin_token.empty()) allot::log_warn("ingress", "ALLOT_ADMIN_TOKEN is unset: admin endpoints answer 401");
  if (server.admission_key.empty()) {
    // Tokens then verify only at this ingress: several ingresses need the same key.
    std::random_device random;
    for (int i = 0; i < 32; ++i) server.admission_key += static_cast<char>('a' + random() % 26);
    allot::log_warn("ingress",
                    "ALLOT_ADMISSION_KEY is unset: admission tokens are signed with a random key of this process");
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    allot::metrics::Registry registry;
    allot::ingress::Publisher pub(publisher, registry);
    // Slack 1: processors append rewards to allot.commands in transactions (README "Rewards"), so a
    // partition may end in a commit marker no consumer reads.
    allot::ingress::GroupOffsets processors(publisher.brokers, "allot-processor", publisher.topic, offsets_refresh_ms,
                                            /*end_slack=*/1);
    allot::ingress::GroupOffsets redis_sink(publisher.brokers, "allot-sink-redis", "allot.decisions",
                                            offsets_refresh_ms, /*end_slack=*/1);
    allot::ingress::Projections projections(projection);
    allot::ingress::Baselines baselines(baseline, registry);
    allot::ingress::DecisionWatch watch(decisions, registry);
    allot::ingress::Ticker ticker(pub, tick_ms, registry);
    allot::ingress::Server http(server, pub, {projections, processors, redis_sink, &watch}, baselines, registry);
    http.start();
    allot::log_info("ingress", "listening on " + server.host + ":" + std::to_string(server.port));
    http.run(g_stop, publisher.delivery_timeout_ms + 1000);
    allot::log_info("ingress", "stopped cleanly");
    return 0;
  } catch (const std::exception& e) {
    allot::log_error("ingress", std::string("fatal: ") + e.what());
    return 1;
  }
}
