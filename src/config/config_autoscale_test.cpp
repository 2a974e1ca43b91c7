// An upstream's `autoscale`: every key, the defaults, and one error per bad value.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testutil::BadCase;
using testutil::expectOneError;
using testutil::loadValid;
using testutil::upstreamWith;

using Metric = AutoscaleConfig::Metric;

TEST(AutoscaleConfig, EveryKey) {
  const auto config = loadValid(
      upstreamWith("autoscale:\n"
                   "      min: 2\n"
                   "      max: 20\n"
                   "      target: { rps_per_server: 500.5 }\n"
                   "      scale_up: { max_percent: 100, cooldown: 30s }\n"
                   "      scale_down: { max_percent: 10, cooldown: 2m, stabilization: 10m }\n"
                   "      predict: { window: 10m, horizon: 2m }\n"
                   "      actuator: { type: exec, command: \"kubectl scale --replicas={desired} "
                   "deploy/users\", timeout: 5s }"));
  ASSERT_TRUE(config);
  const auto& autoscale = config->upstreams[0].autoscale;
  ASSERT_TRUE(autoscale.has_value());
  EXPECT_EQ(autoscale->min, 2u);
  EXPECT_EQ(autoscale->max, 20u);
  EXPECT_EQ(autoscale->metric, Metric::kRpsPerServer);
  EXPECT_DOUBLE_EQ(autoscale->target, 500.5);
  EXPECT_EQ(autoscale->scale_up.max_percent, 100u);
  EXPECT_EQ(autoscale->scale_up.cooldown, seconds(30));
  EXPECT_EQ(autoscale->scale_down.max_percent, 10u);
  EXPECT_EQ(autoscale->scale_down.cooldown, minutes(2));
  EXPECT_EQ(autoscale->scale_down.stabilization, minutes(10));
  ASSERT_TRUE(autoscale->predict.has_value());
  EXPECT_EQ(autoscale->predict->window, minutes(10));
  EXPECT_EQ(autoscale->predict->horizon, minutes(2));
  EXPECT_EQ(autoscale->actuator.type, AutoscaleConfig::Actuator::Type::kExec);
  EXPECT_EQ(autoscale->actuator.command, "kubectl scale --replicas={desired} deploy/users");
  EXPECT_EQ(autoscale->actuator.timeout, seconds(5));
}

TEST(AutoscaleConfig, Defaults) {
  const auto config =
      loadValid(upstreamWith("autoscale: { max: 4, target: { in_flight_per_server: 32 } }"));
  ASSERT_TRUE(config);
  const auto& autoscale = *config->upstreams[0].autoscale;
  EXPECT_EQ(autoscale.min, 1u);
  EXPECT_EQ(autoscale.metric, Metric::kInFlightPerServer);
  EXPECT_DOUBLE_EQ(autoscale.target, 32);
  EXPECT_EQ(autoscale.scale_up.max_percent, 50u);
  EXPECT_EQ(autoscale.scale_up.cooldown, seconds(60));
  EXPECT_EQ(autoscale.scale_down.max_percent, 25u);
  EXPECT_EQ(autoscale.scale_down.cooldown, seconds(300));
  EXPECT_EQ(autoscale.scale_down.stabilization, seconds(300));
  EXPECT_FALSE(autoscale.predict.has_value());
  EXPECT_EQ(autoscale.actuator.type, AutoscaleConfig::Actuator::Type::kNone);
}

TEST(AutoscaleConfig, LatencyAndQueueTargets) {
  auto latency = loadValid(upstreamWith("autoscale: { max: 4, target: { p95_latency: 200ms } }"));
  ASSERT_TRUE(latency);
  EXPECT_EQ(latency->upstreams[0].autoscale->metric, Metric::kP95Latency);
  EXPECT_DOUBLE_EQ(latency->upstreams[0].autoscale->target, 200);
  auto queue =
      loadValid(upstreamWith("autoscale: { max: 4, target: { queue_depth_per_server: 100 }, "
                             "actuator: { type: none } }"));
  ASSERT_TRUE(queue);
  EXPECT_EQ(queue->upstreams[0].autoscale->metric, Metric::kQueueDepthPerServer);
}

// `autoscale: { ... }` on line 8: the map opens at column 16.
std::string bad(const std::string& inner) { return upstreamWith("autoscale: { " + inner + " }"); }

TEST(AutoscaleConfig, ProcessActuatorRunsCopiesOfACommandOfAnUpstreamWithARegistry) {
  auto config = testutil::loadValid(upstreamWith(
      "discovery: { registry: web }\n    autoscale: { max: 3, target: { rps_per_server: 5 }, "
      "actuator: { type: process, command: \"srv --port {port}\", drain_timeout: 5s } }"));
  ASSERT_TRUE(config);
  const auto& actuator = config->upstreams[0].autoscale->actuator;
  EXPECT_EQ(actuator.type, AutoscaleConfig::Actuator::Type::kProcess);
  EXPECT_EQ(actuator.command, "srv --port {port}");
  EXPECT_EQ(actuator.drain_timeout, std::chrono::seconds(5));
  EXPECT_EQ(autoscaleActuatorName(actuator.type), "process");
}

class AutoscaleConfigErrors : public testing::TestWithParam<BadCase> {};

TEST_P(AutoscaleConfigErrors, ReportsOneErrorAtItsPlace) { expectOneError(GetParam()); }

const std::string kTarget = "target: { rps_per_server: 5 }";

INSTANTIATE_TEST_SUITE_P(
    Cases, AutoscaleConfigErrors,
    testing::Values(
        BadCase{"NotAMap", upstreamWith("autoscale: 3"), 8, 16,
                "upstreams.users.autoscale: expected a map"},
        BadCase{"UnknownKey", bad("max: 3, " + kTarget + ", cpu: 80"), 8, 57,
                "upstreams.users.autoscale.cpu: unknown key 'cpu'"},
        BadCase{"MissingMax", bad(kTarget), 8, 16,
                "upstreams.users.autoscale: missing required key 'max'"},
        BadCase{"MissingTarget", bad("max: 3"), 8, 16,
                "upstreams.users.autoscale: missing required key 'target'"},
        BadCase{"MinZero", bad("min: 0, max: 3, " + kTarget), 8, 23,
                "upstreams.users.autoscale.min: expected an integer from 1 to 10000"},
        BadCase{"MaxBelowMin", bad("min: 5, max: 3, " + kTarget), 8, 31,
                "upstreams.users.autoscale.max: must be at least min (5), got 3"},
        BadCase{"MaxTooLarge", bad("max: 10001, " + kTarget), 8, 23,
                "upstreams.users.autoscale.max: expected an integer from 1 to 10000"},
        BadCase{"NoMetric", bad("max: 3, target: {}"), 8, 34,
                "upstreams.users.autoscale.target: must name exactly one metric"},
        BadCase{"TwoMetrics", bad("max: 3, target: { rps_per_server: 5, in_flight_per_server: 2 }"),
                8, 34, "upstreams.users.autoscale.target: must name exactly one metric"},
        BadCase{"UnknownMetric", bad("max: 3, target: { cpu: 80 }"), 8, 36,
                "upstreams.users.autoscale.target.cpu: unknown key 'cpu'"},
        BadCase{
            "ZeroTarget", bad("max: 3, target: { rps_per_server: 0 }"), 8, 52,
            "upstreams.users.autoscale.target.rps_per_server: expected a number greater than zero"},
        BadCase{"TextTarget", bad("max: 3, target: { in_flight_per_server: lots }"), 8, 58,
                "upstreams.users.autoscale.target.in_flight_per_server: expected a number greater"},
        BadCase{"LatencyNotDuration", bad("max: 3, target: { p95_latency: 200 }"), 8, 49,
                "upstreams.users.autoscale.target.p95_latency: invalid duration"},
        BadCase{"LatencyZero", bad("max: 3, target: { p95_latency: 0ms }"), 8, 49,
                "upstreams.users.autoscale.target.p95_latency: must be greater than zero"},
        BadCase{
            "UpPercentZero", bad("max: 3, " + kTarget + ", scale_up: { max_percent: 0 }"), 8, 82,
            "upstreams.users.autoscale.scale_up.max_percent: expected an integer from 1 to 1000"},
        BadCase{
            "DownPercentAll", bad("max: 3, " + kTarget + ", scale_down: { max_percent: 100 }"), 8,
            84,
            "upstreams.users.autoscale.scale_down.max_percent: expected an integer from 1 to 99"},
        BadCase{"UpStabilization", bad("max: 3, " + kTarget + ", scale_up: { stabilization: 1m }"),
                8, 69,
                "upstreams.users.autoscale.scale_up.stabilization: unknown key 'stabilization'"},
        BadCase{"BadCooldown", bad("max: 3, " + kTarget + ", scale_down: { cooldown: soon }"), 8,
                81, "upstreams.users.autoscale.scale_down.cooldown: invalid duration"},
        BadCase{"LongStabilization",
                bad("max: 3, " + kTarget + ", scale_down: { stabilization: 2h }"), 8, 86,
                "upstreams.users.autoscale.scale_down.stabilization: must be at most 1h"},
        BadCase{"PredictWithoutHorizon", bad("max: 3, " + kTarget + ", predict: { window: 5m }"), 8,
                66, "upstreams.users.autoscale.predict: missing required key 'horizon'"},
        BadCase{"HorizonPastWindow",
                bad("max: 3, " + kTarget + ", predict: { window: 1m, horizon: 2m }"), 8, 89,
                "upstreams.users.autoscale.predict.horizon: must not be longer than window"},
        BadCase{"ZeroWindow", bad("max: 3, " + kTarget + ", predict: { window: 0s, horizon: 1s }"),
                8, 76, "upstreams.users.autoscale.predict.window: must be greater than zero"},
        BadCase{
            "ProcessWithoutRegistry",
            bad("max: 3, " + kTarget + ", actuator: { type: process, command: \"srv {port}\" }"), 8,
            5,
            "upstreams.users.autoscale: actuator type process needs `discovery: { registry: "
            "SERVICE }` on this upstream: the processes it starts are registered there"},
        BadCase{"ProcessWithoutPort",
                upstreamWith("discovery: { registry: web }\n    autoscale: { max: 3, " + kTarget +
                             ", actuator: { type: process, command: \"srv 80\" } }"),
                9, 93,
                "upstreams.users.autoscale.actuator.command: must contain {port} (the port each "
                "copy is to listen on)"},
        BadCase{"DrainTimeoutOnExec",
                bad("max: 3, " + kTarget +
                    ", actuator: { type: exec, command: \"x {desired}\", drain_timeout: 1s }"),
                8, 105,
                "upstreams.users.autoscale.actuator.drain_timeout: is only used by type: process"},
        BadCase{"ExecWithoutCommand", bad("max: 3, " + kTarget + ", actuator: { type: exec }"), 8,
                67, "upstreams.users.autoscale.actuator: missing required key 'command'"},
        BadCase{"ExecWithoutPlaceholder",
                bad("max: 3, " + kTarget + ", actuator: { type: exec, command: \"scale 3\" }"), 8,
                90, "upstreams.users.autoscale.actuator.command: must contain {desired}"},
        BadCase{"CommandWithoutExec",
                bad("max: 3, " + kTarget + ", actuator: { type: none, command: \"x {desired}\" }"),
                8, 81, "upstreams.users.autoscale.actuator.command: is only used by type: exec"},
        BadCase{"MissingActuatorType", bad("max: 3, " + kTarget + ", actuator: { timeout: 1s }"), 8,
                67, "upstreams.users.autoscale.actuator: missing required key 'type'"}),
    [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

}  // namespace
}  // namespace sg::config
