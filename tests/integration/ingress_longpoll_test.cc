// The long poll (GET /api/claims/{id}?wait_ms=N) against the real broker: a decided claim is answered
// with its decision, a claim nobody decides with its pending status once N ms passed, a bad wait_ms with
// a JSON 400, and thousands of open long polls neither hold up claims nor stay behind.
// Each test runs its own ingress (publisher, decision watch, HTTP server) in this process on a free port.
// A claim that must stay pending goes to a fresh commands topic that no processor reads; one that must
// be decided goes to allot.commands, which the stack's processors decide. Every wait is bounded; no
// timing decides a result.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "in_process_ingress.h"
#include "ingress/server.h"
#include "support.h"
#include "topics/admin.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;

const std::string kToken = "longpoll-test-token";

// A commands topic of one partition that no processor consumes, deleted at the end.
class FreshTopic {
 public:
  FreshTopic() : name_("allot.test." + unique_id("longpoll")) {
    topics::apply_specs(brokers(), {topics::TopicSpec{name_, 1, {}}}, 30000);
  }
  ~FreshTopic() {
    try {
      topics::delete_topics(brokers(), {name_}, 30000);
    } catch (const std::exception&) {
      // a leftover throw-away topic harms nothing
    }
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// The ingress under test, in this process, publishing to `commands_topic` and woken by allot.decisions;
// the tests claim fast from few users, so no per-user rate limit.
class Ingress : public InProcessIngress {
 public:
  explicit Ingress(const std::string& commands_topic)
      : InProcessIngress({.admin_token = kToken,
                          .commands_topic = commands_topic,
                          .hook = {},
                          .watch_decisions = true,
                          .user_rate = 0}) {}
};

// Creates an event through `http` (202 expected) and returns its id.
std::string create_event(HttpClient& http, int stock) {
  std::string id = unique_id("longpoll");
  json body{{"event_id", id}, {"title", "long poll test"}, {"stock", stock}};
  auto r = http.post_json("/api/events", body.dump(), {{"Authorization", "Bearer " + kToken}});
  EXPECT_EQ(r.status, 202) << r.body;
  return id;
}

// Claims for `user`, with the user's token; returns the request id ("" unless answered 202).
std::string claim(HttpClient& http, const std::string& event_id, const std::string& user) {
  auto r = http.post_json("/api/events/" + event_id + "/claims", json{{"user_id", user}}.dump(), as_user(user));
  EXPECT_EQ(r.status, 202) << r.body;
  return r.status == 202 ? json::parse(r.body).value("request_id", "") : "";
}

// Established TCP connections whose local end is `port` on loopback: the server's side of its connections.
size_t server_connections(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char local[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", port);
  size_t n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local_address, remote_address, state;
    fields >> slot >> local_address >> remote_address >> state;
    if (local_address == local && state == "01") ++n;
  }
  return n;
}

// A long poll on a claim the stack's processors already decided answers with the decision; so does a
// POST ?wait_ms=N whose decision comes within N.
TEST(IngressLongPoll, ReturnsTheDecisionOfADecidedClaim) {
  Ingress ingress("allot.commands");
  ingress.wait_ready();
  if (HasFatalFailure()) return;
  HttpClient http(ingress.port());
  DecisionLog decisions;
  std::string event = create_event(http, 1);
  ASSERT_TRUE(decisions.wait_for({event}, 1, 60s)) << "the processors never decided the event's creation";

  std::string rid = claim(http, event, "alice");
  ASSERT_FALSE(rid.empty());
  ASSERT_TRUE(decisions.wait_for({event}, 2, 60s)) << "the processors never decided the claim";
  auto r = http.request("GET", "/api/claims/" + rid + "?wait_ms=20000", "", as_user("alice"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j.value("status", ""), "issued") << r.body;
  EXPECT_EQ(j.value("coupon_seq", 0), 1) << r.body;
  EXPECT_EQ(j.value("request_id", ""), rid);
  EXPECT_EQ(j.value("user_id", ""), "alice");

  // A retried Idempotency-Key of a decided claim gets no second decision: the waiting POST answers with
  // the first one rather than wait for one that never comes.
  auto retried = http.post_json("/api/events/" + event + "/claims?wait_ms=20000", json{{"user_id", "alice"}}.dump(),
                                as_user("alice", {{"Idempotency-Key", rid}}));
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(json::parse(retried.body).value("coupon_seq", 0), 1) << retried.body;

  // The same claim answered in one request: a decision within the wait is 200 with it, else a 202.
  auto p =
      http.post_json("/api/events/" + event + "/claims?wait_ms=20000", json{{"user_id", "bob"}}.dump(), as_user("bob"));
  ASSERT_TRUE(p.status == 200 || p.status == 202) << p.status << " " << p.body;
  auto pj = json::parse(p.body);
  if (p.status == 200) {
    EXPECT_EQ(pj.value("status", ""), "sold_out") << p.body;
  } else {
    EXPECT_EQ(pj.value("status", ""), "pending") << p.body;
  }
  EXPECT_EQ(ingress.watch().waiters(), 0u);
}

// A claim no processor decides: after wait_ms the long poll answers with the pending status and the
// claim's queue position (never before wait_ms: the deadline counts from the request's arrival).
TEST(IngressLongPoll, ReturnsPendingAfterTheWaitWhenNothingDecides) {
  FreshTopic topic;
  Ingress ingress(topic.name());
  ingress.wait_ready();
  if (HasFatalFailure()) return;
  HttpClient http(ingress.port());
  std::string event = create_event(http, 10);
  std::string rid = claim(http, event, "carol");
  ASSERT_FALSE(rid.empty());

  auto started = std::chrono::steady_clock::now();
  auto r = http.request("GET", "/api/claims/" + rid + "?wait_ms=700", "", as_user("carol"));
  auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j.value("status", ""), "pending") << r.body;
  EXPECT_EQ(j.value("event_id", ""), event);
  EXPECT_EQ(j.value("queue_position", -1), 1) << "the event's creation is ahead of it: " << r.body;
  EXPECT_GE(waited, 700ms) << "answered pending before wait_ms passed";
  EXPECT_EQ(ingress.watch().waiters(), 0u);

  // wait_ms=0 (and none) is today's answer at once.
  EXPECT_EQ(json::parse(http.request("GET", "/api/claims/" + rid + "?wait_ms=0", "", as_user("carol")).body)
                .value("status", ""),
            "pending");
  // A POST that waits and sees no decision is accepted as usual.
  auto p =
      http.post_json("/api/events/" + event + "/claims?wait_ms=300", json{{"user_id", "dave"}}.dump(), as_user("dave"));
  EXPECT_EQ(p.status, 202) << p.body;
  EXPECT_EQ(json::parse(p.body).value("status", ""), "pending") << p.body;
}

TEST(IngressLongPoll, RejectsABadWaitWithAJsonError) {
  FreshTopic topic;
  Ingress ingress(topic.name());
  ingress.wait_ready();
  if (HasFatalFailure()) return;
  HttpClient http(ingress.port());
  std::string event = create_event(http, 10);
  std::string rid = claim(http, event, "erin");
  ASSERT_FALSE(rid.empty());
  for (std::string bad : {"-1", "abc", "30001", "1.5", "", "99999999999999999999"}) {
    for (auto [method, path] :
         {std::pair{"GET", "/api/claims/" + rid}, std::pair{"POST", "/api/events/" + event + "/claims"}}) {
      auto r = std::string(method) == "GET"
                   ? http.request("GET", path + "?wait_ms=" + bad, "", as_user("erin"))
                   : http.post_json(path + "?wait_ms=" + bad, json{{"user_id", "frank"}}.dump(), as_user("frank"));
      EXPECT_EQ(r.status, 400) << method << " wait_ms=" << bad << ": " << r.body;
      auto j = json::parse(r.body, nullptr, false);
      ASSERT_TRUE(j.is_object()) << r.body;
      EXPECT_EQ(j["error"].value("code", ""), "invalid_wait_ms") << r.body;
      EXPECT_FALSE(j["error"].value("message", "").empty()) << r.body;
    }
  }
  // The cap itself is allowed (an unknown claim is answered at once: nothing to wait for).
  EXPECT_EQ(http.request("GET", "/api/claims/no-such-claim?wait_ms=30000", "", as_user("erin")).status, 404);
}

// A stopping ingress answers its open long polls (pending) before it closes their connections.
TEST(IngressLongPoll, ShutdownAnswersOpenLongPolls) {
  FreshTopic topic;
  Ingress ingress(topic.name());
  ingress.wait_ready();
  if (HasFatalFailure()) return;
  HttpClient http(ingress.port());
  std::string event = create_event(http, 10);
  std::string rid = claim(http, event, "grace");
  ASSERT_FALSE(rid.empty());
  auto poll = std::async(std::launch::async, [&] {
    HttpClient own(ingress.port());
    return own.request("GET", "/api/claims/" + rid + "?wait_ms=30000", "", as_user("grace"));
  });
  for (int i = 0; i < 600 && ingress.watch().waiters() < 1; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(ingress.watch().waiters(), 1u);
  ingress.server().drain_and_stop(5000);
  ASSERT_EQ(poll.wait_for(30s), std::future_status::ready) << "the long poll was not answered at shutdown";
  auto r = poll.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).value("status", ""), "pending") << r.body;
  EXPECT_EQ(ingress.watch().waiters(), 0u);
}

// One raw connection holding a long poll open.
struct OpenPoll {
  int fd = -1;
  std::string received;
};

// 2,000 long polls open at once: claims still get 202 while they wait, every poll is answered (pending)
// at its deadline, and afterwards no waiter, connection or file descriptor is left behind.
TEST(IngressLongPoll, ThousandsOfOpenPollsNeitherBlockClaimsNorLeak) {
  constexpr int kPolls = 2000;
  constexpr int kWaitMs = 15000;
  FreshTopic topic;
  Ingress ingress(topic.name());
  ingress.wait_ready();
  if (HasFatalFailure()) return;
  HttpClient http(ingress.port());
  std::string event = create_event(http, 1000);
  std::vector<std::string> rids, tokens;  // each poller's claim and token: a claim is read by its own user
  for (int i = 0; i < 20; ++i) {
    rids.push_back(claim(http, event, "poller-" + std::to_string(i)));
    tokens.push_back(user_token("poller-" + std::to_string(i)));
  }
  ASSERT_EQ(std::count(rids.begin(), rids.end(), ""), 0);
  const size_t connections_before = server_connections(ingress.port());

  std::vector<OpenPoll> polls(kPolls);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(ingress.port()));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  for (int i = 0; i < kPolls; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << "socket " << i << ": " << strerror(errno);
    polls[i].fd = fd;
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << "connect " << i << ": " << strerror(errno);
    const size_t k = static_cast<size_t>(i) % rids.size();
    std::string req = "GET /api/claims/" + rids[k] + "?wait_ms=" + std::to_string(kWaitMs) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tokens[k] + "\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  }
  EXPECT_GE(server_connections(ingress.port()), connections_before + kPolls);
  for (int i = 0; i < 600 && ingress.watch().waiters() < kPolls; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(ingress.watch().waiters(), static_cast<size_t>(kPolls)) << "not every long poll is waiting";

  // Meanwhile claims are accepted (and other requests answered) as usual.
  for (int i = 0; i < 50; ++i) {
    EXPECT_FALSE(claim(http, event, "while-polling-" + std::to_string(i)).empty());
  }
  EXPECT_EQ(http.request("GET", "/healthz").status, 200);
  EXPECT_EQ(ingress.watch().waiters(), static_cast<size_t>(kPolls)) << "long polls ended before their wait";

  // Every poll is answered with the pending status (bounded: well past the wait).
  int answered = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs) + 60s;
  while (answered < kPolls && std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<int> index;
    for (int i = 0; i < kPolls; ++i) {
      if (polls[i].fd < 0) continue;
      fds.push_back({polls[i].fd, POLLIN, 0});
      index.push_back(i);
    }
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& p = polls[index[k]];
      char buf[4096];
      ssize_t n = ::recv(p.fd, buf, sizeof buf, 0);
      if (n > 0) p.received.append(buf, static_cast<size_t>(n));
      auto head = p.received.find("\r\n\r\n");
      if (n <= 0 || (head != std::string::npos && p.received.find('}', head) != std::string::npos)) {
        ::close(p.fd);
        p.fd = -1;
        ++answered;
      }
    }
  }
  ASSERT_EQ(answered, kPolls);
  int pending = 0;
  for (const auto& p : polls) {
    if (p.received.starts_with("HTTP/1.1 200") && p.received.find(R"("status":"pending")") != std::string::npos)
      ++pending;
  }
  EXPECT_EQ(pending, kPolls) << "e.g. " << polls[0].received;

  // Nothing stays behind: no waiter, and the server closed its side of every connection.
  EXPECT_EQ(ingress.watch().waiters(), 0u);
  EXPECT_NE(ingress.registry().render().find("allot_ingress_long_polls 0\n"), std::string::npos);
  size_t connections_after = server_connections(ingress.port());
  for (int i = 0; i < 200 && connections_after > connections_before; ++i) {
    std::this_thread::sleep_for(50ms);
    connections_after = server_connections(ingress.port());
  }
  EXPECT_LE(connections_after, connections_before) << "the server kept connections of answered long polls open";
}

}  // namespace
}  // namespace allot
