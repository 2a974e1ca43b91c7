// The decision engine: HPA's rule and tolerance, min/max, steps and cooldowns, scale-down
// stabilization, prediction (up only), and a failed actuation asked again after the cooldown.
#include "autoscale/engine.h"

#include <gtest/gtest.h>

#include <chrono>

namespace sg::autoscale {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using Metric = config::AutoscaleConfig::Metric;

constexpr int64_t kSecond = 1000;
constexpr int64_t kWallOrigin = 1'700'000'000'000;

config::AutoscaleConfig rpsConfig(uint32_t min = 1, uint32_t max = 100) {
  config::AutoscaleConfig config;
  config.min = min;
  config.max = max;
  config.metric = Metric::kRpsPerServer;
  config.target = 100;
  return config;
}

Sample at(int64_t second, double value, uint32_t current) {
  return Sample{second * kSecond, kWallOrigin + second * kSecond, value, current};
}

TEST(AutoscaleEngine, HpaRuleCeilsCurrentTimesRatio) {
  auto config = rpsConfig();
  config.scale_up.max_percent = 1000;
  Engine engine(config);
  auto decision = engine.evaluate(at(0, 250, 2));  // ceil(2 x 250 / 100) = 5
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->from, 2u);
  EXPECT_EQ(decision->to, 5u);
  EXPECT_EQ(decision->time_ms, kWallOrigin);
  EXPECT_EQ(decision->reason, "rps_per_server 250, target 100: recommend 5");
  EXPECT_EQ(engine.status().desired, 5u);
  EXPECT_EQ(engine.status().recommendation, 5u);
}

TEST(AutoscaleEngine, ToleranceKeepsTheCountWithinTenPercent) {
  Engine engine(rpsConfig());
  EXPECT_FALSE(engine.evaluate(at(0, 110, 4)));  // ratio 1.1: within tolerance
  EXPECT_EQ(engine.status().desired, 4u);
  EXPECT_FALSE(engine.evaluate(at(1, 90, 4)));
  EXPECT_EQ(engine.status().recommendation, 4u);
  auto decision = engine.evaluate(at(2, 111, 4));  // ceil(4 x 1.11) = 5
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 5u);
}

TEST(AutoscaleEngine, ClampsToMinAndMax) {
  auto config = rpsConfig(2, 6);
  config.scale_up.max_percent = 1000;
  Engine engine(config);
  auto decision = engine.evaluate(at(0, 0, 1));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 2u);
  EXPECT_EQ(decision->reason, "below min 2");
  decision = engine.evaluate(at(100, 10'000, 2));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 6u);
  EXPECT_EQ(engine.status().recommendation, 6u);
}

TEST(AutoscaleEngine, ScaleUpStepIsLimitedAndWaitsForItsCooldown) {
  Engine engine(rpsConfig());  // +50% per step, 60 s apart
  auto decision = engine.evaluate(at(0, 1000, 4));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 6u);
  EXPECT_EQ(decision->reason, "rps_per_server 1000, target 100: recommend 40, limited to +50%");
  EXPECT_FALSE(engine.evaluate(at(59, 700, 6)));
  decision = engine.evaluate(at(60, 700, 6));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 9u);
}

TEST(AutoscaleEngine, ScaleUpOfOneServerAddsAtLeastOne) {
  auto config = rpsConfig();
  config.scale_up.max_percent = 10;
  Engine engine(config);
  auto decision = engine.evaluate(at(0, 300, 1));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 2u);
}

TEST(AutoscaleEngine, ScaleDownUsesTheHighestRecommendationOfTheWindow) {
  auto config = rpsConfig();
  config.scale_down = {50, seconds(0), seconds(300)};
  Engine engine(config);
  EXPECT_FALSE(engine.evaluate(at(0, 100, 10)));     // recommends 10
  EXPECT_FALSE(engine.evaluate(at(100, 60, 10)));    // recommends 6: 10 is still in the window
  EXPECT_FALSE(engine.evaluate(at(300, 30, 10)));    // recommends 3: 10 (t=0) still counts
  auto decision = engine.evaluate(at(301, 30, 10));  // window holds 6 (t=100) and 3
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 6u);
  EXPECT_EQ(decision->reason,
            "rps_per_server 30, target 100: highest recommendation over the last 5m is 6");
}

TEST(AutoscaleEngine, NoScaleDownBeforeOneWindowSinceStart) {
  auto config = rpsConfig();
  config.scale_down = {50, seconds(0), seconds(300)};
  Engine engine(config);
  EXPECT_FALSE(engine.evaluate(at(0, 0, 4)));
  EXPECT_FALSE(engine.evaluate(at(300, 0, 4)));
  auto decision = engine.evaluate(at(301, 0, 4));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 2u);
}

TEST(AutoscaleEngine, ScaleDownStepIsLimitedAndWaitsAfterAnyStep) {
  auto config = rpsConfig();
  config.scale_down = {25, seconds(300), seconds(0)};
  Engine engine(config);
  auto decision = engine.evaluate(at(0, 10, 8));  // recommends 1; -25% of 8 = 6
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 6u);
  EXPECT_EQ(decision->reason, "rps_per_server 10, target 100: recommend 1, limited to -25%");
  EXPECT_FALSE(engine.evaluate(at(299, 10, 6)));
  decision = engine.evaluate(at(300, 10, 6));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 4u);  // floor(6 x 0.75)
  // A scale-up restarts the scale-down cooldown.
  decision = engine.evaluate(at(400, 300, 4));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 6u);
  EXPECT_FALSE(engine.evaluate(at(699, 1, 6)));
  EXPECT_TRUE(engine.evaluate(at(700, 1, 6)));
}

TEST(AutoscaleEngine, LatencyIsNotDividedByServers) {
  auto config = rpsConfig();
  config.metric = Metric::kP95Latency;
  config.target = 200;  // ms
  config.scale_up.max_percent = 1000;
  Engine engine(config);
  auto decision = engine.evaluate(at(0, 500, 4));  // ceil(4 x 500 / 200) = 10
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 10u);
  EXPECT_EQ(decision->reason, "p95_latency 500, target 200: recommend 10");
}

TEST(AutoscaleEngine, PredictionScalesUpEarly) {
  auto config = rpsConfig();
  config.scale_up = {1000, seconds(0), seconds(0)};
  config.predict = config::AutoscaleConfig::Predict{minutes(4), minutes(2)};
  Engine engine(config);
  // The total grows by 0.2 rps each second on 4 servers, from 400 (100 per server): measured
  // alone it passes the 10% tolerance at 200 s; 2 minutes ahead it is 24 rps higher.
  std::optional<Decision> first;
  int64_t second = 0;
  for (; second < 240 && !first; ++second) {
    double total = 400 + 0.2 * double(second);
    first = engine.evaluate(at(second, total / 4, 4));
  }
  ASSERT_TRUE(first);
  EXPECT_GE(second, 60);  // a quarter of the window before any prediction
  EXPECT_LT(second, 200);
  EXPECT_EQ(first->to, 5u);
  ASSERT_TRUE(engine.status().predicted);
  EXPECT_GT(*engine.status().predicted, engine.status().value);
  EXPECT_NE(first->reason.find("expected in 2m"), std::string::npos) << first->reason;
}

TEST(AutoscaleEngine, PredictionNeverScalesDownAlone) {
  auto config = rpsConfig();
  config.scale_down = {50, seconds(0), seconds(0)};
  config.predict = config::AutoscaleConfig::Predict{minutes(4), minutes(2)};
  Engine engine(config);
  // A load falling from 109 to 91 per server on 10 servers, always within the tolerance:
  // the trend expects less than 90, which alone would recommend 9.
  for (int64_t second = 0; second <= 240; ++second) {
    engine.evaluate(at(second, 109 - 0.075 * double(second), 10));
  }
  EXPECT_NEAR(engine.status().value, 91, 1e-9);
  ASSERT_TRUE(engine.status().predicted);
  EXPECT_LT(*engine.status().predicted, 90);
  EXPECT_EQ(engine.status().desired, 10u);
  EXPECT_TRUE(engine.decisions().empty());
}

TEST(AutoscaleEngine, FailedActuationIsAskedAgainAfterTheCooldown) {
  Engine engine(rpsConfig());
  ASSERT_TRUE(engine.evaluate(at(0, 150, 2)));  // 2 -> 3
  engine.actuationFailed(2);
  EXPECT_EQ(engine.status().desired, 2u);
  for (int64_t second = 1; second < 60; ++second) {
    EXPECT_FALSE(engine.evaluate(at(second, 150, 2))) << second;
  }
  auto again = engine.evaluate(at(60, 150, 2));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->from, 2u);
  EXPECT_EQ(again->to, 3u);
}

TEST(AutoscaleEngine, FailedActuationBelowMinIsAskedAgainAfterTheCooldown) {
  Engine engine(rpsConfig(3, 5));
  auto decision = engine.evaluate(at(0, 0, 1));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 3u);
  engine.actuationFailed(1);
  EXPECT_FALSE(engine.evaluate(at(59, 0, 1)));
  decision = engine.evaluate(at(60, 0, 1));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->to, 3u);
  EXPECT_EQ(decision->reason, "below min 3");
}

TEST(AutoscaleEngine, KeepsTheLastFiftyDecisions) {
  auto config = rpsConfig(1, 2);
  config.scale_up.cooldown = seconds(0);
  config.scale_down = {50, seconds(0), seconds(0)};
  Engine engine(config);
  for (int64_t second = 0; second < 120; ++second) {
    engine.evaluate(at(second, second % 2 == 0 ? 1000 : 1, second % 2 == 0 ? 1 : 2));
  }
  ASSERT_EQ(engine.decisions().size(), kDecisionLog);
  EXPECT_EQ(engine.decisions().back().time_ms, kWallOrigin + 119 * kSecond);
}

}  // namespace
}  // namespace sg::autoscale
