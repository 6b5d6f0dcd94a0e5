#include "support.h"

#include "common/identity/identity.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/kafka.h"
#include "topics/topics.h"

namespace allot::testsupport {

namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}
}  // namespace

std::string brokers() { return env_or("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"); }
int http_port() { return std::stoi(env_or("ALLOT_HTTP_PORT", "8080")); }
std::string http_host() { return env_or("ALLOT_HTTP_HOST", "127.0.0.1"); }
std::string repo_root() { return env_or("ALLOT_SOURCE_DIR", ALLOT_SOURCE_DIR); }
std::string run_dir() { return env_or("ALLOT_RUN_DIR", repo_root() + "/.run"); }
std::string admin_token() { return env_or("ALLOT_ADMIN_TOKEN", read_file(run_dir() + "/admin-token")); }

std::string payment_secret() {
  return env_or("ALLOT_PAYMENT_WEBHOOK_SECRET", read_file(run_dir() + "/payment-secret"));
}

std::string jwt_secret() {
  static const std::string secret = [] {
    if (const char* v = std::getenv("ALLOT_JWT_HS256_SECRET"); v && *v) return std::string(v);
    return read_file(env_or("ALLOT_JWT_HS256_SECRET_FILE", run_dir() + "/jwt-secret"));
  }();
  if (secret.empty()) {
    throw std::runtime_error(
        "no JWT secret: set ALLOT_JWT_HS256_SECRET or ALLOT_JWT_HS256_SECRET_FILE, or run "
        "scripts/stack up (it writes " +
        run_dir() + "/jwt-secret)");
  }
  return secret;
}

identity::Settings jwt_settings() {
  identity::Settings s;
  s.hs256_secret = jwt_secret();
  s.issuer = env_or("ALLOT_JWT_ISSUER", s.issuer);
  s.audience = env_or("ALLOT_JWT_AUDIENCE", s.audience);
  return s;
}

std::string user_token(const std::string& user_id) {
  identity::MintOptions o;
  o.user_id = user_id;
  o.issuer = env_or("ALLOT_JWT_ISSUER", o.issuer);
  o.audience = env_or("ALLOT_JWT_AUDIENCE", o.audience);
  o.issued_at_s = now_ms() / 1000;
  return identity::mint_hs256(jwt_secret(), o);
}

Headers as_user(const std::string& user_id, Headers more) {
  more.emplace_back("Authorization", "Bearer " + user_token(user_id));
  return more;
}

Headers as_admin(Headers more) {
  more.emplace_back("Authorization", "Bearer " + admin_token());
  return more;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error(std::string("no free port on 127.0.0.1: ") + std::strerror(errno));
  return ntohs(addr.sin_port);
}

std::string unique_id(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(now_ms() % 100000000) + "-" + std::to_string(++counter);
}

// ---- HTTP ----

HttpClient::HttpClient(int port, std::string host) : port_(port), host_(std::move(host)) {}
HttpClient::~HttpClient() {
  if (fd_ >= 0) ::close(fd_);
}

void HttpClient::connect() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1)
    throw std::runtime_error("not an IPv4 address: " + host_);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot connect to " + host_ + ":" + std::to_string(port_) + " (is the stack up?)");
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{30, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

HttpResponse HttpClient::request(const std::string& method, const std::string& path, const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string req =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n" + body;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0) connect();
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      ::close(fd_);
      fd_ = -1;
      continue;  // the server closed an idle connection: reconnect once
    }
    std::string buf;
    char chunk[8192];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    HttpResponse resp;
    while (true) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      if (header_end == std::string::npos && (header_end = buf.find("\r\n\r\n")) != std::string::npos) {
        std::istringstream head(buf.substr(0, header_end));
        std::string line;
        std::getline(head, line);
        resp.status = std::stoi(line.substr(9, 3));
        while (std::getline(head, line)) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          auto colon = line.find(':');
          if (colon == std::string::npos) continue;
          std::string name = line.substr(0, colon);
          for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          resp.headers[name] = value;
        }
        content_length = resp.headers.count("content-length") ? std::stoul(resp.headers["content-length"]) : 0;
      }
      if (header_end != std::string::npos && buf.size() >= header_end + 4 + content_length) {
        resp.body = buf.substr(header_end + 4, content_length);
        auto conn = resp.headers["connection"];
        if (conn == "Close" || conn == "close") {
          ::close(fd_);
          fd_ = -1;
        }
        return resp;
      }
    }
    ::close(fd_);
    fd_ = -1;
    if (header_end != std::string::npos) throw std::runtime_error("truncated HTTP response");
  }
  throw std::runtime_error("no HTTP response from " + host_ + ":" + std::to_string(port_));
}

HttpResponse HttpClient::post_json(const std::string& path, const std::string& body,
                                   std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  return request("POST", path, body, headers);
}

// ---- Kafka ----

std::unique_ptr<RdKafka::KafkaConsumer> TopicTail::new_consumer() const {
  // auto.offset.reset=error: a tail that silently jumped to the end would hide lost records.
  return kafka::make_consumer({{"bootstrap.servers", brokers()},
                               {"group.id", "allot-test-tail"},
                               {"enable.auto.commit", "false"},
                               {"auto.offset.reset", "error"},
                               {"isolation.level", "read_committed"}});
}

TopicTail::TopicTail(const std::string& topic) : topic_(topic) {
  consumer_ = new_consumer();
  int32_t n = kafka::partition_count(*consumer_, topic, std::chrono::seconds(10));
  std::vector<RdKafka::TopicPartition*> parts;
  for (int32_t p = 0; p < n; ++p) {
    int64_t low = 0, high = 0;
    if (kafka::watermarks(*consumer_, topic, p, &low, &high, std::chrono::seconds(10)) != RdKafka::ERR_NO_ERROR) {
      RdKafka::TopicPartition::destroy(parts);
      throw std::runtime_error("watermarks of " + topic);
    }
    parts.push_back(RdKafka::TopicPartition::create(topic, p, high));
    starts_.push_back({p, high});
    assigned_.push_back(high);
  }
  auto code = consumer_->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (code != RdKafka::ERR_NO_ERROR) throw std::runtime_error("assign " + topic + ": " + RdKafka::err2str(code));
}

TopicTail::~TopicTail() {
  // Assigned only, never joined: a failed close keeps nobody waiting.
  if (auto code = consumer_->close(); code != RdKafka::ERR_NO_ERROR) {
    std::cerr << "TopicTail: close: " << RdKafka::err2str(code) << "\n";
  }
}

bool TopicTail::read_until(const std::function<void(const RdKafka::Message&)>& on_record,
                           const std::function<bool()>& done, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(200));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      on_record(*m);
    } else if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF) {
      std::cerr << "tail of " << topic_ << ": " << m->errstr() << "\n";  // e.g. a bounce; reread() is the truth
    }
  }
  return true;
}

void TopicTail::reopen() {
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto& start : starts_) parts.push_back(RdKafka::TopicPartition::create(topic_, start.partition));
  auto code = consumer_->position(parts);  // the next offset after the last record handed to the reader
  for (size_t i = 0; i < parts.size(); ++i) {
    // Nothing handed out since the last assign: go on from there.
    if (parts[i]->offset() < 0) parts[i]->set_offset(assigned_[i]);
  }
  if (code == RdKafka::ERR_NO_ERROR) {
    if (auto closed = consumer_->close(); closed != RdKafka::ERR_NO_ERROR) {
      std::cerr << "TopicTail: close before reopening: " << RdKafka::err2str(closed) << "\n";  // assigned only
    }
    consumer_ = new_consumer();
    code = consumer_->assign(parts);
    for (size_t i = 0; i < parts.size(); ++i) assigned_[i] = parts[i]->offset();
  }
  RdKafka::TopicPartition::destroy(parts);
  if (code != RdKafka::ERR_NO_ERROR) throw std::runtime_error("reopen " + topic_ + ": " + RdKafka::err2str(code));
}

void TopicTail::reread(const std::function<void(const RdKafka::Message&)>& on_record, std::chrono::seconds timeout) {
  kafka::read_committed_to_end(brokers(), topic_, starts_, on_record, timeout);
}

void DecisionLog::reread(const std::vector<std::string>& event_ids, std::chrono::seconds timeout) {
  std::vector<topics::Decision> fresh;
  tail_.reread(
      [&](const RdKafka::Message& m) {
        auto d = topics::decode_decision(std::string_view(static_cast<const char*>(m.payload()), m.len()));
        if (std::find(event_ids.begin(), event_ids.end(), d.event_id) != event_ids.end()) fresh.push_back(std::move(d));
      },
      timeout);
  decisions_ = std::move(fresh);
}

bool DecisionLog::wait_for(const std::vector<std::string>& event_ids, size_t count, std::chrono::seconds timeout) {
  auto wanted = [&](const std::string& id) {
    for (const auto& e : event_ids) {
      if (e == id) return true;
    }
    return false;
  };
  return tail_.read_until(
      [&](const RdKafka::Message& m) {
        auto d = topics::decode_decision(std::string_view(static_cast<const char*>(m.payload()), m.len()));
        if (wanted(d.event_id)) decisions_.push_back(std::move(d));
      },
      [&] { return decisions_.size() >= count; }, timeout);
}

struct CommandProducer::Impl : RdKafka::DeliveryReportCb {
  std::unique_ptr<RdKafka::Producer> producer;
  std::mutex mu;
  std::vector<topics::PositionedCommand> delivered;
  std::vector<std::unique_ptr<topics::Command>> pending;
  int failed = 0;
  void dr_cb(RdKafka::Message& m) override {
    std::unique_ptr<topics::Command> c(static_cast<topics::Command*>(m.msg_opaque()));
    if (m.err()) {
      ++failed;
      return;
    }
    delivered.push_back({{m.partition(), m.offset()}, *c});
  }
};

CommandProducer::CommandProducer() : impl_(std::make_unique<Impl>()) {
  auto conf = kafka::make_conf({{"bootstrap.servers", brokers()},
                                {"enable.idempotence", "true"},
                                {"linger.ms", "10"},
                                {"queue.buffering.max.messages", "1000000"}});
  std::string err;
  conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(impl_.get()), err);
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl_->producer) throw std::runtime_error(err);
}

CommandProducer::~CommandProducer() {
  // A command still queued here is lost to the test that sent it: say so, where it can be seen.
  if (auto code = impl_->producer->flush(10000); code != RdKafka::ERR_NO_ERROR) {
    std::cerr << "CommandProducer: flush: " << RdKafka::err2str(code) << " (" << impl_->producer->outq_len()
              << " messages not delivered)\n";
  }
}

void CommandProducer::send(const topics::Command& c, int32_t partition) {
  auto value = topics::encode(c);
  const auto key = c.key();
  auto* copy = new topics::Command(c);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto code = impl_->producer->produce("allot.commands", partition >= 0 ? partition : RdKafka::Topic::PARTITION_UA,
                                         RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(), key.data(),
                                         key.size(), 0, copy);
    if (code == RdKafka::ERR_NO_ERROR) return;
    if (code != RdKafka::ERR__QUEUE_FULL) break;
    impl_->producer->poll(10);
  }
  delete copy;
  throw std::runtime_error("produce failed");
}

std::vector<topics::PositionedCommand> CommandProducer::flush() {
  if (impl_->producer->flush(60000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("flush timed out");
  impl_->producer->poll(0);
  if (impl_->failed) throw std::runtime_error(std::to_string(impl_->failed) + " commands not delivered");
  return std::move(impl_->delivered);
}

// ---- processes ----

int sh(const std::string& command) {
  std::string full = "cd '" + repo_root() + "' && " + command;
  int rc = std::system(full.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int signal_service(const std::string& name, int signal) {
  auto pid_text = read_file(run_dir() + "/" + name + ".pid");
  if (pid_text.empty()) return -1;
  int pid = std::stoi(pid_text);
  if (::kill(pid, signal) != 0) return -1;
  return pid;
}

bool service_alive(const std::string& name) {
  auto pid_text = read_file(run_dir() + "/" + name + ".pid");
  return !pid_text.empty() && ::kill(std::stoi(pid_text), 0) == 0;
}

}  // namespace allot::testsupport

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

extern char** environ;

namespace allot::testsupport {

int spawn(const std::string& exe, const std::vector<std::string>& env, const std::string& log) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) vars.emplace_back(*e);
  for (const auto& v : env) vars.push_back(v);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string path = exe;
  char* argv[] = {path.data(), nullptr};
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // The child dies with the test: a test binary that crashes or aborts leaves no service behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(path.c_str(), argv, envp.data());
    static const char kFailed[] = "spawn: execve failed (missing or not executable)\n";
    [[maybe_unused]] auto n = ::write(2, kFailed, sizeof kFailed - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid < 0) throw std::runtime_error("cannot start " + exe);
  return pid;
}

bool stop_process(int pid, int signal, std::chrono::seconds timeout) {
  ::kill(pid, signal);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool wait_gone(int pid, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::kill(pid, 0) != 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace allot::testsupport
