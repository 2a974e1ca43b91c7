#pragma once
// The store's counters (scalegate_store_* in /metrics) and its state for /health, shared by
// every worker's client. Counted where they happen: the connection counts commands, replies
// and failures; the features count their own fallbacks.
#include <atomic>
#include <string>

#include "metrics/metrics.h"

namespace sg::store {

struct StoreStats {
  StoreStats(metrics::Registry& registry, const std::string& type);

  metrics::Counter* commands;          // sent to Redis
  metrics::Counter* errors;            // error replies, malformed or oversized replies
  metrics::Counter* timeouts;          // no reply within `timeout`
  metrics::Counter* unavailable;       // no connection to send on, or lost before the reply
  metrics::Counter* redirects;         // MOVED / ASK followed (Redis Cluster)
  metrics::Counter* reconnects;        // connections (re)established
  metrics::Counter* fallbacks;         // decisions a feature made without the store
  metrics::Gauge* ready;               // connections ready now (all workers)
  std::atomic<int64_t> configured{0};  // connections every worker keeps open together

  // "up" (every connection ready), "degraded" (some) or "down" (none).
  std::string state() const;
};

}  // namespace sg::store
