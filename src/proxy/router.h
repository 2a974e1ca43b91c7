#pragma once
// Route matching: routes are tried in file order and the first whose host, path prefix
// and method all match wins (nginx/Envoy users expect first-match on an ordered list).
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/message.h"
#include "http/path_normalizer.h"
#include "metrics/metrics.h"
#include "proxy/cache_state.h"
#include "proxy/phase.h"
#include "proxy/protection_state.h"

namespace sg::proxy {

class AsyncQueue;
struct SharedUpstream;

struct Route {
  const config::RouteConfig* config = nullptr;
  SharedUpstream* upstream = nullptr;
  std::string host;            // lower-case; empty = any
  bool host_wildcard = false;  // "*.example.com" stored as ".example.com"
  std::array<metrics::Counter*, 5> responses_by_class{};  // 1xx..5xx
  metrics::Histogram* latency = nullptr;
  std::unique_ptr<SharedLimit> rate_limit;                 // route key `rate_limit`, else null
  const config::CompressionConfig* compression = nullptr;  // the route's or listener's; null = off
  std::unique_ptr<RouteCache> cache;                       // route key `cache`, else null
  PhaseList phases;             // what this route's requests run, in order (buildPhaseList)
  AsyncQueue* queue = nullptr;  // route key `async`: the queue it stores requests in
  // `async.fanout`: this route with each listed upstream in place of its own, for the
  // deliveries of the members (routed here, then switched: RoutePhase).
  std::vector<std::unique_ptr<Route>> fanout_routes;
  const Route* fanoutRoute(std::string_view upstream_name) const;
};

class Router {
 public:
  void add(Route route) { routes_.push_back(std::move(route)); }
  // `host` is the Host header value (a port, if any, is ignored); `path` the normalised path
  // (normalizeRequestPath). CONNECT matches only a route that lists it in its methods: a
  // route without a method list never opens a tunnel.
  const Route* match(std::string_view host, std::string_view path, std::string_view method) const;
  // The Allow value for "OPTIONS *": the methods of the routes serving `host`, in a fixed
  // order ("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" for a route without a method list,
  // then any other listed method); empty when no route serves the host.
  std::string allowedMethods(std::string_view host) const;
  std::vector<Route>& routes() { return routes_; }
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Normalises request->path in place (listener key `path_normalization`, see
// http/path_normalizer.h). The path is left as a view into the read buffer when it is already
// normal (no copy, no allocation); otherwise it points at its normal form in *storage, which
// must outlive the exchange. Paths that are not origin-form ("*") are left alone. Returns
// kUnchanged or kNormalized, or the reason the request must be refused with 400.
http::PathStatus normalizeRequestPath(const config::PathNormalizationConfig& config,
                                      http::RequestHead* request, std::string* storage);

// Host header value without its port, e.g. "Example.com:8080" → "Example.com", "[::1]:80" →
// "[::1]".
std::string_view hostWithoutPort(std::string_view host);
bool equalsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace sg::proxy
