// The ingress's lifecycle against the real broker: shutdown lets every handler that got past the
// draining check publish before the final flush; a fatal producer error is answered 503 while the
// publisher replaces its producer in-process; delivery reports (the 202s) never wait for the readiness check's metadata
// request. Each test runs its own Publisher and Server in this process, on a free loopback port, and forces the
// schedule it is about through the test hooks (ServerOptions/PublisherOptions::test_hook): no sleeps
// decide anything, every wait is bounded.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "in_process_ingress.h"
#include "ingress/server.h"
#include "support.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;

const std::string kToken = "lifecycle-test-token";

// The points the server's threads passed, in order; lets a test wait for one.
class Trace {
 public:
  void record(std::string_view point) {
    {
      std::lock_guard lock(mu_);
      points_.emplace_back(point);
    }
    changed_.notify_all();
  }
  // Waits up to `timeout` until any of `points` was recorded; returns whether one was.
  bool wait_for_any(const std::vector<std::string>& points, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] {
      for (const auto& p : points) {
        if (std::find(points_.begin(), points_.end(), p) != points_.end()) return true;
      }
      return false;
    });
  }
  bool contains(const std::string& point) const {
    std::lock_guard lock(mu_);
    return std::find(points_.begin(), points_.end(), point) != points_.end();
  }
  // Position of the first `point`, or -1.
  int index_of(const std::string& point) const {
    std::lock_guard lock(mu_);
    auto it = std::find(points_.begin(), points_.end(), point);
    return it == points_.end() ? -1 : static_cast<int>(it - points_.begin());
  }
  std::string str() const {
    std::lock_guard lock(mu_);
    std::string s;
    for (const auto& p : points_) s += (s.empty() ? "" : ", ") + p;
    return s;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> points_;
};

// The ingress under test, in this process; `hook` sees every test point.
class Ingress : public InProcessIngress {
 public:
  explicit Ingress(const ingress::TestHook& hook) : InProcessIngress({.admin_token = kToken, .hook = hook}) {}
};

// A command through the HTTP API: creating an event (published like a claim, needs no existing event).
HttpResponse create_event(int port) {
  HttpClient http(port);
  nlohmann::json body{{"event_id", unique_id("lifecycle")}, {"title", "lifecycle test"}, {"stock", 1}};
  return http.post_json("/api/events", body.dump(), {{"Authorization", "Bearer " + kToken}});
}

// A handler that passed the draining check before the drain began must publish before the final flush
// (and so be answered): otherwise its delivery report arrives after the server is gone.
TEST(IngressLifecycle, HandlersInProgressPublishBeforeTheFinalFlush) {
  Trace trace;
  auto hook = [&trace](std::string_view point) {
    if (point.starts_with("publisher:")) return;  // the readiness checks are not part of this schedule
    trace.record(point);
    // Hold the handler past the draining check until the drain has begun: either it waits for the
    // handlers still inside, or (without that wait) it has already flushed.
    if (point == "command:publishing") trace.wait_for_any({"drain:waiting_for_handlers", "drain:flushed"}, 30s);
  };
  Ingress ingress(hook);
  ingress.wait_ready();
  if (HasFatalFailure()) return;

  auto answer = std::async(std::launch::async, [&] { return create_event(ingress.port()); });
  ASSERT_TRUE(trace.wait_for_any({"command:publishing"}, 30s)) << "the handler never reached its publish";
  ingress.server().drain_and_stop(20000);

  HttpResponse r;
  std::string error;
  try {
    r = answer.get();
  } catch (const std::exception& e) {
    error = e.what();
  }
  int published = trace.index_of("command:published"), flushed = trace.index_of("drain:flushed");
  ASSERT_NE(flushed, -1) << trace.str();
  EXPECT_NE(published, -1) << trace.str();
  EXPECT_LT(published, flushed) << "a handler published after the final flush: " << trace.str();
  EXPECT_EQ(r.status, 202) << "the command in progress at shutdown was not answered 202: " << r.body << error;
}

// A fatal idempotent-producer error (as a broker's "out of order sequence number" after a partition heals)
// ends that producer, not the ingress: while it is being replaced (the test holds the replacement to look),
// /readyz and commands answer 503 producer_failed with a JSON error; then a new producer takes commands
// again in the same process, and the serving loop goes on until it is asked to stop.
TEST(IngressLifecycle, AFatalProducerErrorIsRecoveredInProcessWithANewProducer) {
  std::mutex mu;
  std::condition_variable changed;
  bool replacing = false, released = false;
  auto hook = [&](std::string_view point) {
    if (point != "publisher:replacing_producer") return;
    std::unique_lock lock(mu);
    replacing = true;
    changed.notify_all();
    changed.wait_for(lock, 30s, [&] { return released; });
  };
  auto release = [&] {
    std::lock_guard lock(mu);
    released = true;
    changed.notify_all();
  };
  Ingress ingress(hook);
  ingress.wait_ready();
  if (HasFatalFailure()) return;
  std::atomic<bool> stop{false};
  auto serving = std::async(std::launch::async, [&] { ingress.server().run(stop, 5000); });
  ASSERT_EQ(create_event(ingress.port()).status, 202) << "a command before the fatal error";

  ingress.publisher().raise_fatal_error_for_test();
  {
    std::unique_lock lock(mu);
    bool reached = changed.wait_for(lock, 30s, [&] { return replacing; });
    if (!reached) {
      lock.unlock();
      stop = true;
      FAIL() << "the publisher never began to replace its failed producer";
    }
  }
  HttpClient http(ingress.port());
  auto ready = http.request("GET", "/readyz");
  auto refused = create_event(ingress.port());
  release();
  EXPECT_EQ(ready.status, 503) << "/readyz while the producer is replaced: " << ready.body;
  auto body = nlohmann::json::parse(ready.body, nullptr, false);
  EXPECT_EQ(body.value("status", ""), "not_ready") << ready.body;
  EXPECT_EQ(body.contains("error") ? body["error"].value("code", "") : "", "producer_failed") << ready.body;
  EXPECT_EQ(refused.status, 503) << "a command while the producer is replaced: " << refused.body;
  EXPECT_NE(refused.body.find("producer_failed"), std::string::npos) << refused.body;

  // Bounded: until the new producer is in place and the readiness check has seen the broker.
  for (int i = 0; i < 300; ++i) {
    ready = http.request("GET", "/readyz");
    if (ready.status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(ready.status, 200) << "/readyz after the replacement: " << ready.body;
  auto after = create_event(ingress.port());
  EXPECT_EQ(after.status, 202) << "a command after the replacement: " << after.body;
  auto metrics = http.request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("allot_ingress_producer_replacements_total 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("allot_ingress_producer_failed 0"), std::string::npos) << metrics.body;

  EXPECT_NE(serving.wait_for(0s), std::future_status::ready) << "the serving loop ended after a fatal error";
  stop = true;
  EXPECT_EQ(serving.wait_for(30s), std::future_status::ready) << "the serving loop did not stop when asked";
}

// Every publish is answered exactly once across a producer replacement: what the failed producer held is
// answered as failed (purged), what came after by the new producer, none twice and none never. 2,000 claims
// (on an event that does not exist) from one thread, the fatal error raised halfway.
TEST(IngressLifecycle, EveryPublishIsAnsweredExactlyOnceAcrossAProducerReplacement) {
  constexpr int kCommands = 2000;
  std::vector<std::atomic<int>> answers(kCommands);
  std::atomic<int> delivered{0}, failed{0};
  class Counting : public ingress::Delivery {
   public:
    Counting(std::atomic<int>& answers, std::atomic<int>& delivered, std::atomic<int>& failed)
        : answers_(answers), delivered_(delivered), failed_(failed) {}
    void delivered(topics::CommandPosition) override {
      ++answers_;
      ++delivered_;
    }
    void failed(const std::string&) override {
      ++answers_;
      ++failed_;
    }

   private:
    std::atomic<int>&answers_, &delivered_, &failed_;
  };
  metrics::Registry registry;
  ingress::PublisherOptions options;
  options.brokers = brokers();
  ingress::Publisher publisher(options, registry);
  const std::string event = unique_id("no-such-event");
  for (int i = 0; i < kCommands; ++i) {
    if (i == kCommands / 2) publisher.raise_fatal_error_for_test();
    publisher.publish({unique_id("replace"), now_ms(), topics::Claim{event, "u" + std::to_string(i)}},
                      std::make_unique<Counting>(answers[static_cast<size_t>(i)], delivered, failed));
    if (i % 100 == 99) std::this_thread::sleep_for(20ms);
  }
  // Bounded: every answer within the delivery timeout and a replacement.
  auto answered = [&] { return delivered.load() + failed.load(); };
  for (int i = 0; i < 300 && answered() < kCommands; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(answered(), kCommands) << delivered << " delivered, " << failed << " failed";
  int twice = 0;
  for (const auto& a : answers) twice += a.load() > 1;
  EXPECT_EQ(twice, 0) << "publishes answered more than once";
  EXPECT_GT(delivered.load(), 0);
  EXPECT_GT(failed.load(), 0) << "the fatal error failed nothing";

  for (int i = 0; i < 300 && publisher.failed(); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_FALSE(publisher.failed()) << "the producer was not replaced";
  std::atomic<int> after{0}, after_ok{0}, after_failed{0};
  publisher.publish({unique_id("replace"), now_ms(), topics::Claim{event, "after"}},
                    std::make_unique<Counting>(after, after_ok, after_failed));
  for (int i = 0; i < 300 && after.load() == 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(after_ok.load(), 1) << "a command after the replacement was not delivered";
}

// Ready means some broker leads the commands topic, not only that a broker answers: an ingress whose
// commands topic no broker has (so none leads it) stays not ready, on /readyz and for commands, though the
// broker answers its metadata requests. (With allot.commands, every other test's wait_ready() succeeds.)
TEST(IngressLifecycle, NotReadyWhileNoBrokerLeadsTheCommandsTopic) {
  std::atomic<int> checks{0};
  InProcessIngress ingress({.admin_token = kToken,
                            .commands_topic = unique_id("no-such-topic"),
                            .hook = [&checks](std::string_view p) { checks += p == "publisher:readiness_check"; }});
  // Bounded: until three readiness checks have begun, so that two have ended with their verdict.
  for (int i = 0; i < 300 && checks < 3; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_GE(checks.load(), 3) << "the readiness checks did not run";
  HttpClient http(ingress.port());
  auto ready = http.request("GET", "/readyz");
  EXPECT_EQ(ready.status, 503) << "/readyz with no leader for the commands topic: " << ready.body;
  auto r = create_event(ingress.port());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("unreachable"), std::string::npos) << "refused by the readiness check: " << r.body;
}

// Every 202 is sent from a delivery report; the readiness check's metadata request (which blocks up to
// a second when the broker is slow) must not hold them. The test holds one readiness check and expects
// a command to be answered meanwhile.
TEST(IngressLifecycle, DeliveryReportsDoNotWaitForTheReadinessCheck) {
  Trace trace;
  std::atomic<bool> hold{false};
  std::mutex mu;
  std::condition_variable released_cv;
  bool released = false;
  auto hook = [&](std::string_view point) {
    if (point != "publisher:readiness_check" || !hold) return;
    trace.record("readiness_check:held");
    std::unique_lock lock(mu);
    if (!released_cv.wait_for(lock, 15s, [&] { return released; })) trace.record("readiness_check:gave_up");
    hold = false;
  };
  Ingress ingress(hook);
  ingress.wait_ready();
  if (HasFatalFailure()) return;

  hold = true;
  ASSERT_TRUE(trace.wait_for_any({"readiness_check:held"}, 30s)) << "no readiness check ran";
  auto r = create_event(ingress.port());
  bool held_throughout = !trace.contains("readiness_check:gave_up");
  {
    std::lock_guard lock(mu);
    released = true;
  }
  released_cv.notify_all();
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_TRUE(held_throughout) << "the command was answered only after the held readiness check let go: "
                                  "delivery reports wait for the metadata request";
}

}  // namespace
}  // namespace allot
