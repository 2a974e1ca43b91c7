#include "proxy/protection_state.h"

#include <algorithm>
#include <array>
#include <random>

#include "net/event_loop.h"
#include "ratelimit/cluster_script.h"
#include "store/script.h"

namespace sg::proxy {

namespace {

using resilience::BreakerState;

// Keys are hashed with a secret seed so clients cannot pick colliding keys on purpose.
uint64_t randomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

void registerTableMetrics(const ratelimit::RateLimiter* limiter, const metrics::Labels& labels,
                          metrics::Registry& registry) {
  registry.gaugeCallback("scalegate_rate_limit_keys", "Keys held in the rate limit's key table.",
                         labels, [limiter] { return static_cast<double>(limiter->stats().keys); });
  registry.gaugeCallback("scalegate_rate_limit_table_bytes",
                         "Bytes allocated for the rate limit's key table.", labels,
                         [limiter] { return static_cast<double>(limiter->stats().bytes); });
  for (bool forced : {false, true}) {
    metrics::Labels kind = labels;
    kind.emplace_back("kind", forced ? "forced" : "idle");
    registry.counterCallback(
        "scalegate_rate_limit_evictions_total",
        "Keys evicted from a full key table: idle (nothing lost) or forced (a live key starts "
        "afresh).",
        kind, [limiter, forced] {
          auto stats = limiter->stats();
          return static_cast<double>(forced ? stats.forced_evictions : stats.idle_evictions);
        });
  }
}

// rate / K with the period stretched (100/s over 3 instances is 100 per 3 s: exact, no
// rounding of the count); bursts are split, rounded up.
config::RateLimitConfig fallbackConfig(const config::RateLimitConfig& config) {
  config::RateLimitConfig fallback = config;
  const uint32_t instances = config.fallback_instances;
  auto split = [instances](config::Rate& rate, uint64_t& burst) {
    const uint64_t whole = burst == 0 ? rate.count : burst;
    burst = std::max<uint64_t>(1, (whole + instances - 1) / instances);
    rate.period *= instances;
  };
  split(fallback.rate, fallback.burst);
  for (auto& [key, tier] : fallback.tiers) split(tier.rate, tier.burst);
  return fallback;
}

std::unique_ptr<ClusterLimit> makeClusterLimit(const config::RateLimitConfig& config,
                                               uint32_t workers, const metrics::Labels& labels,
                                               metrics::Registry& registry) {
  auto cluster = std::make_unique<ClusterLimit>();
  cluster->fallback_config = fallbackConfig(config);
  cluster->fallback =
      std::make_unique<ratelimit::RateLimiter>(cluster->fallback_config, randomSeed());
  cluster->lease_share = (config.lease + workers - 1) / std::max<uint32_t>(workers, 1);
  cluster->leases.resize(workers);
  cluster->fallbacks = &registry.counter(
      "scalegate_rate_limit_fallbacks_total",
      "Cluster-scope decisions made by the local fallback limiter because the store failed.",
      labels);
  cluster->store_calls =
      &registry.counter("scalegate_rate_limit_store_calls_total",
                        "Cluster-scope decision scripts sent to the store.", labels);
  return cluster;
}

}  // namespace

const store::Script& clusterLimitScript() {
  static const store::Script script{std::string(ratelimit::kClusterScript)};
  return script;
}

bool clusterLimitFits(const SharedLimit& limit, std::string* error) {
  const config::RateLimitConfig& config = *limit.config;
  auto fits = [&](const config::Rate& rate, uint64_t burst, const std::string& what) {
    std::string why;
    if (ratelimit::fitsClusterArithmetic(
            config.algorithm, ratelimit::makeLimits(config.algorithm, rate, burst), &why)) {
      return true;
    }
    *error = "rate_limit " + config.name + what + ": too large for scope: cluster (" + why + ")";
    return false;
  };
  if (!fits(config.rate, config.burst, "")) return false;
  for (const auto& [key, tier] : config.tiers) {
    if (!fits(tier.rate, tier.burst, " tier " + key)) return false;
  }
  return true;
}

std::unique_ptr<SharedLimit> makeSharedLimit(const config::RateLimitConfig& config,
                                             const std::string& listener, const std::string& route,
                                             metrics::Registry& registry, uint32_t workers) {
  auto limit = std::make_unique<SharedLimit>();
  limit->config = &config;
  limit->limiter = std::make_unique<ratelimit::RateLimiter>(config, randomSeed());
  metrics::Labels labels{{"listener", listener}, {"route", route}, {"policy", config.name}};
  if (config.scope == config::RateLimitConfig::Scope::kCluster) {
    limit->cluster = makeClusterLimit(config, workers, labels, registry);
  }
  auto decision = [&](const char* name) {
    metrics::Labels with = labels;
    with.emplace_back("decision", name);
    return &registry.counter(
        "scalegate_rate_limit_decisions_total",
        "Rate limit decisions: allowed, refused (429) or shadow_refused (let through).", with);
  };
  limit->allowed = decision("allowed");
  limit->refused = decision("refused");
  limit->shadow_refused = decision("shadow_refused");
  registerTableMetrics(limit->limiter.get(), labels, registry);
  return limit;
}

void registerBreakerMetrics(const resilience::CircuitBreaker& breaker, const std::string& upstream,
                            metrics::Registry& registry) {
  const auto* raw = &breaker;
  metrics::Labels labels{{"upstream", upstream}};
  constexpr std::array<BreakerState, 3> kStates{BreakerState::kClosed, BreakerState::kOpen,
                                                BreakerState::kHalfOpen};
  std::vector<std::string> state_names;
  for (BreakerState state : kStates) state_names.emplace_back(resilience::breakerStateName(state));
  registry.stateSetCallback(
      "scalegate_circuit_breaker_state", "1 for the breaker's current state, 0 for the others.",
      labels, "state", state_names, [raw, kStates] {
        return static_cast<size_t>(std::find(kStates.begin(), kStates.end(), raw->state()) -
                                   kStates.begin());
      });
  constexpr std::array<std::pair<BreakerState, BreakerState>, 4> kTransitions{{
      {BreakerState::kClosed, BreakerState::kOpen},
      {BreakerState::kOpen, BreakerState::kHalfOpen},
      {BreakerState::kHalfOpen, BreakerState::kClosed},
      {BreakerState::kHalfOpen, BreakerState::kOpen},
  }};
  for (const auto& transition : kTransitions) {
    // Named copies: clang 14 cannot capture structured bindings.
    BreakerState from = transition.first;
    BreakerState to = transition.second;
    metrics::Labels with = labels;
    with.emplace_back("from", resilience::breakerStateName(from));
    with.emplace_back("to", resilience::breakerStateName(to));
    registry.counterCallback(
        "scalegate_circuit_breaker_transitions_total", "Circuit breaker state changes.", with,
        [raw, from, to] { return static_cast<double>(raw->transitions(from, to)); });
  }
  registry.counterCallback("scalegate_circuit_breaker_refusals_total",
                           "Requests answered 503 at once because the breaker was open.", labels,
                           [raw] { return static_cast<double>(raw->refusals()); });
  for (bool failures : {false, true}) {
    metrics::Labels with = labels;
    with.emplace_back("outcome", failures ? "failure" : "success");
    registry.gaugeCallback(
        "scalegate_circuit_breaker_window_requests",
        "Outcomes counted in the breaker's rolling window.", with, [raw, failures] {
          auto snapshot = raw->snapshot(net::monotonicMillis());
          return static_cast<double>(failures ? snapshot.failures : snapshot.successes);
        });
  }
  using Limit = const resilience::ConcurrencyLimit& (resilience::CircuitBreaker::*)() const;
  constexpr std::array<std::pair<const char*, Limit>, 4> kLimits{{
      {"connections", &resilience::CircuitBreaker::connectionLimit},
      {"pending", &resilience::CircuitBreaker::pendingLimit},
      {"requests", &resilience::CircuitBreaker::requestLimit},
      {"retries", &resilience::CircuitBreaker::retryLimit},
  }};
  for (const auto& entry : kLimits) {
    const char* name = entry.first;
    Limit limit = entry.second;
    metrics::Labels with = labels;
    with.emplace_back("limit", name);
    registry.gaugeCallback("scalegate_upstream_concurrency",
                           "Connections, pending requests, requests and retries now.", with,
                           [raw, limit] { return static_cast<double>((raw->*limit)().current()); });
    registry.counterCallback(
        "scalegate_upstream_overflow_total",
        "Requests refused (503) or retries skipped because a max_* cap was reached.", with,
        [raw, limit] { return static_cast<double>((raw->*limit)().overflows()); });
  }
}

}  // namespace sg::proxy
