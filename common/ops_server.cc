#include "common/ops_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace allot {

OpsServer::OpsServer(const std::string& host, int port, const metrics::Registry& registry,
                     std::function<std::string()> health)
    : registry_(registry), health_(std::move(health)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("ops server socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
    std::string err = std::strerror(errno);
    ::close(listen_fd_);
    throw std::runtime_error("ops server cannot listen on " + host + ":" + std::to_string(port) + ": " + err);
  }
  thread_ = std::thread([this] { serve(); });
}

OpsServer::~OpsServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

void OpsServer::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{2, 0};  // a slow client cannot hold the thread for long
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    answer(fd);
    ::close(fd);
  }
}

void OpsServer::answer(int fd) {
  char buf[2048];
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return;
  std::string request(buf, static_cast<size_t>(n));
  std::string status = "200 OK", type = "application/json", body;
  if (request.starts_with("GET /metrics")) {
    type = "text/plain; version=0.0.4";
    body = registry_.render();
  } else if (request.starts_with("GET /healthz")) {
    std::string problem = health_();
    if (problem.empty()) {
      body = R"({"status":"ok"})";
    } else {
      status = "503 Service Unavailable";
      body = R"({"error":{"code":"unhealthy","message":")" + metrics::escape_label_value(problem) + "\"}}";
    }
  } else {
    status = "404 Not Found";
    body = R"({"error":{"code":"not_found","message":"only /metrics and /healthz here"}})";
  }
  std::string head = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  std::string out = head + body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t w = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) return;
    sent += static_cast<size_t>(w);
  }
}

}  // namespace allot
