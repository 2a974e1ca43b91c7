// The running state a successor takes over on reload: what carries over for an unchanged
// upstream, what does not for a changed one, and bytes that are not a valid export.
#include "proxy/running_state.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "proxy/shared_state.h"

namespace sg::proxy {
namespace {

constexpr int64_t kNow = 1'000'000;

std::shared_ptr<const config::Config> configWith(const std::string& upstreams) {
  auto result = config::loadConfigString(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    routes:
      - upstream: app
upstreams:
)" + upstreams,
                                         "test.yaml");
  EXPECT_TRUE(result.errors.empty()) << result.errors.front().toString();
  return result.config;
}

const std::string kApp = R"(  app:
    max_fails: 1
    fail_timeout: 60s
    health_check: {type: tcp, interval: 1s, rise: 2, fall: 1}
    outlier_detection: {consecutive_5xx: 2, max_ejection_percent: 50}
    circuit_breaker: {volume_threshold: 2, reset_timeout: 30s}
    servers: [{address: 127.0.0.1:3001}, {address: 127.0.0.1:3002}, {address: 127.0.0.1:3003}]
)";

// The old process's state: server 0 failed its checks, server 1 failed a request (passive),
// server 2 is disabled with weight 7 and ejected; the breaker is open.
void breakThings(SharedState& old_state) {
  SharedUpstream& app = old_state.upstreams()[0];
  app.servers[0]->check.healthy.store(false);
  app.servers[1]->health.recordFailure(kNow);
  app.servers[2]->admin_state.store(AdminState::kDisabled);
  app.servers[2]->weight.store(7);
  app.outliers->recordResult(2, 500, kNow);
  app.outliers->recordResult(2, 500, kNow);
  for (int i = 0; i < 2; ++i) {
    auto permit = app.breaker->allow(kNow);
    app.breaker->record(resilience::Outcome::kFailure, permit, kNow);
  }
  app.rotation.tiers[0].next.store(2);
}

TEST(RunningState, AnUnchangedUpstreamCarriesHealthAdminStateAndBreaker) {
  SharedState old_state(configWith(kApp), 1);
  breakThings(old_state);
  ASSERT_EQ(old_state.upstreams()[0].breaker->state(), resilience::BreakerState::kOpen);
  std::string bytes = exportRunningState(old_state, kNow);

  SharedState successor(configWith(kApp + "  other: {servers: [{address: 127.0.0.1:4001}]}\n"), 2);
  CarriedState carried;
  std::string error;
  ASSERT_TRUE(importRunningState(successor, bytes, kNow + 1000, &carried, &error)) << error;
  EXPECT_EQ(carried.upstreams, 1u);
  EXPECT_EQ(carried.servers, 3u);
  EXPECT_EQ(carried.changed, 0u);
  SharedUpstream& app = successor.upstreams()[0];
  EXPECT_EQ(app.outReason(*app.servers[0], kNow + 1000), OutReason::kFailedCheck);
  EXPECT_EQ(app.outReason(*app.servers[1], kNow + 1000), OutReason::kFailedConnects);
  EXPECT_EQ(app.outReason(*app.servers[2], kNow + 1000), OutReason::kDisabled);
  EXPECT_EQ(app.servers[2]->weight.load(), 7u);
  EXPECT_TRUE(app.outliers->isEjected(2, kNow + 1000));
  EXPECT_EQ(app.breaker->state(), resilience::BreakerState::kOpen);
  EXPECT_EQ(app.breaker->retryAfterSeconds(kNow + 1000), 29u);
  EXPECT_EQ(app.rotation.tiers[0].next.load(), 2u);
  // Passive health is a deadline: it ends when it would have ended in the old process.
  EXPECT_EQ(app.outReason(*app.servers[1], kNow + 60'000), OutReason::kNone);
}

// The old process (kApp, broken things) hands over to a successor whose app upstream is
// kApp with `from` replaced by `to`: its YAML changed, so nothing of it is taken over.
void expectFreshAfterEdit(const std::string& from, const std::string& to) {
  SharedState old_state(configWith(kApp), 1);
  breakThings(old_state);
  std::string changed = kApp;
  changed.replace(changed.find(from), from.size(), to);
  SharedState successor(configWith(changed), 1);
  CarriedState carried;
  std::string error;
  ASSERT_TRUE(
      importRunningState(successor, exportRunningState(old_state, kNow), kNow, &carried, &error))
      << error;
  EXPECT_EQ(carried.upstreams, 0u);
  EXPECT_EQ(carried.servers, 0u);
  EXPECT_EQ(carried.changed, 1u);
  SharedUpstream& app = successor.upstreams()[0];
  for (const auto& server : app.servers)
    EXPECT_EQ(app.outReason(*server, kNow), OutReason::kNone) << server->address_text;
  EXPECT_EQ(app.breaker->state(), resilience::BreakerState::kClosed);
  EXPECT_EQ(app.rotation.tiers[0].next.load(), 0u);
}

TEST(RunningState, AChangedUpstreamStartsFresh) { expectFreshAfterEdit("rise: 2", "rise: 3"); }

TEST(RunningState, AnUpstreamThatLostAServerStartsFresh) {
  expectFreshAfterEdit(", {address: 127.0.0.1:3003}", "");
}

TEST(RunningState, BytesThatAreNoExportAreRefusedAndChangeNothing) {
  SharedState old_state(configWith(kApp), 1);
  breakThings(old_state);
  std::string bytes = exportRunningState(old_state, kNow);
  SharedState successor(configWith(kApp), 1);
  CarriedState carried;
  std::string error;
  EXPECT_FALSE(importRunningState(successor, "", kNow, &carried, &error));
  EXPECT_FALSE(importRunningState(successor, "SGRS\x09" + bytes.substr(5), kNow, &carried, &error));
  EXPECT_NE(error.find("version"), std::string::npos) << error;
  EXPECT_FALSE(importRunningState(successor, bytes.substr(0, 40), kNow, &carried, &error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  std::string garbled = bytes;
  garbled[13] = '[';  // the JSON document no longer parses
  EXPECT_FALSE(importRunningState(successor, garbled, kNow, &carried, &error));
  EXPECT_EQ(carried.upstreams, 0u);
  SharedUpstream& app = successor.upstreams()[0];
  EXPECT_EQ(app.outReason(*app.servers[0], kNow), OutReason::kNone);
}

}  // namespace
}  // namespace sg::proxy
