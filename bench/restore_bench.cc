// allot-bench-restore: recovery time of a processor that lost its RocksDB: from start to deciding
// again, including the changelog restore of a large state. Real broker, real Runner, fresh topics.
//
//   allot-bench-restore [--records 1000000] [--partitions 12]
//
// Preloads the changelog with N state records (what N decided requests leave behind), starts a
// Runner with an empty state folder, and times until a probe command is decided.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "common/kafka.h"
#include "processors/domain.h"
#include "processors/kafka_io.h"
#include "state/store.h"
#include "topics/admin.h"

namespace {

using namespace allot;
using Clock = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int64_t records = 1000000;
  int partitions = 12;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--records") records = std::stoll(args[i + 1]);
    if (args[i] == "--partitions") partitions = std::stoi(args[i + 1]);
  }
  const auto brokers = env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092");
  const std::string run = "restore-" + std::to_string(now_ms());
  processors::RunnerOptions opt;
  opt.brokers = brokers;
  opt.group_id = "bench-" + run;
  opt.instance_id = "bench-" + run;
  opt.commands_topic = "bench." + run + ".commands";
  opt.decisions_topic = "bench." + run + ".decisions";
  opt.changelog_topic = "bench." + run + ".changelog";
  opt.restore_timeout_ms = 600000;
  try {
    topics::apply_specs(brokers,
                        {{opt.commands_topic, partitions, {}},
                         {opt.decisions_topic, partitions, {}},
                         {opt.changelog_topic, partitions, {{"cleanup.policy", "compact"}}}},
                        15000);
    // The state N decided claims leave: one request marker each, plus one event record per partition.
    auto producer = kafka::make_producer({{"bootstrap.servers", brokers},
                                          {"linger.ms", "50"},
                                          {"batch.size", "1000000"},
                                          {"queue.buffering.max.messages", "2000000"}});
    auto preload_started = Clock::now();
    for (int64_t i = 0; i < records; ++i) {
      auto key = processors::request_key("r" + std::to_string(i));
      std::string value = "sold_out";
      auto p = static_cast<int32_t>(i % partitions);
      while (producer->produce(opt.changelog_topic, p, RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(),
                               key.data(), key.size(), 0, nullptr) == RdKafka::ERR__QUEUE_FULL) {
        producer->poll(10);
      }
    }
    if (producer->flush(300000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("preload flush timed out");
    double preload_s = std::chrono::duration<double>(Clock::now() - preload_started).count();

    // A probe claim (for an event that does not exist: decided unknown_event) waits in the commands topic.
    topics::Command probe{"probe-" + run, now_ms(), topics::Claim{"probe-event", "probe-user"}};
    auto value = topics::encode(probe);
    if (auto code =
            producer->produce(opt.commands_topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                              value.data(), value.size(), probe.event_id().data(), probe.event_id().size(), 0, nullptr);
        code != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("probe produce: " + RdKafka::err2str(code));
    }
    if (producer->flush(30000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("probe flush timed out");

    auto dir = std::filesystem::temp_directory_path() / ("allot-bench-" + run);
    std::filesystem::remove_all(dir);
    auto started = Clock::now();
    auto store = state::StateStore::open(dir.string());
    metrics::Registry registry;
    processors::RunnerProbe probe_metrics(registry);
    std::atomic<bool> stop{false};
    std::thread worker([&] { processors::run_processor(opt, *store, probe_metrics, stop); });
    auto deadline = Clock::now() + std::chrono::minutes(10);
    auto decided = [&] {
      double sum = 0;
      for (const auto& [labels, c] : probe_metrics.commands.series()) sum += c->value();
      return sum;
    };
    while (decided() < 1 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    double recovery_s = std::chrono::duration<double>(Clock::now() - started).count();
    stop = true;
    worker.join();
    auto restore = probe_metrics.restore_seconds.snapshot();
    std::cout << std::fixed << std::setprecision(2)
              << "| state records | partitions | preload (s) | restored | restore (s) | "
              << "restart to deciding again (s) | restore rate (records/s) |\n|---:|---:|---:|---:|---:|---:|---:|\n"
              << "| " << records << " | " << partitions << " | " << preload_s << " | "
              << static_cast<int64_t>(probe_metrics.restored_records.value()) << " | " << restore.sum << " | "
              << recovery_s << " | " << std::setprecision(0) << probe_metrics.restored_records.value() / restore.sum
              << " |\n";
    std::filesystem::remove_all(dir);
    topics::delete_topics(brokers, {opt.commands_topic, opt.decisions_topic, opt.changelog_topic}, 15000);
    return decided() >= 1 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench failed: " << e.what() << "\n";
    return 1;
  }
}
