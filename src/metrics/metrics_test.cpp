#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/text_format.h"

namespace sg::metrics {
namespace {

std::string formatDouble(double value) {
  std::string out;
  text::appendDouble(out, value);
  return out;
}

TEST(TextFormat, DoublesUseShortestFixedForm) {
  EXPECT_EQ(formatDouble(0.0005), "0.0005");
  EXPECT_EQ(formatDouble(0.0025), "0.0025");
  EXPECT_EQ(formatDouble(2.5), "2.5");
  EXPECT_EQ(formatDouble(30), "30");
  EXPECT_EQ(formatDouble(1), "1");
  EXPECT_EQ(formatDouble(-1.5), "-1.5");
  EXPECT_EQ(formatDouble(0), "0");
  EXPECT_EQ(formatDouble(-0.0), "0");
  EXPECT_EQ(formatDouble(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(formatDouble(1e20), "1e+20");
  EXPECT_EQ(formatDouble(1e-12), "1e-12");
  EXPECT_EQ(formatDouble(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(formatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(formatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(TextFormat, EscapesLabelValuesAndHelp) {
  std::string out;
  text::appendEscapedLabelValue(out, "a\"b\\c\nd");
  EXPECT_EQ(out, R"(a\"b\\c\nd)");
  out.clear();
  text::appendEscapedHelp(out, "say \"hi\"\\\n");
  EXPECT_EQ(out, R"(say "hi"\\\n)");
}

TEST(TextFormat, ValidatesNames) {
  EXPECT_TRUE(text::isValidMetricName("sg_http:requests_total"));
  EXPECT_FALSE(text::isValidMetricName("1abc"));
  EXPECT_FALSE(text::isValidMetricName("a-b"));
  EXPECT_FALSE(text::isValidMetricName(""));
  EXPECT_TRUE(text::isValidLabelName("upstream_2"));
  EXPECT_FALSE(text::isValidLabelName("__name__"));
  EXPECT_FALSE(text::isValidLabelName("a:b"));
}

TEST(Shards, DefaultIsLastShardAndOutOfRangeIsClamped) {
  Registry registry(4);
  std::thread([] { EXPECT_EQ(currentShard(), 3u); }).join();
  std::thread([] {
    setCurrentShard(1);
    EXPECT_EQ(currentShard(), 1u);
    setCurrentShard(17);
    EXPECT_EQ(currentShard(), 3u);
  }).join();
}

TEST(Counter, IncrementsFromManyThreadsSumExactly) {
  constexpr uint32_t kWorkers = 4;
  constexpr uint64_t kPerThread = 200'000;
  Registry registry(kWorkers + 1);
  Counter& counter = registry.counter("sg_test_total", "Test.", {});
  Gauge& gauge = registry.gauge("sg_test_gauge", "Test.", {});
  Histogram& histogram = registry.histogram("sg_test_seconds", "Test.", {});
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      setCurrentShard(w);  // one writer per shard: plain stores
      for (uint64_t i = 0; i < kPerThread; ++i) {
        counter.inc();
        gauge.add(2);
        histogram.observeMicros(i % 3000);
      }
    });
  }
  // Threads that never pick a shard (and one out of range) share the last one: fetch_add.
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      if (t == 2) setCurrentShard(1000);
      for (uint64_t i = 0; i < kPerThread; ++i) {
        counter.inc(2);
        gauge.add(-1);
        histogram.observeMicros(i % 3000);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), kWorkers * kPerThread + 3 * 2 * kPerThread);
  EXPECT_EQ(gauge.value(), static_cast<int64_t>(kWorkers * kPerThread * 2 - 3 * kPerThread));
  const Histogram::Snapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count, (kWorkers + 3) * kPerThread);
  EXPECT_EQ(snap.cumulative.back(), snap.count);
}

TEST(Histogram, ObservationsLandInTheRightBuckets) {
  Histogram histogram({0.0005, 0.001, 0.0025, 1}, 2);
  for (uint64_t micros : {0u, 500u, 501u, 1000u, 2500u, 2501u, 1'000'000u, 1'000'001u}) {
    histogram.observeMicros(micros);
  }
  const Histogram::Snapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.cumulative, (std::vector<uint64_t>{2, 4, 5, 7, 8}));
  EXPECT_EQ(snap.count, 8u);
  EXPECT_DOUBLE_EQ(snap.sum_seconds, 2.007003);
}

TEST(Histogram, RejectsBadBoundsAndDropsTrailingInf) {
  EXPECT_THROW(Histogram({0.1, 0.1}, 1), std::invalid_argument);
  EXPECT_THROW(Histogram({0.2, 0.1}, 1), std::invalid_argument);
  EXPECT_THROW(Histogram({-1}, 1), std::invalid_argument);
  Histogram histogram({0.1, std::numeric_limits<double>::infinity()}, 1);
  EXPECT_EQ(histogram.bounds().size(), 1u);
}

TEST(Histogram, DefaultLatencyBuckets) {
  EXPECT_EQ(defaultLatencyBuckets(),
            (std::vector<double>{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5, 5, 10, 30}));
}

TEST(Registry, SameNameAndLabelsReturnSameObject) {
  Registry registry(2);
  Counter& a =
      registry.counter("sg_requests_total", "Requests.", {{"upstream", "u"}, {"code", "200"}});
  Counter& b =
      registry.counter("sg_requests_total", "Requests.", {{"upstream", "u"}, {"code", "200"}});
  Counter& reordered =
      registry.counter("sg_requests_total", "Requests.", {{"code", "200"}, {"upstream", "u"}});
  Counter& other =
      registry.counter("sg_requests_total", "Requests.", {{"upstream", "u"}, {"code", "503"}});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a, &reordered);
  EXPECT_NE(&a, &other);
  EXPECT_EQ(&registry.gauge("sg_g", "G.", {}), &registry.gauge("sg_g", "G.", {}));
  EXPECT_EQ(&registry.histogram("sg_h", "H.", {}), &registry.histogram("sg_h", "H.", {}));
  // Addresses stay valid while many more series are added.
  for (int i = 0; i < 1000; ++i) {
    registry.counter("sg_requests_total", "Requests.", {{"upstream", std::to_string(i)}});
  }
  a.inc();
  EXPECT_EQ(registry.counter("sg_requests_total", "Requests.", {{"upstream", "u"}, {"code", "200"}})
                .value(),
            1u);
}

TEST(Registry, RejectsConflictsAtStartUp) {
  Registry registry(2);
  registry.counter("sg_x", "X.", {});
  EXPECT_THROW(registry.gauge("sg_x", "X.", {}), std::logic_error);
  EXPECT_THROW(registry.histogram("sg_x", "X.", {}), std::logic_error);
  EXPECT_THROW(registry.counter("bad-name", "X.", {}), std::logic_error);
  EXPECT_THROW(registry.counter("sg_y", "Y.", {{"__reserved", "v"}}), std::logic_error);
  EXPECT_THROW(registry.counter("sg_y", "Y.", {{"a", "1"}, {"a", "2"}}), std::logic_error);
  EXPECT_THROW(registry.histogram("sg_h", "H.", {{"le", "1"}}), std::logic_error);
  registry.histogram("sg_h", "H.", {}, {0.1, 0.2});
  EXPECT_THROW(registry.histogram("sg_h", "H.", {}, {0.1, 0.3}), std::logic_error);
  registry.gauge("sg_g", "G.", {});
  EXPECT_THROW(registry.gaugeCallback("sg_g", "G.", {}, [] { return 1.0; }), std::logic_error);
  EXPECT_THROW(registry.gaugeCallback("sg_c", "C.", {}, nullptr), std::logic_error);
}

TEST(Registry, RendersPrometheusText) {
  Registry registry(2);
  registry
      .counter("sg_requests_total", "Requests handled.", {{"upstream", "users"}, {"code", "200"}})
      .inc(3);
  registry
      .counter("sg_requests_total", "Requests handled.", {{"upstream", "users"}, {"code", "503"}})
      .inc();
  Gauge& connections = registry.gauge("sg_connections", "Open connections.", {});
  connections.add(5);
  connections.add(-2);
  int calls = 0;
  registry.gaugeCallback("sg_server_up", "1 when the server is up.", {{"server", "127.0.0.1:3001"}},
                         [&calls] { return ++calls, 1.0; });
  registry.gaugeCallback("sg_server_up", "1 when the server is up.", {{"server", "a\"b\\c\nd"}},
                         [] { return 0.25; });
  Histogram& latency = registry.histogram("sg_latency_seconds", "Latency.\nIn seconds.",
                                          {{"route", "/api"}}, {0.0005, 0.001, 0.5});
  for (uint64_t micros : {500u, 501u, 1000u, 2'000'000u}) latency.observeMicros(micros);
  std::thread([&connections] { connections.add(10); }).join();  // last shard

  const std::string expected =
      "# HELP sg_requests_total Requests handled.\n"
      "# TYPE sg_requests_total counter\n"
      "sg_requests_total{upstream=\"users\",code=\"200\"} 3\n"
      "sg_requests_total{upstream=\"users\",code=\"503\"} 1\n"
      "# HELP sg_connections Open connections.\n"
      "# TYPE sg_connections gauge\n"
      "sg_connections 13\n"
      "# HELP sg_server_up 1 when the server is up.\n"
      "# TYPE sg_server_up gauge\n"
      "sg_server_up{server=\"127.0.0.1:3001\"} 1\n"
      "sg_server_up{server=\"a\\\"b\\\\c\\nd\"} 0.25\n"
      "# HELP sg_latency_seconds Latency.\\nIn seconds.\n"
      "# TYPE sg_latency_seconds histogram\n"
      "sg_latency_seconds_bucket{route=\"/api\",le=\"0.0005\"} 1\n"
      "sg_latency_seconds_bucket{route=\"/api\",le=\"0.001\"} 3\n"
      "sg_latency_seconds_bucket{route=\"/api\",le=\"0.5\"} 3\n"
      "sg_latency_seconds_bucket{route=\"/api\",le=\"+Inf\"} 4\n"
      "sg_latency_seconds_sum{route=\"/api\"} 2.002001\n"
      "sg_latency_seconds_count{route=\"/api\"} 4\n";
  EXPECT_EQ(registry.renderPrometheus(), expected);
  EXPECT_EQ(calls, 1);
  registry.renderPrometheus();
  EXPECT_EQ(calls, 2);  // callbacks run at every render
}

TEST(Registry, RendersDefaultBucketsWithoutLabels) {
  Registry registry(1);
  registry.histogram("sg_wait_seconds", "Wait.", {}).observeMicros(30'000'000);
  const std::string expected =
      "# HELP sg_wait_seconds Wait.\n"
      "# TYPE sg_wait_seconds histogram\n"
      "sg_wait_seconds_bucket{le=\"0.0005\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.001\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.0025\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.005\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.01\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.025\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.05\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.1\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.25\"} 0\n"
      "sg_wait_seconds_bucket{le=\"0.5\"} 0\n"
      "sg_wait_seconds_bucket{le=\"1\"} 0\n"
      "sg_wait_seconds_bucket{le=\"2.5\"} 0\n"
      "sg_wait_seconds_bucket{le=\"5\"} 0\n"
      "sg_wait_seconds_bucket{le=\"10\"} 0\n"
      "sg_wait_seconds_bucket{le=\"30\"} 1\n"
      "sg_wait_seconds_bucket{le=\"+Inf\"} 1\n"
      "sg_wait_seconds_sum 30\n"
      "sg_wait_seconds_count 1\n";
  EXPECT_EQ(registry.renderPrometheus(), expected);
}

TEST(Registry, CallbackReRegistrationReplacesTheFunction) {
  Registry registry(1);
  registry.gaugeCallback("sg_v", "V.", {}, [] { return 1.0; });
  registry.gaugeCallback("sg_v", "V.", {}, [] { return 2.0; });
  EXPECT_EQ(registry.renderPrometheus(), "# HELP sg_v V.\n# TYPE sg_v gauge\nsg_v 2\n");
}

TEST(Registry, CounterCallbackRendersAsCounter) {
  Registry registry(1);
  uint64_t transitions = 4;
  registry.counterCallback("sg_transitions_total", "Transitions.", {{"to", "open"}},
                           [&transitions] { return static_cast<double>(transitions); });
  transitions = 7;
  EXPECT_EQ(registry.renderPrometheus(),
            "# HELP sg_transitions_total Transitions.\n"
            "# TYPE sg_transitions_total counter\n"
            "sg_transitions_total{to=\"open\"} 7\n");
  EXPECT_THROW(registry.counter("sg_transitions_total", "Transitions.", {{"to", "open"}}).inc(),
               std::logic_error);
  EXPECT_THROW(registry.counterCallback("sg_x_total", "X.", {}, nullptr), std::logic_error);
}

// A component that changes state on every read (as a breaker may between two samples) still
// shows exactly one state at 1 per scrape.
TEST(Registry, StateSetReadsOncePerScrape) {
  Registry registry(1);
  size_t reads = 0;
  registry.stateSetCallback("sg_state", "State.", {{"upstream", "u1"}}, "state",
                            {"closed", "open", "half_open"}, [&reads] { return reads++ % 3; });
  EXPECT_EQ(registry.renderPrometheus(),
            "# HELP sg_state State.\n# TYPE sg_state gauge\n"
            "sg_state{upstream=\"u1\",state=\"closed\"} 1\n"
            "sg_state{upstream=\"u1\",state=\"open\"} 0\n"
            "sg_state{upstream=\"u1\",state=\"half_open\"} 0\n");
  EXPECT_EQ(registry.renderPrometheus(),
            "# HELP sg_state State.\n# TYPE sg_state gauge\n"
            "sg_state{upstream=\"u1\",state=\"closed\"} 0\n"
            "sg_state{upstream=\"u1\",state=\"open\"} 1\n"
            "sg_state{upstream=\"u1\",state=\"half_open\"} 0\n");
  EXPECT_EQ(reads, 2u);
  EXPECT_THROW(registry.stateSetCallback("sg_s2", "S.", {}, "state", {}, [] { return size_t{0}; }),
               std::logic_error);
}

}  // namespace
}  // namespace sg::metrics
