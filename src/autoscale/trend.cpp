#include "autoscale/trend.h"

#include <cmath>

namespace sg::autoscale {

namespace {

// Predictions need samples over this part of the window: a line through a few seconds of
// noise would point anywhere.
constexpr int64_t kWarmupDivisor = 4;

}  // namespace

void LinearTrend::add(int64_t time_ms, double value) {
  if (!samples_.empty() && time_ms <= samples_.back().first) return;
  samples_.emplace_back(time_ms, value);
  while (samples_.front().first < time_ms - window_ms_) samples_.pop_front();
}

std::optional<double> LinearTrend::predict(int64_t at_ms) const {
  if (samples_.size() < 3) return std::nullopt;
  if (samples_.back().first - samples_.front().first < window_ms_ / kWarmupDivisor) {
    return std::nullopt;
  }
  // Times relative to the first sample keep the sums well inside double precision.
  const int64_t origin = samples_.front().first;
  double mean_t = 0;
  double mean_v = 0;
  for (const auto& [t, v] : samples_) {
    mean_t += double(t - origin);
    mean_v += v;
  }
  mean_t /= double(samples_.size());
  mean_v /= double(samples_.size());
  double sxx = 0;
  double sxy = 0;
  for (const auto& [t, v] : samples_) {
    double dt = double(t - origin) - mean_t;
    sxx += dt * dt;
    sxy += dt * (v - mean_v);
  }
  double slope = sxx > 0 ? sxy / sxx : 0;
  return mean_v + slope * (double(at_ms - origin) - mean_t);
}

HoltTrend::HoltTrend(int64_t window_ms)
    : window_ms_(window_ms),
      level_tau_ms_(double(window_ms) / 20.0),
      slope_tau_ms_(double(window_ms) / 6.0) {}

void HoltTrend::add(int64_t time_ms, double value) {
  if (started_ && time_ms <= last_ms_) return;
  if (!started_ || time_ms - last_ms_ > window_ms_) {
    started_ = true;
    first_ms_ = last_ms_ = time_ms;
    level_ = value;
    slope_per_ms_ = 0;
    return;
  }
  const double dt = double(time_ms - last_ms_);
  const double alpha = 1.0 - std::exp(-dt / level_tau_ms_);
  const double beta = 1.0 - std::exp(-dt / slope_tau_ms_);
  const double previous = level_;
  level_ = alpha * value + (1.0 - alpha) * (level_ + slope_per_ms_ * dt);
  slope_per_ms_ = beta * (level_ - previous) / dt + (1.0 - beta) * slope_per_ms_;
  last_ms_ = time_ms;
}

std::optional<double> HoltTrend::predict(int64_t at_ms) const {
  if (!started_ || last_ms_ - first_ms_ < window_ms_ / kWarmupDivisor) return std::nullopt;
  return level_ + slope_per_ms_ * double(at_ms - last_ms_);
}

std::unique_ptr<TrendModel> makeTrend(const config::AutoscaleConfig::Predict& predict) {
  return std::make_unique<HoltTrend>(predict.window.count());
}

}  // namespace sg::autoscale
