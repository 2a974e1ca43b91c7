#pragma once
// Route matching: routes are tried in file order and the first whose host, path prefix
// and method all match wins (nginx/Envoy users expect first-match on an ordered list).
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "metrics/metrics.h"
#include "proxy/cache_state.h"
#include "proxy/protection_state.h"

namespace sg::proxy {

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
};

class Router {
 public:
  void add(Route route) { routes_.push_back(std::move(route)); }
  // `host` is the Host header value (a port, if any, is ignored).
  const Route* match(std::string_view host, std::string_view path, std::string_view method) const;
  std::vector<Route>& routes() { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Host header value without its port, e.g. "Example.com:8080" → "Example.com", "[::1]:80" →
// "[::1]".
std::string_view hostWithoutPort(std::string_view host);
bool equalsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace sg::proxy
