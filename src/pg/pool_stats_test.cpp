#include "pg/pool_stats.h"

#include <gtest/gtest.h>

namespace sg::pg {
namespace {

StatsPeriods::Totals totalsOf(uint64_t transactions, uint64_t transaction_micros, uint64_t waits,
                              uint64_t wait_micros) {
  StatsTotals t;
  t.transactions = transactions;
  t.queries = transactions * 2;
  t.received = transactions * 100;
  t.sent = transactions * 1000;
  t.transaction_micros = transaction_micros;
  t.query_micros = transaction_micros / 2;
  t.waits = waits;
  t.wait_micros = wait_micros;
  return {{"app", t}};
}

TEST(StatsPeriods, ZeroUntilTheFirstPeriodEnds) {
  StatsPeriods periods;
  periods.tick(1000, [] { return totalsOf(0, 0, 0, 0); });
  periods.tick(1000 + StatsPeriods::kPeriodMs - 1, [] { return totalsOf(600, 60000, 6, 600); });
  StatsAverages a = periods.averages("app");
  EXPECT_EQ(a.transactions_per_second, 0u);
  EXPECT_EQ(a.transaction_micros, 0u);
}

TEST(StatsPeriods, RatesAndMeansOverTheLastPeriod) {
  StatsPeriods periods;
  periods.tick(0, [] { return totalsOf(100, 10000, 1, 50); });
  // 600 transactions of 100 us each and 6 waits of 100 us in 60 s.
  periods.tick(StatsPeriods::kPeriodMs, [] { return totalsOf(700, 70000, 7, 650); });
  StatsAverages a = periods.averages("app");
  EXPECT_EQ(a.transactions_per_second, 10u);
  EXPECT_EQ(a.queries_per_second, 20u);
  EXPECT_EQ(a.received_per_second, 1000u);
  EXPECT_EQ(a.sent_per_second, 10000u);
  EXPECT_EQ(a.transaction_micros, 100u);
  EXPECT_EQ(a.query_micros, 25u);
  EXPECT_EQ(a.wait_micros, 100u);
  EXPECT_EQ(periods.averages("other").transactions_per_second, 0u);
}

TEST(StatsPeriods, ReadsTotalsOnlyWhenAPeriodEnds) {
  StatsPeriods periods;
  int reads = 0;
  auto read = [&reads] {
    ++reads;
    return totalsOf(0, 0, 0, 0);
  };
  periods.tick(0, read);
  for (int64_t t = 1000; t < StatsPeriods::kPeriodMs; t += 1000) periods.tick(t, read);
  EXPECT_EQ(reads, 1);
  periods.tick(StatsPeriods::kPeriodMs, read);
  EXPECT_EQ(reads, 2);
}

TEST(StatsPeriods, AnIdlePeriodAveragesToZero) {
  StatsPeriods periods;
  periods.tick(0, [] { return totalsOf(10, 1000, 1, 10); });
  periods.tick(StatsPeriods::kPeriodMs, [] { return totalsOf(70, 7000, 2, 20); });
  periods.tick(2 * StatsPeriods::kPeriodMs, [] { return totalsOf(70, 7000, 2, 20); });
  StatsAverages a = periods.averages("app");
  EXPECT_EQ(a.transactions_per_second, 0u);
  EXPECT_EQ(a.transaction_micros, 0u);
  EXPECT_EQ(a.wait_micros, 0u);
}

}  // namespace
}  // namespace sg::pg
