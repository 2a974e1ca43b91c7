#include "admin/stats_quantile.h"

#include <gtest/gtest.h>

#include "metrics/metrics.h"

namespace sg::admin {
namespace {

const std::vector<double> kBounds = {0.1, 0.2, 0.5, 1.0};

TEST(StatsQuantileTest, InterpolatesInsideTheBucketHoldingTheRank) {
  // 10 observations per finite bucket, none above 1 s.
  const std::vector<uint64_t> cumulative = {10, 20, 30, 40, 40};
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.25, kBounds, cumulative), 0.1);
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.5, kBounds, cumulative), 0.2);
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.3, kBounds, cumulative), 0.12);   // rank 12: 2/10 in
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.95, kBounds, cumulative), 0.9);   // rank 38: 8/10 in
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.05, kBounds, cumulative), 0.02);  // first: from 0
}

TEST(StatsQuantileTest, SkipsEmptyBuckets) {
  // Everything between 0.2 and 0.5: a rank there interpolates across that bucket only.
  const std::vector<uint64_t> cumulative = {0, 0, 100, 100, 100};
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.5, kBounds, cumulative), 0.35);
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.99, kBounds, cumulative), 0.497);
}

TEST(StatsQuantileTest, RankInTheInfBucketAnswersTheHighestFiniteBound) {
  const std::vector<uint64_t> cumulative = {0, 0, 0, 1, 10};
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.95, kBounds, cumulative), 1.0);
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.05, kBounds, cumulative), 0.75);  // rank 0.5 of 1
}

TEST(StatsQuantileTest, NothingObservedOrBadInputGivesNoValue) {
  EXPECT_FALSE(histogramQuantile(0.5, kBounds, {0, 0, 0, 0, 0}));
  EXPECT_FALSE(histogramQuantile(-0.1, kBounds, {1, 1, 1, 1, 1}));
  EXPECT_FALSE(histogramQuantile(1.5, kBounds, {1, 1, 1, 1, 1}));
  EXPECT_FALSE(histogramQuantile(0.5, kBounds, {1, 1, 1}));  // counts of another shape
  EXPECT_FALSE(histogramQuantile(0.5, {}, {1}));
}

TEST(StatsQuantileTest, DeltaSubtractsEachBucket) {
  EXPECT_EQ(cumulativeDelta({5, 9, 12}, {2, 4, 4}), (std::vector<uint64_t>{3, 5, 8}));
  EXPECT_EQ(cumulativeDelta({5, 9}, {}), (std::vector<uint64_t>{5, 9}));  // first sample
  EXPECT_EQ(cumulativeDelta({1, 2}, {3, 2}), (std::vector<uint64_t>{0, 0}));
}

TEST(StatsQuantileTest, AgreesWithTheRegistryHistogramOverAnInterval) {
  metrics::Histogram histogram(kBounds, 1);
  for (int i = 0; i < 50; ++i) histogram.observeMicros(900'000);  // before the interval
  const auto before = histogram.snapshot().cumulative;
  for (int i = 0; i < 90; ++i) histogram.observeMicros(50'000);   // 0..0.1
  for (int i = 0; i < 10; ++i) histogram.observeMicros(300'000);  // 0.2..0.5
  const auto delta = cumulativeDelta(histogram.snapshot().cumulative, before);
  ASSERT_EQ(delta.back(), 100u);
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.5, kBounds, delta), 0.1 * 50 / 90);
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.95, kBounds, delta), 0.2 + 0.3 * 5 / 10);
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.99, kBounds, delta), 0.2 + 0.3 * 9 / 10);
}

}  // namespace
}  // namespace sg::admin
