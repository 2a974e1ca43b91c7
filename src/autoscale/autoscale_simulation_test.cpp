// The engine driven by a recorded load curve (testdata/load_curve.csv: a ramp, a spike and a
// decay, one sample per second), with an actuator that sets the count at once. Checks that
// it scales up within one cooldown, never oscillates, stays within min/max, and that
// `predict` reaches the peak's count before the ramp peaks while the reactive rule does not.
// Also the measurement behind the choice of Holt's model over a least-squares line.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "autoscale/engine.h"
#include "autoscale/trend.h"

namespace sg::autoscale {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr int64_t kRampPeak = 1200;  // the ramp ends (s)
constexpr uint32_t kPeakCount = 15;  // 1500 rps at 100 rps per server
constexpr double kTarget = 100;

std::vector<double> loadCurve() {
  std::ifstream in(std::string(SCALEGATE_AUTOSCALE_TESTDATA) + "/load_curve.csv");
  std::vector<double> rps;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == 's') continue;  // comments, header
    rps.push_back(std::stod(line.substr(line.find(',') + 1)));
  }
  return rps;
}

config::AutoscaleConfig curveConfig(bool predict) {
  config::AutoscaleConfig config;  // steps: the defaults (+50%/60s, -25%/300s/300s)
  config.min = 2;
  config.max = 20;
  config.metric = config::AutoscaleConfig::Metric::kRpsPerServer;
  config.target = kTarget;
  if (predict) config.predict = config::AutoscaleConfig::Predict{minutes(10), minutes(2)};
  return config;
}

struct SimulatedRun {
  std::vector<uint32_t> replicas;                       // per second, before that second's decision
  std::vector<std::pair<int64_t, Decision>> decisions;  // (second, decision)
};

SimulatedRun simulate(const config::AutoscaleConfig& config, const std::vector<double>& load) {
  Engine engine(config);
  SimulatedRun run;
  uint32_t current = config.min;
  for (size_t second = 0; second < load.size(); ++second) {
    run.replicas.push_back(current);
    auto t = int64_t(second);
    auto decision = engine.evaluate(Sample{t * 1000, t * 1000, load[second] / current, current});
    if (decision) run.decisions.emplace_back(t, *decision);
    current = engine.status().desired;
  }
  return run;
}

bool overloaded(const SimulatedRun& run, const std::vector<double>& load, size_t second) {
  return load[second] / run.replicas[second] > kTarget * (1 + kTolerance);
}

void expectScalesUpWithinOneCooldown(const SimulatedRun& run, const std::vector<double>& load,
                                     const config::AutoscaleConfig& config) {
  const auto cooldown = size_t(config.scale_up.cooldown.count() / 1000);
  for (size_t t = 0; t + cooldown < load.size(); ++t) {
    if (!overloaded(run, load, t) || run.replicas[t] >= config.max) continue;
    bool answered = false;
    for (size_t u = t; u <= t + cooldown && !answered; ++u) {
      // Either the count grew, or the overload passed by itself.
      answered = run.replicas[u] > run.replicas[t] || (u > t && !overloaded(run, load, u));
      if (u + 1 < run.replicas.size()) answered = answered || run.replicas[u + 1] > run.replicas[t];
    }
    EXPECT_TRUE(answered) << "overloaded at " << t << " s on " << run.replicas[t]
                          << " servers, no scale-up within " << cooldown << " s";
  }
}

void expectNoOscillation(const SimulatedRun& run, const config::AutoscaleConfig& config) {
  const int64_t window = config.scale_down.stabilization.count() / 1000;
  std::optional<int64_t> last_up;
  for (const auto& [second, decision] : run.decisions) {
    if (decision.to > decision.from) {
      last_up = second;
      continue;
    }
    // A scale-down within the window after a scale-up would start up-down-up flapping.
    if (last_up) {
      EXPECT_GT(second - *last_up, window)
          << "scaled down at " << second << " s, " << second - *last_up << " s after scaling up";
    }
  }
  for (size_t i = 2; i < run.decisions.size(); ++i) {
    const auto& [t1, d1] = run.decisions[i - 2];
    const auto& [t2, d2] = run.decisions[i - 1];
    const auto& [t3, d3] = run.decisions[i];
    bool up_down_up = d1.to > d1.from && d2.to < d2.from && d3.to > d3.from;
    EXPECT_FALSE(up_down_up && t3 - t1 <= window)
        << "up-down-up at " << t1 << ", " << t2 << ", " << t3;
  }
}

std::optional<int64_t> firstSecondWith(const SimulatedRun& run, uint32_t count) {
  for (size_t t = 0; t < run.replicas.size(); ++t) {
    if (run.replicas[t] >= count) return int64_t(t);
  }
  return std::nullopt;
}

TEST(AutoscaleSimulation, RecordedCurveIsARampASpikeAndADecay) {
  auto load = loadCurve();
  ASSERT_EQ(load.size(), 2400u);
  EXPECT_NEAR(load[100], 300, 20);
  EXPECT_NEAR(load[kRampPeak - 1], 1500, 80);
  EXPECT_NEAR(load[1530], 2400, 130);
  EXPECT_NEAR(load[2399], 300 + 1200 * std::exp(-779.0 / 180), 25);
}

TEST(AutoscaleSimulation, ReactiveRuleFollowsTheCurve) {
  auto load = loadCurve();
  auto config = curveConfig(false);
  SimulatedRun run = simulate(config, load);
  for (uint32_t count : run.replicas) {
    EXPECT_GE(count, config.min);
    EXPECT_LE(count, config.max);
  }
  expectScalesUpWithinOneCooldown(run, load, config);
  expectNoOscillation(run, config);
  EXPECT_EQ(run.replicas[1530], config.max);  // the spike asks for 24: held at max
  // The decay brings it down, one limited step per scale-down cooldown.
  int downs = 0;
  for (const auto& [second, decision] : run.decisions) {
    if (decision.to >= decision.from) continue;
    ++downs;
    EXPECT_GE(decision.to, uint32_t(std::floor(decision.from * 0.75))) << second;
  }
  EXPECT_GE(downs, 2);
  EXPECT_LT(run.replicas.back(), run.replicas[1700]);
}

TEST(AutoscaleSimulation, PredictionReachesThePeakCountBeforeTheRampPeaks) {
  auto load = loadCurve();
  auto reactive_config = curveConfig(false);
  auto predictive_config = curveConfig(true);
  SimulatedRun reactive = simulate(reactive_config, load);
  SimulatedRun predictive = simulate(predictive_config, load);
  for (uint32_t count : predictive.replicas) {
    EXPECT_GE(count, predictive_config.min);
    EXPECT_LE(count, predictive_config.max);
  }
  expectScalesUpWithinOneCooldown(predictive, load, predictive_config);
  expectNoOscillation(predictive, predictive_config);

  auto predictive_peak = firstSecondWith(predictive, kPeakCount);
  auto reactive_peak = firstSecondWith(reactive, kPeakCount);
  ASSERT_TRUE(predictive_peak);
  EXPECT_LT(*predictive_peak, kRampPeak);
  EXPECT_TRUE(!reactive_peak || *reactive_peak > *predictive_peak)
      << "reactive " << *reactive_peak << " s, predictive " << *predictive_peak << " s";
  // Seconds spent overloaded during the ramp: fewer with the trend.
  auto overloadedSeconds = [&](const SimulatedRun& run) {
    int seconds = 0;
    for (size_t t = 300; t < size_t(kRampPeak); ++t) seconds += overloaded(run, load, t) ? 1 : 0;
    return seconds;
  };
  EXPECT_LT(overloadedSeconds(predictive), overloadedSeconds(reactive));
}

// Mean absolute error of the value predicted `horizon` ahead, over the whole curve.
double predictionError(TrendModel& model, const std::vector<double>& load, int64_t horizon_s) {
  double error = 0;
  int counted = 0;
  for (size_t t = 0; t + size_t(horizon_s) < load.size(); ++t) {
    model.add(int64_t(t) * 1000, load[t]);
    if (auto expected = model.predict((int64_t(t) + horizon_s) * 1000)) {
      error += std::abs(*expected - load[t + size_t(horizon_s)]);
      ++counted;
    }
  }
  return counted > 0 ? error / counted : 1e300;
}

TEST(AutoscaleSimulation, HoltPredictsTheCurveBetterThanALeastSquaresLine) {
  auto load = loadCurve();
  for (int64_t window_s : {300, 600}) {
    LinearTrend line(window_s * 1000);
    HoltTrend holt(window_s * 1000);
    double line_error = predictionError(line, load, 120);
    double holt_error = predictionError(holt, load, 120);
    EXPECT_LT(holt_error, line_error * 0.8) << "window " << window_s << " s";
    RecordProperty("window_" + std::to_string(window_s) + "_line_error",
                   std::to_string(line_error));
    RecordProperty("window_" + std::to_string(window_s) + "_holt_error",
                   std::to_string(holt_error));
  }
}

}  // namespace
}  // namespace sg::autoscale
