#pragma once
// Every message that crosses Kafka, with its JSON encoding (DESIGN §3). Times are Unix milliseconds.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

namespace allot::topics {

// Thrown by decode_* on malformed or invalid input; the message says what is wrong.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CreateEvent {
  std::string event_id;
  std::string title;
  int64_t stock = 0;
  int64_t per_user_limit = 1;
  std::optional<int64_t> opens_at;   // claims before this instant are not_open
  std::optional<int64_t> closes_at;  // claims at or after this instant are closed
};

struct Claim {
  std::string event_id;
  std::string user_id;
};

// A command on allot.commands, keyed by event_id.
struct Command {
  std::string request_id;
  int64_t received_at = 0;  // when the ingress accepted it
  std::variant<CreateEvent, Claim> body;

  const std::string& event_id() const;
  bool is_claim() const { return std::holds_alternative<Claim>(body); }
};

enum class Outcome { kIssued, kSoldOut, kDuplicate, kNotOpen, kClosed, kUnknownEvent, kCreated, kAlreadyExists };
std::string_view to_string(Outcome outcome);
std::optional<Outcome> outcome_from_string(std::string_view s);

// Where a command sits in allot.commands; every decision carries it.
struct CommandPosition {
  int32_t partition = 0;
  int64_t offset = 0;
};

// One decision per command on allot.decisions, keyed by event_id.
struct Decision {
  std::string type;  // "claim" or "create_event"
  std::string request_id;
  std::string event_id;
  std::string user_id;  // claims only
  Outcome outcome = Outcome::kUnknownEvent;
  std::optional<int64_t> coupon_seq;  // when issued
  int64_t remaining = 0;              // stock left after this decision (0 for unknown events)
  CommandPosition command;
  int64_t decided_at = 0;
  int64_t received_at = 0;
  // create_event decisions (and claims, for projections that start late) describe the event:
  std::optional<CreateEvent> event;
};

std::string encode(const Command& c);
Command decode_command(std::string_view json);
std::string encode(const Decision& d);
Decision decode_decision(std::string_view json);

// Parses an instant given as Unix milliseconds or an RFC 3339 UTC string ("2026-11-22T10:00:00Z",
// optional fraction); nullopt when it is neither.
std::optional<int64_t> parse_instant(const std::string& text);

}  // namespace allot::topics
