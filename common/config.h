#pragma once
// Reading ALLOT_* environment variables. Only binaries' main() call these; libraries take
// option structs (see DESIGN.md §6).
#include <cstdint>
#include <initializer_list>
#include <string>

namespace allot {

// The variable's value, or `fallback` when unset or empty.
std::string env_string(const char* name, const std::string& fallback);

// The variable parsed as an integer; throws std::invalid_argument naming the variable when it is
// not an integer within [min, max].
int64_t env_int(const char* name, int64_t fallback, int64_t min = INT64_MIN, int64_t max = INT64_MAX);

// The variable's value, or `fallback` when unset or empty; throws std::invalid_argument naming the
// variable and the choices when it is none of `choices`.
std::string env_choice(const char* name, const std::string& fallback, std::initializer_list<const char*> choices);

// librdkafka's compression.type values the services offer (ALLOT_PRODUCE_COMPRESSION, ALLOT_PROCESSOR_COMPRESSION).
inline constexpr std::initializer_list<const char*> kCompressionTypes{"none", "lz4", "zstd"};

}  // namespace allot
