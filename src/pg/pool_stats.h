#pragma once
// A pool's counters (SHOW STATS, /metrics) and the per-period averages of SHOW STATS.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/metrics.h"

namespace sg::pg {

class Pool;

// Sharded per worker thread (metrics::Counter): counting a message costs a plain add on the
// worker's own cache line, not a locked add on a line every worker writes.
struct PoolStats {
  metrics::Counter transactions{metrics::shardCount()};
  metrics::Counter queries{metrics::shardCount()};
  metrics::Counter bytes_received{metrics::shardCount()};  // from clients
  metrics::Counter bytes_sent{metrics::shardCount()};      // to clients
  metrics::Counter transaction_micros{metrics::shardCount()};
  metrics::Counter query_micros{metrics::shardCount()};
  metrics::Counter wait_micros{metrics::shardCount()};
  metrics::Counter waits{metrics::shardCount()};
  metrics::Counter server_logins{metrics::shardCount()};
  metrics::Counter server_login_failures{metrics::shardCount()};
  metrics::Counter query_wait_timeouts{metrics::shardCount()};
};

// A database's totals: the sum over its pools.
struct StatsTotals {
  uint64_t transactions = 0, queries = 0, received = 0, sent = 0;
  uint64_t transaction_micros = 0, query_micros = 0, wait_micros = 0, waits = 0;
};
StatsTotals sumStats(const std::vector<Pool*>& pools, const std::string& database);

// PgBouncer's avg_* columns: per-second rates and mean times over the last whole stats period
// (PgBouncer's default stats_period, 60 s). Zero until the first period ends, as there.
struct StatsAverages {
  uint64_t transactions_per_second = 0, queries_per_second = 0;
  uint64_t received_per_second = 0, sent_per_second = 0;
  uint64_t transaction_micros = 0, query_micros = 0, wait_micros = 0;
};

class StatsPeriods {
 public:
  static constexpr int64_t kPeriodMs = 60'000;
  using Totals = std::map<std::string, StatsTotals>;  // by database
  // Called often (a worker's maintenance tick); ends a period when one has passed, reading
  // the totals then.
  void tick(int64_t now_ms, const std::function<Totals()>& read_totals);
  StatsAverages averages(const std::string& database) const;

 private:
  mutable std::mutex mutex_;
  int64_t period_start_ms_ = -1;
  Totals at_period_start_;
  std::map<std::string, StatsAverages> averages_;
};

}  // namespace sg::pg
