// An upstream's `autoscale`: bounds, exactly one target metric, the step rules, the trend and
// the actuator.
#include <array>
#include <charconv>
#include <cmath>
#include <utility>

#include "config/load.h"

namespace sg::config {

namespace {

using Metric = AutoscaleConfig::Metric;
using ActuatorType = AutoscaleConfig::Actuator::Type;

constexpr std::array<std::pair<std::string_view, Metric>, 4> kMetrics{{
    {"in_flight_per_server", Metric::kInFlightPerServer},
    {"rps_per_server", Metric::kRpsPerServer},
    {"p95_latency", Metric::kP95Latency},
    {"queue_depth_per_server", Metric::kQueueDepthPerServer},
}};

constexpr std::array<std::pair<std::string_view, ActuatorType>, 3> kActuators{{
    {"none", ActuatorType::kNone},
    {"exec", ActuatorType::kExec},
    {"process", ActuatorType::kProcess},
}};

constexpr uint32_t kMaxReplicas = 10'000;
constexpr uint32_t kMaxScaleUpPercent = 1000;
// HPA's limit on stabilizationWindowSeconds; the same bound keeps the window's memory small.
constexpr AutoscaleConfig::Duration kMaxStabilization = std::chrono::hours(1);
constexpr AutoscaleConfig::Duration kMaxPredictWindow = std::chrono::hours(24);
constexpr double kMaxTarget = 1e12;

template <typename Table>
std::string namesOf(const Table& table) {
  std::string names;
  for (const auto& entry : table) names += (names.empty() ? "" : ", ") + std::string(entry.first);
  return names;
}

}  // namespace

std::string_view autoscaleMetricName(Metric metric) {
  for (const auto& entry : kMetrics) {
    if (entry.second == metric) return entry.first;
  }
  return "";
}

std::string_view autoscaleActuatorName(ActuatorType type) {
  for (const auto& entry : kActuators) {
    if (entry.second == type) return entry.first;
  }
  return "";
}

namespace detail {

namespace {

// A number above zero ("32", "0.5", "1e3"); false when absent or invalid (reported).
bool readPositiveNumber(ErrorSink& errors, const Field& field, double* out) {
  const std::string expected = "a number greater than zero";
  if (!field.value.IsScalar()) {
    errors.add(field.mark(), field.path,
               "expected " + expected + ", got " + describeNode(field.value));
    return false;
  }
  const std::string& text = field.value.Scalar();
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value <= 0 || value > kMaxTarget) {
    errors.add(field.mark(), field.path, "expected " + expected + ", got " + quoted(text));
    return false;
  }
  *out = value;
  return true;
}

void loadTarget(ErrorSink& errors, const Field& field, AutoscaleConfig* out) {
  MapReader map(
      errors, field,
      {"in_flight_per_server", "rps_per_server", "p95_latency", "queue_depth_per_server"});
  if (!map.valid()) return;
  std::vector<std::pair<Metric, const Field*>> given;
  for (const auto& [name, metric] : kMetrics) {
    if (const Field* value = map.find(name)) given.emplace_back(metric, value);
  }
  // Unknown names were reported by the map reader; "got 0" would only repeat them.
  bool only_unknown = given.empty() && field.value.size() > 0;
  if (given.size() != 1 && !only_unknown) {
    errors.add(field.mark(), field.path,
               "must name exactly one metric (one of: " + namesOf(kMetrics) + "), got " +
                   std::to_string(given.size()));
    return;
  }
  if (given.size() != 1) return;
  auto [metric, value] = given.front();
  out->metric = metric;
  if (metric != Metric::kP95Latency) {
    readPositiveNumber(errors, *value, &out->target);
    return;
  }
  Duration latency{0};
  if (readDuration(errors, value, &latency, false)) out->target = double(latency.count());
}

void loadStep(ErrorSink& errors, const Field& field, bool down, AutoscaleConfig::Step* out) {
  MapReader map = down ? MapReader(errors, field, {"max_percent", "cooldown", "stabilization"})
                       : MapReader(errors, field, {"max_percent", "cooldown"});
  if (!map.valid()) return;
  // A scale-down step of 100% could remove every server at once: HPA allows it, but with
  // min >= 1 it would only ever be clamped, so the bound says what really happens.
  readUint32(errors, map.find("max_percent"), 1, down ? 99 : kMaxScaleUpPercent, &out->max_percent);
  readDuration(errors, map.find("cooldown"), &out->cooldown);
  if (const Field* window = map.find("stabilization")) {
    Duration stabilization{0};
    if (!readDuration(errors, window, &stabilization)) return;
    if (stabilization > kMaxStabilization) {
      errors.add(window->mark(), window->path, "must be at most 1h (as HPA's window)");
      return;
    }
    out->stabilization = stabilization;
  }
}

void loadPredict(ErrorSink& errors, const Field& field, AutoscaleConfig::Predict* out) {
  MapReader map(errors, field, {"window", "horizon"});
  if (!map.valid()) return;
  const Field* window = map.require("window");
  const Field* horizon = map.require("horizon");
  bool window_ok = readDuration(errors, window, &out->window, false);
  if (window_ok && out->window > kMaxPredictWindow) {
    errors.add(window->mark(), window->path, "must be at most 24h");
    window_ok = false;
  }
  bool horizon_ok = readDuration(errors, horizon, &out->horizon, false);
  // A line fitted to `window` says little about times further ahead than the window is long.
  if (window_ok && horizon_ok && out->horizon > out->window) {
    errors.add(horizon->mark(), horizon->path, "must not be longer than window");
  }
}

bool readActuatorType(ErrorSink& errors, const Field& field, ActuatorType* out) {
  std::string name;
  if (!readString(errors, &field, &name)) return false;
  for (const auto& [known, type] : kActuators) {
    if (known == name) {
      *out = type;
      return true;
    }
  }
  errors.add(field.mark(), field.path,
             "unknown actuator type " + quoted(name) + " (one of: " + namesOf(kActuators) + ")");
  return false;
}

// Keys only some types use are refused on the others.
void refuseOtherTypesKeys(ErrorSink& errors, const MapReader& map, ActuatorType type) {
  const std::array<std::pair<const char*, ActuatorType>, 3> owned{
      {{"command", type == ActuatorType::kProcess ? ActuatorType::kProcess : ActuatorType::kExec},
       {"timeout", ActuatorType::kExec},
       {"drain_timeout", ActuatorType::kProcess}}};
  for (const auto& [key, owner] : owned) {
    const Field* extra = map.find(key);
    if (extra != nullptr && owner != type) {
      errors.add(extra->key.Mark(), extra->path,
                 std::string("is only used by type: ") + std::string(autoscaleActuatorName(owner)));
    }
  }
}

void loadActuator(ErrorSink& errors, const Field& field, AutoscaleConfig::Actuator* out) {
  MapReader map(errors, field, {"type", "command", "timeout", "drain_timeout"});
  if (!map.valid()) return;
  const Field* type = map.require("type");
  if (type == nullptr) return;
  ActuatorType parsed = ActuatorType::kNone;
  if (!readActuatorType(errors, *type, &parsed)) return;
  out->type = parsed;
  refuseOtherTypesKeys(errors, map, parsed);
  if (parsed == ActuatorType::kNone) return;
  readDuration(errors, map.find("timeout"), &out->timeout, false);
  readDuration(errors, map.find("drain_timeout"), &out->drain_timeout, true);
  const Field* command = map.require("command");
  if (!readString(errors, command, &out->command)) return;
  const bool process = parsed == ActuatorType::kProcess;
  const char* placeholder = process ? "{port}" : "{desired}";
  if (out->command.find(placeholder) == std::string::npos) {
    errors.add(command->mark(), command->path,
               std::string("must contain ") + placeholder +
                   (process ? " (the port each copy is to listen on)"
                            : " (the count the command is to set)"));
  }
}

}  // namespace

void loadAutoscale(ErrorSink& errors, const Field& field, AutoscaleConfig* out) {
  MapReader map(errors, field,
                {"min", "max", "target", "scale_up", "scale_down", "predict", "actuator"});
  if (!map.valid()) return;
  readUint32(errors, map.find("min"), 1, kMaxReplicas, &out->min);
  const Field* max = map.require("max");
  if (readUint32(errors, max, 1, kMaxReplicas, &out->max) && out->max < out->min) {
    errors.add(
        max->mark(), max->path,
        "must be at least min (" + std::to_string(out->min) + "), got " + std::to_string(out->max));
  }
  if (const Field* target = map.require("target")) loadTarget(errors, *target, out);
  if (const Field* up = map.find("scale_up")) loadStep(errors, *up, false, &out->scale_up);
  if (const Field* down = map.find("scale_down")) loadStep(errors, *down, true, &out->scale_down);
  if (const Field* predict = map.find("predict"))
    loadPredict(errors, *predict, &out->predict.emplace(AutoscaleConfig::Predict{}));
  if (const Field* actuator = map.find("actuator")) loadActuator(errors, *actuator, &out->actuator);
}

}  // namespace detail

}  // namespace sg::config
