#pragma once
// Reads the metric an upstream's `autoscale.target` names from the gateway's live state:
// in-flight requests (SharedServer::in_flight), requests per second (the servers' request
// counters over the interval since the last reading), p95 latency (bucket deltas of the
// latency histograms of the routes that send to the upstream) or queue depth (the queues of
// the async routes that deliver to it).
#include <cstdint>
#include <vector>

#include "config/autoscale_config.h"
#include "proxy/shared_state.h"

namespace sg::autoscale {

struct UpstreamReading {
  uint32_t in_rotation = 0;  // servers other than backups that take requests now
  // The upstream's total (in flight, requests/s, queued jobs); p95_latency: milliseconds.
  double total = 0;
};

// The 0.95 quantile (in ms) of one interval's histogram bucket counts (one per bound, then
// +Inf; not cumulative), interpolated within its bucket as Prometheus' histogram_quantile
// does; a quantile in the +Inf bucket is the highest bound. 0 for an empty interval.
double p95Millis(const std::vector<double>& bounds_seconds, const std::vector<uint64_t>& counts);

class UpstreamMetrics {
 public:
  UpstreamMetrics(proxy::SharedState& shared, proxy::SharedUpstream& upstream,
                  config::AutoscaleConfig::Metric metric);

  // One reading; rates and latencies cover the time since the previous reading (the first
  // one reads 0 for them).
  UpstreamReading read(int64_t now_ms, int64_t wall_ms);

 private:
  uint32_t inRotation(int64_t now_ms) const;
  double requestsPerSecond(int64_t now_ms);
  double p95Latency();
  double queueDepth(int64_t wall_ms) const;
  std::vector<metrics::Histogram*> routeHistograms() const;

  proxy::SharedState& shared_;
  proxy::SharedUpstream& upstream_;
  const config::AutoscaleConfig::Metric metric_;
  bool has_previous_ = false;
  int64_t previous_ms_ = 0;
  uint64_t previous_requests_ = 0;
  std::vector<uint64_t> previous_buckets_;  // summed over the routes' histograms
};

}  // namespace sg::autoscale
