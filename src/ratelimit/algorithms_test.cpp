// The algorithms on State values directly: policy numbers, clamping, what remaining /
// reset / retry mean (checked by probing copies of the state on random traces), token bucket
// == GCRA on the same traces, and the sliding window against a plain reference model.
#include "ratelimit/algorithms.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "ratelimit/test_support.h"

namespace sg::ratelimit {
namespace {

using testing::kAllAlgorithms;
using testing::kMs;
using testing::kSecond;
using testing::rate;
using testing::TestRng;

struct LimitCase {
  uint64_t count;
  int64_t period_ms;
  uint64_t burst;
};

// Periods that divide evenly and ones that do not (3/s: one request per 333333.33 us).
constexpr LimitCase kLimitCases[] = {{10, 1000, 5},    {3, 1000, 1}, {7, 10'000, 3},
                                     {5, 1500, 0},     {13, 700, 4}, {1000, 1000, 50},
                                     {1, 3'600'000, 2}};

TEST(Limits, BucketPolicyNumbers) {
  const Limits limits = makeLimits(Algorithm::kTokenBucket, rate(10, 1000), 5);
  EXPECT_EQ(limits.quota, 10u);  // w is rounded up to 1 s, in which the rate grants 10
  EXPECT_EQ(limits.refilled_in_window, 5u);
  EXPECT_EQ(limits.refill, 1u);  // gcd(10, 1e6) = 10: 1 unit per us, 100000 per request
  EXPECT_EQ(limits.cost, 100'000u);
  EXPECT_EQ(limits.capacity, 500'000u);
  EXPECT_EQ(limits.fill_us, 500'000);
  EXPECT_EQ(limits.window_seconds, 1u);  // 0.5 s, rounded up

  EXPECT_EQ(makeLimits(Algorithm::kGcra, rate(100, 60'000), 0).quota, 100u);
  EXPECT_EQ(makeLimits(Algorithm::kGcra, rate(100, 60'000), 0).window_seconds, 60u);
  EXPECT_EQ(makeLimits(Algorithm::kTokenBucket, rate(1, 3'600'000), 3).window_seconds, 10'800u);
  EXPECT_EQ(makeLimits(Algorithm::kTokenBucket, rate(7, 10'000), 1).fill_us, 1'428'572);
  EXPECT_EQ(makeLimits(Algorithm::kTokenBucket, rate(7, 10'000), 1).window_seconds, 2u);
}

// q is what the rate grants in w (w rounded up to whole seconds), at least the burst: the
// policy never understates a sub-second or fractional quota.
TEST(Limits, PolicyQuotaIsWhatTheRateGrantsInTheWindow) {
  const Limits one = makeLimits(Algorithm::kTokenBucket, rate(10, 1000), 1);
  EXPECT_EQ(one.window_seconds, 1u);
  EXPECT_EQ(one.quota, 10u);
  EXPECT_EQ(one.refilled_in_window, 9u);
  const Limits gcra = makeLimits(Algorithm::kGcra, rate(6000, 60'000), 50);  // 100/s
  EXPECT_EQ(gcra.window_seconds, 1u);
  EXPECT_EQ(gcra.quota, 100u);
  const Limits fractional = makeLimits(Algorithm::kTokenBucket, rate(20, 1500), 0);  // 1.5 s
  EXPECT_EQ(fractional.window_seconds, 2u);
  EXPECT_EQ(fractional.quota, 26u);  // floor(2 s x 20 / 1.5 s)
  const Limits window = makeLimits(Algorithm::kSlidingWindow, rate(10, 200), 0);
  EXPECT_EQ(window.window_seconds, 1u);
  EXPECT_EQ(window.quota, 50u);
  EXPECT_EQ(window.refilled_in_window, 40u);
  // Exact whole-second policies are unchanged.
  EXPECT_EQ(makeLimits(Algorithm::kTokenBucket, rate(100, 60'000), 100).quota, 100u);
  EXPECT_EQ(makeLimits(Algorithm::kTokenBucket, rate(100, 60'000), 100).refilled_in_window, 0u);
  EXPECT_EQ(makeLimits(Algorithm::kTokenBucket, rate(1000, 1000), 2000).quota, 2000u);
  EXPECT_EQ(makeLimits(Algorithm::kTokenBucket, rate(7, 10'000), 1).quota, 1u);  // 2 s grant 1.4
  EXPECT_EQ(makeLimits(Algorithm::kSlidingWindow, rate(100, 60'000), 0).quota, 100u);
  // Far beyond 2^64 units in the product: clamped, not wrapped.
  const Limits huge = makeLimits(Algorithm::kTokenBucket, rate(kMaxCount, 1), 1);
  EXPECT_GE(huge.quota, huge.burst);
}

TEST(Limits, WindowPolicyNumbersIgnoreBurst) {
  const Limits limits = makeLimits(Algorithm::kSlidingWindow, rate(100, 60'000), 7);
  EXPECT_EQ(limits.quota, 100u);
  EXPECT_EQ(limits.window_seconds, 60u);
  EXPECT_EQ(makeLimits(Algorithm::kSlidingWindow, rate(10, 1500), 0).window_seconds, 2u);
  EXPECT_EQ(makeLimits(Algorithm::kSlidingWindow, rate(10, 200), 0).window_seconds, 1u);
}

TEST(Limits, AbsurdValuesAreClampedSoProductsFit) {
  const Limits huge = makeLimits(Algorithm::kTokenBucket, rate(uint64_t{1} << 50, 1000), 0);
  EXPECT_EQ(huge.count, kMaxCount);
  EXPECT_EQ(makeLimits(Algorithm::kSlidingWindow, rate(uint64_t{1} << 40, 1000), 0).count,
            kMaxWindowCount);
  // A count coprime with a 200-day period: the bucket shrinks until burst x P' fits.
  const int64_t days200_ms = 200LL * 24 * 3600 * 1000;
  const Limits coprime = makeLimits(Algorithm::kGcra, rate(kMaxCount - 1, days200_ms), 0);
  EXPECT_LE(coprime.capacity, kMaxCapacityUnits);
  EXPECT_GT(coprime.burst, 0u);
  EXPECT_EQ(coprime.capacity, coprime.burst * coprime.cost);
  State state = freshState(Algorithm::kGcra, coprime, 0);
  EXPECT_TRUE(apply(Algorithm::kGcra, coprime, state, 0).allowed);
  // A period of 0 or a negative one counts as 1 us rather than dividing by zero.
  EXPECT_EQ(makeLimits(Algorithm::kSlidingWindow, rate(5, 0), 0).period_us, 1u);
}

TEST(Limits, ZeroCountRefusesEverything) {
  for (Algorithm algorithm : kAllAlgorithms) {
    const Limits limits = makeLimits(algorithm, rate(0, 2000), 0);
    State state = freshState(algorithm, limits, 0);
    const Outcome outcome = apply(algorithm, limits, state, 5 * kSecond);
    EXPECT_FALSE(outcome.allowed);
    EXPECT_EQ(outcome.remaining, 0u);
    EXPECT_EQ(outcome.retry_us, 2 * kSecond);
    EXPECT_EQ(limits.window_seconds, 2u);
  }
}

// A random trace: gaps of zero (simultaneous requests), around one emission interval, and
// long idle stretches.
std::vector<int64_t> randomTrace(uint64_t seed, const Limits& limits, size_t length) {
  TestRng rng(seed);
  const int64_t interval =
      static_cast<int64_t>(limits.period_us / std::max<uint64_t>(limits.count, 1));
  std::vector<int64_t> times;
  int64_t now = static_cast<int64_t>(rng.below(10 * kSecond));
  for (size_t i = 0; i < length; ++i) {
    const uint64_t kind = rng.below(10);
    if (kind < 4) {
      // same time
    } else if (kind < 8) {
      now += static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * interval) + 1));
    } else if (kind < 9) {
      now += static_cast<int64_t>(rng.below(3)) * interval;
    } else {
      now += static_cast<int64_t>(rng.below(static_cast<uint64_t>(3 * limits.period_us)));
    }
    times.push_back(now);
  }
  return times;
}

// What an outcome claims, checked by probing copies of the state it left.
bool sameOutcome(const Outcome& a, const Outcome& b) {
  return a.allowed == b.allowed && a.remaining == b.remaining && a.reset_us == b.reset_us &&
         a.retry_us == b.retry_us;
}

void expectOutcomeMeansWhatItSays(Algorithm algorithm, const Limits& limits, const State& after,
                                  int64_t now, const Outcome& outcome) {
  auto freshOutcome = [&](int64_t at) {
    State fresh = freshState(algorithm, limits, at);
    return apply(algorithm, limits, fresh, at);
  };
  State probe = after;
  for (uint64_t i = 0; i < outcome.remaining; ++i) {
    ASSERT_TRUE(apply(algorithm, limits, probe, now).allowed) << "remaining " << i;
  }
  EXPECT_FALSE(apply(algorithm, limits, probe, now).allowed) << "more than remaining";
  if (!outcome.allowed) {
    ASSERT_GT(outcome.retry_us, 0);
    probe = after;
    EXPECT_FALSE(apply(algorithm, limits, probe, now + outcome.retry_us - 1).allowed);
    probe = after;
    EXPECT_TRUE(apply(algorithm, limits, probe, now + outcome.retry_us).allowed);
  }
  // Reset: from then on the key is indistinguishable from a new one, not a microsecond before.
  const int64_t reset_at = now + outcome.reset_us;
  EXPECT_TRUE(isIdle(after, reset_at));
  probe = after;
  EXPECT_TRUE(sameOutcome(apply(algorithm, limits, probe, reset_at), freshOutcome(reset_at)));
  if (outcome.reset_us > 0) {
    EXPECT_FALSE(isIdle(after, reset_at - 1));
    probe = after;
    EXPECT_FALSE(
        sameOutcome(apply(algorithm, limits, probe, reset_at - 1), freshOutcome(reset_at - 1)));
  }
}

class AlgorithmTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(AlgorithmTest, RemainingResetAndRetryAreExactOnRandomTraces) {
  const Algorithm algorithm = GetParam();
  uint64_t seed = 1;
  for (const LimitCase& c : kLimitCases) {
    const Limits limits = makeLimits(algorithm, rate(c.count, c.period_ms), c.burst);
    const std::vector<int64_t> trace = randomTrace(seed++, limits, 400);
    State state = freshState(algorithm, limits, trace.front());
    for (const int64_t now : trace) {
      const Outcome outcome = apply(algorithm, limits, state, now);
      SCOPED_TRACE(::testing::Message()
                   << c.count << "/" << c.period_ms << "ms burst " << c.burst << " at " << now);
      expectOutcomeMeansWhatItSays(algorithm, limits, state, now, outcome);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST_P(AlgorithmTest, FreshStateIsIdleAndAdmitsAFullQuota) {
  const Algorithm algorithm = GetParam();
  const Limits limits = makeLimits(algorithm, rate(10, 1000), 4);
  State state = freshState(algorithm, limits, 123 * kSecond);
  EXPECT_TRUE(isIdle(state, 123 * kSecond));
  uint64_t allowed = 0;
  while (apply(algorithm, limits, state, 123 * kSecond).allowed) ++allowed;
  // At once: the whole burst (or count); the rest of q comes back during w.
  EXPECT_EQ(allowed, limits.quota - limits.refilled_in_window);
}

TEST_P(AlgorithmTest, AnEarlierClockReadingNeverAddsQuota) {
  const Algorithm algorithm = GetParam();
  const Limits limits = makeLimits(algorithm, rate(10, 1000), 5);
  State state = freshState(algorithm, limits, 0);
  uint64_t allowed = 0;
  for (int64_t t = 0; t <= 5 * kSecond; t += 10 * kMs) {
    allowed += apply(algorithm, limits, state, t).allowed;
    allowed += apply(algorithm, limits, state, t - 3 * kMs).allowed;  // a worker a bit behind
  }
  State reference = freshState(algorithm, limits, 0);
  uint64_t expected = 0;
  for (int64_t t = 0; t <= 5 * kSecond; t += 10 * kMs) {
    expected += apply(algorithm, limits, reference, t).allowed;
    expected += apply(algorithm, limits, reference, t).allowed;
  }
  EXPECT_LE(allowed, expected);
  EXPECT_GE(allowed + 2, expected);  // stricter by the skew only
}

INSTANTIATE_TEST_SUITE_P(Ratelimit, AlgorithmTest, ::testing::ValuesIn(kAllAlgorithms),
                         testing::paramName);

// Exact admission with an interval that is not a whole number of microseconds: 3 per second
// with room for 2 admits at ceil(k x 333333.33 us) for a million seconds without drift, with
// clock values as large as microseconds since 1970.
TEST(Buckets, NonIntegerIntervalNeverDrifts) {
  constexpr int64_t kBase = 1'700'000'000LL * kSecond;
  for (Algorithm algorithm : testing::kBucketAlgorithms) {
    const Limits limits = makeLimits(algorithm, rate(3, 1000), 2);
    State state = freshState(algorithm, limits, kBase);
    ASSERT_TRUE(apply(algorithm, limits, state, kBase).allowed);
    ASSERT_TRUE(apply(algorithm, limits, state, kBase).allowed);
    for (int64_t k = 1; k <= 3'000'000; ++k) {
      const int64_t due = kBase + (k * kSecond + 2) / 3;  // ceil(k x 1e6 / 3)
      ASSERT_FALSE(apply(algorithm, limits, state, due - 1).allowed)
          << testing::algorithmName(algorithm) << " k=" << k;
      ASSERT_TRUE(apply(algorithm, limits, state, due).allowed)
          << testing::algorithmName(algorithm) << " k=" << k;
    }
  }
}

// With room for one request only, the bucket is full when the request comes 2/3 us after
// its due time: that fraction cannot be banked, so the next is due 333333.33 us later.
TEST(Buckets, FullBucketCannotBankAFraction) {
  for (Algorithm algorithm : testing::kBucketAlgorithms) {
    const Limits limits = makeLimits(algorithm, rate(3, 1000), 1);
    State state = freshState(algorithm, limits, 0);
    EXPECT_TRUE(apply(algorithm, limits, state, 0).allowed);
    EXPECT_FALSE(apply(algorithm, limits, state, 333'333).allowed);
    EXPECT_TRUE(apply(algorithm, limits, state, 333'334).allowed);
    EXPECT_FALSE(apply(algorithm, limits, state, 666'667).allowed);
    EXPECT_TRUE(apply(algorithm, limits, state, 666'668).allowed);
  }
}

TEST(Buckets, TokenBucketAndGcraAgreeOnEveryRequest) {
  uint64_t seed = 100;
  for (const LimitCase& c : kLimitCases) {
    const Limits bucket = makeLimits(Algorithm::kTokenBucket, rate(c.count, c.period_ms), c.burst);
    const Limits cell = makeLimits(Algorithm::kGcra, rate(c.count, c.period_ms), c.burst);
    const std::vector<int64_t> trace = randomTrace(seed++, bucket, 5000);
    State bucket_state = freshState(Algorithm::kTokenBucket, bucket, trace.front());
    State cell_state = freshState(Algorithm::kGcra, cell, trace.front());
    for (const int64_t now : trace) {
      const Outcome a = apply(Algorithm::kTokenBucket, bucket, bucket_state, now);
      const Outcome b = apply(Algorithm::kGcra, cell, cell_state, now);
      ASSERT_EQ(a.allowed, b.allowed) << c.count << "/" << c.period_ms << " at " << now;
      ASSERT_EQ(a.remaining, b.remaining) << "at " << now;
      ASSERT_EQ(a.reset_us, b.reset_us) << "at " << now;
      ASSERT_EQ(a.retry_us, b.retry_us) << "at " << now;
      ASSERT_EQ(bucket_state.idle_at, cell_state.idle_at) << "at " << now;
    }
  }
}

// The sliding window counter from its definition: admit when
// previous window's count x (time left of the previous window's overlap) / P + current + 1 <= C.
class WindowModel {
 public:
  WindowModel(uint64_t count, int64_t period_us) : count_(count), period_(period_us) {}
  bool check(int64_t now) {
    const int64_t window = now / period_;
    const auto left = static_cast<uint64_t>(period_ - (now - window * period_));
    const uint64_t prev = counts_[window - 1];
    uint64_t& cur = counts_[window];
    const auto period = static_cast<uint64_t>(period_);
    if (prev * left + (cur + 1) * period > count_ * period) return false;
    ++cur;
    return true;
  }
  const std::map<int64_t, uint64_t>& counts() const { return counts_; }

 private:
  uint64_t count_;
  int64_t period_;
  std::map<int64_t, uint64_t> counts_;
};

TEST(SlidingWindow, MatchesTheReferenceModelAndNeverExceedsCountPerWindow) {
  uint64_t seed = 200;
  for (const LimitCase& c : kLimitCases) {
    const Limits limits = makeLimits(Algorithm::kSlidingWindow, rate(c.count, c.period_ms), 0);
    WindowModel model(c.count, c.period_ms * kMs);
    const std::vector<int64_t> trace = randomTrace(seed++, limits, 5000);
    State state = freshState(Algorithm::kSlidingWindow, limits, trace.front());
    uint64_t admitted = 0;
    for (const int64_t now : trace) {
      const bool allowed = apply(Algorithm::kSlidingWindow, limits, state, now).allowed;
      ASSERT_EQ(allowed, model.check(now)) << c.count << "/" << c.period_ms << " at " << now;
      admitted += allowed;
    }
    EXPECT_GT(admitted, c.count);
    for (const auto& [window, count] : model.counts()) EXPECT_LE(count, c.count);
  }
}

}  // namespace
}  // namespace sg::ratelimit
