#include "pg/pool_stats.h"

#include "pg/pool.h"

namespace sg::pg {

namespace {

uint64_t perSecond(uint64_t delta, int64_t period_ms) {
  return period_ms > 0 ? delta * 1000 / static_cast<uint64_t>(period_ms) : 0;
}

uint64_t mean(uint64_t total, uint64_t count) { return count > 0 ? total / count : 0; }

StatsAverages averagesBetween(const StatsTotals& from, const StatsTotals& to, int64_t period_ms) {
  StatsAverages a;
  a.transactions_per_second = perSecond(to.transactions - from.transactions, period_ms);
  a.queries_per_second = perSecond(to.queries - from.queries, period_ms);
  a.received_per_second = perSecond(to.received - from.received, period_ms);
  a.sent_per_second = perSecond(to.sent - from.sent, period_ms);
  a.transaction_micros =
      mean(to.transaction_micros - from.transaction_micros, to.transactions - from.transactions);
  a.query_micros = mean(to.query_micros - from.query_micros, to.queries - from.queries);
  a.wait_micros = mean(to.wait_micros - from.wait_micros, to.waits - from.waits);
  return a;
}

}  // namespace

StatsTotals sumStats(const std::vector<Pool*>& pools, const std::string& database) {
  StatsTotals t;
  for (Pool* pool : pools) {
    if (pool->database().name != database) continue;
    const PoolStats& s = pool->stats();
    t.transactions += s.transactions.value();
    t.queries += s.queries.value();
    t.received += s.bytes_received.value();
    t.sent += s.bytes_sent.value();
    t.transaction_micros += s.transaction_micros.value();
    t.query_micros += s.query_micros.value();
    t.wait_micros += s.wait_micros.value();
    t.waits += s.waits.value();
  }
  return t;
}

void StatsPeriods::tick(int64_t now_ms, const std::function<Totals()>& read_totals) {
  std::lock_guard lock(mutex_);
  if (period_start_ms_ >= 0 && now_ms - period_start_ms_ < kPeriodMs) return;
  Totals totals = read_totals();
  if (period_start_ms_ >= 0) {
    averages_.clear();
    for (const auto& [database, now_totals] : totals) {
      auto before = at_period_start_.find(database);
      averages_[database] =
          averagesBetween(before == at_period_start_.end() ? StatsTotals{} : before->second,
                          now_totals, now_ms - period_start_ms_);
    }
  }
  at_period_start_ = std::move(totals);
  period_start_ms_ = now_ms;
}

StatsAverages StatsPeriods::averages(const std::string& database) const {
  std::lock_guard lock(mutex_);
  auto it = averages_.find(database);
  return it == averages_.end() ? StatsAverages{} : it->second;
}

}  // namespace sg::pg
