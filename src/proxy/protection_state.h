#pragma once
// Shared protection state built from the config at start-up: a rate limiter per configured
// `rate_limit` (listener or route) and a circuit breaker per upstream with
// `circuit_breaker`, each with the metrics counted next to it.
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "metrics/metrics.h"
#include "ratelimit/rate_limiter.h"
#include "resilience/circuit_breaker.h"
#include "store/script.h"

namespace sg::proxy {

class RateLimitPhase;

// One key's lease on one worker (lease mode): quota taken from the store, spent locally.
struct LeaseSlot {
  uint64_t tokens = 0;           // requests this worker may still admit on its own
  int64_t expires_us = 0;        // unspent tokens are dropped then (quota stays fresh)
  int64_t refused_until_us = 0;  // the store refused: refuse locally until then
  ratelimit::Decision decision;  // as the store answered (the headers of local decisions)
  bool fetching = false;         // a lease call is in flight: other requests wait for it
  // Requests of this worker waiting for the call in flight: (phase, its limit index).
  std::vector<std::pair<RateLimitPhase*, uint8_t>> waiters;
};

// What a `scope: cluster` limit needs besides its config: the local limiter used while the
// store fails (rate / fallback_instances), and each worker's leases.
struct ClusterLimit {
  config::RateLimitConfig fallback_config;
  std::unique_ptr<ratelimit::RateLimiter> fallback;
  uint64_t lease_share = 1;  // quota one worker asks for at once: lease / workers, rounded up
  std::vector<std::unordered_map<std::string, LeaseSlot>> leases;  // [worker]
  metrics::Counter* fallbacks = nullptr;
  metrics::Counter* store_calls = nullptr;
};

// The script every cluster-scope decision runs (ratelimit/cluster_script.h).
const store::Script& clusterLimitScript();

struct SharedLimit {
  const config::RateLimitConfig* config = nullptr;
  // The local limiter (scope: local), or the source of tiers and limits (scope: cluster).
  std::unique_ptr<ratelimit::RateLimiter> limiter;
  std::unique_ptr<ClusterLimit> cluster;  // scope: cluster only
  metrics::Counter* allowed = nullptr;
  metrics::Counter* refused = nullptr;         // answered 429
  metrics::Counter* shadow_refused = nullptr;  // over the limit, let through (shadow: true)
};

// `route` is empty for a listener's limit.
std::unique_ptr<SharedLimit> makeSharedLimit(const config::RateLimitConfig& config,
                                             const std::string& listener, const std::string& route,
                                             metrics::Registry& registry, uint32_t workers);
// Whether a cluster-scope limit's numbers stay exact in the store's script (Lua doubles);
// false with the reason in *error, for a start-up error.
bool clusterLimitFits(const SharedLimit& limit, std::string* error);

// Breaker state, window counts, transitions, refusals and concurrency caps of one upstream.
void registerBreakerMetrics(const resilience::CircuitBreaker& breaker, const std::string& upstream,
                            metrics::Registry& registry);

}  // namespace sg::proxy
