#pragma once
// One line per event on stderr: time, level, component, message. Thread-safe.
#include <string_view>

namespace allot {

enum class LogLevel { kInfo, kWarn, kError };

void log(LogLevel level, std::string_view component, std::string_view message);
inline void log_info(std::string_view c, std::string_view m) { log(LogLevel::kInfo, c, m); }
inline void log_warn(std::string_view c, std::string_view m) { log(LogLevel::kWarn, c, m); }
inline void log_error(std::string_view c, std::string_view m) { log(LogLevel::kError, c, m); }

}  // namespace allot
