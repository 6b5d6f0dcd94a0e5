#pragma once
// The seed experiment's honest baselines (DESIGN §5), served by the ingress next to allot's own path:
//   v1: one MySQL transaction per claim, SELECT ... FOR UPDATE on the event row, synchronous answer;
//   v2: one Redis Lua script takes a unit atomically, then MySQL records the issue; synchronous answer.
// Each keeps its own stock accounting (tables v1_*, v2_*; keys {prefix}v2:*), initialised on first use
// from the event as allot projected it, so one event created through POST /api/events can be run under
// every strategy without sharing counters. Claims run on a pool of worker threads, each with its own
// MySQL and Redis connection, so Pistache's event loops never block on a database.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/metrics.h"

namespace allot::ingress {

struct BaselineOptions {
  std::string mysql_host = "127.0.0.1";
  int mysql_port = 13306;
  std::string mysql_user = "root";
  std::string mysql_password;  // secret: never logged
  std::string mysql_database = "allot";
  std::string redis_host = "127.0.0.1";
  int redis_port = 16379;
  std::string redis_prefix = "allot:";
  int workers = 16;          // the connection pool: one MySQL and one Redis connection per worker
  size_t max_queue = 20000;  // claims waiting for a worker beyond this are refused with 503
};

// An answer: HTTP status and JSON body.
using BaselineDone = std::function<void(int status, const std::string& body)>;

// What the API asks of the baselines.
class BaselineClaims {
 public:
  virtual ~BaselineClaims() = default;
  enum class Strategy { kV1DatabaseLock, kV2RedisAtomic };
  // Decides the claim on a worker and calls `done` there (exactly once).
  virtual void claim(Strategy strategy, const std::string& event_id, const std::string& user_id,
                     const std::string& request_id, BaselineDone done) = 0;
};

class Baselines : public BaselineClaims {
 public:
  Baselines(BaselineOptions options, metrics::Registry& registry);
  ~Baselines() override;  // finishes queued claims, then joins the workers
  void claim(Strategy strategy, const std::string& event_id, const std::string& user_id, const std::string& request_id,
             BaselineDone done) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::ingress
