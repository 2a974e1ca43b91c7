#include "admin/stats_sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "admin/stats_quantile.h"
#include "net/event_loop.h"

namespace sg::admin {

namespace json = boost::json;

StatsClock StatsClock::system() {
  return {[] {
            using namespace std::chrono;
            return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
          },
          [] { return static_cast<int64_t>(net::monotonicMillis()); }};
}

StatsSampler::StatsSampler(proxy::SharedState& shared, pg::PgService* postgres, StatsClock clock,
                           size_t capacity)
    : shared_(shared), postgres_(postgres), clock_(std::move(clock)), capacity_(capacity) {
  buildEntities();
}

StatsSampler::~StatsSampler() { stop(); }

void StatsSampler::buildEntities() {
  auto entity = [this](std::string kind, std::string name) -> Entity& {
    entities_.push_back(
        Entity{std::move(kind), std::move(name), {}, nullptr, Ring<StatsPoint>(capacity_)});
    return entities_.back();
  };
  for (auto& listener : shared_.listeners()) {
    for (const proxy::Route& route : listener.router.routes()) {
      if (route.latency == nullptr) continue;  // the job API's route answers locally
      // Routes of one listener with the same name share their metrics: counted once.
      const bool seen = std::any_of(routes_.begin(), routes_.end(), [&](const RouteMemory& known) {
        return known.route->latency == route.latency;
      });
      if (seen) continue;
      routes_.push_back(RouteMemory{&route, listener.config->name, {}, {}, {}, {}});
    }
  }
  for (auto& listener : shared_.listeners()) {
    Entity& own = entity("listeners", listener.config->name);
    for (size_t r = 0; r < routes_.size(); ++r) {
      if (routes_[r].listener == listener.config->name) own.routes.push_back(r);
    }
  }
  for (size_t r = 0; r < routes_.size(); ++r) {
    entity("routes", routes_[r].listener + "/" + routes_[r].route->config->name).routes = {r};
  }
  for (auto& upstream : shared_.upstreams()) {
    Entity& own = entity("upstreams", upstream.config->name);
    own.upstream = &upstream;
    for (size_t r = 0; r < routes_.size(); ++r) {
      if (routes_[r].route->upstream == &upstream) own.routes.push_back(r);
    }
  }
}

void StatsSampler::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  // The first sample is taken here, not on the thread: /admin/stats never answers without one.
  // The admin listener may already have taken it (it answers before the control plane starts).
  if (last_sample_ms_ < 0) sampleNow();
  thread_ = std::thread([this] { run(); });
}

void StatsSampler::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(run_mutex_);
    stopping_ = true;
  }
  run_cv_.notify_all();
  thread_.join();
}

void StatsSampler::run() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(run_mutex_);
  for (;;) {
    next += std::chrono::milliseconds(kIntervalMs);
    if (run_cv_.wait_until(lock, next, [this] { return stopping_; })) return;
    lock.unlock();
    sampleNow();
    lock.lock();
  }
}

void StatsSampler::setAutoscaleSource(std::function<json::value()> source) {
  std::lock_guard lock(mutex_);
  autoscale_ = std::move(source);
}

void StatsSampler::sampleRoutes(double seconds) {
  for (RouteMemory& memory : routes_) {
    for (size_t c = 0; c < memory.classes.size(); ++c) {
      const uint64_t now = memory.route->responses_by_class[c]->value();
      memory.class_delta[c] = seconds > 0 && now >= memory.classes[c] ? now - memory.classes[c] : 0;
      memory.classes[c] = now;
    }
    std::vector<uint64_t> cumulative = memory.route->latency->snapshot().cumulative;
    memory.cumulative_delta = seconds > 0 ? cumulativeDelta(cumulative, memory.cumulative)
                                          : std::vector<uint64_t>(cumulative.size(), 0);
    memory.cumulative = std::move(cumulative);
  }
}

StatsPoint StatsSampler::pointFor(const Entity& entity, double seconds, int64_t time_ms) const {
  StatsPoint point;
  point.time_ms = time_ms;
  uint64_t responses = 0;
  uint64_t errors = 0;
  std::vector<uint64_t> cumulative;
  const std::vector<double>* bounds = nullptr;
  for (size_t r : entity.routes) {
    const RouteMemory& memory = routes_[r];
    for (uint64_t n : memory.class_delta) responses += n;
    errors += memory.class_delta[4];
    // Every route's histogram has the default bounds; one with others is left out of the sum.
    const auto& own_bounds = memory.route->latency->bounds();
    if (bounds == nullptr) {
      bounds = &own_bounds;
      cumulative.assign(memory.cumulative_delta.size(), 0);
    }
    if (own_bounds != *bounds || memory.cumulative_delta.size() != cumulative.size()) continue;
    for (size_t i = 0; i < cumulative.size(); ++i) cumulative[i] += memory.cumulative_delta[i];
  }
  point.rps = seconds > 0 ? static_cast<double>(responses) / seconds : 0;
  point.error_rate =
      responses > 0 ? static_cast<double>(errors) / static_cast<double>(responses) : 0;
  const double none = std::numeric_limits<double>::quiet_NaN();
  auto quantile = [&](double q) {
    if (bounds == nullptr) return none;
    auto seconds_value = histogramQuantile(q, *bounds, cumulative);
    return seconds_value ? *seconds_value * 1000.0 : none;
  };
  point.p50_ms = quantile(0.50);
  point.p95_ms = quantile(0.95);
  point.p99_ms = quantile(0.99);
  if (entity.upstream != nullptr) {
    for (const auto& server : entity.upstream->servers) point.in_flight += server->in_flight.load();
  }
  return point;
}

namespace {

json::value number(double value) {
  if (std::isnan(value)) return nullptr;
  return std::round(value * 1000.0) / 1000.0;  // three decimals keep the JSON short
}

json::object pointJson(const StatsPoint& point) {
  return json::object{{"rps", number(point.rps)},       {"error_rate", number(point.error_rate)},
                      {"p50_ms", number(point.p50_ms)}, {"p95_ms", number(point.p95_ms)},
                      {"p99_ms", number(point.p99_ms)}, {"in_flight", number(point.in_flight)}};
}

// Columns, oldest first: {"time_ms": [...], "rps": [...], ...}.
json::object seriesJson(const Ring<StatsPoint>& ring, size_t points) {
  const size_t count = std::min(points, ring.size());
  json::array time, rps, errors, p50, p95, p99, in_flight;
  for (size_t i = ring.size() - count; i < ring.size(); ++i) {
    const StatsPoint& point = ring.at(i);
    time.push_back(point.time_ms);
    rps.push_back(number(point.rps));
    errors.push_back(number(point.error_rate));
    p50.push_back(number(point.p50_ms));
    p95.push_back(number(point.p95_ms));
    p99.push_back(number(point.p99_ms));
    in_flight.push_back(number(point.in_flight));
  }
  return json::object{{"time_ms", std::move(time)},       {"rps", std::move(rps)},
                      {"error_rate", std::move(errors)},  {"p50_ms", std::move(p50)},
                      {"p95_ms", std::move(p95)},         {"p99_ms", std::move(p99)},
                      {"in_flight", std::move(in_flight)}};
}

}  // namespace

void StatsSampler::sampleNow() {
  const int64_t now_ms = clock_.monotonic_ms();
  const int64_t wall_ms = clock_.wall_ms();
  const double seconds =
      last_sample_ms_ < 0 ? 0.0 : static_cast<double>(now_ms - last_sample_ms_) / 1000.0;
  last_sample_ms_ = now_ms;
  sampleRoutes(seconds);
  std::vector<StatsPoint> points;
  points.reserve(entities_.size());
  for (const Entity& entity : entities_) points.push_back(pointFor(entity, seconds, wall_ms));

  json::object current;
  current["listeners"] = listenersJson(seconds);
  current["routes"] = routesJson();
  current["upstreams"] = upstreamsJson(seconds, now_ms);
  if (shared_.cache() != nullptr) current["cache"] = cacheJson(seconds);
  current["queues"] = queuesJson(seconds);
  if (postgres_ != nullptr) current["postgres"] = postgresJson(now_ms);
  for (size_t e = 0; e < entities_.size(); ++e) {
    json::value* section = current.if_contains(entities_[e].kind);
    if (section == nullptr) continue;
    json::value* entry = section->as_object().if_contains(entities_[e].name);
    if (entry == nullptr) continue;
    for (auto& [key, value] : pointJson(points[e])) entry->as_object()[key] = value;
  }

  std::lock_guard lock(mutex_);
  for (size_t e = 0; e < entities_.size(); ++e) entities_[e].ring.push(points[e]);
  current_ = std::move(current);
  current_time_ms_ = wall_ms;
}

json::object StatsSampler::document(size_t points) const {
  std::lock_guard lock(mutex_);
  json::object series{
      {"listeners", json::object()}, {"routes", json::object()}, {"upstreams", json::object()}};
  for (const Entity& entity : entities_) {
    series[entity.kind].as_object()[entity.name] = seriesJson(entity.ring, points);
  }
  json::object document;
  document["time_ms"] = current_time_ms_;
  document["interval_ms"] = kIntervalMs;
  document["capacity"] = capacity_;
  document["current"] = current_;
  if (autoscale_) document["autoscale"] = autoscale_();
  document["series"] = std::move(series);
  return document;
}

}  // namespace sg::admin
