// Integration test against the live Kafka of the local stack (scripts/stack up), one node or a cluster
// (ALLOT_KAFKA_NODES=3): the topics replicate as topics/topics.json says for the cluster's size.
// It reads the cluster itself (metadata: each partition's replicas and in-sync replicas; DescribeConfigs:
// min.insync.replicas), independently of `allotctl topics apply`, for allot's topics and for the broker's
// internal ones (__consumer_offsets, __transaction_state), then checks that the tool reports drift.
//
// Broker: ALLOT_KAFKA_BROKERS (default 127.0.0.1:19092; `scripts/stack brokers` prints every node's). The
// cluster's size is ALLOT_KAFKA_NODES when set (and its metadata must list that many brokers), else the
// number of brokers its metadata lists. A broker that is down fails the test, naming it.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/config.h"
#include "common/kafka.h"
#include "support.h"
#include "topics/admin.h"
#include "topics/topics.h"

namespace allot {
namespace {

using namespace std::chrono_literals;
using testsupport::brokers;

std::vector<topics::TopicSpec> checked_in_specs() {
  std::ifstream in(testsupport::repo_root() + "/topics/topics.json");
  std::stringstream text;
  text << in.rdbuf();
  return topics::parse_specs(text.str());
}

// topics.json's topics as this deployment created them: it may have chosen its own partition count at creation
// (ALLOT_TOPIC_PARTITIONS, else what the stack created the topics with, which scripts/stack remembers).
std::vector<topics::TopicSpec> deployed_specs() {
  int64_t chosen = env_int("ALLOT_TOPIC_PARTITIONS", 0, 0, 9999);
  if (chosen == 0) std::ifstream(testsupport::run_dir() + "/topic.partitions") >> chosen;
  auto specs = checked_in_specs();
  return chosen > 0 ? topics::with_partitions(std::move(specs), static_cast<int32_t>(chosen)) : specs;
}

// A topic as the cluster's metadata shows it: per partition, how many replicas and in-sync replicas.
struct LiveTopic {
  std::vector<int> replicas;
  std::vector<int> in_sync;
  std::vector<int> leaders;
};
struct Cluster {
  int brokers = 0;
  std::set<int32_t> broker_ids;   // the brokers that answer
  std::set<int32_t> replica_ids;  // the brokers that hold a replica of any partition
  std::map<std::string, LiveTopic> topics;
};

Cluster read_cluster() {
  auto producer = kafka::make_producer({{"bootstrap.servers", brokers()}});
  RdKafka::Metadata* raw = nullptr;
  auto code = producer->metadata(true, nullptr, &raw, 10000);
  if (code != RdKafka::ERR_NO_ERROR) throw std::runtime_error("metadata: " + RdKafka::err2str(code));
  std::unique_ptr<RdKafka::Metadata> md(raw);
  Cluster out;
  out.brokers = static_cast<int>(md->brokers()->size());
  for (const auto* b : *md->brokers()) out.broker_ids.insert(b->id());
  for (const auto* t : *md->topics()) {
    if (t->err() != RdKafka::ERR_NO_ERROR) continue;
    auto& live = out.topics[t->topic()];
    for (const auto* p : *t->partitions()) {
      live.replicas.push_back(static_cast<int>(p->replicas()->size()));
      live.in_sync.push_back(static_cast<int>(p->isrs()->size()));
      live.leaders.push_back(p->leader());
      out.replica_ids.insert(p->replicas()->begin(), p->replicas()->end());
    }
  }
  return out;
}

// topic -> min.insync.replicas as the brokers report it (the topic's own or the broker's default).
std::map<std::string, std::string> min_insync_replicas(const std::vector<std::string>& names) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers().c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(err);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(err);
  }
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> admin(rk, rd_kafka_destroy);
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(rd_kafka_queue_new(rk),
                                                                             rd_kafka_queue_destroy);
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const auto& n : names) resources.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, n.c_str()));
  rd_kafka_DescribeConfigs(rk, resources.data(), resources.size(), nullptr, queue.get());
  for (auto* r : resources) rd_kafka_ConfigResource_destroy(r);
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> ev(rd_kafka_queue_poll(queue.get(), 20000),
                                                                          rd_kafka_event_destroy);
  if (!ev) throw std::runtime_error("DescribeConfigs timed out");
  if (rd_kafka_event_error(ev.get())) throw std::runtime_error(rd_kafka_event_error_string(ev.get()));
  size_t n = 0;
  const auto* result = rd_kafka_event_DescribeConfigs_result(ev.get());
  if (!result) throw std::runtime_error("not a DescribeConfigs result");
  const auto* described = rd_kafka_DescribeConfigs_result_resources(result, &n);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(described[i])) continue;
    size_t m = 0;
    const auto* entries = rd_kafka_ConfigResource_configs(described[i], &m);
    for (size_t j = 0; j < m; ++j) {
      if (std::string(rd_kafka_ConfigEntry_name(entries[j])) == "min.insync.replicas") {
        const char* v = rd_kafka_ConfigEntry_value(entries[j]);
        out[rd_kafka_ConfigResource_name(described[i])] = v ? v : "";
      }
    }
  }
  return out;
}

// The broker creates its internal topics on first use; on a stack whose processors run they exist already.
// A group coordinator lookup makes __consumer_offsets, a transactional producer __transaction_state.
void make_internal_topics_exist() {
  auto id = testsupport::unique_id("cluster-test");
  auto consumer = kafka::make_consumer({{"bootstrap.servers", brokers()}, {"group.id", id}});
  std::vector<RdKafka::TopicPartition*> tps{RdKafka::TopicPartition::create("allot.commands", 0)};
  auto code = consumer->committed(tps, 30000);
  RdKafka::TopicPartition::destroy(tps);
  EXPECT_EQ(code, RdKafka::ERR_NO_ERROR) << "committed offsets (group coordinator): " << RdKafka::err2str(code);
  EXPECT_EQ(consumer->close(), RdKafka::ERR_NO_ERROR);
  auto producer = kafka::make_producer({{"bootstrap.servers", brokers()}, {"transactional.id", id}});
  kafka::ErrorPtr error(producer->init_transactions(30000));
  EXPECT_FALSE(error) << "init_transactions: " << (error ? error->str() : "");
}

int expected_cluster_size(const Cluster& cluster) {
  for (int32_t id : cluster.replica_ids) {
    EXPECT_TRUE(cluster.broker_ids.count(id)) << "broker " << id << " holds replicas but is not in the cluster's "
                                              << "metadata: is it down?";
  }
  if (const char* nodes = std::getenv("ALLOT_KAFKA_NODES"); nodes && *nodes) {
    EXPECT_EQ(cluster.brokers, std::atoi(nodes)) << "brokers in the metadata vs ALLOT_KAFKA_NODES";
    return std::atoi(nodes);
  }
  return cluster.brokers;
}

TEST(KafkaCluster, TopicsReplicateAsDefinedForTheClusterSize) {
  make_internal_topics_exist();
  auto specs = deployed_specs();
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);

  // A broker that was just restarted may still be catching up: in-sync replicas get a minute to reach
  // min.insync.replicas. Replica counts and configs do not change with that; they are checked once, below.
  Cluster cluster;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;;) {
    cluster = read_cluster();
    bool caught_up = true;
    for (const auto& s : specs) {
      auto want = topics::replication_for(s, cluster.brokers);
      for (int isr : cluster.topics[s.name].in_sync) caught_up = caught_up && isr >= want.min_insync_replicas;
    }
    if (caught_up || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(1s);
  }
  const int size = expected_cluster_size(cluster);
  ASSERT_GE(size, 1);
  auto min_isr = min_insync_replicas(names);
  std::cout << "cluster of " << size << " broker(s)\n";

  for (const auto& s : specs) {
    SCOPED_TRACE(s.name);
    auto want = topics::replication_for(s, size);
    ASSERT_TRUE(cluster.topics.count(s.name)) << s.name << " does not exist";
    const auto& live = cluster.topics[s.name];
    if (!s.internal) {
      EXPECT_EQ(static_cast<int>(live.replicas.size()), s.partitions) << "partitions";
    }
    int wrong_replicas = 0, short_isr = 0, leaderless = 0;
    for (size_t p = 0; p < live.replicas.size(); ++p) {
      wrong_replicas += live.replicas[p] != want.replication_factor;
      short_isr += live.in_sync[p] < want.min_insync_replicas;
      leaderless += live.leaders[p] < 0;
    }
    EXPECT_EQ(wrong_replicas, 0) << "partitions whose replica count is not " << want.replication_factor;
    EXPECT_EQ(short_isr, 0) << "partitions with fewer than " << want.min_insync_replicas << " in-sync replicas";
    EXPECT_EQ(leaderless, 0) << "partitions without a leader";
    EXPECT_EQ(min_isr[s.name], std::to_string(want.min_insync_replicas)) << "min.insync.replicas";
    std::cout << "  " << s.name << ": " << live.replicas.size() << " partitions, replication factor "
              << want.replication_factor << ", min.insync.replicas " << min_isr[s.name] << "\n";
  }
  // Transactions and groups depend on the internal topics: the definitions must name them.
  for (const char* internal : {"__consumer_offsets", "__transaction_state"}) {
    bool defined = false;
    for (const auto& s : specs) defined = defined || (s.internal && s.name == internal);
    EXPECT_TRUE(defined) << internal << " is not among topics.json's internal_topics";
  }
}

TEST(KafkaCluster, TheTopicToolFindsNoDriftOnTheLiveTopics) {
  make_internal_topics_exist();
  const auto specs = deployed_specs();  // a count chosen at creation is the deployment's, not drift
  auto report = topics::apply_specs(brokers(), specs, 20000);
  EXPECT_TRUE(report.created.empty()) << "scripts/stack up applies the topics: " << report.created.front();
  EXPECT_TRUE(report.absent.empty());
  for (const auto& d : report.drifted) ADD_FAILURE() << "drift: " << d;
  EXPECT_EQ(report.unchanged.size(), specs.size());
}

// A live topic with fewer replicas and a lower min.insync.replicas than its definition asks is reported,
// never altered. The definition is checked as if for a cluster of three, so this runs on one node too.
TEST(KafkaCluster, TheTopicToolReportsReplicationDrift) {
  topics::TopicSpec thin{"allot.test." + testsupport::unique_id("drift"), 2, {}};  // 1 replica, 1 in sync
  topics::apply_specs(brokers(), {thin}, 20000);
  auto wanted = thin;
  wanted.replication_factor = 3;
  wanted.min_insync_replicas = 2;
  auto report = topics::apply_specs(brokers(), {wanted}, 20000, 3);
  topics::delete_topics(brokers(), {thin.name}, 20000);
  ASSERT_EQ(report.drifted.size(), 1u);
  EXPECT_NE(report.drifted[0].find("replication factor 1 (want 3)"), std::string::npos) << report.drifted[0];
  EXPECT_NE(report.drifted[0].find("min.insync.replicas=1 (want 2)"), std::string::npos) << report.drifted[0];
  EXPECT_TRUE(report.created.empty());
}

}  // namespace
}  // namespace allot
