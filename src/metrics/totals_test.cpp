// Counting on across a process hand-over: totals pass through their codec into a second
// registry, which adds them to its series of the same name, labels and bounds only.
#include "metrics/totals.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::metrics {
namespace {

const Labels kRoute = {{"route", "api"}, {"code", "2xx"}};

// The sample of `series` (a full series name with labels) in the registry's text output.
std::string sample(const Registry& registry, const std::string& series) {
  std::string text = registry.renderPrometheus();
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return "absent";
  size_t start = at + series.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

std::vector<SeriesTotal> roundTrip(const std::vector<SeriesTotal>& totals) {
  std::vector<SeriesTotal> decoded;
  std::string error;
  EXPECT_TRUE(decodeTotals(encodeTotals(totals), &decoded, &error)) << error;
  return decoded;
}

TEST(MetricTotals, CountersHistogramsAndCallbackCountersCarryGaugesDoNot) {
  Registry old_process(2);
  old_process.counter("requests_total", "h", kRoute).inc(5);
  old_process.counterCallback("refusals_total", "h", {}, [] { return 7.0; });
  old_process.gauge("open_connections", "h", {}).add(3);
  Histogram& latency = old_process.histogram("latency_seconds", "h", {}, {0.01, 0.1});
  latency.observeMicros(5000);
  latency.observeMicros(50000);
  latency.observeMicros(2000000);
  old_process.counter("removed_route_total", "h", {}).inc(9);

  Registry successor(2);
  // Labels registered in another order are the same series.
  Counter& requests = successor.counter("requests_total", "h", {{"code", "2xx"}, {"route", "api"}});
  requests.inc(1);
  successor.counterCallback("refusals_total", "h", {}, [] { return 1.0; });
  Gauge& open = successor.gauge("open_connections", "h", {});
  Histogram& same = successor.histogram("latency_seconds", "h", {}, {0.01, 0.1});
  same.observeMicros(1000);

  std::vector<SeriesTotal> left = successor.addTotals(roundTrip(old_process.totals()));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].name, "removed_route_total");
  EXPECT_EQ(requests.value(), 6u);
  EXPECT_EQ(sample(successor, "refusals_total"), "8");
  EXPECT_EQ(open.value(), 0) << "a gauge is the present: not carried";
  Histogram::Snapshot snap = same.snapshot();
  EXPECT_EQ(snap.cumulative, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(snap.sum_micros, 2056000u);
  EXPECT_EQ(sample(successor, "removed_route_total"), "absent");
}

TEST(MetricTotals, AHistogramWhoseBoundsChangedStartsFresh) {
  Registry old_process(1);
  old_process.histogram("latency_seconds", "h", {}, {0.01, 0.1}).observeMicros(5000);
  Registry successor(1);
  Histogram& other = successor.histogram("latency_seconds", "h", {}, {0.01, 0.5, 1});
  EXPECT_EQ(successor.addTotals(old_process.totals()).size(), 1u);
  EXPECT_EQ(other.snapshot().count, 0u);
}

TEST(MetricTotals, WhatWasCountedSinceTheHandOver) {
  Registry registry(1);
  Counter& requests = registry.counter("requests_total", "h", {});
  Histogram& latency = registry.histogram("latency_seconds", "h", {}, {0.01});
  requests.inc(10);
  latency.observeMicros(100);
  std::vector<SeriesTotal> at_hand_over = registry.totals();
  requests.inc(4);
  latency.observeMicros(20000);
  registry.counter("late_total", "h", {}).inc(2);  // registered after the hand-over

  Registry successor(1);
  Counter& carried = successor.counter("requests_total", "h", {});
  Histogram& carried_latency = successor.histogram("latency_seconds", "h", {}, {0.01});
  Counter& late = successor.counter("late_total", "h", {});
  successor.addTotals(at_hand_over);
  successor.addTotals(roundTrip(subtractTotals(registry.totals(), at_hand_over)));
  EXPECT_EQ(carried.value(), 14u);
  EXPECT_EQ(late.value(), 2u);
  Histogram::Snapshot snap = carried_latency.snapshot();
  EXPECT_EQ(snap.cumulative, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(snap.sum_micros, 20100u);
}

TEST(MetricTotals, WhatIsLeftCanBeAddedOnceItsSeriesIsRegistered) {
  Registry old_process(1);
  old_process.counter("autoscaler_decisions_total", "h", {}).inc(3);
  Registry successor(1);
  std::vector<SeriesTotal> left = successor.addTotals(old_process.totals());
  Counter& late = successor.counter("autoscaler_decisions_total", "h", {});
  EXPECT_TRUE(successor.addTotals(left).empty());
  EXPECT_EQ(late.value(), 3u);
}

TEST(MetricTotals, ASeriesThatWentDownIsLeftOut) {
  SeriesTotal before{"requests_total", "", false, 10};
  SeriesTotal after{"requests_total", "", false, 3};
  EXPECT_TRUE(subtractTotals({after}, {before}).empty());
}

TEST(MetricTotals, GarbledOrTruncatedBytesAreRefusedWhole) {
  Registry registry(1);
  registry.counter("requests_total", "h", kRoute).inc(5);
  registry.histogram("latency_seconds", "h", {}).observeMicros(5000);
  std::string bytes = encodeTotals(registry.totals());
  std::vector<SeriesTotal> totals;
  std::string error;
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_FALSE(decodeTotals(bytes.substr(0, size), &totals, &error)) << size;
    EXPECT_TRUE(totals.empty());
  }
  EXPECT_FALSE(decodeTotals(bytes + "x", &totals, &error));
  EXPECT_EQ(error, "metric totals cut short or garbled");
  EXPECT_FALSE(decodeTotals("SGRS1....", &totals, &error));
  EXPECT_EQ(error, "not metric totals");
  std::string huge_count = bytes.substr(0, 5) + std::string("\xff\xff\xff\xff", 4);
  EXPECT_FALSE(decodeTotals(huge_count, &totals, &error));
  ASSERT_TRUE(decodeTotals(bytes, &totals, &error)) << error;
  EXPECT_EQ(totals.size(), 2u);
}

}  // namespace
}  // namespace sg::metrics
