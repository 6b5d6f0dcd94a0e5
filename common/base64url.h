#pragma once
// base64url (RFC 4648 §5) without padding: Kafka's topic ids and JOSE's tokens and keys are written in it.
#include <string>
#include <string_view>

namespace allot {

std::string base64url_encode(std::string_view bytes);
// Throws std::invalid_argument on a character outside the alphabet or a truncated last group.
std::string base64url_decode(std::string_view text);

}  // namespace allot
