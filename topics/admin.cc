#include "topics/admin.h"

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <stdexcept>

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
void check_topic_results(const rd_kafka_topic_result_t* const* results, size_t n,
                         rd_kafka_resp_err_t tolerated, const std::string& verb) {
  for (size_t i = 0; i < n; ++i) {
    auto code = rd_kafka_topic_result_error(results[i]);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != tolerated) {
      throw std::runtime_error(verb + " " + rd_kafka_topic_result_name(results[i]) + ": " +
                               rd_kafka_topic_result_error_string(results[i]));
    }
  }
}

// Existing topic -> partition count, from cluster metadata.
std::map<std::string, int> existing_topics(rd_kafka_t* rk, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  auto code = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (code) throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(code));
  std::map<std::string, int> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (!md->topics[i].err) out[md->topics[i].topic] = md->topics[i].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

void create_topics(rd_kafka_t* rk, rd_kafka_queue_t* queue, const std::vector<const TopicSpec*>& specs,
                   int timeout_ms) {
  char err[512];
  OwnedArray<rd_kafka_NewTopic_t> topics;
  for (const auto* s : specs) {
    rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(s->name.c_str(), s->partitions, 1, err, sizeof err);
    if (!topic) throw std::runtime_error(s->name + ": " + err);
    topics.add(topic);
    for (const auto& [k, v] : s->configs) {
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
}

// Topic -> its configs as the broker reports them.
std::map<std::string, std::map<std::string, std::string>> describe_configs(
    rd_kafka_t* rk, rd_kafka_queue_t* queue, const std::vector<const TopicSpec*>& specs, int timeout_ms) {
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

}  // namespace

ApplyReport apply_specs(const std::string& brokers, const std::vector<TopicSpec>& specs, int timeout_ms) {
  auto rk = make_admin(brokers);
  Owned<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk.get()));
  auto existing = existing_topics(rk.get(), timeout_ms);

  ApplyReport report;
  std::vector<const TopicSpec*> missing, present;
  for (const auto& s : specs) (existing.count(s.name) ? present : missing).push_back(&s);
  if (!missing.empty()) {
    create_topics(rk.get(), queue.get(), missing, timeout_ms);
    for (const auto* s : missing) report.created.push_back(s->name);
  }
  if (!present.empty()) {
    auto actual = describe_configs(rk.get(), queue.get(), present, timeout_ms);
    for (const auto* s : present) {
      std::string diff;
      if (existing[s->name] != s->partitions) {
        diff += " partitions " + std::to_string(existing[s->name]) + " (want " + std::to_string(s->partitions) + ")";
      }
      for (const auto& [k, v] : s->configs) {
        const auto& have = actual[s->name];
        auto it = have.find(k);
        if (it == have.end() || it->second != v) {
          diff += " " + k + "=" + (it == have.end() ? "?" : it->second) + " (want " + v + ")";
        }
      }
      (diff.empty() ? report.unchanged : report.drifted).push_back(diff.empty() ? s->name : s->name + ":" + diff);
    }
  }
  return report;
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
