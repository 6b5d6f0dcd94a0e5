// What Pistache's HTTP parser refuses, below our handlers (a garbage request line, an unknown method,
// headers or a request line over the size limit, a bad Content-Length), gets the same JSON error body
// as our handlers' errors, with the status RFC 9110 gives it. Raw bytes over a socket to an ingress in
// this process (ingress/http/parse_errors.h); every read bounded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string>

#include "in_process_ingress.h"
#include "support.h"

namespace allot {
namespace {

using namespace testsupport;

// The first response to `raw`, sent on a fresh connection; status 0 when none came within 10 s. With
// `closed`, also whether the server closed the connection after it (within 3 s).
HttpResponse send_raw(int port, const std::string& raw, bool* closed = nullptr) {
  HttpResponse r;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string in;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    for (size_t sent = 0; sent < raw.size();) {
      auto n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may answer and stop reading before the end of a long request
      sent += static_cast<size_t>(n);
    }
    size_t body_at = std::string::npos, length = 0;
    char buf[4096];
    while (body_at == std::string::npos || in.size() < body_at + length) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      if (body_at != std::string::npos) continue;
      auto end = in.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      body_at = end + 4;
      for (size_t line = in.find("\r\n") + 2; line < end; line = in.find("\r\n", line) + 2) {
        auto colon = in.find(':', line);
        std::string name = in.substr(line, colon - line);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        auto value = in.substr(colon + 1, in.find("\r\n", line) - colon - 1);
        value.erase(0, value.find_first_not_of(' '));
        r.headers[name] = value;
      }
      if (r.headers.count("content-length")) length = std::stoul(r.headers["content-length"]);
    }
    if (body_at != std::string::npos && in.compare(0, 9, "HTTP/1.1 ") == 0) {
      r.status = std::stoi(in.substr(9, 3));
      r.body = in.substr(body_at, length);
    }
    if (closed) {
      timeval wait{3, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
      *closed = ::recv(fd, buf, sizeof buf, 0) == 0;
    }
  }
  ::close(fd);
  return r;
}

void expect_json_error(const HttpResponse& r, int status, const std::string& code, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body.substr(0, 200);
  EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "", "application/json") << what;
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << what << ": not JSON: " << r.body.substr(0, 200);
  ASSERT_TRUE(body.contains("error")) << what << ": " << r.body;
  EXPECT_EQ(body["error"].value("code", ""), code) << what << ": " << r.body;
  EXPECT_FALSE(body["error"].value("message", "").empty()) << what << ": " << r.body;
}

// A POST of a claim by a signed-in user (a valid token: what those that reach our handler are refused for
// is their body) with `framing` (Content-Length or Transfer-Encoding header lines) and `body`.
std::string post_claim(const std::string& framing, const std::string& body) {
  const std::string auth = "Authorization: Bearer " + user_token("u") + "\r\n";
  return "POST /api/events/parse-errors/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth +
         framing + "\r\n" + body;
}

TEST(IngressParseErrors, WhatThePistacheParserRefusesGetsAJsonError) {
  InProcessIngress ingress({});
  const int port = ingress.port();
  const std::string over_limit(70 * 1024, 'a');  // the ingress reads at most 64 KiB of a request

  expect_json_error(send_raw(port, "@@@ garbage @@@\r\n\r\n"), 400, "malformed_request", "garbage request line");
  expect_json_error(send_raw(port, "GET / HTTP/1.1 nonsense\r\nHost: x\r\n\r\n"), 400, "malformed_request",
                    "garbage after the version");
  expect_json_error(send_raw(port, "QUERY / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "unknown_method", "QUERY");
  expect_json_error(send_raw(port, "FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "unknown_method", "FOO");
  expect_json_error(send_raw(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + over_limit + "\r\n\r\n"), 431,
                    "header_fields_too_large", "oversized header");
  expect_json_error(send_raw(port, "GET /" + over_limit + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414, "request_line_too_long",
                    "request line too long");
  for (const std::string length : {"abc", "-1", "12abc", "", "1 2"}) {
    expect_json_error(send_raw(port, post_claim("Content-Length: " + length + "\r\n", "{}")), 400,
                      "invalid_content_length", "Content-Length: " + length);
  }
  expect_json_error(send_raw(port, post_claim("Content-Length: 1000000000000\r\n", "{}")), 413, "body_too_large",
                    "Content-Length over the limit");
  expect_json_error(
      send_raw(port, post_claim("Transfer-Encoding: chunked\r\n", "11800\r\n" + std::string(0x11800, ' '))), 413,
      "body_too_large", "chunked body over the limit");
  expect_json_error(send_raw(port, post_claim("Transfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n")), 400,
                    "malformed_request", "bad chunk size");

  // Valid requests are answered as before, by our handlers.
  auto ok = send_raw(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.status, 200) << ok.body;
  expect_json_error(send_raw(port, "DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 405, "method_not_allowed", "DELETE");
  expect_json_error(send_raw(port, post_claim("Content-Length: 1 \r\n", "{")), 400, "malformed_json",
                    "a one-byte body (Content-Length with a trailing space) reaches the handler");
  expect_json_error(send_raw(port, post_claim("Content-Length: 5000\r\n", std::string(5000, ' '))), 413,
                    "body_too_large", "body over our handler's limit");
}

// Bytes that are no HTTP at all (no space, no line end: binary garbage, a TLS handshake on the plain port)
// get the 400 at once, and the connection is closed: what follows them cannot be framed.
TEST(IngressParseErrors, BinaryGarbageGetsA400AndTheConnectionCloses) {
  InProcessIngress ingress({});
  const std::string tls_client_hello =
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(100, '\0');
  std::string binary;
  for (int i = 0; i < 50; ++i) binary += std::string("\x00\x01\x02\xff", 4);
  for (const auto& [raw, what] : {std::pair{tls_client_hello, "a TLS ClientHello"}, std::pair{binary, "binary bytes"},
                                  std::pair{std::string("@@@ garbage @@@\r\n\r\n"), "a garbage line"}}) {
    bool closed = false;
    expect_json_error(send_raw(ingress.port(), raw, &closed), 400, "malformed_request", what);
    EXPECT_TRUE(closed) << what << ": the connection stayed open";
  }
  auto ok = send_raw(ingress.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.status, 200) << "the server still answers";
}

}  // namespace
}  // namespace allot
