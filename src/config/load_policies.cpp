// Failure-handling policies: a route's `retries`, and an upstream's `health_check` and
// `outlier_detection`. Each map may be empty, which turns the feature on with its defaults.
#include <algorithm>
#include <array>

#include "config/load.h"
#include "config/units.h"

namespace sg::config::detail {

namespace {

constexpr uint64_t kMinStatus = 100;
constexpr uint64_t kMaxStatus = 599;
constexpr uint32_t kMaxRetryAttempts = 10;
constexpr uint32_t kMaxCheckCount = 100;            // health_check rise and fall
constexpr uint32_t kMaxConsecutiveFailures = 1000;  // outlier_detection consecutive_*
constexpr uint32_t kMaxBreakerCount = 1'000'000;    // circuit_breaker volume and trials
constexpr uint32_t kMaxBreakerBuckets = 1000;
constexpr uint32_t kUint32Max = 0xffffffffu;
constexpr Duration kDefaultMaxEjectionTime{std::chrono::seconds(300)};

struct RetryCondition {
  std::string_view name;
  bool RetryOn::*flag;
};

constexpr std::array<RetryCondition, 6> kRetryConditions{{
    {"connect-failure", &RetryOn::connect_failure},
    {"refused", &RetryOn::refused},
    {"reset", &RetryOn::reset},
    {"timeout", &RetryOn::timeout},
    {"5xx", &RetryOn::server_error},
    {"gateway-error", &RetryOn::gateway_error},
}};

// What `on` means when the route leaves it out: failures where the server cannot have
// acted on the request, plus 502/503/504.
RetryOn defaultRetryOn() {
  RetryOn on;
  on.connect_failure = true;
  on.refused = true;
  on.reset = true;
  on.gateway_error = true;
  return on;
}

std::string statusRange() {
  return "a status code from " + std::to_string(kMinStatus) + " to " + std::to_string(kMaxStatus);
}

// Adds a status code given as text to *out, reporting one that is out of range or repeated.
// A code written as "409" (quoted) is the same scalar to YAML as 409.
void addStatus(ErrorSink& errors, const Field& item, const std::string& text,
               std::vector<int>* out) {
  auto code = parseUnsigned(text);
  if (!code || *code < kMinStatus || *code > kMaxStatus) {
    errors.add(item.mark(), item.path, "expected " + statusRange() + ", got " + quoted(text));
    return;
  }
  int status = static_cast<int>(*code);
  if (std::find(out->begin(), out->end(), status) != out->end()) {
    errors.add(item.mark(), item.path, "duplicate status code " + std::to_string(status));
    return;
  }
  out->push_back(status);
}

void readStatusList(ErrorSink& errors, const Field* field, std::vector<int>* out) {
  if (field == nullptr) return;
  for (const Field& item : sequenceItems(errors, *field)) {
    if (item.value.IsScalar()) {
      addStatus(errors, item, item.value.Scalar(), out);
    } else {
      errors.add(item.mark(), item.path,
                 "expected " + statusRange() + ", got " + describeNode(item.value));
    }
  }
}

std::string retryConditionNames() {
  std::string names;
  for (const RetryCondition& condition : kRetryConditions)
    names += std::string(condition.name) + ", ";
  return names + "or " + statusRange();
}

void addRetryCondition(ErrorSink& errors, const Field& item, RetryOn* out) {
  if (!item.value.IsScalar()) {
    errors.add(item.mark(), item.path,
               "expected a retry condition, got " + describeNode(item.value));
    return;
  }
  const std::string& text = item.value.Scalar();
  if (parseUnsigned(text)) {
    addStatus(errors, item, text, &out->statuses);
    return;
  }
  auto known =
      std::find_if(kRetryConditions.begin(), kRetryConditions.end(),
                   [&](const RetryCondition& condition) { return condition.name == text; });
  if (known == kRetryConditions.end()) {
    errors.add(
        item.mark(), item.path,
        "unknown retry condition " + quoted(text) + " (one of: " + retryConditionNames() + ")");
  } else if (out->*(known->flag)) {
    errors.add(item.mark(), item.path, "duplicate retry condition " + quoted(text));
  } else {
    out->*(known->flag) = true;
  }
}

}  // namespace

void readRetryOn(ErrorSink& errors, const Field& field, RetryOn* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (!field.value.IsSequence()) return;
  if (items.empty()) {
    errors.add(field.mark(), field.path,
               "must list at least one condition (leave 'on' out for the default: connect-failure, "
               "refused, reset, gateway-error)");
    return;
  }
  RetryOn on;
  for (const Field& item : items) addRetryCondition(errors, item, &on);
  *out = std::move(on);
}

namespace {

void readCheckType(ErrorSink& errors, const Field* field, HealthCheckConfig::Type* out) {
  std::string type;
  if (!readString(errors, field, &type)) return;
  if (type == "http") {
    *out = HealthCheckConfig::Type::kHttp;
  } else if (type == "tcp") {
    *out = HealthCheckConfig::Type::kTcp;
  } else {
    errors.add(field->mark(), field->path,
               "unknown health check type " + quoted(type) + " (one of: http, tcp)");
  }
}

// Sent as the request target of the check, so it must be one: no spaces, no fragment.
void readCheckPath(ErrorSink& errors, const Field* field, std::string* out) {
  std::string path;
  if (!readString(errors, field, &path)) return;
  auto target_char = [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != '#';
  };
  if (path.empty() || path.front() != '/' || !std::all_of(path.begin(), path.end(), target_char)) {
    errors.add(field->mark(), field->path,
               "invalid path " + quoted(path) + " (must start with '/' and hold no spaces or '#')");
    return;
  }
  *out = std::move(path);
}

void readCheckHost(ErrorSink& errors, const Field* field, std::string* out) {
  std::string host;
  if (!readString(errors, field, &host)) return;
  if (!isHostName(host)) {
    errors.add(field->mark(), field->path,
               "invalid host " + quoted(host) + " (use a name like example.com)");
    return;
  }
  *out = std::move(host);
}

// A probe that may outlast the interval would overlap the next one. An interval set below
// the default timeout, with no timeout given, brings the timeout down with it.
void readCheckTimes(ErrorSink& errors, const MapReader& map, HealthCheckConfig* out) {
  const Field* interval = map.find("interval");
  bool interval_ok = readDuration(errors, interval, &out->interval, false) || interval == nullptr;
  const Field* timeout = map.find("timeout");
  if (timeout == nullptr) {
    out->timeout = std::min(out->timeout, out->interval);
  } else if (readDuration(errors, timeout, &out->timeout, false) && interval_ok &&
             out->timeout > out->interval) {
    errors.add(timeout->mark(), timeout->path,
               "must not be longer than the interval (" + formatDuration(out->interval) + ")");
  }
}

// Envoy's default is max(300 s, base_ejection_time); a cap below the base is an error.
void readEjectionCap(ErrorSink& errors, const Field* field, bool base_ok,
                     OutlierDetectionConfig* out) {
  if (field == nullptr) {
    out->max_ejection_time = std::max<Duration>(kDefaultMaxEjectionTime, out->base_ejection_time);
  } else if (readDuration(errors, field, &out->max_ejection_time, false) && base_ok &&
             out->max_ejection_time < out->base_ejection_time) {
    errors.add(field->mark(), field->path,
               "must not be shorter than base_ejection_time (" +
                   formatDuration(out->base_ejection_time) + ")");
  }
}

}  // namespace

void loadRetryPolicy(ErrorSink& errors, const Field& field, RetryPolicy* out) {
  out->attempts = 1;
  out->on = defaultRetryOn();
  MapReader map(errors, field, {"attempts", "on", "per_try_timeout", "backoff", "budget_percent"});
  if (!map.valid()) return;
  readUint32(errors, map.find("attempts"), 0, kMaxRetryAttempts, &out->attempts);
  if (const Field* on = map.find("on")) readRetryOn(errors, *on, &out->on);
  readDuration(errors, map.find("per_try_timeout"), &out->per_try_timeout);
  readDuration(errors, map.find("backoff"), &out->backoff, false);
  readUint32(errors, map.find("budget_percent"), 1, 100, &out->budget_percent);
}

void loadHealthCheck(ErrorSink& errors, const Field& field, HealthCheckConfig* out) {
  MapReader map(errors, field,
                {"type", "path", "host", "interval", "timeout", "rise", "fall", "expect"});
  if (!map.valid()) return;
  readCheckType(errors, map.find("type"), &out->type);
  readCheckPath(errors, map.find("path"), &out->path);
  readCheckHost(errors, map.find("host"), &out->host);
  readCheckTimes(errors, map, out);
  readUint32(errors, map.find("rise"), 1, kMaxCheckCount, &out->rise);
  readUint32(errors, map.find("fall"), 1, kMaxCheckCount, &out->fall);
  readStatusList(errors, map.find("expect"), &out->expect);
}

void loadOutlierDetection(ErrorSink& errors, const Field& field, OutlierDetectionConfig* out) {
  MapReader map(errors, field,
                {"consecutive_5xx", "consecutive_gateway_failure", "interval", "base_ejection_time",
                 "max_ejection_time", "max_ejection_percent", "always_eject_one_host"});
  if (!map.valid()) return;
  readUint32(errors, map.find("consecutive_5xx"), 0, kMaxConsecutiveFailures,
             &out->consecutive_5xx);
  readUint32(errors, map.find("consecutive_gateway_failure"), 0, kMaxConsecutiveFailures,
             &out->consecutive_gateway_failure);
  readDuration(errors, map.find("interval"), &out->interval, false);
  const Field* base = map.find("base_ejection_time");
  bool base_ok = readDuration(errors, base, &out->base_ejection_time, false) || base == nullptr;
  readEjectionCap(errors, map.find("max_ejection_time"), base_ok, out);
  readUint32(errors, map.find("max_ejection_percent"), 0, 100, &out->max_ejection_percent);
  readBool(errors, map.find("always_eject_one_host"), &out->always_eject_one_host);
}

void loadCircuitBreaker(ErrorSink& errors, const Field& field, CircuitBreakerConfig* out) {
  MapReader map(errors, field,
                {"error_threshold_percent", "volume_threshold", "window", "buckets",
                 "reset_timeout", "half_open_requests", "error_statuses", "max_connections",
                 "max_pending", "max_requests", "max_retries"});
  if (!map.valid()) return;
  readUint32(errors, map.find("error_threshold_percent"), 1, 100, &out->error_threshold_percent);
  readUint32(errors, map.find("volume_threshold"), 1, kMaxBreakerCount, &out->volume_threshold);
  readDuration(errors, map.find("window"), &out->window, false);
  const Field* buckets = map.find("buckets");
  if (readUint32(errors, buckets, 1, kMaxBreakerBuckets, &out->buckets) &&
      out->window.count() / out->buckets == 0) {
    errors.add(buckets->mark(), buckets->path, "more buckets than milliseconds in the window");
  }
  readDuration(errors, map.find("reset_timeout"), &out->reset_timeout, false);
  readUint32(errors, map.find("half_open_requests"), 1, kMaxBreakerCount, &out->half_open_requests);
  if (const Field* statuses = map.find("error_statuses")) {
    out->error_statuses.clear();
    readStatusList(errors, statuses, &out->error_statuses);
  }
  readUint32(errors, map.find("max_connections"), 0, kUint32Max, &out->max_connections);
  readUint32(errors, map.find("max_pending"), 0, kUint32Max, &out->max_pending);
  readUint32(errors, map.find("max_requests"), 0, kUint32Max, &out->max_requests);
  readUint32(errors, map.find("max_retries"), 0, kUint32Max, &out->max_retries);
}

}  // namespace sg::config::detail
