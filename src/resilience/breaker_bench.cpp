// Cost of the circuit breaker on the request path: allow() + record() while closed (all
// successes, and with 1% failures, which makes successes sum the window), a refusal while
// open, and a ConcurrencyLimit acquire + release. ->Threads(2) shares one breaker between
// two threads, as workers do. The clock advances 1 ms every 64 requests, so buckets roll.
// Run: ./breaker_bench (Google Benchmark prints ns per request as Time).
#include <benchmark/benchmark.h>

#include <atomic>

#include "resilience/circuit_breaker.h"

namespace {

using sg::resilience::CircuitBreaker;
using sg::resilience::ConcurrencyLimit;
using sg::resilience::Outcome;

CircuitBreaker& sharedBreaker() {
  static CircuitBreaker breaker([] {
    sg::config::CircuitBreakerConfig config;
    config.volume_threshold = 1u << 30;  // stays closed whatever the failure mix
    return config;
  }());
  return breaker;
}

// The breaker outlives a run, so each run's clock starts where the last one ended; a clock
// going back to 0 would make every outcome a late one (the locked slow path).
std::atomic<int64_t> g_clock_end{0};

void closedAllowRecord(benchmark::State& state) {
  CircuitBreaker& breaker = sharedBreaker();
  const int64_t failure_every = state.range(0);  // 0 = never
  const int64_t clock_start = g_clock_end.load();
  int64_t i = 0;
  int64_t until_failure = failure_every;  // a countdown: a modulo here would cost more
  for (auto _ : state) {
    int64_t now = clock_start + (i >> 6);
    auto permit = breaker.allow(now);
    bool fail = --until_failure == 0;
    if (fail) until_failure = failure_every;
    breaker.record(fail ? Outcome::kFailure : Outcome::kSuccess, permit, now);
    ++i;
  }
  int64_t end = clock_start + (i >> 6) + 1;
  int64_t seen = g_clock_end.load();
  while (seen < end && !g_clock_end.compare_exchange_weak(seen, end)) {
  }
}
BENCHMARK(closedAllowRecord)->Arg(0)->Arg(100)->Threads(1)->Threads(2);

void openRefusal(benchmark::State& state) {
  static CircuitBreaker breaker{sg::config::CircuitBreakerConfig{}};
  if (state.thread_index() == 0) {
    for (int i = 0; i < 20; ++i) breaker.record(Outcome::kFailure, breaker.allow(0), 0);
  }
  for (auto _ : state) benchmark::DoNotOptimize(breaker.allow(1000));
}
BENCHMARK(openRefusal)->Threads(1)->Threads(2);

void limitAcquireRelease(benchmark::State& state) {
  static ConcurrencyLimit limit(1000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(limit.tryAcquire());
    limit.release();
  }
}
BENCHMARK(limitAcquireRelease)->Threads(1)->Threads(2);

}  // namespace
