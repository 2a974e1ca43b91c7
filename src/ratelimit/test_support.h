#pragma once
// Helpers shared by the ratelimit tests.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "ratelimit/algorithms.h"

namespace sg::ratelimit::testing {

inline constexpr int64_t kMs = 1000;
inline constexpr int64_t kSecond = 1'000'000;

inline constexpr Algorithm kAllAlgorithms[] = {Algorithm::kTokenBucket, Algorithm::kGcra,
                                               Algorithm::kSlidingWindow};
inline constexpr Algorithm kBucketAlgorithms[] = {Algorithm::kTokenBucket, Algorithm::kGcra};

inline const char* algorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kTokenBucket:
      return "token_bucket";
    case Algorithm::kGcra:
      return "gcra";
    case Algorithm::kSlidingWindow:
      return "sliding_window";
  }
  return "?";
}

inline std::string paramName(const ::testing::TestParamInfo<Algorithm>& info) {
  return algorithmName(info.param);
}

inline config::Rate rate(uint64_t count, int64_t period_ms) {
  return config::Rate{count, config::Duration{period_ms}};
}

inline config::RateLimitConfig limitConfig(Algorithm algorithm, uint64_t count, int64_t period_ms,
                                           uint64_t burst = 0, uint64_t max_keys = 1000) {
  config::RateLimitConfig config;
  config.name = "test";
  config.algorithm = algorithm;
  config.rate = rate(count, period_ms);
  config.burst = burst;
  config.max_keys = max_keys;
  return config;
}

// A small deterministic generator (splitmix64) for random traces.
class TestRng {
 public:
  explicit TestRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t bound) { return next() % bound; }

 private:
  uint64_t state_;
};

}  // namespace sg::ratelimit::testing
