#pragma once
// Shared protection state built from the config at start-up: a rate limiter per configured
// `rate_limit` (listener or route) and a circuit breaker per upstream with
// `circuit_breaker`, each with the metrics counted next to it.
#include <memory>
#include <string>

#include "config/config.h"
#include "metrics/metrics.h"
#include "ratelimit/rate_limiter.h"
#include "resilience/circuit_breaker.h"

namespace sg::proxy {

struct SharedLimit {
  const config::RateLimitConfig* config = nullptr;
  std::unique_ptr<ratelimit::RateLimiter> limiter;
  metrics::Counter* allowed = nullptr;
  metrics::Counter* refused = nullptr;         // answered 429
  metrics::Counter* shadow_refused = nullptr;  // over the limit, let through (shadow: true)
};

// `route` is empty for a listener's limit.
std::unique_ptr<SharedLimit> makeSharedLimit(const config::RateLimitConfig& config,
                                             const std::string& listener, const std::string& route,
                                             metrics::Registry& registry);

// Breaker state, window counts, transitions, refusals and concurrency caps of one upstream.
void registerBreakerMetrics(const resilience::CircuitBreaker& breaker, const std::string& upstream,
                            metrics::Registry& registry);

}  // namespace sg::proxy
