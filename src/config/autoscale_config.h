#pragma once
// An upstream's `autoscale` (load_autoscale.cpp): the Kubernetes HPA rule over one metric of
// the upstream, with step limits, cooldowns, a stabilization window and an optional trend.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::config {

struct AutoscaleConfig {
  using Duration = std::chrono::milliseconds;
  // What `target` names: the per-server figures are divided by the servers in rotation.
  enum class Metric { kInFlightPerServer, kRpsPerServer, kP95Latency, kQueueDepthPerServer };
  struct Step {
    uint32_t max_percent = 0;   // one step changes the count by at most this % of it
    Duration cooldown{0};       // between two steps (scale_down: after a step either way)
    Duration stabilization{0};  // scale_down only: highest recommendation over this is used
  };
  struct Predict {
    Duration window{std::chrono::minutes(10)};  // the samples the trend is fitted to
    Duration horizon{std::chrono::minutes(2)};  // how far ahead the trend is read
  };
  struct Actuator {
    enum class Type { kNone, kExec, kProcess };
    Type type = Type::kNone;
    // kExec: run by /bin/sh, {desired} filled in. kProcess: one copy per server, {port}
    // filled in with a free loopback port.
    std::string command;
    Duration timeout{std::chrono::seconds(30)};  // kExec: the command is killed past this
    // kProcess: a server being removed is stopped once drained, or after this at most.
    Duration drain_timeout{std::chrono::seconds(30)};
  };

  uint32_t min = 1;
  uint32_t max = 1;
  Metric metric = Metric::kInFlightPerServer;
  double target = 0;  // per-server count or rate; p95_latency: milliseconds
  Step scale_up{50, std::chrono::seconds(60), Duration{0}};
  Step scale_down{25, std::chrono::seconds(300), std::chrono::seconds(300)};
  std::optional<Predict> predict;
  Actuator actuator;
};

// The key that names `metric` under `target` (in_flight_per_server, ...).
std::string_view autoscaleMetricName(AutoscaleConfig::Metric metric);
std::string_view autoscaleActuatorName(AutoscaleConfig::Actuator::Type type);

}  // namespace sg::config
