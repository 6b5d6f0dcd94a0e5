// allotctl: the operator's tool.
//   allotctl topics apply [--brokers B] [--file topics/topics.json]   create missing topics, report drift
//   allotctl groups delete GROUP... [--brokers B]                      forget groups' offsets (for replays)
//   allotctl groups wait GROUP TOPIC [--timeout S] [--brokers B]       wait until GROUP has consumed TOPIC
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <thread>

#include "common/config.h"
#include "common/kafka.h"
#include "topics/admin.h"

namespace {

int usage() {
  std::cerr << "usage: allotctl topics apply [--brokers HOST:PORT] [--file topics.json]\n"
               "       allotctl groups delete GROUP... [--brokers HOST:PORT]\n"
               "       allotctl groups wait GROUP TOPIC [--timeout SECONDS] [--brokers HOST:PORT]\n";
  return 2;
}

// Value of `--name` in args, or fallback.
std::string flag(const std::vector<std::string>& args, const std::string& name, const std::string& fallback) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return fallback;
}

int topics_apply(const std::vector<std::string>& args) {
  auto brokers = flag(args, "--brokers", allot::env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"));
  auto file = flag(args, "--file", "topics/topics.json");
  std::ifstream in(file);
  if (!in) {
    std::cerr << "allotctl: cannot read " << file << "\n";
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto report = allot::topics::apply_specs(brokers, allot::topics::parse_specs(text.str()), 15000);
  for (const auto& t : report.created) std::cout << "created   " << t << "\n";
  for (const auto& t : report.unchanged) std::cout << "ok        " << t << "\n";
  for (const auto& t : report.drifted) std::cout << "DIFFERS   " << t << "\n";
  return report.drifted.empty() ? 0 : 3;
}

int groups_delete(const std::vector<std::string>& args) {
  auto brokers = flag(args, "--brokers", allot::env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"));
  std::vector<std::string> groups;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--brokers") {
      ++i;
      continue;
    }
    groups.push_back(args[i]);
  }
  if (groups.empty()) return usage();
  allot::topics::delete_groups(brokers, groups, 15000);
  for (const auto& g : groups) std::cout << "deleted group " << g << "\n";
  return 0;
}

// Lag of `group` on `topic`: per partition, end minus committed, less the one commit marker a
// transactional topic ends with (no consumer commits past it).
int64_t group_lag(RdKafka::KafkaConsumer& c, const std::string& topic, int32_t partitions) {
  std::vector<RdKafka::TopicPartition*> tps;
  for (int32_t p = 0; p < partitions; ++p) tps.push_back(RdKafka::TopicPartition::create(topic, p));
  auto code = c.committed(tps, 5000);
  int64_t lag = 0;
  for (auto* tp : tps) {
    int64_t low = 0, high = 0;
    if (code == RdKafka::ERR_NO_ERROR &&
        c.query_watermark_offsets(topic, tp->partition(), &low, &high, 5000) == RdKafka::ERR_NO_ERROR) {
      int64_t committed = tp->offset() < 0 ? low : tp->offset();
      lag += std::max<int64_t>(0, high - committed - 1);
    } else {
      lag = -1;
      break;
    }
  }
  RdKafka::TopicPartition::destroy(tps);
  return lag;
}

int groups_wait(const std::vector<std::string>& args) {
  if (args.size() < 4) return usage();
  const auto& group = args[2];
  const auto& topic = args[3];
  auto brokers = flag(args, "--brokers", allot::env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"));
  int timeout_s = std::stoi(flag(args, "--timeout", "300"));
  auto c = allot::kafka::make_consumer({{"bootstrap.servers", brokers}, {"group.id", group}, {"enable.auto.commit", "false"}});
  int32_t partitions = allot::kafka::partition_count(*c, topic, std::chrono::seconds(10));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int64_t lag = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    lag = group_lag(*c, topic, partitions);
    if (lag == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  c->close();
  std::cout << group << " on " << topic << ": lag " << lag << "\n";
  return lag == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() >= 2 && args[0] == "topics" && args[1] == "apply") return topics_apply(args);
    if (args.size() >= 2 && args[0] == "groups" && args[1] == "delete") return groups_delete(args);
    if (args.size() >= 2 && args[0] == "groups" && args[1] == "wait") return groups_wait(args);
    return usage();
  } catch (const std::exception& e) {
    std::cerr << "allotctl: " << e.what() << "\n";
    return 1;
  }
}
