#pragma once
// Requests that Pistache's HTTP parser refuses, answered like every other error: a JSON body
// ({"error":{"code","message"}}, error_body) with Content-Type: application/json.
// Why: Pistache 0.0.5 answers them itself, in plain text, from Http::Handler::onInput, below the router
// and so below our handlers; it calls an unknown method malformed (400), any part of a request over its
// size limit 413, and a Content-Length of -1 a 500. There is no hook for it, so this is the router's own
// handler with onInput replaced (a request that parses goes through Pistache's steps unchanged) and two
// checks added to the parser (installed in onConnection). What does not parse gets
//   400 malformed_request        a request line, header field or chunked body Pistache cannot parse
//   400 invalid_content_length   Content-Length is not a decimal number (Pistache reads "abc" as 0)
//   400 unknown_method           a method token Pistache does not know (not 501: no server fault)
//   413 body_too_large           Content-Length or the body over the size limit (checked before
//                                Pistache reserves memory for the body)
//   414 request_line_too_long    the request line alone over the size limit
//   431 header_fields_too_large  the header fields over the size limit
//   501 not_implemented          a Transfer-Encoding other than chunked
// and an exception a route handler lets out gets 500 internal_error. The size limit is Pistache's
// maxRequestSize (Endpoint::options), for the whole request.
// Not covered: the 408 (empty body) Pistache's transport sends when a request's headers or body do not
// arrive within its timeouts; no handler sees it.
// Threads: Pistache clones the handler (HTTP_PROTOTYPE) for each event-loop thread; `rejected` is called
// from those threads.
#include <pistache/router.h>

#include <functional>
#include <memory>

#include "ingress/requests.h"

namespace allot::ingress {

class JsonErrorRouterHandler : public Pistache::Rest::Private::RouterHandler {
 public:
  HTTP_PROTOTYPE(JsonErrorRouterHandler)

  // `rejected` sees every error answered here (for the rejections metric); it must not throw.
  JsonErrorRouterHandler(const Pistache::Rest::Router& routes, std::function<void(const ApiError&)> rejected);

 private:
  void onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  void answer(const Pistache::Http::Request& request, const std::shared_ptr<Pistache::Tcp::Peer>& peer,
              const ApiError& e);

  std::function<void(const ApiError&)> rejected_;
};

}  // namespace allot::ingress
