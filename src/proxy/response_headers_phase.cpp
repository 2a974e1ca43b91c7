// The gateway's header lines on a relayed response (docs/life-of-a-request.md, "Response
// phases"): X-Cache, what earlier phases added (RateLimit, Retry-After), the sticky cookie,
// X-Request-Id, and the listener's response_headers and hsts when the upstream set none.
#include "proxy/response_headers_phase.h"

#include <algorithm>

#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/router.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"

namespace sg::proxy {

Verdict ResponseHeadersPhase::run(ClientResponseContext* context) {
  // Scalegate-Cache-Control (RFC 9213 targeted field) speaks to this cache only: it is
  // neither stored nor passed on. CDN-Cache-Control is passed on for the CDNs downstream.
  if (ex_.route->cache) {
    auto& headers = ex_.response.headers;
    headers.erase(std::remove_if(headers.begin(), headers.end(),
                                 [](const http::Header& header) {
                                   return equalsIgnoreCase(header.name, "scalegate-cache-control");
                                 }),
                  headers.end());
  }
  ex_.phases.cache.announce();
  context->request_id = ex_.generated_id;
  context->extra_headers = ex_.extra_headers;
  context->defaults = &ex_.listener->default_headers;
  const auto& sticky = ex_.route->upstream->config->sticky_cookie;
  const SharedServer* server = ex_.phases.upstream.connection()->server();
  if (!sticky.empty() && ex_.phases.upstream.stickyServer() != static_cast<int>(server->index)) {
    cookie_.assign(sticky).append("=").append(server->sticky_id).append("; Path=/; HttpOnly");
    context->set_cookie = cookie_;
  }
  return Verdict::kContinue;
}

}  // namespace sg::proxy
