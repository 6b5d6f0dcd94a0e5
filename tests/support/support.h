#pragma once
// Shared plumbing for integration tests against the real local stack (scripts/stack up):
// where the servers are, a keep-alive HTTP client, reading topics from "now", producing commands,
// and controlling allot's own processes. A missing server makes the calling test fail.
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"  // now_ms(), for the tests' command timestamps
#include "common/identity/identity.h"
#include "common/kafka.h"
#include "topics/messages.h"
#include "topics/verify.h"

namespace allot::testsupport {

std::string brokers();
int http_port();
// Where the ingress listens: ALLOT_HTTP_HOST, else 127.0.0.1 (the network lab's ingress has a host of its own).
std::string http_host();
std::string admin_token();  // ALLOT_ADMIN_TOKEN, else the token scripts/stack wrote to .run/admin-token
// The payment provider's callback secret: ALLOT_PAYMENT_WEBHOOK_SECRET, else .run/payment-secret.
std::string payment_secret();
// Who the user is (README "Who is the user"): a token for `user_id` signed with the stack's HS256 secret
// (ALLOT_JWT_HS256_SECRET, ALLOT_JWT_HS256_SECRET_FILE, else .run/jwt-secret; issuer and audience from
// ALLOT_JWT_ISSUER / ALLOT_JWT_AUDIENCE), as the operator's sign-in would issue it. Valid for an hour.
std::string user_token(const std::string& user_id);
// The HS256 secret user_token signs with (ALLOT_JWT_HS256_SECRET, else the file ALLOT_JWT_HS256_SECRET_FILE
// names, else .run/jwt-secret), for an ingress a test runs in process. Throws std::runtime_error when none is
// set.
std::string jwt_secret();
// What an ingress must be configured with to accept user_token's tokens: jwt_secret(), and the issuer and
// audience user_token signs (ALLOT_JWT_ISSUER / ALLOT_JWT_AUDIENCE, else "allot").
identity::Settings jwt_settings();
using Headers = std::vector<std::pair<std::string, std::string>>;
// {Authorization: Bearer <user_token(user_id)>} plus `more`: what a signed-in user's request carries.
Headers as_user(const std::string& user_id, Headers more = {});
// {Authorization: Bearer <admin token>} plus `more`.
Headers as_admin(Headers more = {});
std::string repo_root();
std::string run_dir();
// A TCP port on 127.0.0.1 that nothing listens on right now (asked of the kernel, then released), for
// a server a test starts itself. Throws std::runtime_error when the kernel has none.
int free_port();

// A fresh lowercase id usable as an event id: prefix-<time>-<counter>.
std::string unique_id(const std::string& prefix);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One keep-alive HTTP/1.1 connection to `host` (127.0.0.1); reconnects when the server closed it.
class HttpClient {
 public:
  explicit HttpClient(int port, std::string host = "127.0.0.1");
  ~HttpClient();
  // Throws std::runtime_error when the server cannot be reached.
  HttpResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResponse post_json(const std::string& path, const std::string& body,
                         std::vector<std::pair<std::string, std::string>> headers = {});

 private:
  void connect();
  int port_;
  std::string host_;
  int fd_ = -1;
};

// Reads a topic (read_committed) from its end at construction, so a test sees only what it caused.
class TopicTail {
 public:
  TopicTail(const std::string& topic);
  ~TopicTail();
  // Feeds every new record to `on_record` until `done()` is true (returns true) or `timeout` passes.
  bool read_until(const std::function<void(const RdKafka::Message&)>& on_record, const std::function<bool()>& done,
                  std::chrono::seconds timeout);
  // Reads everything from the offsets at construction to the current end again, with a fresh consumer:
  // what landed, independent of anything the live consumer went through (e.g. a broker bounce).
  void reread(const std::function<void(const RdKafka::Message&)>& on_record, std::chrono::seconds timeout);
  // Replaces the live consumer with a fresh one that goes on from where this one's reader got: a consumer
  // can stay behind on a partition whose leader moved during a fault while the records are in the log.
  void reopen();

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> new_consumer() const;
  std::string topic_;
  std::vector<kafka::PartitionStart> starts_;
  std::vector<int64_t> assigned_;  // per partition, the offset the live consumer was last assigned at
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

// Collects decisions of chosen events from allot.decisions.
class DecisionLog {
 public:
  DecisionLog() : tail_("allot.decisions") {}
  // Waits until `count` decisions of `event_ids` arrived; returns whether they did in time.
  bool wait_for(const std::vector<std::string>& event_ids, size_t count, std::chrono::seconds timeout);
  const std::vector<topics::Decision>& decisions() const { return decisions_; }
  // Replaces what was collected with a fresh read of everything since construction (see TopicTail::reread).
  void reread(const std::vector<std::string>& event_ids, std::chrono::seconds timeout);

 private:
  TopicTail tail_;
  std::vector<topics::Decision> decisions_;
};

// Produces commands straight to allot.commands with an idempotent producer (for loads the HTTP path
// would only slow down); returns each command's position.
class CommandProducer {
 public:
  CommandProducer();
  ~CommandProducer();
  // To the partition of the command's event id, or to `partition` when given (a mega event's slice).
  void send(const topics::Command& c, int32_t partition = -1);
  // Waits for every delivery; throws if any failed.
  std::vector<topics::PositionedCommand> flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a shell command from the repository root; returns its exit status.
int sh(const std::string& command);
// Sends `signal` to the process of a stack service (".run/<name>.pid"); returns the pid or -1.
int signal_service(const std::string& name, int signal);
// Whether the stack service's process is alive.
bool service_alive(const std::string& name);

}  // namespace allot::testsupport

namespace allot::testsupport {

// Starts `exe` with extra environment `env` ("NAME=value"), output appended to `log`; returns the pid.
// The child is killed when the test process dies, so a crashed test leaves no service running
// (strictly: when the calling thread ends, so call it from the test's main thread).
int spawn(const std::string& exe, const std::vector<std::string>& env, const std::string& log);
// Sends `signal` to `pid` and waits up to `timeout` for it to exit; returns whether it did.
bool stop_process(int pid, int signal, std::chrono::seconds timeout);
// Waits up to `timeout` until `pid` (not our child) is gone.
bool wait_gone(int pid, std::chrono::seconds timeout);

}  // namespace allot::testsupport
