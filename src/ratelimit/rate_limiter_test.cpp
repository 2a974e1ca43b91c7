// RateLimiter through its public API, with an injected clock and exact counts: a burst then
// a steady rate per algorithm, window boundaries, tiers, and the Decision numbers.
#include "ratelimit/rate_limiter.h"

#include <gtest/gtest.h>

#include <vector>

#include "ratelimit/test_support.h"

namespace sg::ratelimit {
namespace {

using testing::kMs;
using testing::kSecond;
using testing::limitConfig;

class BucketTest : public ::testing::TestWithParam<Algorithm> {};

// 10/s with a burst of 5: five at once, then exactly one per 100 ms.
TEST_P(BucketTest, BurstThenSteadyRate) {
  RateLimiter limiter(limitConfig(GetParam(), 10, 1000, 5));
  for (uint64_t i = 0; i < 5; ++i) {
    const Decision d = limiter.check("client", 0);
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 10u);  // the policy: 10 per 1 s window
    EXPECT_EQ(d.window_seconds, 1u);
    // What is left now plus the 5 that come back within the window; 0 once none is left now.
    EXPECT_EQ(d.remaining, i < 4 ? 9 - i : 0u);
    EXPECT_EQ(d.reset_us, static_cast<int64_t>(i + 1) * 100 * kMs);
    EXPECT_EQ(d.reset_seconds, 1u);
    EXPECT_EQ(d.retry_after_seconds, 0u);
    EXPECT_EQ(d.tier, -1);
  }
  Decision refused = limiter.check("client", 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.retry_after_us, 100 * kMs);
  EXPECT_EQ(refused.retry_after_seconds, 1u);
  EXPECT_EQ(refused.reset_us, 500 * kMs);

  refused = limiter.check("client", 100 * kMs - 1);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_us, 1);
  EXPECT_EQ(refused.retry_after_seconds, 1u);  // never 0 for a refusal

  // Every millisecond for ten seconds, two requests: one admitted per 100 ms, on the dot.
  std::vector<int64_t> admitted_at;
  for (int64_t t = 100 * kMs; t <= 10 * kSecond; t += kMs) {
    for (int i = 0; i < 2; ++i) {
      if (limiter.check("client", t).allowed) admitted_at.push_back(t);
    }
  }
  ASSERT_EQ(admitted_at.size(), 100u);
  for (size_t i = 0; i < admitted_at.size(); ++i) {
    EXPECT_EQ(admitted_at[i], static_cast<int64_t>(i + 1) * 100 * kMs);
  }
  // Idle for a while: the bucket refills to exactly 5, no more.
  int allowed = 0;
  while (limiter.check("client", 60 * kSecond).allowed) ++allowed;
  EXPECT_EQ(allowed, 5);
}

TEST_P(BucketTest, ResetAndRetryRoundUpToWholeSeconds) {
  // 1 per 2 s, burst 3: w = 6 s.
  RateLimiter limiter(limitConfig(GetParam(), 1, 2000, 3));
  Decision d = limiter.check("k", 0);
  EXPECT_EQ(d.window_seconds, 6u);
  EXPECT_EQ(d.remaining, 2u);
  EXPECT_EQ(d.reset_seconds, 2u);
  limiter.check("k", 0);
  d = limiter.check("k", 0);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_seconds, 6u);
  d = limiter.check("k", 500 * kMs);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_us, 1500 * kMs);
  EXPECT_EQ(d.retry_after_seconds, 2u);
  EXPECT_EQ(d.reset_us, 5500 * kMs);
  EXPECT_EQ(d.reset_seconds, 6u);
  EXPECT_TRUE(limiter.check("k", 2 * kSecond).allowed);
}

INSTANTIATE_TEST_SUITE_P(Ratelimit, BucketTest, ::testing::ValuesIn(testing::kBucketAlgorithms),
                         testing::paramName);

// 10 per second, sliding: the previous window's 10 count for the overlap, so after a full
// window the next one admits one request per 100 ms as the previous share drains.
TEST(SlidingWindowLimiter, BoundaryBehaviour) {
  RateLimiter limiter(limitConfig(Algorithm::kSlidingWindow, 10, 1000, 99));
  for (uint64_t i = 0; i < 10; ++i) {
    const Decision d = limiter.check("k", 0);
    ASSERT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 10u);  // burst is unused
    EXPECT_EQ(d.window_seconds, 1u);
    EXPECT_EQ(d.remaining, 9 - i);
    EXPECT_EQ(d.reset_us, 2 * kSecond);  // this window's count weighs until the next ends
  }
  Decision d = limiter.check("k", 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_us, 1100 * kMs);  // next window, once 10 x 0.9 + 1 <= 10
  EXPECT_EQ(d.retry_after_seconds, 2u);
  EXPECT_FALSE(limiter.check("k", 999'999).allowed);
  d = limiter.check("k", kSecond);
  EXPECT_FALSE(d.allowed);  // 10 x 1.0 + 0 + 1 > 10
  EXPECT_EQ(d.retry_after_us, 100 * kMs);
  EXPECT_EQ(d.reset_us, kSecond);
  EXPECT_FALSE(limiter.check("k", 1100 * kMs - 1).allowed);
  for (int64_t step = 1; step <= 9; ++step) {
    d = limiter.check("k", kSecond + step * 100 * kMs);
    EXPECT_TRUE(d.allowed) << step;
    EXPECT_EQ(d.remaining, 0u);
    EXPECT_FALSE(limiter.check("k", kSecond + step * 100 * kMs).allowed) << step;
  }
  // Window 2 starts with the 9 of window 1 weighing fully: room for exactly one.
  EXPECT_TRUE(limiter.check("k", 2 * kSecond).allowed);
  EXPECT_FALSE(limiter.check("k", 2 * kSecond).allowed);
  // Two idle windows later it is a new key again.
  int allowed = 0;
  while (limiter.check("k", 4 * kSecond).allowed) ++allowed;
  EXPECT_EQ(allowed, 10);
}

TEST(SlidingWindowLimiter, RefusedRequestsDoNotCount) {
  RateLimiter limiter(limitConfig(Algorithm::kSlidingWindow, 2, 1000));
  EXPECT_TRUE(limiter.check("k", 0).allowed);
  EXPECT_TRUE(limiter.check("k", 0).allowed);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.check("k", 10 * kMs * i).allowed);
  // Had the refusals counted, window 1 would start at 102 and refuse.
  EXPECT_TRUE(limiter.check("k", 1500 * kMs).allowed);
}

config::RateLimitConfig tieredConfig(Algorithm algorithm) {
  config::RateLimitConfig config = limitConfig(algorithm, 2, 1000, 2);
  config.key = config::RateLimitConfig::KeySource::kHeader;
  config.key_header = "x-api-key";
  config.tiers["gold-key"] = {testing::rate(100, 1000), 50};
  config.tiers["bronze-key"] = {testing::rate(1, 60'000), 0};
  return config;
}

class TierTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(TierTest, KnownKeysUseTheirTierUnknownKeysTheDefault) {
  const bool window = GetParam() == Algorithm::kSlidingWindow;
  RateLimiter limiter(tieredConfig(GetParam()));
  auto admitted = [&](std::string_view key, Decision* last) {
    int count = 0;
    while ((*last = limiter.check(key, 0)).allowed) ++count;
    return count;
  };
  Decision last;
  EXPECT_EQ(admitted("gold-key", &last), window ? 100 : 50);
  EXPECT_EQ(last.tier, 1);      // map order: bronze-key, gold-key
  EXPECT_EQ(last.limit, 100u);  // buckets: burst 50, but w = 1 s grants 100
  EXPECT_EQ(admitted("bronze-key", &last), 1);
  EXPECT_EQ(last.tier, 0);
  EXPECT_EQ(last.window_seconds, 60u);
  EXPECT_EQ(last.retry_after_seconds, window ? 120u : 60u);  // window: weighs into the next too
  EXPECT_EQ(admitted("unknown-key", &last), 2);
  EXPECT_EQ(last.tier, -1);
  EXPECT_EQ(last.limit, 2u);
  EXPECT_EQ(admitted("gold-key-2", &last), 2);  // prefixes and look-alikes are not the tier
  EXPECT_EQ(admitted("", &last), 2);
  EXPECT_EQ(limiter.limitsFor("gold-key").count, 100u);
  EXPECT_EQ(limiter.limitsFor("nobody").count, 2u);
}

INSTANTIATE_TEST_SUITE_P(Ratelimit, TierTest, ::testing::ValuesIn(testing::kAllAlgorithms),
                         testing::paramName);

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter limiter(limitConfig(Algorithm::kGcra, 1, 1000, 1));
  EXPECT_TRUE(limiter.check("10.0.0.1", 0).allowed);
  EXPECT_FALSE(limiter.check("10.0.0.1", 0).allowed);
  EXPECT_TRUE(limiter.check("10.0.0.2", 0).allowed);
  EXPECT_TRUE(limiter.check("10.0.0.10", 0).allowed);
  const TableStats stats = limiter.stats();
  EXPECT_EQ(stats.keys, 3u);
  EXPECT_EQ(stats.allowed, 3u);
  EXPECT_EQ(stats.refused, 1u);
}

TEST(RateLimiter, ShadowLimiterStillReportsTheTruth) {
  config::RateLimitConfig config = limitConfig(Algorithm::kTokenBucket, 1, 1000, 1);
  config.shadow = true;
  RateLimiter limiter(config);
  EXPECT_TRUE(limiter.shadow());
  EXPECT_TRUE(limiter.check("k", 0).allowed);
  const Decision d = limiter.check("k", 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 1u);
  EXPECT_EQ(limiter.stats().refused, 1u);
}

TEST(RateLimiter, ZeroRateRefusesEveryRequest) {
  RateLimiter limiter(limitConfig(Algorithm::kTokenBucket, 0, 5000));
  const Decision d = limiter.check("k", 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit, 0u);
  EXPECT_EQ(d.retry_after_seconds, 5u);
  EXPECT_FALSE(limiter.check("k", 3600 * kSecond).allowed);
}

// A reload's successor builds its limiter with another seed, then takes the old one's over:
// spent keys stay spent (tiers too), idle keys are not carried, the clock goes on.
TEST_P(TierTest, CarriedStateKeepsSpentKeysSpentUnderTheNewSeed) {
  RateLimiter old_limiter(tieredConfig(GetParam()), /*hash_seed=*/1);
  while (old_limiter.check("unknown-key", 0).allowed) {
  }
  EXPECT_TRUE(old_limiter.check("bronze-key", 0).allowed);
  EXPECT_TRUE(old_limiter.check("spent-long-ago", -600 * kSecond).allowed);
  RateLimiter::Carry carry = old_limiter.carryOut(0);
  EXPECT_EQ(carry.hash_seed, 1u);
  EXPECT_EQ(carry.keys.size(), 2u);  // the key idle by now is left out

  RateLimiter successor(tieredConfig(GetParam()), /*hash_seed=*/2);
  successor.carryIn(carry, 0);
  EXPECT_FALSE(successor.check("unknown-key", 0).allowed);
  const Decision bronze = successor.check("bronze-key", 0);
  EXPECT_FALSE(bronze.allowed);
  EXPECT_EQ(bronze.tier, 0);  // the tiers are found under the carried seed
  EXPECT_TRUE(successor.check("gold-key", 0).allowed);
  EXPECT_TRUE(successor.check("spent-long-ago", 0).allowed);
  EXPECT_TRUE(successor.check("unknown-key", 60 * kSecond).allowed);  // refills as before
}

TEST(RateLimiter, NameAndAlgorithmComeFromTheConfig) {
  config::RateLimitConfig config = limitConfig(Algorithm::kSlidingWindow, 5, 1000);
  config.name = "api";
  RateLimiter limiter(config);
  EXPECT_EQ(limiter.name(), "api");
  EXPECT_EQ(limiter.algorithm(), Algorithm::kSlidingWindow);
  EXPECT_FALSE(limiter.shadow());
}

}  // namespace
}  // namespace sg::ratelimit
