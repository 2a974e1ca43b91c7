#pragma once
// The last response phase: the gateway's own header lines on a relayed response (X-Cache,
// RateLimit, Retry-After, the sticky cookie, X-Request-Id, response_headers and hsts).
#include <string>

#include "proxy/phase.h"

namespace sg::proxy {

class Exchange;
struct ClientResponseContext;

class ResponseHeadersPhase {
 public:
  explicit ResponseHeadersPhase(Exchange& exchange) : ex_(exchange) {}
  Verdict run(ClientResponseContext* context);

 private:
  Exchange& ex_;
  std::string cookie_;
};

}  // namespace sg::proxy
