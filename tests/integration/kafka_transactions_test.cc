// Integration test against the real Kafka broker of the local stack (scripts/stack up):
// transactions work end to end. A transactional producer commits, aborts and commits again;
// a read_committed consumer sees only the committed records, in order; a read_uncommitted
// consumer sees every record. No mocks; a missing broker fails the test.
//
// Broker: ALLOT_KAFKA_BROKERS, default 127.0.0.1:19092.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

std::string brokers() { return env_or("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"); }

std::string unique_suffix() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

// librdkafka C handles with their destructors.
struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_event_t* ev) const { rd_kafka_event_destroy(ev); }
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
  void operator()(rd_kafka_DeleteTopic_t* t) const { rd_kafka_DeleteTopic_destroy(t); }
};
template <typename T>
using CPtr = std::unique_ptr<T, RdKafkaDeleter>;

// A plain C client used for the admin requests (librdkafka 2.0's C++ API has no admin API).
CPtr<rd_kafka_t> make_admin_client(std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers().c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    error = errstr;
    return nullptr;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new takes ownership only on success
    error = errstr;
  }
  return CPtr<rd_kafka_t>(rk);
}

// Asks the broker for metadata; fails with the broker address when it does not answer.
::testing::AssertionResult broker_answers(rd_kafka_t* rk) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, nullptr, &md, 10000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ::testing::AssertionFailure() << "Kafka at " << brokers()
                                         << " does not answer (is `scripts/stack up` running?): "
                                         << rd_kafka_err2str(err);
  }
  rd_kafka_metadata_destroy(md);
  return ::testing::AssertionSuccess();
}

// Waits for the admin result event of type `type` on `queue`, up to `timeout`.
CPtr<rd_kafka_event_t> wait_admin_result(rd_kafka_queue_t* queue, rd_kafka_event_type_t type,
                                         std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    CPtr<rd_kafka_event_t> ev(rd_kafka_queue_poll(queue, 500));
    if (ev && rd_kafka_event_type(ev.get()) == type) return ev;
  }
  return nullptr;
}

::testing::AssertionResult create_topic(rd_kafka_t* rk, const std::string& topic) {
  char errstr[512];
  CPtr<rd_kafka_NewTopic_t> nt(rd_kafka_NewTopic_new(topic.c_str(), 1, 1, errstr, sizeof errstr));
  if (!nt) return ::testing::AssertionFailure() << "NewTopic: " << errstr;
  CPtr<rd_kafka_AdminOptions_t> opts(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_operation_timeout(opts.get(), 15000, errstr, sizeof errstr);
  CPtr<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {nt.get()};
  rd_kafka_CreateTopics(rk, topics, 1, opts.get(), queue.get());

  auto ev = wait_admin_result(queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, 30s);
  if (!ev) return ::testing::AssertionFailure() << "CreateTopics: no answer within 30 s";
  if (rd_kafka_event_error(ev.get())) {
    return ::testing::AssertionFailure() << "CreateTopics: " << rd_kafka_event_error_string(ev.get());
  }
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return ::testing::AssertionFailure() << "CreateTopics " << rd_kafka_topic_result_name(results[i]) << ": "
                                           << rd_kafka_topic_result_error_string(results[i]);
    }
  }
  return ::testing::AssertionSuccess();
}

// The topic is created when the controller says so; wait until its partition has a leader.
::testing::AssertionResult wait_for_leader(rd_kafka_t* rk, const std::string& topic) {
  auto deadline = Clock::now() + 30s;
  std::string last = "no metadata";
  while (Clock::now() < deadline) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    rd_kafka_topic_destroy(rkt);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      bool ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                   md->topics[0].partition_cnt == 1 && md->topics[0].partitions[0].leader >= 0;
      last = md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "topic missing";
      rd_kafka_metadata_destroy(md);
      if (ready) return ::testing::AssertionSuccess();
    } else {
      last = rd_kafka_err2str(err);
    }
    std::this_thread::sleep_for(200ms);
  }
  return ::testing::AssertionFailure() << "topic " << topic << " has no leader after 30 s: " << last;
}

void delete_topic_best_effort(rd_kafka_t* rk, const std::string& topic) {
  CPtr<rd_kafka_DeleteTopic_t> dt(rd_kafka_DeleteTopic_new(topic.c_str()));
  CPtr<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk));
  rd_kafka_DeleteTopic_t* topics[] = {dt.get()};
  rd_kafka_DeleteTopics(rk, topics, 1, nullptr, queue.get());
  wait_admin_result(queue.get(), RD_KAFKA_EVENT_DELETETOPICS_RESULT, 10s);
}

// Counts failed deliveries: a record that did not make it fails the test.
class DeliveryErrors : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      ++count;
      last = message.errstr();
    }
  }
  int count = 0;
  std::string last;
};

std::unique_ptr<RdKafka::Conf> make_conf(std::vector<std::pair<std::string, std::string>> settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  settings.emplace_back("bootstrap.servers", brokers());
  std::string errstr;
  for (const auto& [k, v] : settings) {
    EXPECT_EQ(conf->set(k, v, errstr), RdKafka::Conf::CONF_OK) << k << "=" << v << ": " << errstr;
  }
  return conf;
}

// Turns a librdkafka transactional error into an assertion result, freeing it.
::testing::AssertionResult txn_ok(RdKafka::Error* error, const char* what) {
  std::unique_ptr<RdKafka::Error> owned(error);
  if (!owned) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << owned->str();
}

// Reads partition 0 of `topic` from the beginning with the given isolation level, until the end
// of the partition is reached with at least `expected` records read (or 30 s pass). Reading on
// to the end catches records that should not be there.
std::vector<std::string> read_all(const std::string& topic, const std::string& isolation, size_t expected) {
  std::string errstr;
  auto conf = make_conf({{"group.id", "allot-it-" + unique_suffix()},
                         {"enable.auto.commit", "false"},
                         {"enable.partition.eof", "true"},
                         {"isolation.level", isolation}});
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), errstr));
  EXPECT_TRUE(consumer) << errstr;
  if (!consumer) return {};
  std::vector<RdKafka::TopicPartition*> parts{
      RdKafka::TopicPartition::create(topic, 0, RdKafka::Topic::OFFSET_BEGINNING)};
  EXPECT_EQ(consumer->assign(parts), RdKafka::ERR_NO_ERROR);
  RdKafka::TopicPartition::destroy(parts);

  std::vector<std::string> values;
  auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg(consumer->consume(500));
    if (msg->err() == RdKafka::ERR_NO_ERROR) {
      values.emplace_back(static_cast<const char*>(msg->payload()), msg->len());
    } else if (msg->err() == RdKafka::ERR__PARTITION_EOF) {
      // Right after a commit the last stable offset can trail the markers for a moment:
      // an end of partition before all records arrived is not the end yet.
      if (values.size() >= expected) break;
    } else if (msg->err() != RdKafka::ERR__TIMED_OUT) {
      ADD_FAILURE() << isolation << " consumer: " << msg->errstr();
      break;
    }
  }
  EXPECT_EQ(consumer->close(), RdKafka::ERR_NO_ERROR);
  return values;
}

class KafkaTransactionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    admin_ = make_admin_client(error);
    ASSERT_TRUE(admin_) << "admin client: " << error;
    ASSERT_TRUE(broker_answers(admin_.get()));
    topic_ = "allot-it-txn-" + unique_suffix();
    ASSERT_TRUE(create_topic(admin_.get(), topic_));
    created_ = true;
    ASSERT_TRUE(wait_for_leader(admin_.get(), topic_));
  }

  void TearDown() override {
    if (created_) delete_topic_best_effort(admin_.get(), topic_);
  }

  CPtr<rd_kafka_t> admin_;
  std::string topic_;
  bool created_ = false;
};

TEST_F(KafkaTransactionsTest, ReadCommittedSeesOnlyCommittedRecordsInOrder) {
  DeliveryErrors delivery_errors;
  auto conf = make_conf(
      {{"transactional.id", "allot-it-txn-" + unique_suffix()}, {"enable.idempotence", "true"}, {"acks", "all"}});
  std::string errstr;
  ASSERT_EQ(conf->set("dr_cb", &delivery_errors, errstr), RdKafka::Conf::CONF_OK) << errstr;
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), errstr));
  ASSERT_TRUE(producer) << errstr;

  auto produce = [&](const std::string& value) {
    RdKafka::ErrorCode err = producer->produce(topic_, 0, RdKafka::Producer::RK_MSG_COPY,
                                               const_cast<char*>(value.data()), value.size(), nullptr, 0, 0, nullptr);
    ASSERT_EQ(err, RdKafka::ERR_NO_ERROR) << "produce " << value << ": " << RdKafka::err2str(err);
  };

  const int timeout_ms = 30000;
  ASSERT_TRUE(txn_ok(producer->init_transactions(timeout_ms), "init_transactions"));

  ASSERT_TRUE(txn_ok(producer->begin_transaction(), "begin_transaction 1"));
  for (int i = 0; i < 3; ++i) produce("committed-" + std::to_string(i));
  ASSERT_TRUE(txn_ok(producer->commit_transaction(timeout_ms), "commit_transaction 1"));

  ASSERT_TRUE(txn_ok(producer->begin_transaction(), "begin_transaction 2"));
  for (int i = 0; i < 2; ++i) produce("aborted-" + std::to_string(i));
  // Flush first so that the aborted records really are in the log (and read_uncommitted sees them).
  ASSERT_EQ(producer->flush(timeout_ms), RdKafka::ERR_NO_ERROR);
  ASSERT_TRUE(txn_ok(producer->abort_transaction(timeout_ms), "abort_transaction"));

  ASSERT_TRUE(txn_ok(producer->begin_transaction(), "begin_transaction 3"));
  produce("after-abort");
  ASSERT_TRUE(txn_ok(producer->commit_transaction(timeout_ms), "commit_transaction 3"));
  producer->poll(0);  // serve the last delivery reports
  EXPECT_EQ(delivery_errors.count, 0) << delivery_errors.last;

  const std::vector<std::string> committed{"committed-0", "committed-1", "committed-2", "after-abort"};
  EXPECT_EQ(read_all(topic_, "read_committed", committed.size()), committed);

  const std::vector<std::string> everything{"committed-0", "committed-1", "committed-2",
                                            "aborted-0",   "aborted-1",   "after-abort"};
  EXPECT_EQ(read_all(topic_, "read_uncommitted", everything.size()), everything);
}

}  // namespace
