#pragma once
// The autoscaler's decision engine for one upstream: Kubernetes HPA's rule
// desired = ceil(current x value / target) with a 0.1 tolerance, clamped to [min, max],
// moved by steps of at most max_percent, one step per cooldown, and scaled down only to the
// highest recommendation of the stabilization window (HPA's scale-down stabilization).
// With `predict`, the value the trend expects at `horizon` is used when it is higher than
// now: scaling up early, never down on a prediction alone.
//
// Hermetic: time comes with each sample (an injected clock), nothing here reads a clock,
// starts a thread or touches the gateway.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "autoscale/trend.h"
#include "config/autoscale_config.h"

namespace sg::autoscale {

inline constexpr double kTolerance = 0.1;  // HPA's default tolerance
inline constexpr size_t kDecisionLog = 50;

struct Sample {
  int64_t now_ms = 0;    // monotonic time of the reading
  int64_t wall_ms = 0;   // unix time of the reading, for the decision log
  double value = 0;      // the target's metric now (per server, or p95 milliseconds)
  uint32_t current = 0;  // replicas serving now (servers in rotation, or the count last set)
};

struct Decision {
  int64_t time_ms = 0;  // unix ms
  uint32_t from = 0;
  uint32_t to = 0;
  std::string reason;
};

// The engine's view after its last evaluation.
struct EngineStatus {
  uint32_t current = 0;
  uint32_t desired = 0;
  uint32_t recommendation = 0;  // the rule's count before steps, cooldowns and stabilization
  double value = 0;
  std::optional<double> predicted;  // the metric expected at the horizon (when predicting)
};

class Engine {
 public:
  explicit Engine(const config::AutoscaleConfig& config);

  // One evaluation; returns the decision when the desired count changed.
  std::optional<Decision> evaluate(const Sample& sample);
  // The actuator could not set the desired count: desired falls back to `current`, so the
  // next decision (after the cooldown) asks again, rather than a retry loop.
  void actuationFailed(uint32_t current);

  const EngineStatus& status() const { return status_; }
  const std::deque<Decision>& decisions() const { return decisions_; }
  const config::AutoscaleConfig& config() const { return config_; }

 private:
  struct Step {
    uint32_t to = 0;
    std::string reason;   // what limited the step, or why min/max moved it
    bool bounds = false;  // min or max moved it, whatever the metric says
  };
  // The metric the rule uses (the prediction when it is higher) and its recommendation.
  double effectiveValue(const Sample& sample, uint32_t base);
  uint32_t recommend(double value, uint32_t base) const;
  // The highest recommendation within the scale-down stabilization window.
  uint32_t stabilizedDown(int64_t now_ms, uint32_t recommendation);
  std::optional<Step> nextStep(int64_t now_ms, uint32_t recommendation, uint32_t down_to);
  std::string describeMetric(double effective) const;
  void record(const Sample& sample, const Step& step);

  const config::AutoscaleConfig config_;
  const bool per_server_;  // the metric is a per-server share of a total
  std::unique_ptr<TrendModel> trend_;
  std::deque<std::pair<int64_t, uint32_t>> recommendations_;  // (time, count) for stabilization
  std::deque<Decision> decisions_;
  EngineStatus status_;
  bool started_ = false;
  uint32_t desired_ = 0;
  std::optional<int64_t> last_up_ms_;
  std::optional<int64_t> last_change_ms_;
};

}  // namespace sg::autoscale
