#include "autoscale/upstream_metrics.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "autoscale/clock.h"
#include "net/event_loop.h"

namespace sg::autoscale {

using Metric = config::AutoscaleConfig::Metric;

int64_t SystemClock::monotonicMs() const { return net::monotonicMillis(); }

int64_t SystemClock::wallMs() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

double p95Millis(const std::vector<double>& bounds_seconds, const std::vector<uint64_t>& counts) {
  uint64_t total = 0;
  for (uint64_t count : counts) total += count;
  if (total == 0 || bounds_seconds.empty()) return 0;
  const double rank = 0.95 * double(total);
  uint64_t below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (double(below + counts[i]) < rank) {
      below += counts[i];
      continue;
    }
    if (i >= bounds_seconds.size()) break;  // +Inf bucket
    const double lower = i == 0 ? 0 : bounds_seconds[i - 1];
    const double upper = bounds_seconds[i];
    const double within = (rank - double(below)) / double(counts[i]);
    return (lower + (upper - lower) * within) * 1000.0;
  }
  return bounds_seconds.back() * 1000.0;
}

UpstreamMetrics::UpstreamMetrics(proxy::SharedState& shared, proxy::SharedUpstream& upstream,
                                 Metric metric)
    : shared_(shared), upstream_(upstream), metric_(metric) {}

uint32_t UpstreamMetrics::inRotation(int64_t now_ms) const {
  uint32_t count = 0;
  // Run-time slots: their identity is read under the slots' lock; empty ones are skipped.
  auto guard = upstream_.slots ? upstream_.slots->lock() : std::unique_lock<std::mutex>();
  for (const auto& server : upstream_.servers) {
    if (server->admin_state.load() == proxy::AdminState::kVacant) continue;
    if (server->config.backup) continue;
    if (upstream_.outReason(*server, now_ms) == proxy::OutReason::kNone) ++count;
  }
  return count;
}

double UpstreamMetrics::requestsPerSecond(int64_t now_ms) {
  uint64_t requests = 0;
  auto guard = upstream_.slots ? upstream_.slots->lock() : std::unique_lock<std::mutex>();
  for (const auto& server : upstream_.servers) {
    if (server->admin_state.load() == proxy::AdminState::kVacant) continue;  // empty slot
    requests += server->requests->value();
  }
  double rate = 0;
  if (has_previous_ && now_ms > previous_ms_) {
    rate = double(requests - std::min(requests, previous_requests_)) * 1000.0 /
           double(now_ms - previous_ms_);
  }
  previous_requests_ = requests;
  return rate;
}

namespace {

// A route written in the file (not the job API's route, which names an async route's
// upstream but never reaches it), that answers from its upstream (not an async route,
// whose latency is the time to store a job).
bool proxiesTo(const proxy::SharedListener& listener, const proxy::Route& route,
               const proxy::SharedUpstream& upstream) {
  if (route.upstream != &upstream || route.latency == nullptr || route.config->async) return false;
  for (const config::RouteConfig& written : listener.config->routes) {
    if (&written == route.config) return true;
  }
  return false;
}

}  // namespace

std::vector<metrics::Histogram*> UpstreamMetrics::routeHistograms() const {
  std::vector<metrics::Histogram*> histograms;
  for (auto& listener : shared_.listeners()) {
    for (const proxy::Route& route : listener.router.routes()) {
      if (!proxiesTo(listener, route, upstream_)) continue;
      if (std::find(histograms.begin(), histograms.end(), route.latency) == histograms.end()) {
        histograms.push_back(route.latency);
      }
    }
  }
  return histograms;
}

double UpstreamMetrics::p95Latency() {
  std::vector<metrics::Histogram*> histograms = routeHistograms();
  if (histograms.empty()) return 0;
  const std::vector<double>& bounds = histograms.front()->bounds();
  std::vector<uint64_t> cumulative(bounds.size() + 1, 0);
  for (metrics::Histogram* histogram : histograms) {
    if (histogram->bounds() != bounds) continue;  // every route uses the default buckets
    auto snapshot = histogram->snapshot();
    for (size_t i = 0; i < cumulative.size(); ++i) cumulative[i] += snapshot.cumulative[i];
  }
  std::vector<uint64_t> interval(cumulative.size(), 0);
  if (previous_buckets_.size() == cumulative.size()) {
    uint64_t previous_below = 0;
    uint64_t below = 0;
    for (size_t i = 0; i < cumulative.size(); ++i) {
      uint64_t now = cumulative[i] - below;
      uint64_t before = previous_buckets_[i] - previous_below;
      interval[i] = now - std::min(now, before);
      below = cumulative[i];
      previous_below = previous_buckets_[i];
    }
  }
  previous_buckets_ = std::move(cumulative);
  return p95Millis(bounds, interval);
}

double UpstreamMetrics::queueDepth(int64_t wall_ms) const {
  std::set<proxy::AsyncQueue*> queues;
  for (auto& listener : shared_.listeners()) {
    for (const proxy::Route& route : listener.router.routes()) {
      if (route.queue == nullptr) continue;
      bool delivers_here = route.upstream == &upstream_;
      for (const auto& member : route.fanout_routes) {
        delivers_here = delivers_here || member->upstream == &upstream_;
      }
      if (delivers_here) queues.insert(route.queue);
    }
  }
  double depth = 0;
  for (proxy::AsyncQueue* queue : queues) depth += double(queue->store().counts(wall_ms).depth());
  return depth;
}

UpstreamReading UpstreamMetrics::read(int64_t now_ms, int64_t wall_ms) {
  UpstreamReading reading;
  reading.in_rotation = inRotation(now_ms);
  switch (metric_) {
    case Metric::kInFlightPerServer:
      for (const auto& server : upstream_.servers) reading.total += server->in_flight.load();
      break;
    case Metric::kRpsPerServer:
      reading.total = requestsPerSecond(now_ms);
      break;
    case Metric::kP95Latency:
      reading.total = p95Latency();
      break;
    case Metric::kQueueDepthPerServer:
      reading.total = queueDepth(wall_ms);
      break;
  }
  has_previous_ = true;
  previous_ms_ = now_ms;
  return reading;
}

}  // namespace sg::autoscale
