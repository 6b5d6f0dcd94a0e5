#include "ingress/http/parse_errors.h"

#include <pistache/http.h>
#include <pistache/peer.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/log.h"

namespace allot::ingress {

using namespace Pistache;
using Http::Private::State;

namespace {

// An answer decided while parsing; thrown through Pistache's parser to onInput.
class BadInput : public std::runtime_error {
 public:
  explicit BadInput(ApiError e) : std::runtime_error(e.message), error(std::move(e)) {}
  ApiError error;
};

std::string over(size_t max_bytes) {
  return "the " + std::to_string(max_bytes) + " bytes this server reads of a request";
}

bool known_method(std::string_view m) {
  static constexpr std::string_view kMethods[] = {
#define METHOD(repr, str) str,
      HTTP_METHODS
#undef METHOD
  };
  return std::find(std::begin(kMethods), std::end(kMethods), m) != std::end(kMethods);
}

// RFC 9110 §5.6.2: token = 1*tchar.
bool is_token(std::string_view s) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

// Pistache raises 400 for any method it does not know; it stays 400, now with a body that names the
// method. RFC 9110 allows 501 here, but a client's odd method is not a server fault: 5xx are kept for
// those (alerts, and the API contract check, count them as server errors).
// Bytes that cannot start a request line (binary garbage, a TLS handshake on the plain port) are refused
// at once: Pistache would wait for a line end that may never come, and answer nothing.
class RequestLine : public Http::Private::RequestLineStep {
 public:
  using RequestLineStep::RequestLineStep;
  State apply(StreamCursor& cursor) override {
    try {
      State state = RequestLineStep::apply(cursor);
      if (state == State::Again) refuse_a_line_that_is_no_method(cursor);
      return state;
    } catch (const Http::HttpError&) {
      // The step reverted the cursor to the line's start; it checks the method before anything else.
      StreamCursor::Revert revert(cursor);
      StreamCursor::Token token(cursor);
      if (!match_until(' ', cursor) || known_method(token.text())) throw;
      auto method = token.text();
      if (!is_token(method)) {
        throw BadInput({400, "malformed_request", "the request line does not start with a method"});
      }
      if (method.size() > 32) method = method.substr(0, 32) + "...";
      throw BadInput({400, "unknown_method", "the method " + method + " is not one this server knows"});
    }
  }

 private:
  // The line so far (the step left the cursor at its start): a method is a token, ended by a space.
  static void refuse_a_line_that_is_no_method(StreamCursor& cursor) {
    StreamCursor::Revert revert(cursor);
    while (!cursor.eof()) {
      char c = cursor.current();
      if (c == ' ') return;
      if (!is_token(std::string_view(&c, 1))) {
        throw BadInput({400, "malformed_request", "the request line does not start with a method"});
      }
      cursor.advance(1);
    }
  }
};

// Pistache reads a Content-Length that is not a number as 0, and reserves memory for whatever number
// it is before the body arrives: checked first.
class Body : public Http::Private::BodyStep {
 public:
  Body(Http::Request* request, size_t max_bytes) : BodyStep(request), max_bytes_(max_bytes) {}
  State apply(StreamCursor& cursor) override {
    if (auto raw = message->headers().tryGetRaw("Content-Length")) check_content_length(raw->value());
    return BodyStep::apply(cursor);
  }

 private:
  void check_content_length(std::string_view v) const {
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      throw BadInput({400, "invalid_content_length", "Content-Length must be a decimal number of bytes"});
    }
    uint64_t n = 0;
    if (std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc() || n > max_bytes_) {
      throw BadInput({413, "body_too_large", "the request is larger than " + over(max_bytes_)});
    }
  }

  size_t max_bytes_;
};

// Pistache's request parser with the two checks above.
class Parser : public Http::RequestParser {
 public:
  explicit Parser(size_t max_bytes) : Http::RequestParser(max_bytes) {
    allSteps[0] = std::make_unique<RequestLine>(&request);
    allSteps[2] = std::make_unique<Body>(&request, max_bytes);
  }
};

// The request is over the parser's size limit, which Pistache answers 413 whatever part is too long: feed
// what still fits and parse it, so the step the parser stops in names the part that is.
ApiError too_large(Http::RequestParser& parser, const char* data, size_t len, size_t max_bytes) {
  size_t fed = 0;
  for (size_t k = std::bit_floor(len); k > 0; k /= 2) {
    if (parser.feed(data + fed, k)) fed += k;  // fills the buffer exactly: len is more than what fits
  }
  if (parser.parse() == State::Again) {  // may throw: then what it found is the answer
    auto step = parser.step()->id();
    if (step == Http::Private::RequestLineStep::Id) {
      return {414, "request_line_too_long", "the request line is longer than " + over(max_bytes)};
    }
    if (step == Http::Private::HeadersStep::Id) {
      return {431, "header_fields_too_large", "the header fields go past " + over(max_bytes)};
    }
  }
  return {413, "body_too_large", "the request is larger than " + over(max_bytes)};
}

// Pistache's own parse errors (a bad HTTP version or chunk size, ...): their status, Pistache's reason.
ApiError from_pistache(int status, const std::string& reason) {
  if (status == 400) return {400, "malformed_request", reason};
  if (status == 501) return {501, "not_implemented", reason};  // a Transfer-Encoding other than chunked
  return {status, "bad_request", reason};
}

}  // namespace

JsonErrorRouterHandler::JsonErrorRouterHandler(const Rest::Router& routes,
                                               std::function<void(const ApiError&)> rejected)
    : RouterHandler(routes), rejected_(std::move(rejected)) {}

void JsonErrorRouterHandler::onConnection(const std::shared_ptr<Tcp::Peer>& peer) {
  // As Http::Handler::onConnection, with our parser (stored as the RequestParser getParser casts to).
  peer->putData(ParserData, std::shared_ptr<Http::RequestParser>(std::make_shared<Parser>(getMaxRequestSize())));
}

// Http::Handler::onInput of Pistache 0.0.5 (Debian's 0.0.5+ds) step for step, but for the answers to
// what does not parse and to a route handler's exception.
void JsonErrorRouterHandler::onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) {
  auto parser = getParser(peer);
  auto& request = parser->request;
  try {
    if (!parser->feed(buffer, len)) throw BadInput(too_large(*parser, buffer, len, getMaxRequestSize()));
    if (parser->parse() != State::Done) return;
  } catch (const BadInput& e) {
    return answer(request, peer, e.error);
  } catch (const Http::HttpError& e) {
    return answer(request, peer, from_pistache(e.code(), e.reason()));
  } catch (const std::exception& e) {
    // e.g. a Content-Length beyond 64 bits (std::stoull) or another header value Pistache cannot read
    return answer(request, peer,
                  {400, "malformed_request", std::string("the request could not be parsed: ") + e.what()});
  }
  try {
    Http::ResponseWriter response(request.version(), transport(), this, peer);
    request.copyAddress(peer->address());
    auto connection = request.headers().tryGet<Http::Header::Connection>();
    if (connection) {
      response.headers().add<Http::Header::Connection>(connection->control());
    } else {
      response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
    }
    peer->setIdle(false);
    onRequest(request, std::move(response));
    parser->reset();
  } catch (const std::exception& e) {
    log_error("ingress", std::string("a handler failed: ") + e.what());
    answer(request, peer, {500, "internal_error", "the request failed inside the server"});
  }
}

void JsonErrorRouterHandler::answer(const Http::Request& request, const std::shared_ptr<Tcp::Peer>& peer,
                                    const ApiError& e) {
  if (rejected_) rejected_(e);
  Http::ResponseWriter response(request.version(), transport(), this, peer);
  response.headers().add<Http::Header::ContentType>(MIME(Application, Json));
  // What follows an unparsable request cannot be framed: the connection ends once the answer is out.
  response.headers().add<Http::Header::Connection>(Http::ConnectionControl::Close);
  response.send(static_cast<Http::Code>(e.status), error_body(e))
      .then([peer](ssize_t) { ::shutdown(peer->fd(), SHUT_RDWR); },
            [peer](const std::exception_ptr&) { ::shutdown(peer->fd(), SHUT_RDWR); });
  getParser(peer)->reset();
}

}  // namespace allot::ingress
