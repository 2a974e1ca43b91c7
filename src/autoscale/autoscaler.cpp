#include "autoscale/autoscaler.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "autoscale/process_actuator.h"

namespace sg::autoscale {

namespace json = boost::json;
using ActuatorType = config::AutoscaleConfig::Actuator::Type;
using Metric = config::AutoscaleConfig::Metric;

namespace {

constexpr auto kInterval = std::chrono::seconds(1);

}  // namespace

struct Autoscaler::Entry {
  Entry(proxy::SharedState& shared, proxy::SharedUpstream& upstream, discovery::Registry* registry)
      : upstream(upstream),
        config(*upstream.config->autoscale),
        engine(config),
        metrics(shared, upstream, config.metric) {
    if (config.actuator.type == ActuatorType::kExec) {
      exec =
          std::make_unique<ExecActuator>(config.actuator.command, config.actuator.timeout.count());
    }
    if (config.actuator.type == ActuatorType::kProcess && registry != nullptr) {
      process = std::make_unique<ProcessActuator>(config.actuator.command,
                                                  config.actuator.drain_timeout, *registry,
                                                  upstream.config->discovery->registry, upstream);
    }
  }
  bool perServer() const { return config.metric != Metric::kP95Latency; }

  proxy::SharedUpstream& upstream;
  const config::AutoscaleConfig& config;
  Engine engine;
  UpstreamMetrics metrics;
  std::unique_ptr<ExecActuator> exec;
  std::unique_ptr<ProcessActuator> process;
  bool evaluated = false;
  uint32_t in_rotation = 0;
  double total = 0;
  std::optional<uint32_t> set_count;  // exec: the count the command last set
  std::optional<ExecRun> last_run;
  metrics::Counter* ups = nullptr;
  metrics::Counter* downs = nullptr;
  metrics::Counter* actuator_failures = nullptr;
};

Autoscaler::Autoscaler(proxy::SharedState& shared, std::unique_ptr<Clock> clock,
                       discovery::Registry* registry)
    : shared_(shared), clock_(std::move(clock)) {
  for (auto& upstream : shared.upstreams()) {
    if (!upstream.config->autoscale) continue;
    entries_.push_back(std::make_unique<Entry>(shared, upstream, registry));
    registerMetrics(*entries_.back());
  }
}

Autoscaler::~Autoscaler() { stop(); }

void Autoscaler::registerMetrics(Entry& entry) {
  metrics::Registry& registry = shared_.registry();
  const std::string& name = entry.upstream.config->name;
  const std::string metric(config::autoscaleMetricName(entry.config.metric));
  auto read = [this, &entry](auto field) {
    return [this, &entry, field] {
      std::lock_guard lock(mutex_);
      return field(entry);
    };
  };
  registry.gaugeCallback("scalegate_autoscale_current_replicas",
                         "Replicas the autoscaler counts now (servers in rotation, or the count "
                         "its exec command last set).",
                         {{"upstream", name}},
                         read([](const Entry& e) { return double(e.engine.status().current); }));
  registry.gaugeCallback("scalegate_autoscale_desired_replicas", "Replicas the autoscaler wants.",
                         {{"upstream", name}},
                         read([](const Entry& e) { return double(e.engine.status().desired); }));
  registry.gaugeCallback(
      "scalegate_autoscale_metric_value",
      "The autoscale target's metric now (per server; p95_latency in milliseconds).",
      {{"upstream", name}, {"metric", metric}},
      read([](const Entry& e) { return e.engine.status().value; }));
  const double target = entry.config.target;
  registry.gaugeCallback("scalegate_autoscale_target_value", "The autoscale target's value.",
                         {{"upstream", name}, {"metric", metric}}, [target] { return target; });
  auto decisions = [&](const char* direction) {
    return &registry.counter("scalegate_autoscale_decisions_total",
                             "Changes of the desired replica count, by direction.",
                             {{"upstream", name}, {"direction", direction}});
  };
  entry.ups = decisions("up");
  entry.downs = decisions("down");
  if (entry.exec) {
    entry.actuator_failures = &registry.counter(
        "scalegate_autoscale_actuator_failures_total",
        "Runs of the exec actuator's command that failed or timed out.", {{"upstream", name}});
  }
}

void Autoscaler::start() {
  if (entries_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      evaluate();
      lock.lock();
      wake_.wait_for(lock, kInterval, [this] { return stopping_; });
    }
  });
}

void Autoscaler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  for (auto& entry : entries_) entry->exec.reset();  // kills a command still running
}

// The readings and the process actuators run outside mutex_: they take the run-time slots',
// the service registry's and the metrics registry's locks, while a /metrics scrape holds the
// metrics registry's lock and then takes mutex_ (the scalegate_autoscale_* gauges).
void Autoscaler::evaluate() {
  const int64_t now_ms = clock_->monotonicMs();
  const int64_t wall_ms = clock_->wallMs();
  std::vector<UpstreamReading> readings;
  for (auto& entry : entries_) readings.push_back(entry->metrics.read(now_ms, wall_ms));
  std::vector<uint32_t> desired(entries_.size());
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < entries_.size(); ++i)
      desired[i] = decide(*entries_[i], readings[i], now_ms, wall_ms);
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i]->process) entries_[i]->process->step(desired[i], now_ms);
  }
}

// A finished command run: success makes its count the current one; a failure sends the
// desired count back to the current one, so the engine's next decision asks again.
void Autoscaler::collectRun(Entry& entry) {
  if (!entry.exec) return;
  std::optional<ExecRun> run = entry.exec->takeFinished();
  if (!run) return;
  if (run->ok()) {
    entry.set_count = run->desired;
  } else {
    entry.actuator_failures->inc();
    entry.engine.actuationFailed(entry.set_count.value_or(run->desired));
    spdlog::warn("autoscale {}: `{}` failed ({}){}", entry.upstream.config->name, run->command,
                 run->timed_out        ? "timed out"
                 : !run->error.empty() ? run->error
                                       : "exit status " + std::to_string(run->exit_status),
                 run->stderr_tail.empty() ? "" : ": " + run->stderr_tail);
  }
  entry.last_run = std::move(run);
}

uint32_t Autoscaler::decide(Entry& entry, const UpstreamReading& reading, int64_t now_ms,
                            int64_t wall_ms) {
  entry.in_rotation = reading.in_rotation;
  entry.total = reading.total;
  if (entry.exec && !entry.set_count) entry.set_count = reading.in_rotation;
  collectRun(entry);
  const uint32_t current = entry.exec      ? *entry.set_count
                           : entry.process ? entry.process->running()
                                           : reading.in_rotation;
  const double value =
      entry.perServer() ? reading.total / double(std::max(current, 1u)) : reading.total;
  std::optional<Decision> decision = entry.engine.evaluate(Sample{now_ms, wall_ms, value, current});
  entry.evaluated = true;
  if (decision) {
    (decision->to > decision->from ? entry.ups : entry.downs)->inc();
    spdlog::info("autoscale {}: {} -> {} ({})", entry.upstream.config->name, decision->from,
                 decision->to, decision->reason);
  }
  const uint32_t desired = entry.engine.status().desired;
  if (entry.exec && desired != *entry.set_count && !entry.exec->busy()) {
    entry.exec->start(desired, wall_ms);
  }
  return desired;
}

json::object Autoscaler::entryJson(const Entry& entry) const {
  const EngineStatus& status = entry.engine.status();
  json::object out;
  out["current"] = status.current;
  out["desired"] = status.desired;
  out["min"] = entry.config.min;
  out["max"] = entry.config.max;
  out["metric"] = config::autoscaleMetricName(entry.config.metric);
  out["value"] = status.value;
  out["target"] = entry.config.target;
  out["predicted"] = status.predicted ? json::value(*status.predicted) : json::value(nullptr);
  out["actuator"] = config::autoscaleActuatorName(entry.config.actuator.type);
  json::array decisions;
  for (const Decision& decision : entry.engine.decisions()) {
    decisions.push_back(json::object{{"time_ms", decision.time_ms},
                                     {"from", decision.from},
                                     {"to", decision.to},
                                     {"reason", decision.reason}});
  }
  out["decisions"] = std::move(decisions);
  if (entry.process) out["processes"] = entry.process->describe();
  if (entry.last_run) {
    const ExecRun& run = *entry.last_run;
    out["last_run"] = json::object{{"command", run.command},
                                   {"desired", run.desired},
                                   {"time_ms", run.started_ms},
                                   {"duration_ms", run.duration_ms},
                                   {"ok", run.ok()},
                                   {"exit_status", run.exit_status},
                                   {"signal", run.signal},
                                   {"timed_out", run.timed_out},
                                   {"error", run.error},
                                   {"stderr", run.stderr_tail}};
  }
  return out;
}

json::object Autoscaler::dashboardJson() const {
  std::lock_guard lock(mutex_);
  json::object out;
  for (const auto& entry : entries_) out[entry->upstream.config->name] = entryJson(*entry);
  return out;
}

std::optional<json::object> Autoscaler::kedaJson(std::string_view upstream) const {
  std::lock_guard lock(mutex_);
  for (const auto& entry : entries_) {
    if (entry->upstream.config->name != upstream) continue;
    const EngineStatus& status = entry->engine.status();
    json::object out;
    out["upstream"] = entry->upstream.config->name;
    out["metric"] = config::autoscaleMetricName(entry->config.metric);
    // KEDA's AverageValue target divides a total by the replicas; latency is not a total,
    // so it is compared as it is (metricType: Value).
    out["value"] = entry->perServer() ? entry->total : status.value;
    out["metric_type"] = entry->perServer() ? "AverageValue" : "Value";
    out["target"] = entry->config.target;
    out["per_server"] = status.value;
    out["current"] = status.current;
    out["desired"] = status.desired;
    return out;
  }
  return std::nullopt;
}

}  // namespace sg::autoscale
