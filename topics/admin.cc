#include "topics/admin.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>

namespace allot::topics {

namespace {

struct KafkaDeleter {
  void operator()(rd_kafka_t* k) const { rd_kafka_destroy(k); }
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
  void operator()(rd_kafka_ConfigResource_t* r) const { rd_kafka_ConfigResource_destroy(r); }
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
  void operator()(rd_kafka_DeleteGroup_t* g) const { rd_kafka_DeleteGroup_destroy(g); }
  void operator()(rd_kafka_DeleteTopic_t* t) const { rd_kafka_DeleteTopic_destroy(t); }
};
template <typename T>
using Owned = std::unique_ptr<T, KafkaDeleter>;

// The array of request objects librdkafka's batch admin calls take, each freed with the array.
template <typename T>
struct OwnedArray {
  std::vector<Owned<T>> owned;
  std::vector<T*> raw;
  T* add(T* item) {
    owned.emplace_back(item);
    raw.push_back(item);
    return item;
  }
};

Owned<rd_kafka_t> make_admin(const std::string& brokers) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(err);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);  // takes conf on success
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("admin client: ") + err);
  }
  return Owned<rd_kafka_t>(rk);
}

// Waits for the admin result event of `type` on `queue`.
Owned<rd_kafka_event_t> wait_result(rd_kafka_queue_t* queue, rd_kafka_event_type_t type, int timeout_ms) {
  Owned<rd_kafka_event_t> ev(rd_kafka_queue_poll(queue, timeout_ms + 1000));
  if (!ev) throw std::runtime_error("admin request timed out: is the broker up?");
  if (rd_kafka_event_type(ev.get()) != type) throw std::runtime_error("unexpected admin event");
  if (rd_kafka_event_error(ev.get())) throw std::runtime_error(rd_kafka_event_error_string(ev.get()));
  return ev;
}

// Throws on the first topic result with an error other than `tolerated` ("create", "delete topic").
void check_topic_results(const rd_kafka_topic_result_t* const* results, size_t n, rd_kafka_resp_err_t tolerated,
                         const std::string& verb) {
  for (size_t i = 0; i < n; ++i) {
    auto code = rd_kafka_topic_result_error(results[i]);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != tolerated) {
      throw std::runtime_error(verb + " " + rd_kafka_topic_result_name(results[i]) + ": " +
                               rd_kafka_topic_result_error_string(results[i]));
    }
  }
}

// A topic as the cluster's metadata shows it.
struct LiveTopic {
  int partitions = 0;
  int min_replicas = 0;  // the fewest and most replicas any partition has
  int max_replicas = 0;
};
struct ClusterView {
  int brokers = 0;
  std::map<std::string, LiveTopic> topics;
};

ClusterView cluster_view(rd_kafka_t* rk, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  auto code = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (code) throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(code));
  ClusterView out;
  out.brokers = md->broker_cnt;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err) continue;
    LiveTopic live;
    live.partitions = t.partition_cnt;
    for (int p = 0; p < t.partition_cnt; ++p) {
      int n = t.partitions[p].replica_cnt;
      live.min_replicas = p == 0 ? n : std::min(live.min_replicas, n);
      live.max_replicas = std::max(live.max_replicas, n);
    }
    out.topics[t.topic] = live;
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

// The configs a topic should have: its definition's and the fitted min.insync.replicas.
std::map<std::string, std::string> wanted_configs(const TopicSpec& s, const Replication& r) {
  auto wanted = s.configs;
  wanted["min.insync.replicas"] = std::to_string(r.min_insync_replicas);
  return wanted;
}

// Creates the topics; returns the names of those that existed already (the metadata read before was
// older than the cluster: another broker's view, or a concurrent apply).
std::set<std::string> create_topics(rd_kafka_t* rk, rd_kafka_queue_t* queue, const std::vector<const TopicSpec*>& specs,
                                    int cluster_size, int timeout_ms) {
  char err[512];
  OwnedArray<rd_kafka_NewTopic_t> topics;
  for (const auto* s : specs) {
    auto r = replication_for(*s, cluster_size);
    rd_kafka_NewTopic_t* topic =
        rd_kafka_NewTopic_new(s->name.c_str(), s->partitions, r.replication_factor, err, sizeof err);
    if (!topic) throw std::runtime_error(s->name + ": " + err);
    topics.add(topic);
    for (const auto& [k, v] : wanted_configs(*s, r)) {
      if (rd_kafka_NewTopic_set_config(topic, k.c_str(), v.c_str())) {
        throw std::runtime_error(s->name + ": bad config " + k);
      }
    }
  }
  Owned<rd_kafka_AdminOptions_t> opts(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_operation_timeout(opts.get(), timeout_ms, err, sizeof err);
  rd_kafka_CreateTopics(rk, topics.raw.data(), topics.raw.size(), opts.get(), queue);
  auto ev = wait_result(queue, RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms);
  size_t n = 0;
  const auto* results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  check_topic_results(results, n, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "create");
  std::set<std::string> existed;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_topic_result_error(results[i]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      existed.insert(rd_kafka_topic_result_name(results[i]));
    }
  }
  return existed;
}

// Topic -> its configs as the broker reports them.
std::map<std::string, std::map<std::string, std::string>> describe_configs(rd_kafka_t* rk, rd_kafka_queue_t* queue,
                                                                           const std::vector<const TopicSpec*>& specs,
                                                                           int timeout_ms) {
  OwnedArray<rd_kafka_ConfigResource_t> resources_asked;
  for (const auto* s : specs) {
    resources_asked.add(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, s->name.c_str()));
  }
  Owned<rd_kafka_AdminOptions_t> opts(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
  rd_kafka_DescribeConfigs(rk, resources_asked.raw.data(), resources_asked.raw.size(), opts.get(), queue);
  auto ev = wait_result(queue, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms);
  size_t n = 0;
  const auto* resources =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  std::map<std::string, std::map<std::string, std::string>> out;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(resources[i])) continue;
    auto& configs = out[rd_kafka_ConfigResource_name(resources[i])];
    size_t m = 0;
    const auto* entries = rd_kafka_ConfigResource_configs(resources[i], &m);
    for (size_t j = 0; j < m; ++j) {
      const char* v = rd_kafka_ConfigEntry_value(entries[j]);
      configs[rd_kafka_ConfigEntry_name(entries[j])] = v ? v : "";
    }
  }
  return out;
}

// Replaces the topic's dynamic configs with exactly `configs` (the legacy AlterConfigs request, the
// one librdkafka 2.0 has: a config left out returns to the broker's default).
void alter_configs(rd_kafka_t* rk, rd_kafka_queue_t* queue, const std::string& topic,
                   const std::map<std::string, std::string>& configs, int timeout_ms) {
  OwnedArray<rd_kafka_ConfigResource_t> resources;
  auto* resource = resources.add(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  for (const auto& [k, v] : configs) {
    if (rd_kafka_ConfigResource_set_config(resource, k.c_str(), v.c_str())) {
      throw std::runtime_error(topic + ": bad config " + k);
    }
  }
  Owned<rd_kafka_AdminOptions_t> opts(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS));
  rd_kafka_AlterConfigs(rk, resources.raw.data(), resources.raw.size(), opts.get(), queue);
  auto ev = wait_result(queue, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, timeout_ms);
  size_t n = 0;
  const auto* results = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (auto code = rd_kafka_ConfigResource_error(results[i])) {
      const char* why = rd_kafka_ConfigResource_error_string(results[i]);
      throw std::runtime_error("alter configs of " + topic + ": " + (why ? why : rd_kafka_err2str(code)));
    }
  }
}

// "12 partitions, replication factor 3, min.insync.replicas 2" (no partitions for an internal topic).
std::string describe(const TopicSpec& s, const Replication& r) {
  return (s.internal ? "" : std::to_string(s.partitions) + " partitions, ") + "replication factor " +
         std::to_string(r.replication_factor) + ", min.insync.replicas " + std::to_string(r.min_insync_replicas);
}

// What differs between a definition and the live topic: " what=have (want x)" per difference, or "".
std::string drift(const TopicSpec& s, const Replication& r, const LiveTopic& live,
                  const std::map<std::string, std::string>& configs) {
  std::string diff;
  if (!s.internal && live.partitions != s.partitions) {
    diff += " partitions " + std::to_string(live.partitions) + " (want " + std::to_string(s.partitions) + ")";
  }
  if (live.min_replicas != r.replication_factor || live.max_replicas != r.replication_factor) {
    auto have = std::to_string(live.min_replicas);
    if (live.max_replicas != live.min_replicas) have += "-" + std::to_string(live.max_replicas);
    diff += " replication factor " + have + " (want " + std::to_string(r.replication_factor) + ")";
  }
  for (const auto& [k, v] : wanted_configs(s, r)) {
    auto it = configs.find(k);
    if (it == configs.end() || it->second != v) {
      diff += " " + k + "=" + (it == configs.end() ? "?" : it->second) + " (want " + v + ")";
    }
  }
  return diff;
}

}  // namespace

ApplyReport apply_specs(const std::string& brokers, const std::vector<TopicSpec>& specs, int timeout_ms,
                        int cluster_size) {
  auto rk = make_admin(brokers);
  Owned<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk.get()));
  auto cluster = cluster_view(rk.get(), timeout_ms);

  ApplyReport report;
  report.brokers_answering = cluster.brokers;
  report.cluster_size = cluster_size > 0 ? cluster_size : cluster.brokers;
  std::vector<const TopicSpec*> missing, present;
  for (const auto& s : specs) {
    if (cluster.topics.count(s.name)) {
      present.push_back(&s);
    } else if (s.internal) {
      report.absent.push_back(s.name + ": not created yet (the broker creates it on first use)");
    } else {
      missing.push_back(&s);
    }
  }
  if (!missing.empty()) {
    auto existed = create_topics(rk.get(), queue.get(), missing, report.cluster_size, timeout_ms);
    for (const auto* s : missing) {
      if (existed.count(s->name)) {
        present.push_back(s);  // checked like the others below
      } else {
        report.created.push_back(s->name + ": " + describe(*s, replication_for(*s, report.cluster_size)));
      }
    }
  }
  if (!present.empty()) {
    // On a cluster, the broker asked may not know yet a topic that another one knows (one created a moment
    // ago): ask again, for up to 5 s, before calling its partitions or configs unknown.
    auto known = [&](const auto& view) {
      return std::all_of(present.begin(), present.end(), [&](const TopicSpec* s) { return view.count(s->name) > 0; });
    };
    auto actual = describe_configs(rk.get(), queue.get(), present, timeout_ms);
    for (int attempt = 0; attempt < 10 && !(known(cluster.topics) && known(actual)); ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      cluster = cluster_view(rk.get(), timeout_ms);
      actual = describe_configs(rk.get(), queue.get(), present, timeout_ms);
    }
    // Configs are data in topics.json: a topic whose configs differ gets them (e.g. the changelog's
    // compaction settings for deleted events). Partitions and replication are only reported.
    bool altered = false;
    for (const auto* s : present) {
      if (s->internal) continue;
      auto r = replication_for(*s, report.cluster_size);
      auto wanted = wanted_configs(*s, r);
      auto& have = actual[s->name];
      // min.insync.replicas follows the replication, which apply never changes: raised on a topic with
      // fewer replicas it would refuse every acks=all write. There it stays as it is (and is reported).
      if (const auto& live = cluster.topics[s->name]; live.min_replicas != r.replication_factor) {
        if (auto it = have.find("min.insync.replicas"); it != have.end()) {
          wanted["min.insync.replicas"] = it->second;
        } else {
          wanted.erase("min.insync.replicas");
        }
      }
      if (std::all_of(wanted.begin(), wanted.end(), [&](const auto& kv) {
            auto it = have.find(kv.first);
            return it != have.end() && it->second == kv.second;
          })) {
        continue;
      }
      alter_configs(rk.get(), queue.get(), s->name, wanted, timeout_ms);
      report.altered.push_back(s->name);
      altered = true;
    }
    if (altered) actual = describe_configs(rk.get(), queue.get(), present, timeout_ms);
    for (const auto* s : present) {
      auto r = replication_for(*s, report.cluster_size);
      auto diff = drift(*s, r, cluster.topics[s->name], actual[s->name]);
      if (diff.empty()) {
        report.unchanged.push_back(s->name + ": " + describe(*s, r));
      } else {
        report.drifted.push_back(s->name + ":" + diff);
      }
    }
  }
  return report;
}

void set_topic_configs(const std::string& brokers, const std::string& topic,
                       const std::map<std::string, std::string>& configs, int timeout_ms) {
  auto rk = make_admin(brokers);
  Owned<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk.get()));
  alter_configs(rk.get(), queue.get(), topic, configs, timeout_ms);
}

void delete_groups(const std::string& brokers, const std::vector<std::string>& groups, int timeout_ms) {
  auto rk = make_admin(brokers);
  Owned<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk.get()));
  OwnedArray<rd_kafka_DeleteGroup_t> deletions;
  for (const auto& g : groups) deletions.add(rd_kafka_DeleteGroup_new(g.c_str()));
  Owned<rd_kafka_AdminOptions_t> opts(rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_DELETEGROUPS));
  rd_kafka_DeleteGroups(rk.get(), deletions.raw.data(), deletions.raw.size(), opts.get(), queue.get());
  auto ev = wait_result(queue.get(), RD_KAFKA_EVENT_DELETEGROUPS_RESULT, timeout_ms);
  size_t n = 0;
  const auto* results = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_error_t* err = rd_kafka_group_result_error(results[i]);
    if (err && rd_kafka_error_code(err) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
      throw std::runtime_error(std::string("delete group ") + rd_kafka_group_result_name(results[i]) + ": " +
                               rd_kafka_error_string(err));
    }
  }
}

void delete_topics(const std::string& brokers, const std::vector<std::string>& names, int timeout_ms) {
  auto rk = make_admin(brokers);
  Owned<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk.get()));
  OwnedArray<rd_kafka_DeleteTopic_t> deletions;
  for (const auto& name : names) deletions.add(rd_kafka_DeleteTopic_new(name.c_str()));
  Owned<rd_kafka_AdminOptions_t> opts(rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS));
  rd_kafka_DeleteTopics(rk.get(), deletions.raw.data(), deletions.raw.size(), opts.get(), queue.get());
  auto ev = wait_result(queue.get(), RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout_ms);
  size_t n = 0;
  const auto* results = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
  check_topic_results(results, n, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "delete topic");
}

}  // namespace allot::topics
