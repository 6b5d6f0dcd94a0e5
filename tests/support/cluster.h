#pragma once
// The 3-node Kafka cluster as the cluster fault tests (tests/integration/cluster_faults_test.cc) and the network
// partition tests (partition_test.cc) see it: which brokers answer, who leads what, whether every partition is
// fully replicated, the active controller, a transaction's coordinator, and the ingress's /readyz over time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fault_load.h"
#include "support.h"

namespace allot::testsupport {

// Seconds since `t`.
double since(FaultClock::time_point t);

// "decided again 3.2 s" / "NOT decided again" (a negative `seconds`).
std::string decided_text(double seconds);

// A file's whole text ("" when it cannot be read).
std::string slurp(const std::string& path);

// The node count the stack runs with: ALLOT_KAFKA_NODES, else what `up` last used in the run dir, else 1.
int configured_nodes();

// kafka-N: node N's component name in a cluster.
std::string kafka_service(int node);

// The cluster as its metadata shows it.
struct ClusterView {
  std::set<int32_t> brokers;                // brokers that answer
  std::map<int32_t, int> commands_leading;  // broker -> partitions of allot.commands it leads
  std::map<int32_t, int> leading;           // broker -> partitions of allot.* and __consumer_offsets it leads
  std::string not_replicated;               // first partition (allot.* or internal) without a leader or a full ISR
};

// From the metadata a fresh client gets from `bootstrap` (its first request goes there: a broker cut off from
// the others answers with its own stale view, the majority's brokers with the cluster's).
ClusterView read_cluster(const std::string& bootstrap = brokers());

// Node N's broker address: the N-th of ALLOT_KAFKA_BROKERS.
std::string broker_address(int node);

// Waits until all three brokers answer and, in each one's metadata, every partition has a leader and its full
// ISR; returns the seconds it took, or -1 after `timeout` (then `why` says what was missing).
double wait_fully_replicated(std::chrono::seconds timeout, std::string* why = nullptr);

// The quorum's active controller: the leader id of the highest epoch any node's quorum-state records.
int active_controller();

// How often the stack's supervisors restarted allot's services so far (each exit logs one line).
int service_restarts();

// The nodes in the order to fault them: with `leaders_first`, by how many allot.commands partitions each
// leads, most first (ties by id); else 1, 2, 3.
std::vector<int> fault_order(bool leaders_first);

// The broker that coordinates `transactional_id`'s transactions: the leader of its partition of
// __transaction_state (Kafka's partitionFor: abs(Java hashCode) mod the topic's partition count); -1 when the
// metadata does not say.
int transaction_coordinator(const std::string& transactional_id);

// The same for a consumer group: the leader of its partition of __consumer_offsets.
int group_coordinator(const std::string& group_id);

// /readyz of the ingress, asked every 0.2 s from a background thread until destroyed (at most 100,000 times).
class ReadyzWatch {
 public:
  ReadyzWatch() : thread_([this] { run(); }) {}
  ~ReadyzWatch() {
    stop_ = true;
    thread_.join();
  }
  // How often /readyz answered 503 (not ready) between `from` and `to`.
  int not_ready_between(FaultClock::time_point from, FaultClock::time_point to) const {
    std::lock_guard lock(mu_);
    return static_cast<int>(std::count_if(not_ready_at_.begin(), not_ready_at_.end(),
                                          [&](FaultClock::time_point t) { return t >= from && t <= to; }));
  }

 private:
  void run() {
    HttpClient http(http_port(), http_host());
    for (int i = 0; i < 100000 && !stop_; ++i) {
      try {
        if (http.request("GET", "/readyz").status == 503) {
          std::lock_guard lock(mu_);
          not_ready_at_.push_back(FaultClock::now());
        }
      } catch (const std::exception&) {
        // the ingress restarting: not an answer
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<FaultClock::time_point> not_ready_at_;
  std::thread thread_;
};

}  // namespace allot::testsupport
