// allot-bench-processor: how fast the exactly-once processor decides, next to the raw consume rate
// of the same data, on fresh topics of the real broker. Not a test: it measures and prints.
//
//   allot-bench-processor [--commands N] [--events E] [--partitions P ...]
//
// For each partition count it preloads N claim commands over E events (plus the E creates), then
//   1. reads them with a plain read_committed consumer (librdkafka's raw rate, the ceiling), and
//   2. runs the real Runner (RocksDB state, one transaction per batch) until all are decided.
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "common/kafka.h"
#include "processors/kafka_io.h"
#include "state/store.h"
#include "topics/admin.h"
#include "topics/messages.h"

namespace {

using namespace allot;
using Clock = std::chrono::steady_clock;

struct Topics {
  std::string commands, decisions, changelog;
};

Topics create_topics(const std::string& brokers, const std::string& run, int partitions) {
  Topics t{"bench." + run + ".commands", "bench." + run + ".decisions", "bench." + run + ".changelog"};
  topics::apply_specs(brokers,
                      {{t.commands, partitions, {}},
                       {t.decisions, partitions, {}},
                       {t.changelog, partitions, {{"cleanup.policy", "compact"}}}},
                      15000);
  return t;
}

void preload(const std::string& brokers, const std::string& topic, int64_t n, int events) {
  auto producer = kafka::make_producer({{"bootstrap.servers", brokers},
                                        {"enable.idempotence", "true"},
                                        {"linger.ms", "20"},
                                        {"batch.size", "1000000"},
                                        {"queue.buffering.max.messages", "2000000"}});
  auto send = [&](const topics::Command& c) {
    auto v = topics::encode(c);
    while (producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, v.data(), v.size(),
                             c.event_id().data(), c.event_id().size(), 0, nullptr) == RdKafka::ERR__QUEUE_FULL) {
      producer->poll(10);
    }
  };
  for (int e = 0; e < events; ++e) {
    send({"create-" + std::to_string(e), now_ms(),
          topics::CreateEvent{"ev-" + std::to_string(e), "b", n / events / 2, 1, {}, {}}});
  }
  for (int64_t i = 0; i < n; ++i) {
    send({"r" + std::to_string(i), now_ms(),
          topics::Claim{"ev-" + std::to_string(i % events), "u" + std::to_string(i)}});
  }
  if (producer->flush(120000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("preload flush timed out");
}

double raw_consume_rate(const std::string& brokers, const std::string& topic) {
  auto started = Clock::now();
  int64_t n = kafka::read_all_committed(
      brokers, topic, [](const RdKafka::Message&) {}, std::chrono::minutes(5));
  return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - started).count();
}

struct ProcessorResult {
  double rate = 0;
  double mean_batch = 0;
  double cpu_us_per_decision = 0;  // the whole process (runner and librdkafka threads) while deciding
};

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

ProcessorResult processor_rate(const std::string& brokers, const Topics& t, const std::string& run, int64_t total,
                               int batch_max) {
  auto dir = std::filesystem::temp_directory_path() / ("allot-bench-" + run);
  std::filesystem::remove_all(dir);
  auto store = state::StateStore::open(dir.string());
  metrics::Registry registry;
  processors::RunnerProbe probe(registry);
  processors::RunnerOptions opt;
  opt.brokers = brokers;
  opt.group_id = "bench-" + run;
  opt.instance_id = "bench-" + run;
  opt.commands_topic = t.commands;
  opt.decisions_topic = t.decisions;
  opt.changelog_topic = t.changelog;
  opt.batch_max_commands = batch_max;
  std::atomic<bool> stop{false};
  std::thread worker([&] { processors::run_processor(opt, *store, probe, stop); });
  auto decided = [&] {
    double sum = 0;
    for (const auto& [labels, c] : probe.commands.series()) sum += c->value();
    return static_cast<int64_t>(sum);
  };
  // The clock starts at the first decision, so group join and restore are not counted.
  auto deadline = Clock::now() + std::chrono::minutes(10);
  while (decided() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto started = Clock::now();
  double cpu_started = process_cpu_seconds();
  int64_t first = decided();
  while (decided() < total && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  double secs = std::chrono::duration<double>(Clock::now() - started).count();
  double cpu = process_cpu_seconds() - cpu_started;
  int64_t done = decided();
  stop = true;
  worker.join();
  std::filesystem::remove_all(dir);
  auto batches = probe.batch_size.snapshot();
  if (done < total) throw std::runtime_error("processor decided only " + std::to_string(done));
  return {static_cast<double>(done - first) / secs,
          batches.count ? batches.sum / static_cast<double>(batches.count) : 0,
          cpu * 1e6 / static_cast<double>(done - first)};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int64_t commands = 200000;
  int events = 20, batch_max = 5000;
  std::vector<int> partition_counts;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--commands") commands = std::stoll(args[i + 1]);
    else if (args[i] == "--events") events = std::stoi(args[i + 1]);
    else if (args[i] == "--batch") batch_max = std::stoi(args[i + 1]);
    else if (args[i] == "--partitions") partition_counts.push_back(std::stoi(args[i + 1]));
  }
  if (partition_counts.empty()) partition_counts = {1, 12};
  const auto brokers = env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092");
  std::cout << "| partitions | commands | raw consume (msg/s) | processor EOS (decisions/s) | ratio | mean batch | CPU "
               "per decision (us) |\n"
            << "|---:|---:|---:|---:|---:|---:|---:|\n";
  try {
    for (int p : partition_counts) {
      std::string run = std::to_string(now_ms()) + "-p" + std::to_string(p);
      auto t = create_topics(brokers, run, p);
      preload(brokers, t.commands, commands, events);
      double raw = raw_consume_rate(brokers, t.commands);
      auto proc = processor_rate(brokers, t, run, commands + events, batch_max);
      std::cout << std::fixed << std::setprecision(0) << "| " << p << " | " << commands + events << " | " << raw
                << " | " << proc.rate << " | " << std::setprecision(3) << proc.rate / raw << " | "
                << std::setprecision(0) << proc.mean_batch << " | " << std::setprecision(1) << proc.cpu_us_per_decision
                << " |\n"
                << std::flush;
      topics::delete_topics(brokers, {t.commands, t.decisions, t.changelog}, 15000);  // throw-away data
    }
  } catch (const std::exception& e) {
    std::cerr << "bench failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
