#include "common/redis.h"

#include <hiredis/hiredis.h>

#include <stdexcept>

namespace allot::redis {

void FreeContext::operator()(redisContext* ctx) const { redisFree(ctx); }

void FreeReply::operator()(redisReply* reply) const { freeReplyObject(reply); }

Context connect(const std::string& host, int port, std::chrono::milliseconds timeout) {
  auto ms = timeout.count();
  timeval tv{static_cast<decltype(tv.tv_sec)>(ms / 1000), static_cast<decltype(tv.tv_usec)>((ms % 1000) * 1000)};
  Context ctx(redisConnectWithTimeout(host.c_str(), port, tv));
  std::string where = "redis " + host + ":" + std::to_string(port) + ": ";
  if (!ctx) throw std::runtime_error(where + "out of memory");
  if (ctx->err) throw std::runtime_error(where + ctx->errstr);
  if (redisSetTimeout(ctx.get(), tv) != REDIS_OK) throw std::runtime_error(where + "set timeout: " + ctx->errstr);
  return ctx;
}

namespace {

// hiredis's argv form of `args`: pointers into them, and their lengths (binary safe).
struct Argv {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  explicit Argv(const std::vector<std::string>& args) {
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  int argc() const { return static_cast<int>(argv.size()); }
};

}  // namespace

bool append(redisContext* ctx, const std::vector<std::string>& args) {
  Argv a(args);
  return redisAppendCommandArgv(ctx, a.argc(), a.argv.data(), a.lens.data()) == REDIS_OK;
}

Reply command(redisContext* ctx, const std::vector<std::string>& args) {
  Argv a(args);
  return Reply(static_cast<redisReply*>(redisCommandArgv(ctx, a.argc(), a.argv.data(), a.lens.data())));
}

}  // namespace allot::redis
