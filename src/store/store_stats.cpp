#include "store/store_stats.h"

namespace sg::store {

StoreStats::StoreStats(metrics::Registry& registry, const std::string& type) {
  const metrics::Labels labels{{"type", type}};
  commands =
      &registry.counter("scalegate_store_commands_total", "Commands sent to the store.", labels);
  errors = &registry.counter("scalegate_store_errors_total",
                             "Store error replies and malformed or oversized replies.", labels);
  timeouts = &registry.counter("scalegate_store_timeouts_total",
                               "Store commands with no reply within the store timeout.", labels);
  unavailable = &registry.counter("scalegate_store_unavailable_total",
                                  "Store commands with no connection to run on.", labels);
  redirects = &registry.counter("scalegate_store_redirects_total",
                                "MOVED and ASK redirections followed (Redis Cluster).", labels);
  reconnects =
      &registry.counter("scalegate_store_connects_total", "Store connections established.", labels);
  fallbacks = &registry.counter("scalegate_store_fallbacks_total",
                                "Decisions made without the store because it failed.", labels);
  ready = &registry.gauge("scalegate_store_connections_ready", "Store connections ready.", labels);
}

std::string StoreStats::state() const {
  const int64_t up = ready->value();
  if (up <= 0) return "down";
  return up >= configured.load(std::memory_order_relaxed) ? "up" : "degraded";
}

}  // namespace sg::store
