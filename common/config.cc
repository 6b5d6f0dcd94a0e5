#include "common/config.h"

#include <cstdlib>
#include <stdexcept>

namespace allot {

std::string env_string(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

int64_t env_int(const char* name, int64_t fallback, int64_t min, int64_t max) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  long long parsed = std::strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || parsed < min || parsed > max) {
    throw std::invalid_argument(std::string(name) + "=" + v + " is not an integer in [" + std::to_string(min) + ", " +
                                std::to_string(max) + "]");
  }
  return parsed;
}

std::string env_choice(const char* name, const std::string& fallback, std::initializer_list<const char*> choices) {
  std::string v = env_string(name, fallback);
  std::string all;
  for (const char* c : choices) {
    if (v == c) return v;
    all += (all.empty() ? "" : ", ") + std::string(c);
  }
  throw std::invalid_argument(std::string(name) + "=" + v + " is not one of: " + all);
}

}  // namespace allot
