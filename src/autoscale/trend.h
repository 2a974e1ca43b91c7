#pragma once
// Trend models for `predict`: fed one sample per evaluation, they estimate the metric at a
// later time. Holt's double exponential smoothing is what the autoscaler uses; the linear
// least-squares fit is kept as the baseline it was measured against (the simulation test
// compares both on the recorded load curve).
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "config/autoscale_config.h"

namespace sg::autoscale {

class TrendModel {
 public:
  virtual ~TrendModel() = default;
  // Samples come in time order; a sample at or before the last one is ignored.
  virtual void add(int64_t time_ms, double value) = 0;
  // The value expected at at_ms; nullopt until the samples span a quarter of the window.
  virtual std::optional<double> predict(int64_t at_ms) const = 0;
};

// Ordinary least squares line through the samples of the last `window`.
class LinearTrend final : public TrendModel {
 public:
  explicit LinearTrend(int64_t window_ms) : window_ms_(window_ms) {}
  void add(int64_t time_ms, double value) override;
  std::optional<double> predict(int64_t at_ms) const override;

 private:
  int64_t window_ms_;
  std::deque<std::pair<int64_t, double>> samples_;
};

// Holt's linear method with time constants tied to the window: the level follows the
// samples with a time constant of window/20 and the slope with window/6 (measured on the
// recorded curve, see README). Uneven sample spacing is allowed: each step's smoothing
// factor is 1 - exp(-dt / tau). A gap longer than the window starts it afresh.
class HoltTrend final : public TrendModel {
 public:
  explicit HoltTrend(int64_t window_ms);
  void add(int64_t time_ms, double value) override;
  std::optional<double> predict(int64_t at_ms) const override;

 private:
  int64_t window_ms_;
  double level_tau_ms_;
  double slope_tau_ms_;
  bool started_ = false;
  int64_t first_ms_ = 0;
  int64_t last_ms_ = 0;
  double level_ = 0;
  double slope_per_ms_ = 0;
};

// The model `predict` uses.
std::unique_ptr<TrendModel> makeTrend(const config::AutoscaleConfig::Predict& predict);

}  // namespace sg::autoscale
