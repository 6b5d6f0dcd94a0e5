// Bad input and abuse at the HTTP ingress: hostile bodies, ids, headers and methods get clear 4xx
// answers with JSON bodies where our code answers; thousands of idle connections and slow senders do
// not stop real claims. Loopback only; every loop bounded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "support.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;

void expect_json_error(const HttpResponse& r, int status, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body.substr(0, 200);
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << what << ": not JSON: " << r.body.substr(0, 200);
  EXPECT_TRUE(body.contains("error")) << what;
}

TEST(BadInput, HostileBodiesGetClearErrors) {
  HttpClient http(http_port());
  const std::string path = "/api/events/" + unique_id("bad") + "/claims";
  // A signed-in user's requests (a valid token of "u"): what is refused is the body, the id or the headers.
  const auto u = as_user("u");
  expect_json_error(http.post_json(path, std::string(1500, '[') + std::string(1500, ']'), u), 400, "deep nesting");
  expect_json_error(http.post_json(path, R"({"user_id":"u")", u), 400, "truncated JSON");
  expect_json_error(http.post_json(path, R"({"user_id":1e999999})", u), 400, "huge number");
  expect_json_error(http.post_json(path, R"({"user_id":99999999999999999999999999999})", u), 400, "huge integer");
  expect_json_error(http.post_json(path, "{\"user_id\":\"\xff\xfe\"}", u), 400, "non-UTF-8 user id");
  expect_json_error(http.post_json(path, R"({"user_id":"caf\u00e9"})", u), 400, "non-ASCII user id");
  expect_json_error(http.post_json(path, R"({"user_id":null})", u), 400, "null user id");
  expect_json_error(http.post_json(path, R"(["user_id","u"])", u), 400, "array body");
  expect_json_error(http.post_json(path, "", u), 400, "empty body");
  expect_json_error(http.post_json("/api/events/%ff%fe/claims", R"({"user_id":"u"})", u), 400, "non-UTF-8 event id");
  expect_json_error(http.post_json("/api/events/" + std::string(65, 'a') + "/claims", R"({"user_id":"u"})", u), 400,
                    "event id too long");
  expect_json_error(
      http.request("POST", path, R"({"user_id":"u"})", as_user("u", {{"Content-Type", "application/xml"}})), 415,
      "xml");
  expect_json_error(http.request("POST", path, R"({"user_id":"u"})", u), 415, "no content type");
  expect_json_error(http.post_json(path, std::string(5000, ' ') + R"({"user_id":"u"})", u), 413, "body over the limit");
  expect_json_error(http.request("GET", "/api/claims/" + std::string(70, 'x'), "", u), 400, "request id too long");
  expect_json_error(http.request("GET", "/api/events/" + unique_id("none") + "/ranking?limit=-1"), 400, "bad limit");
  // The server is still fine.
  EXPECT_EQ(http.request("GET", "/healthz").status, 200);
}

TEST(BadInput, OversizeHeadersAreRefusedAndTheServerLivesOn) {
  HttpClient http(http_port());
  int status = 0;
  try {
    status = http.post_json("/api/events/e1/claims", R"({"user_id":"u"})",
                            as_user("u", {{"X-Big", std::string(200000, 'a')}}))
                 .status;
  } catch (const std::exception&) {
    status = -1;  // the server may close the connection instead of answering
  }
  EXPECT_TRUE(status == -1 || (status >= 400 && status < 500)) << status;
  HttpClient fresh(http_port());
  EXPECT_EQ(fresh.request("GET", "/healthz").status, 200);
}

int open_connection(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(Abuse, ThousandsOfIdleConnectionsAndSlowSendersDoNotStopRealClaims) {
  constexpr int kIdle = 3000, kSlow = 50, kClaims = 300;
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
  ::setrlimit(RLIMIT_NOFILE, &lim);

  const auto event = unique_id("abuse");
  {
    HttpClient admin(http_port());
    auto r =
        admin.post_json("/api/events", nlohmann::json{{"event_id", event}, {"title", "Abuse"}, {"stock", 100}}.dump(),
                        {{"Authorization", "Bearer " + admin_token()}});
    ASSERT_EQ(r.status, 202);
  }
  std::vector<int> fds;
  for (int i = 0; i < kIdle; ++i) {
    int fd = open_connection(http_port());
    if (fd >= 0) fds.push_back(fd);
  }
  // Slow senders: a request line and half the headers, then silence.
  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    int fd = open_connection(http_port());
    if (fd < 0) continue;
    std::string partial = "POST /api/events/" + event + "/claims HTTP/1.1\r\nHost: x\r\nContent-Type: appl";
    ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  std::cout << "holding " << fds.size() << " idle and " << slow.size() << " slow connections\n";
  EXPECT_GE(fds.size(), static_cast<size_t>(kIdle * 9 / 10));

  DecisionLog log;
  HttpClient http(http_port());
  int accepted = 0;
  auto started = std::chrono::steady_clock::now();
  double worst_ms = 0;
  for (int i = 0; i < kClaims; ++i) {
    const auto user = "real-" + std::to_string(i);
    const auto headers = as_user(user);  // signed before the clock starts
    auto t0 = std::chrono::steady_clock::now();
    auto r = http.post_json("/api/events/" + event + "/claims", R"({"user_id":")" + user + "\"}", headers);
    worst_ms =
        std::max(worst_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    accepted += r.status == 202;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "real claims: " << accepted << "/" << kClaims << " accepted in " << secs << " s, slowest " << worst_ms
            << " ms\n";
  EXPECT_EQ(accepted, kClaims);
  EXPECT_TRUE(log.wait_for({event}, kClaims, 120s)) << "real claims were not decided";
  for (int fd : fds) ::close(fd);
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(http.request("GET", "/healthz").status, 200);
}

TEST(Abuse, AFloodFromOneUserDoesNotDelayOthers) {
  const auto event = unique_id("flood2");
  HttpClient admin(http_port());
  ASSERT_EQ(
      admin
          .post_json("/api/events", nlohmann::json{{"event_id", event}, {"title", "Flood"}, {"stock", 1000}}.dump(),
                     {{"Authorization", "Bearer " + admin_token()}})
          .status,
      202);
  std::atomic<bool> stop{false};
  std::atomic<int> limited{0};
  std::vector<std::thread> flooders;
  for (int t = 0; t < 4; ++t) {
    flooders.emplace_back([&] {
      HttpClient http(http_port());
      const auto flooder = as_user("flooder");
      for (int i = 0; i < 5000 && !stop; ++i) {
        limited +=
            http.post_json("/api/events/" + event + "/claims", R"({"user_id":"flooder"})", flooder).status == 429;
      }
    });
  }
  HttpClient http(http_port());
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    const auto user = "other-" + std::to_string(i);
    const auto headers = as_user(user);  // signed before the clock starts
    auto t0 = std::chrono::steady_clock::now();
    auto r = http.post_json("/api/events/" + event + "/claims", R"({"user_id":")" + user + "\"}", headers);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_EQ(r.status, 202);
  }
  stop = true;
  for (auto& f : flooders) f.join();
  std::sort(ms.begin(), ms.end());
  // Measured, not asserted: the bound is reported (bench/FAULTS.md collects this line).
  std::cout << "FLOOD | one user, 4 connections flat out (" << limited << " answered 429) | other users' claims p50 "
            << ms[ms.size() / 2] << " ms, p99 " << ms[ms.size() * 99 / 100] << " ms, max " << ms.back() << " ms |\n";
  EXPECT_GT(limited.load(), 0);
}

}  // namespace
}  // namespace allot
