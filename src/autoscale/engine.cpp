#include "autoscale/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sg::autoscale {

namespace {

// ceil() of a product that should be whole, without 2 x 1.5000000001 becoming 4.
uint32_t ceilCount(double count) {
  double rounded = std::ceil(count - 1e-9);
  return rounded <= 0 ? 0u : rounded >= 1e9 ? 1'000'000'000u : uint32_t(rounded);
}

std::string formatValue(double value) { return fmt::format("{:.4g}", value); }

std::string formatDuration(config::AutoscaleConfig::Duration duration) {
  int64_t ms = duration.count();
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace

Engine::Engine(const config::AutoscaleConfig& config)
    : config_(config),
      per_server_(config.metric != config::AutoscaleConfig::Metric::kP95Latency),
      trend_(config.predict ? makeTrend(*config.predict) : nullptr) {}

double Engine::effectiveValue(const Sample& sample, uint32_t base) {
  status_.predicted.reset();
  if (!trend_) return sample.value;
  // A per-server figure falls when servers are added although the load did not: the trend
  // follows the upstream's total and is shared out again.
  const double scale = per_server_ ? double(base) : 1.0;
  trend_->add(sample.now_ms, sample.value * scale);
  auto expected = trend_->predict(sample.now_ms + config_.predict->horizon.count());
  if (!expected) return sample.value;
  status_.predicted = std::max(0.0, *expected / scale);
  return std::max(sample.value, *status_.predicted);
}

uint32_t Engine::recommend(double value, uint32_t base) const {
  const double ratio = value / config_.target;
  // The epsilon keeps a ratio of exactly 1.1 (110 / 100 in binary) inside the tolerance.
  const bool within = std::abs(ratio - 1.0) <= kTolerance + 1e-9;
  uint32_t count = within ? base : ceilCount(double(base) * ratio);
  return std::clamp(count, config_.min, config_.max);
}

uint32_t Engine::stabilizedDown(int64_t now_ms, uint32_t recommendation) {
  recommendations_.emplace_back(now_ms, recommendation);
  const int64_t window = config_.scale_down.stabilization.count();
  while (recommendations_.front().first < now_ms - window) recommendations_.pop_front();
  uint32_t highest = 0;
  for (const auto& entry : recommendations_) highest = std::max(highest, entry.second);
  return highest;
}

std::optional<Engine::Step> Engine::nextStep(int64_t now_ms, uint32_t recommendation,
                                             uint32_t down_to) {
  const uint32_t from = desired_;
  const bool up_cooling = last_up_ms_ && now_ms - *last_up_ms_ < config_.scale_up.cooldown.count();
  if (from > config_.max) return Step{config_.max, fmt::format("above max {}", config_.max), true};
  // Below min waits for the up cooldown too: a failed actuation is not asked again at once.
  if (up_cooling && recommendation > from) return std::nullopt;
  if (from < config_.min) return Step{config_.min, fmt::format("below min {}", config_.min), true};
  if (recommendation > from) {
    uint32_t limit =
        std::max(from + 1, ceilCount(double(from) * (1.0 + config_.scale_up.max_percent / 100.0)));
    if (recommendation <= limit) return Step{recommendation, ""};
    return Step{limit, fmt::format(", limited to +{}%", config_.scale_up.max_percent)};
  }
  if (down_to >= from) return std::nullopt;
  const auto cooldown = config_.scale_down.cooldown.count();
  if (last_change_ms_ && now_ms - *last_change_ms_ < cooldown) return std::nullopt;
  auto limit = uint32_t(std::floor(double(from) * (1.0 - config_.scale_down.max_percent / 100.0)));
  if (down_to >= limit) return Step{down_to, ""};
  return Step{limit, fmt::format(", limited to -{}%", config_.scale_down.max_percent)};
}

std::string Engine::describeMetric(double effective) const {
  const std::string metric(config::autoscaleMetricName(config_.metric));
  const std::string target = formatValue(config_.target);
  if (status_.predicted && effective > status_.value) {
    return fmt::format("{} {} expected in {} (now {}), target {}", metric, formatValue(effective),
                       formatDuration(config_.predict->horizon), formatValue(status_.value),
                       target);
  }
  return fmt::format("{} {}, target {}", metric, formatValue(effective), target);
}

std::optional<Decision> Engine::evaluate(const Sample& sample) {
  const uint32_t base = std::max(sample.current, 1u);
  if (!started_) {
    // As if the current count had been recommended until now: no scale-down before one
    // stabilization window of measurements says so.
    started_ = true;
    desired_ = sample.current;
    if (config_.scale_down.stabilization.count() > 0) {
      recommendations_.emplace_back(sample.now_ms,
                                    std::clamp(sample.current, config_.min, config_.max));
    }
  }
  status_.current = sample.current;
  status_.value = sample.value;
  const double effective = effectiveValue(sample, base);
  const uint32_t recommendation = recommend(effective, base);
  // Scaling down reads only what was measured (never a prediction alone), and the highest
  // measured recommendation of the stabilization window.
  const uint32_t measured =
      effective > sample.value ? recommend(sample.value, base) : recommendation;
  const uint32_t down_to = stabilizedDown(sample.now_ms, measured);
  status_.recommendation = recommendation;
  std::optional<Step> step = nextStep(sample.now_ms, recommendation, down_to);
  std::optional<Decision> decision;
  if (step && step->to != desired_) {
    std::string why;
    if (step->bounds) {
      why = step->reason;
    } else if (step->to > desired_) {
      why = fmt::format("{}: recommend {}{}", describeMetric(effective), recommendation,
                        step->reason);
    } else if (config_.scale_down.stabilization.count() == 0) {
      why = fmt::format("{}: recommend {}{}", describeMetric(sample.value), down_to, step->reason);
    } else {
      why = fmt::format("{}: highest recommendation over the last {} is {}{}",
                        describeMetric(sample.value),
                        formatDuration(config_.scale_down.stabilization), down_to, step->reason);
    }
    record(sample, Step{step->to, std::move(why)});
    decision = decisions_.back();
  }
  status_.desired = desired_;
  return decision;
}

void Engine::record(const Sample& sample, const Step& step) {
  if (step.to > desired_) last_up_ms_ = sample.now_ms;
  last_change_ms_ = sample.now_ms;
  decisions_.push_back(Decision{sample.wall_ms, desired_, step.to, step.reason});
  if (decisions_.size() > kDecisionLog) decisions_.pop_front();
  desired_ = step.to;
}

void Engine::actuationFailed(uint32_t current) {
  desired_ = current;
  status_.desired = current;
}

}  // namespace sg::autoscale
