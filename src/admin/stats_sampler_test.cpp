#include "admin/stats_sampler.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>

#include "config/config.h"

namespace sg::admin {
namespace {

namespace json = boost::json;

constexpr const char* kConfig = R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - name: api
        match: { prefix: /api }
        upstream: users
      - name: files
        upstream: static
upstreams:
  users:
    slow_start: 30s
    servers:
      - { address: 127.0.0.1:3001 }
      - { address: 127.0.0.1:3002 }
  static:
    servers:
      - address: 127.0.0.1:3003
    circuit_breaker: { error_threshold_percent: 50, volume_threshold: 10 }
admin:
  address: 127.0.0.1:0
)";

constexpr int64_t kStart = 1'000'000;  // monotonic ms
constexpr int64_t kWallStart = 1'700'000'000'000;

class StatsSamplerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto result = config::loadConfigString(kConfig, "stats_test.yaml");
    std::string errors;
    for (const auto& error : result.errors) errors += error.toString() + "\n";
    ASSERT_TRUE(result.errors.empty()) << errors;
    shared_ = std::make_unique<proxy::SharedState>(result.config, 1);
    StatsClock clock{[this] { return kWallStart + now_ - kStart; }, [this] { return now_; }};
    sampler_ = std::make_unique<StatsSampler>(*shared_, nullptr, clock, 4);
  }

  proxy::Route& route(size_t index) { return shared_->listeners()[0].router.routes()[index]; }
  proxy::SharedServer& server(size_t upstream, size_t index) {
    return *shared_->upstreams()[upstream].servers[index];
  }
  // `count` responses of status class `cls` (0 = 1xx .. 4 = 5xx) taking `micros` each.
  void answer(size_t route_index, size_t cls, int count, uint64_t micros) {
    for (int i = 0; i < count; ++i) {
      route(route_index).responses_by_class[cls]->inc();
      route(route_index).latency->observeMicros(micros);
    }
  }
  void sampleAt(int64_t now) {
    now_ = now;
    sampler_->sampleNow();
  }
  json::object document(size_t points = 4) { return sampler_->document(points); }

  std::unique_ptr<proxy::SharedState> shared_;
  std::unique_ptr<StatsSampler> sampler_;
  int64_t now_ = kStart;
};

TEST_F(StatsSamplerTest, RatesErrorShareAndPercentilesComeFromTheIntervalDeltas) {
  answer(0, 1, 500, 100'000);  // before the first sample: not in any interval
  sampleAt(kStart);
  answer(0, 1, 90, 3'000);   // 2xx, in (0.0025, 0.005]
  answer(0, 4, 10, 80'000);  // 5xx, in (0.05, 0.1]
  sampleAt(kStart + 2'000);  // two seconds later
  json::object doc = document();
  const auto& api = doc.at("current").at("routes").at("public/api").as_object();
  EXPECT_DOUBLE_EQ(api.at("rps").to_number<double>(), 50.0);
  EXPECT_DOUBLE_EQ(api.at("error_rate").to_number<double>(), 0.1);
  EXPECT_GT(api.at("p50_ms").to_number<double>(), 2.5);
  EXPECT_LE(api.at("p50_ms").to_number<double>(), 5.0);
  EXPECT_GT(api.at("p99_ms").to_number<double>(), 50.0);
  EXPECT_LE(api.at("p99_ms").to_number<double>(), 100.0);
  EXPECT_EQ(api.at("upstream"), "users");
  // The listener sums its routes; the upstream sums the routes that send to it.
  EXPECT_DOUBLE_EQ(doc.at("current").at("listeners").at("public").at("rps").to_number<double>(),
                   50.0);
  EXPECT_DOUBLE_EQ(doc.at("current").at("upstreams").at("users").at("rps").to_number<double>(),
                   50.0);
  EXPECT_DOUBLE_EQ(doc.at("current").at("upstreams").at("static").at("rps").to_number<double>(),
                   0.0);
  // Nothing finished on the idle route: no percentile.
  EXPECT_TRUE(doc.at("current").at("routes").at("public/files").at("p95_ms").is_null());
  const auto& series = doc.at("series").at("routes").at("public/api").as_object();
  ASSERT_EQ(series.at("time_ms").as_array().size(), 2u);
  EXPECT_EQ(series.at("time_ms").at(1).to_number<int64_t>(), kWallStart + 2'000);
  EXPECT_DOUBLE_EQ(series.at("rps").at(0).to_number<double>(), 0.0);  // first sample: no rate
  EXPECT_DOUBLE_EQ(series.at("rps").at(1).to_number<double>(), 50.0);
}

TEST_F(StatsSamplerTest, SeriesKeepOnlyTheirCapacity) {
  for (int i = 0; i < 7; ++i) {
    answer(1, 1, i, 1'000);
    sampleAt(kStart + i * 1'000);
  }
  json::object doc = document(100);
  const auto& files = doc.at("series").at("routes").at("public/files").as_object();
  ASSERT_EQ(files.at("rps").as_array().size(), 4u);  // capacity 4
  EXPECT_EQ(files.at("time_ms").at(0).to_number<int64_t>(), kWallStart + 3'000);
  EXPECT_DOUBLE_EQ(files.at("rps").at(3).to_number<double>(), 6.0);
  EXPECT_EQ(document(1).at("series").at("routes").at("public/files").at("rps").as_array().size(),
            1u);
  EXPECT_EQ(doc.at("capacity").to_number<int64_t>(), 4);
}

TEST_F(StatsSamplerTest, HistoryCarriesOnInASuccessorsSampler) {
  for (int i = 0; i < 3; ++i) {
    answer(0, 1, 10 * i, 3'000);
    sampleAt(kStart + i * 1'000);
  }
  std::string history = sampler_->exportHistory();
  json::array api_rps = document().at("series").at("routes").at("public/api").at("rps").as_array();
  ASSERT_EQ(api_rps.size(), 3u);
  // The successor keeps fewer points: the oldest go.
  StatsClock clock{[this] { return kWallStart + now_ - kStart; }, [this] { return now_; }};
  StatsSampler successor(*shared_, nullptr, clock, 2);
  size_t series = 0;
  std::string error;
  ASSERT_TRUE(successor.importHistory(history, &series, &error)) << error;
  EXPECT_EQ(series, 5u);  // one listener, two routes, two upstreams
  now_ = kStart + 3'000;
  successor.sampleNow();
  json::object doc = successor.document(10);
  const auto& api = doc.at("series").at("routes").at("public/api").as_object();
  ASSERT_EQ(api.at("time_ms").as_array().size(), 2u);
  EXPECT_EQ(api.at("time_ms").at(0).to_number<int64_t>(), kWallStart + 2'000);
  EXPECT_EQ(api.at("rps").at(0), api_rps.at(2));
  EXPECT_EQ(api.at("time_ms").at(1).to_number<int64_t>(), kWallStart + 3'000);
  // A second in which nothing finished stays without a percentile.
  EXPECT_TRUE(doc.at("series").at("routes").at("public/files").at("p95_ms").at(0).is_null());
}

TEST_F(StatsSamplerTest, GarbledHistoryIsRefusedAndTheRestIsKept) {
  sampleAt(kStart);
  json::value history = json::parse(sampler_->exportHistory());
  history.at("routes").at("public/api").at("rps").as_array().emplace_back(1.0);
  StatsSampler successor(*shared_, nullptr, StatsClock::system(), 4);
  size_t series = 0;
  std::string error;
  EXPECT_FALSE(successor.importHistory(json::serialize(history), &series, &error));
  EXPECT_EQ(error, "the routes series public/api is garbled: columns of unequal length");
  EXPECT_EQ(series, 4u);
  error.clear();
  EXPECT_FALSE(successor.importHistory("{not json", &series, &error));
  EXPECT_EQ(error, "not a dashboard history");
  EXPECT_EQ(series, 0u);
}

TEST_F(StatsSamplerTest, ServersShowStateReasonRateAndSlowStart) {
  server(0, 0).requests->inc(10);
  sampleAt(kStart);
  server(0, 0).requests->inc(30);
  server(0, 1).health.recordFailure(kStart);  // down for fail_timeout (10 s)
  server(1, 0).admin_state.store(proxy::AdminState::kDraining);
  sampleAt(kStart + 1'000);
  auto servers = [this](const char* upstream) {
    return document().at("current").at("upstreams").at(upstream).at("servers").as_array();
  };
  EXPECT_EQ(servers("users").at(0).at("state"), "healthy");
  EXPECT_DOUBLE_EQ(servers("users").at(0).at("rps").to_number<double>(), 30.0);
  EXPECT_EQ(servers("users").at(1).at("state"), "down");
  EXPECT_EQ(servers("users").at(1).at("reason"), "failed_connects");
  EXPECT_EQ(servers("static").at(0).at("state"), "draining");
  EXPECT_EQ(document().at("current").at("upstreams").at("users").at("healthy_servers"), 1);
  sampleAt(kStart + 10'000);  // back: users has slow_start 30s
  EXPECT_EQ(servers("users").at(1).at("state"), "slow_start");
  sampleAt(kStart + 40'001);
  EXPECT_EQ(servers("users").at(1).at("state"), "healthy");
}

TEST_F(StatsSamplerTest, BreakerAndRefusalsAreReported) {
  sampleAt(kStart);
  auto& listener = shared_->listeners()[0];
  listener.rejects[static_cast<size_t>(proxy::RejectReason::kRateLimited)]->inc(8);
  sampleAt(kStart + 2'000);
  json::object doc = document();
  const auto& public_listener = doc.at("current").at("listeners").at("public");
  EXPECT_EQ(public_listener.at("rate_limited_total").to_number<int64_t>(), 8);
  EXPECT_DOUBLE_EQ(public_listener.at("rate_limited_per_s").to_number<double>(), 4.0);
  EXPECT_EQ(doc.at("current").at("upstreams").at("static").at("circuit_breaker").at("state"),
            "closed");
  EXPECT_FALSE(
      doc.at("current").at("upstreams").at("users").as_object().contains("circuit_breaker"));
  EXPECT_FALSE(doc.at("current").as_object().contains("cache"));  // no route caches
  EXPECT_FALSE(doc.contains("autoscale"));
}

TEST_F(StatsSamplerTest, AutoscaleSectionComesFromItsSource) {
  sampler_->setAutoscaleSource([] {
    return json::value(json::object{{"users", json::object{{"current", 2}}}});
  });
  sampleAt(kStart);
  EXPECT_EQ(document().at("autoscale").at("users").at("current"), 2);
}

}  // namespace
}  // namespace sg::admin

namespace sg::admin {
namespace {

TEST(StatsSamplerSharedNameTest, RoutesSharingANameAreCountedOnce) {
  // Two routes named by the same prefix (on different hosts) share their metrics.
  auto result = config::loadConfigString(R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - match: { host: a.test, prefix: /api }
        upstream: users
      - match: { host: b.test, prefix: /api }
        upstream: users
upstreams:
  users:
    servers:
      - address: 127.0.0.1:3001
)",
                                         "shared_name.yaml");
  ASSERT_TRUE(result.errors.empty());
  proxy::SharedState shared(result.config, 1);
  int64_t now = kStart;
  StatsSampler sampler(shared, nullptr,
                       StatsClock{[&] { return kWallStart + now - kStart; }, [&] { return now; }});
  sampler.sampleNow();
  shared.listeners()[0].router.routes()[0].responses_by_class[1]->inc(10);
  now += 1'000;
  sampler.sampleNow();
  json::object doc = sampler.document(1);
  EXPECT_DOUBLE_EQ(doc.at("current").at("listeners").at("public").at("rps").to_number<double>(),
                   10.0);
  EXPECT_DOUBLE_EQ(doc.at("current").at("upstreams").at("users").at("rps").to_number<double>(),
                   10.0);
}

}  // namespace
}  // namespace sg::admin

namespace sg::admin {
namespace {

TEST(StatsSamplerCacheTest, HitRatiosPerRouteAndLayer) {
  auto result = config::loadConfigString(R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - name: catalog
        match: { prefix: /catalog }
        upstream: users
        cache: { enabled: true }
      - name: api
        upstream: users
upstreams:
  users:
    servers:
      - address: 127.0.0.1:3001
)",
                                         "cache_stats.yaml");
  ASSERT_TRUE(result.errors.empty());
  proxy::SharedState shared(result.config, 1);
  int64_t now = kStart;
  StatsSampler sampler(shared, nullptr,
                       StatsClock{[&] { return kWallStart + now - kStart; }, [&] { return now; }});
  sampler.sampleNow();
  auto& cache = *shared.listeners()[0].router.routes()[0].cache;
  cache.responses[static_cast<size_t>(proxy::CacheResult::kHit)]->inc(4);  // 3 from L1, 1 from L2
  cache.responses[static_cast<size_t>(proxy::CacheResult::kMiss)]->inc(4);
  cache.layer_hits[0]->inc(3);
  cache.layer_hits[1]->inc(1);
  now += 2'000;
  sampler.sampleNow();
  json::object doc = sampler.document(0);
  const auto& route = doc.at("current").at("routes").at("public/catalog").at("cache");
  EXPECT_EQ(route.at("lookups"), 8);
  EXPECT_DOUBLE_EQ(route.at("hit_ratio").to_number<double>(), 0.5);
  EXPECT_DOUBLE_EQ(route.at("l1_hit_ratio").to_number<double>(), 0.375);
  EXPECT_DOUBLE_EQ(route.at("l2_hit_ratio").to_number<double>(), 0.125);
  EXPECT_FALSE(doc.at("current").at("routes").at("public/api").as_object().contains("cache"));
  const auto& total = doc.at("current").at("cache");
  EXPECT_DOUBLE_EQ(total.at("lookups_per_s").to_number<double>(), 4.0);
  EXPECT_DOUBLE_EQ(total.at("hit_ratio_now").to_number<double>(), 0.5);
  EXPECT_DOUBLE_EQ(total.at("layers").at("l2").at("hits_per_s").to_number<double>(), 0.5);
  EXPECT_TRUE(total.as_object().contains("capacity"));
}

}  // namespace
}  // namespace sg::admin
