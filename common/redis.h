#pragma once
// hiredis's handles, owned, and the one way every binary and test connects and sends a command. A
// redisContext is not thread-safe: one Context per thread. Only forward declarations here, so that a
// header holding a Context does not pull <hiredis/hiredis.h> in.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace allot::redis {

struct FreeContext {
  void operator()(redisContext* ctx) const;
};
using Context = std::unique_ptr<redisContext, FreeContext>;

struct FreeReply {
  void operator()(redisReply* reply) const;
};
using Reply = std::unique_ptr<redisReply, FreeReply>;

// A connection whose connect and every command after it time out after `timeout`; throws
// std::runtime_error ("redis <host>:<port>: <why>").
[[nodiscard]] Context connect(const std::string& host, int port, std::chrono::milliseconds timeout);

// Queues one command with binary-safe arguments for a pipeline (replies come from redisGetReply, in
// order). False when it could not be queued (out of memory).
[[nodiscard]] bool append(redisContext* ctx, const std::vector<std::string>& args);

// Sends one command with binary-safe arguments and waits for its reply. Null when the connection
// failed (ctx->errstr says why, and the context must not be used again). An error reply is returned
// as it is: the caller decides what it means.
[[nodiscard]] Reply command(redisContext* ctx, const std::vector<std::string>& args);

}  // namespace allot::redis
