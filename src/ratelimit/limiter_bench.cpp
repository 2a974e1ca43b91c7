// Cost of one RateLimiter::check per algorithm (Google Benchmark prints ns per check as
// Time): a hit on one of 1000 existing keys; a new key each time in a full table (insert
// with eviction); and threads sharing one key (lock hand-off across cores) or each using
// its own key. Run: ./limiter_bench
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "ratelimit/key_hash.h"
#include "ratelimit/rate_limiter.h"

namespace {

using sg::ratelimit::Algorithm;
using sg::ratelimit::RateLimiter;

sg::config::RateLimitConfig benchConfig(Algorithm algorithm, uint64_t max_keys) {
  sg::config::RateLimitConfig config;
  config.name = "bench";
  config.algorithm = algorithm;
  config.rate = {100, std::chrono::milliseconds(1000)};
  config.burst = 50;
  config.max_keys = max_keys;
  return config;
}

std::vector<std::string> addresses(size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    keys.push_back("10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) +
                   "." + std::to_string(i & 255));
  }
  return keys;
}

void BM_CheckExistingKey(benchmark::State& state) {
  const auto algorithm = static_cast<Algorithm>(state.range(0));
  RateLimiter limiter(benchConfig(algorithm, 100'000));
  const std::vector<std::string> keys = addresses(1000);
  int64_t now = 0;
  for (const std::string& key : keys) limiter.check(key, now);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.check(keys[i++ % keys.size()], ++now));
  }
}

void BM_CheckNewKeyEvicting(benchmark::State& state) {
  const auto algorithm = static_cast<Algorithm>(state.range(0));
  RateLimiter limiter(benchConfig(algorithm, 10'000));
  const std::vector<std::string> keys = addresses(1 << 20);
  int64_t now = 0;
  for (size_t i = 0; i < 20'000; ++i) limiter.check(keys[i], now);  // full
  size_t i = 20'000;
  for (auto _ : state) {
    // Ten new keys per microsecond: evicted entries are still live (forced evictions).
    now += i % 10 == 0;
    benchmark::DoNotOptimize(limiter.check(keys[i & (keys.size() - 1)], now));
    ++i;
  }
  state.counters["forced"] = static_cast<double>(limiter.stats().forced_evictions);
}

// One limiter per algorithm shared by the benchmark's threads.
RateLimiter& sharedLimiter(Algorithm algorithm) {
  static std::unique_ptr<RateLimiter> limiters[] = {
      std::make_unique<RateLimiter>(benchConfig(Algorithm::kTokenBucket, 100'000)),
      std::make_unique<RateLimiter>(benchConfig(Algorithm::kGcra, 100'000)),
      std::make_unique<RateLimiter>(benchConfig(Algorithm::kSlidingWindow, 100'000))};
  return *limiters[static_cast<int>(algorithm)];
}

void BM_CheckOneKeyThreads(benchmark::State& state) {
  RateLimiter& limiter = sharedLimiter(static_cast<Algorithm>(state.range(0)));
  int64_t now = 0;
  for (auto _ : state) benchmark::DoNotOptimize(limiter.check("global", ++now));
}

void BM_CheckOwnKeyThreads(benchmark::State& state) {
  RateLimiter& limiter = sharedLimiter(static_cast<Algorithm>(state.range(0)));
  const std::string key = "client-" + std::to_string(state.thread_index());
  int64_t now = 0;
  for (auto _ : state) benchmark::DoNotOptimize(limiter.check(key, ++now));
}

void BM_HashKey(benchmark::State& state) {
  const sg::ratelimit::SipKey key = sg::ratelimit::sipKeyFromSeed(1);
  const std::string address = "192.168.100.201";
  for (auto _ : state) benchmark::DoNotOptimize(sg::ratelimit::hashKey(key, address));
}

void algorithms(benchmark::internal::Benchmark* bench) {
  bench->ArgName("algorithm")->Arg(0)->Arg(1)->Arg(2);  // token_bucket, gcra, sliding_window
}

BENCHMARK(BM_CheckExistingKey)->Apply(algorithms);
BENCHMARK(BM_CheckNewKeyEvicting)->Apply(algorithms);
BENCHMARK(BM_CheckOneKeyThreads)->Apply(algorithms)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CheckOwnKeyThreads)->Apply(algorithms)->Threads(2)->UseRealTime();
BENCHMARK(BM_HashKey);

}  // namespace
