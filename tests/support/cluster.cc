#include "cluster.h"

#include <librdkafka/rdkafkacpp.h>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/kafka.h"

namespace allot::testsupport {

using namespace std::chrono_literals;

double since(FaultClock::time_point t) { return std::chrono::duration<double>(FaultClock::now() - t).count(); }

// "decided again 3.2 s" / "NOT decided again" (a probe got no 202 in 2 min, or no decision 2 min after it).
std::string decided_text(double seconds) {
  std::ostringstream s;
  if (seconds < 0) {
    s << "NOT decided again";
  } else {
    s << std::fixed << std::setprecision(1) << "decided again " << seconds << " s";
  }
  return s.str();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The node count the stack runs with: ALLOT_KAFKA_NODES, else what `up` last used in the run dir, else 1.
int configured_nodes() {
  const char* env = std::getenv("ALLOT_KAFKA_NODES");
  std::string text = env && *env ? env : slurp(run_dir() + "/kafka.nodes");
  try {
    return text.empty() ? 1 : std::stoi(text);
  } catch (const std::exception&) {
    return 1;
  }
}

std::string kafka_service(int node) { return "kafka-" + std::to_string(node); }

std::string broker_address(int node) {
  std::istringstream list(brokers());
  std::string address;
  for (int i = 1; std::getline(list, address, ','); ++i) {
    if (i == node) return address;
  }
  return "";
}

ClusterView read_cluster(const std::string& bootstrap) {
  ClusterView out;
  auto producer = kafka::make_producer({{"bootstrap.servers", bootstrap}});
  RdKafka::Metadata* raw = nullptr;
  auto code = producer->metadata(true, nullptr, &raw, 5000);
  if (code != RdKafka::ERR_NO_ERROR) {
    out.not_replicated = "metadata: " + RdKafka::err2str(code);
    return out;
  }
  std::unique_ptr<RdKafka::Metadata> md(raw);
  for (const auto* b : *md->brokers()) out.brokers.insert(b->id());
  for (const auto* t : *md->topics()) {
    const auto& name = t->topic();
    if (name.rfind("allot.", 0) != 0 && name.rfind("__", 0) != 0) continue;
    for (const auto* p : *t->partitions()) {
      if (name == "allot.commands" && p->leader() >= 0) ++out.commands_leading[p->leader()];
      if ((name.rfind("allot.", 0) == 0 || name == "__consumer_offsets") && p->leader() >= 0) {
        ++out.leading[p->leader()];
      }
      bool full = p->err() == RdKafka::ERR_NO_ERROR && p->leader() >= 0 && p->isrs()->size() == p->replicas()->size();
      if (!full && out.not_replicated.empty()) {
        out.not_replicated = name + "[" + std::to_string(p->id()) + "] leader " + std::to_string(p->leader()) +
                             ", isr " + std::to_string(p->isrs()->size()) + "/" + std::to_string(p->replicas()->size());
      }
    }
  }
  return out;
}

// Waits until all three brokers answer and every partition has a leader and its full ISR; returns the
// seconds it took, or -1 after `timeout` (then `why` says what was missing).
// Every broker is asked: one just healed may still answer from its stale metadata (a full ISR it had before).
double wait_fully_replicated(std::chrono::seconds timeout, std::string* why) {
  auto start = FaultClock::now();
  std::string missing;
  while (FaultClock::now() - start < timeout) {
    missing.clear();
    for (int node = 1; node <= 3 && missing.empty(); ++node) {
      auto v = read_cluster(broker_address(node));
      if (v.brokers.size() < 3 || !v.not_replicated.empty()) {
        missing = kafka_service(node) + " sees " + std::to_string(v.brokers.size()) + " brokers; " + v.not_replicated;
      }
    }
    if (missing.empty()) return since(start);
    std::this_thread::sleep_for(500ms);
  }
  if (why) *why = missing;
  return -1;
}

// The quorum's active controller: the leader id of the highest epoch any node's quorum-state records.
int active_controller() {
  int leader = -1;
  int64_t epoch = -1;
  for (int node = 1; node <= 3; ++node) {
    auto text = slurp(run_dir() + "/" + kafka_service(node) + "/data/__cluster_metadata-0/quorum-state");
    try {
      auto j = nlohmann::json::parse(text);
      if (j.value("leaderEpoch", int64_t{-1}) > epoch && j.value("leaderId", -1) >= 0) {
        epoch = j["leaderEpoch"].get<int64_t>();
        leader = j["leaderId"].get<int>();
      }
    } catch (const std::exception&) {
      // a node that never wrote it, or mid-write: the others say who leads
    }
  }
  return leader;
}

// How often the stack's supervisors restarted allot's services so far (each exit logs one line).
int service_restarts() {
  int n = 0;
  for (const char* name :
       {"ingress", "processor-1", "processor-2", "processor-3", "processor-4", "sink-mysql", "sink-redis"}) {
    std::istringstream log(slurp(run_dir() + "/" + name + ".log"));
    for (std::string line; std::getline(log, line);) n += line.rfind("supervisor: exited", 0) == 0;
  }
  return n;
}

// The nodes in the order to fault them: with `leaders_first`, by how many allot.commands partitions each
// leads, most first (ties by id); else 1, 2, 3.
std::vector<int> fault_order(bool leaders_first) {
  std::vector<int> order{1, 2, 3};
  if (!leaders_first) return order;
  auto v = read_cluster();
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return v.commands_leading[a] > v.commands_leading[b]; });
  std::cout << "allot.commands partitions led:";
  for (int n : order) std::cout << " kafka-" << n << " " << v.commands_leading[n];
  std::cout << std::endl;
  return order;
}

namespace {
// The leader of `id`'s partition of the coordinators' topic `internal_topic`.
int coordinator(const std::string& id, const std::string& internal_topic) {
  int32_t hash = 0;  // java.lang.String.hashCode (the ids are ASCII)
  for (unsigned char ch : id) hash = static_cast<int32_t>(31U * static_cast<uint32_t>(hash) + ch);
  const int32_t positive = hash == INT32_MIN ? 0 : std::abs(hash);
  auto producer = kafka::make_producer({{"bootstrap.servers", brokers()}});
  RdKafka::Metadata* raw = nullptr;
  if (producer->metadata(true, nullptr, &raw, 5000) != RdKafka::ERR_NO_ERROR) return -1;
  std::unique_ptr<RdKafka::Metadata> md(raw);
  for (const auto* t : *md->topics()) {
    if (t->topic() != internal_topic || t->partitions()->empty()) continue;
    const auto partition = positive % static_cast<int32_t>(t->partitions()->size());
    for (const auto* p : *t->partitions()) {
      if (p->id() == partition) return p->leader();
    }
  }
  return -1;
}

}  // namespace

int transaction_coordinator(const std::string& transactional_id) {
  return coordinator(transactional_id, "__transaction_state");
}

int group_coordinator(const std::string& group_id) { return coordinator(group_id, "__consumer_offsets"); }

}  // namespace allot::testsupport
