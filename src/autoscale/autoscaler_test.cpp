// The autoscaler over real shared state with an injected clock: which servers count as
// current, the per-server metrics read from live counters, what the metrics, the dashboard
// document and KEDA's document show.
#include "autoscale/autoscaler.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/config.h"

namespace sg::autoscale {
namespace {

constexpr const char* kConfig = R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - upstream: users
upstreams:
  users:
    servers:
      - address: 127.0.0.1:3001
      - address: 127.0.0.1:3002
      - address: 127.0.0.1:3003
      - { address: 127.0.0.1:3004, backup: true }
    autoscale:
      max: 10
      target: { in_flight_per_server: 2 }
      scale_up: { max_percent: 100, cooldown: 10s }
  orders:
    servers:
      - address: 127.0.0.1:3005
    autoscale: { min: 1, max: 4, target: { rps_per_server: 50 } }
  plain:
    servers:
      - address: 127.0.0.1:3006
)";

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t* now_ms) : now_ms_(now_ms) {}
  int64_t monotonicMs() const override { return *now_ms_; }
  int64_t wallMs() const override { return 1'700'000'000'000 + *now_ms_; }

 private:
  int64_t* now_ms_;
};

class AutoscalerTest : public testing::Test {
 protected:
  void SetUp() override {
    auto result = config::loadConfigString(kConfig, "autoscaler_test.yaml");
    ASSERT_TRUE(result.errors.empty()) << result.errors[0].toString();
    shared_ = std::make_unique<proxy::SharedState>(result.config, 1);
    autoscaler_ = std::make_unique<Autoscaler>(*shared_, std::make_unique<FakeClock>(&now_ms_));
  }
  proxy::SharedServer& server(size_t upstream, size_t index) {
    return *shared_->upstreams()[upstream].servers[index];
  }
  boost::json::object entry(const std::string& name) {
    return autoscaler_->dashboardJson().at(name).as_object();
  }

  int64_t now_ms_ = 1'000'000;
  std::unique_ptr<proxy::SharedState> shared_;
  std::unique_ptr<Autoscaler> autoscaler_;
};

TEST_F(AutoscalerTest, InFlightPerServerOverTheServersInRotation) {
  server(0, 2).admin_state = proxy::AdminState::kDisabled;    // 2 of 3 left, backup not counted
  for (size_t i = 0; i < 4; ++i) server(0, i).in_flight = 3;  // 12 in all
  autoscaler_->evaluate();
  auto users = entry("users");
  EXPECT_EQ(users.at("current").to_number<int64_t>(), 2);
  EXPECT_DOUBLE_EQ(users.at("value").as_double(), 6);      // 12 / 2 servers
  EXPECT_EQ(users.at("desired").to_number<int64_t>(), 4);  // ceil(2 x 6 / 2) = 6, +100% = 4
  EXPECT_EQ(users.at("metric").as_string(), "in_flight_per_server");
  EXPECT_EQ(users.at("actuator").as_string(), "none");
  EXPECT_TRUE(users.at("predicted").is_null());
  const auto& decision = users.at("decisions").as_array().at(0).as_object();
  EXPECT_EQ(decision.at("time_ms").to_number<int64_t>(), 1'700'000'000'000 + now_ms_);
  EXPECT_EQ(decision.at("from").to_number<int64_t>(), 2);
  EXPECT_EQ(decision.at("to").to_number<int64_t>(), 4);
  EXPECT_EQ(decision.at("reason").as_string(),
            "in_flight_per_server 6, target 2: recommend 6, limited to +100%");

  auto keda = autoscaler_->kedaJson("users");
  ASSERT_TRUE(keda);
  EXPECT_DOUBLE_EQ(keda->at("value").as_double(), 12);
  EXPECT_EQ(keda->at("metric_type").as_string(), "AverageValue");
  EXPECT_DOUBLE_EQ(keda->at("target").as_double(), 2);
  EXPECT_FALSE(autoscaler_->kedaJson("plain"));
  EXPECT_FALSE(autoscaler_->kedaJson("nothing"));
  EXPECT_EQ(autoscaler_->dashboardJson().size(), 2u);

  // The next step waits for the 10 s cooldown.
  now_ms_ += 9'000;
  autoscaler_->evaluate();
  EXPECT_EQ(entry("users").at("desired").to_number<int64_t>(), 4);
  now_ms_ += 1'000;
  autoscaler_->evaluate();
  EXPECT_EQ(entry("users").at("desired").to_number<int64_t>(), 6);
}

TEST_F(AutoscalerTest, RequestsPerSecondOverTheInterval) {
  autoscaler_->evaluate();  // the first reading sets the baseline
  server(1, 0).requests->inc(300);
  now_ms_ += 2'000;
  autoscaler_->evaluate();
  auto orders = entry("orders");
  EXPECT_DOUBLE_EQ(orders.at("value").as_double(), 150);    // 300 requests in 2 s, one server
  EXPECT_EQ(orders.at("desired").to_number<int64_t>(), 2);  // ceil(1 x 150 / 50) = 3, +50% = 2
}

TEST_F(AutoscalerTest, MetricsShowTheCounts) {
  for (size_t i = 0; i < 3; ++i) server(0, i).in_flight = 4;
  autoscaler_->evaluate();
  std::string text = shared_->registry().renderPrometheus();
  for (const char* line : {
           "scalegate_autoscale_current_replicas{upstream=\"users\"} 3\n",
           "scalegate_autoscale_desired_replicas{upstream=\"users\"} 6\n",
           "scalegate_autoscale_metric_value{upstream=\"users\",metric=\"in_flight_per_server\"} "
           "4\n",
           "scalegate_autoscale_target_value{upstream=\"users\",metric=\"in_flight_per_server\"} "
           "2\n",
           "scalegate_autoscale_decisions_total{upstream=\"users\",direction=\"up\"} 1\n",
           "scalegate_autoscale_decisions_total{upstream=\"users\",direction=\"down\"} 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
  EXPECT_EQ(text.find("scalegate_autoscale_actuator_failures_total"), std::string::npos);
}

}  // namespace
}  // namespace sg::autoscale
