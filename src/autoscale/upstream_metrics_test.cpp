// The p95 of one interval's histogram buckets, as histogram_quantile computes it.
#include "autoscale/upstream_metrics.h"

#include <gtest/gtest.h>

namespace sg::autoscale {
namespace {

const std::vector<double> kBounds{0.01, 0.1, 1.0};  // seconds; then +Inf

TEST(P95Millis, EmptyIntervalIsZero) { EXPECT_EQ(p95Millis(kBounds, {0, 0, 0, 0}), 0); }

TEST(P95Millis, InterpolatesWithinTheBucket) {
  // 100 requests: 50 under 10 ms, 50 in (10 ms, 100 ms]: rank 95 is 45/50 into the second.
  EXPECT_NEAR(p95Millis(kBounds, {50, 50, 0, 0}), 10 + 90 * 0.9, 1e-9);
  // All in the first bucket: 95% of the way from 0 to 10 ms.
  EXPECT_NEAR(p95Millis(kBounds, {20, 0, 0, 0}), 9.5, 1e-9);
}

TEST(P95Millis, TheInfBucketReadsAsTheHighestBound) {
  EXPECT_NEAR(p95Millis(kBounds, {1, 0, 0, 99}), 1000, 1e-9);
}

}  // namespace
}  // namespace sg::autoscale
