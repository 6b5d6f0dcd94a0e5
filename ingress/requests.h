#pragma once
// Pure parsing and validation of HTTP API bodies (DESIGN §5); no I/O, unit-tested.
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "topics/messages.h"

namespace allot::ingress {

// An answer the client gets instead of a 2xx: status, machine code, human message.
struct ApiError {
  int status = 400;
  std::string code;
  std::string message;
  int retry_after_s = 0;  // > 0: sent as Retry-After (429, 503)
};

// {"error":{"code":...,"message":...}}
std::string error_body(const ApiError& e);

// True when the Content-Type header names JSON (parameters such as charset allowed).
bool is_json_content_type(std::string_view content_type);

// POST /api/events body.
std::variant<topics::CreateEvent, ApiError> parse_create_event(std::string_view body);

// POST /api/events/{event_id}/claims body: returns the user_id.
std::variant<std::string, ApiError> parse_claim(std::string_view body);

// Compares a presented bearer header with the admin token in time independent of where they differ.
bool bearer_matches(std::string_view authorization_header, std::string_view token);

}  // namespace allot::ingress
