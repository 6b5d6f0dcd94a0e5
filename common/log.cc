#include "common/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace allot {

void log(LogLevel level, std::string_view component, std::string_view message) {
  static std::mutex mu;
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  const char* lvl = level == LogLevel::kInfo ? "INFO" : level == LogLevel::kWarn ? "WARN" : "ERROR";
  std::lock_guard lock(mu);
  std::fprintf(stderr, "%s.%03lldZ %-5s %.*s: %.*s\n", stamp, static_cast<long long>(ms), lvl,
               static_cast<int>(component.size()), component.data(), static_cast<int>(message.size()), message.data());
}

}  // namespace allot
