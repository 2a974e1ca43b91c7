// Trend models: a line is found again, nothing is predicted before a quarter of the window,
// old samples leave the fit, and a long gap starts Holt's model afresh.
#include "autoscale/trend.h"

#include <gtest/gtest.h>

namespace sg::autoscale {
namespace {

constexpr int64_t kWindow = 600'000;  // 10 min

TEST(LinearTrend, ExtrapolatesALine) {
  LinearTrend trend(kWindow);
  for (int64_t s = 0; s <= 200; ++s) trend.add(s * 1000, 10 + 0.5 * double(s));
  auto value = trend.predict(320'000);
  ASSERT_TRUE(value);
  EXPECT_NEAR(*value, 170, 1e-6);
}

TEST(LinearTrend, ForgetsSamplesOlderThanTheWindow) {
  LinearTrend trend(kWindow);
  for (int64_t s = 0; s < 600; ++s) trend.add(s * 1000, 1000);  // flat, then a new level
  for (int64_t s = 600; s < 1300; ++s) trend.add(s * 1000, 50);
  auto value = trend.predict(1'400'000);
  ASSERT_TRUE(value);
  EXPECT_NEAR(*value, 50, 1e-6);
}

TEST(LinearTrend, NeedsAQuarterOfTheWindow) {
  LinearTrend trend(kWindow);
  for (int64_t s = 0; s < 149; ++s) trend.add(s * 1000, double(s));
  EXPECT_FALSE(trend.predict(300'000));
  trend.add(150'000, 150);
  EXPECT_TRUE(trend.predict(300'000));
}

TEST(HoltTrend, FollowsALinesSlope) {
  HoltTrend trend(kWindow);
  for (int64_t s = 0; s <= 1200; ++s) trend.add(s * 1000, 10 + 0.5 * double(s));
  auto value = trend.predict(1'320'000);  // two minutes after the last sample
  ASSERT_TRUE(value);
  EXPECT_NEAR(*value, 10 + 0.5 * 1320, 5);
}

TEST(HoltTrend, NeedsAQuarterOfTheWindowAndRestartsAfterAGap) {
  HoltTrend trend(kWindow);
  for (int64_t s = 0; s < 150; ++s) trend.add(s * 1000, 100);
  EXPECT_FALSE(trend.predict(200'000));
  trend.add(150'000, 100);
  ASSERT_TRUE(trend.predict(200'000));
  EXPECT_NEAR(*trend.predict(200'000), 100, 1e-6);
  trend.add(150'000 + kWindow + 1, 7);  // a gap longer than the window
  EXPECT_FALSE(trend.predict(900'000));
}

TEST(HoltTrend, IgnoresSamplesOutOfOrder) {
  HoltTrend trend(kWindow);
  for (int64_t s = 0; s <= 150; ++s) trend.add(s * 1000, 100);
  trend.add(10'000, 1e9);
  EXPECT_NEAR(*trend.predict(200'000), 100, 1e-6);
}

}  // namespace
}  // namespace sg::autoscale
