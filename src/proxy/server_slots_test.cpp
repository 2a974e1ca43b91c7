// ServerSlots: run-time servers in fixed slots (fill, drain, vacate, reuse), without sockets.
#include "proxy/server_slots.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/shared_state.h"

namespace sg::proxy {
namespace {

constexpr uint32_t kWorkers = 2;

std::shared_ptr<const config::Config> configWith(const std::string& upstream) {
  auto result = config::loadConfigString(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    routes:
      - upstream: pool
upstreams:
  pool:
)" + upstream,
                                         "test.yaml");
  EXPECT_TRUE(result.errors.empty()) << result.errors.front().toString();
  return result.config;
}

net::Address address(const std::string& text) {
  std::string error;
  return *net::Address::parse(text, &error);
}

class ServerSlotsTest : public testing::Test {
 protected:
  explicit ServerSlotsTest(const std::string& upstream =
                               "    slow_start: 10s\n"
                               "    servers: [{address: 127.0.0.1:3001}]\n"
                               "    discovery: {registry: web, max_servers: 2}\n")
      : state_(configWith(upstream), kWorkers), upstream_(state_.upstreams()[0]) {}

  ServerSlots& slots() { return *upstream_.slots; }
  SharedServer& server(size_t index) { return *upstream_.servers[index]; }
  // Every worker applies the current version (as Worker::syncSlots does), then worker 0's
  // maintenance runs.
  void allWorkersSync() {
    for (uint32_t w = 0; w < kWorkers; ++w) slots().acknowledge(w, slots().version());
    slots().maintain();
  }
  std::vector<std::string> addresses() {
    std::vector<std::string> out;
    for (const auto& entry : slots().list(0)) out.push_back(entry.address);
    return out;
  }

  SharedState state_;
  SharedUpstream& upstream_;
};

TEST_F(ServerSlotsTest, ReservesVacantSlotsAfterStaticServers) {
  ASSERT_EQ(upstream_.servers.size(), 3u);
  EXPECT_EQ(upstream_.outReason(server(0), 0), OutReason::kNone);
  EXPECT_EQ(upstream_.outReason(server(1), 0), OutReason::kVacant);
  EXPECT_EQ(upstream_.outReason(server(2), 0), OutReason::kVacant);
  EXPECT_EQ(slots().present(), 1u);
  EXPECT_EQ(slots().freeSlots(), 2u);
  EXPECT_EQ(addresses(), std::vector<std::string>{"127.0.0.1:3001"});
}

TEST_F(ServerSlotsTest, AddFillsAFreeSlotWithItsOwnIdentity) {
  const uint64_t weights = upstream_.weights_version.load();
  const uint64_t version = slots().version();
  ASSERT_EQ(slots().add(address("127.0.0.1:4001"), 3), ServerSlots::AddResult::kAdded);
  EXPECT_GT(slots().version(), version);
  EXPECT_GT(upstream_.weights_version.load(), weights);  // workers apply the weight
  SharedServer& added = server(1);
  EXPECT_EQ(upstream_.outReason(added, 0), OutReason::kNone);
  EXPECT_EQ(added.address_text, "127.0.0.1:4001");
  EXPECT_EQ(added.weight.load(), 3u);
  EXPECT_EQ(added.sticky_id, stickyIdFor("127.0.0.1:4001"));
  EXPECT_EQ(slots().present(), 2u);
  auto list = slots().list(0);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_FALSE(list[0].discovered);
  EXPECT_TRUE(list[1].discovered);
  EXPECT_EQ(list[1].state, "up");
  const std::string metrics = state_.registry().renderPrometheus();
  EXPECT_NE(
      metrics.find("scalegate_upstream_server_up{upstream=\"pool\",server=\"127.0.0.1:4001\"} 1"),
      std::string::npos)
      << metrics;
}

TEST_F(ServerSlotsTest, RefusesDuplicatesAndAFullUpstream) {
  EXPECT_EQ(slots().add(address("127.0.0.1:3001"), 1), ServerSlots::AddResult::kDuplicate);
  ASSERT_EQ(slots().add(address("127.0.0.1:4001"), 1), ServerSlots::AddResult::kAdded);
  EXPECT_EQ(slots().add(address("127.0.0.1:4001"), 1), ServerSlots::AddResult::kDuplicate);
  ASSERT_EQ(slots().add(address("127.0.0.1:4002"), 1), ServerSlots::AddResult::kAdded);
  EXPECT_EQ(slots().add(address("127.0.0.1:4003"), 1), ServerSlots::AddResult::kNoFreeSlot);
  EXPECT_EQ(slots().freeSlots(), 0u);
}

TEST_F(ServerSlotsTest, RemoveRefusesStaticAndUnknownServers) {
  EXPECT_EQ(slots().remove("127.0.0.1:3001"), ServerSlots::RemoveResult::kStatic);
  EXPECT_EQ(slots().remove("127.0.0.1:9"), ServerSlots::RemoveResult::kNotFound);
  EXPECT_EQ(upstream_.outReason(server(0), 0), OutReason::kNone);
}

TEST_F(ServerSlotsTest, RemovedServerDrainsThenItsSlotIsVacatedThenFreed) {
  ASSERT_EQ(slots().add(address("127.0.0.1:4001"), 1), ServerSlots::AddResult::kAdded);
  allWorkersSync();
  SharedServer& leaving = server(1);
  leaving.connections.store(1);  // a request in flight on some worker
  ASSERT_EQ(slots().remove("127.0.0.1:4001"), ServerSlots::RemoveResult::kRemoving);
  EXPECT_EQ(slots().remove("127.0.0.1:4001"), ServerSlots::RemoveResult::kAlreadyRemoving);
  EXPECT_EQ(upstream_.outReason(leaving, 0), OutReason::kRemoving);
  EXPECT_EQ(slots().present(), 1u);  // no new request for it: only the static server
  // No worker has seen the removal yet: even without connections it stays.
  slots().maintain();
  EXPECT_EQ(upstream_.outReason(leaving, 0), OutReason::kRemoving);
  // Seen by every worker, but a connection is still open: stays while it finishes.
  allWorkersSync();
  EXPECT_EQ(upstream_.outReason(leaving, 0), OutReason::kRemoving);
  EXPECT_EQ(addresses().size(), 2u);
  EXPECT_EQ(slots().add(address("127.0.0.1:4001"), 1), ServerSlots::AddResult::kDuplicate);
  leaving.connections.store(0);
  slots().maintain();
  EXPECT_EQ(upstream_.outReason(leaving, 0), OutReason::kVacant);
  EXPECT_EQ(slots().present(), 1u);
  EXPECT_EQ(addresses(), std::vector<std::string>{"127.0.0.1:3001"});
  // Vacant but not free until every worker has seen the vacancy: its identity may still
  // be read by a worker.
  EXPECT_EQ(slots().freeSlots(), 1u);
  slots().acknowledge(0, slots().version());
  slots().maintain();
  EXPECT_EQ(slots().freeSlots(), 1u);
  allWorkersSync();
  EXPECT_EQ(slots().freeSlots(), 2u);
  const std::string metrics = state_.registry().renderPrometheus();
  EXPECT_NE(
      metrics.find("scalegate_upstream_server_state{upstream=\"pool\",server=\"127.0.0.1:4001\","
                   "state=\"vacant\"} 1"),
      std::string::npos)
      << metrics;
}

TEST_F(ServerSlotsTest, ReusedSlotStartsFromAFreshRecord) {
  ASSERT_EQ(slots().add(address("127.0.0.1:4001"), 1), ServerSlots::AddResult::kAdded);
  SharedServer& slot = server(1);
  slot.health.recordFailure(1000);  // max_fails 1: down for fail_timeout
  slot.check.healthy.store(false);
  EXPECT_EQ(upstream_.outReason(slot, 1000), OutReason::kFailedCheck);
  ASSERT_EQ(slots().remove("127.0.0.1:4001"), ServerSlots::RemoveResult::kRemoving);
  allWorkersSync();  // vacated
  allWorkersSync();  // freed
  ASSERT_EQ(slots().add(address("127.0.0.1:4002"), 5), ServerSlots::AddResult::kAdded);
  ASSERT_EQ(slots().add(address("127.0.0.1:4001"), 1), ServerSlots::AddResult::kAdded);
  // The first free slot is taken again, with nothing of the previous server left.
  EXPECT_EQ(slot.address_text, "127.0.0.1:4002");
  EXPECT_EQ(slot.weight.load(), 5u);
  EXPECT_EQ(upstream_.outReason(slot, 1000), OutReason::kNone);
  EXPECT_EQ(server(2).address_text, "127.0.0.1:4001");
}

TEST_F(ServerSlotsTest, HooksSeeServersEnterAndLeave) {
  std::vector<std::string> events;
  ASSERT_EQ(slots().add(address("127.0.0.1:4001"), 1), ServerSlots::AddResult::kAdded);
  slots().setHooks([&](SharedServer& s) { events.push_back("+" + s.address_text); },
                   [&](SharedServer& s) { events.push_back("-" + s.address_text); });
  ASSERT_EQ(slots().add(address("127.0.0.1:4002"), 1), ServerSlots::AddResult::kAdded);
  ASSERT_EQ(slots().remove("127.0.0.1:4001"), ServerSlots::RemoveResult::kRemoving);
  allWorkersSync();
  EXPECT_EQ(events,
            (std::vector<std::string>{"+127.0.0.1:4001", "+127.0.0.1:4002", "-127.0.0.1:4001"}));
}

class StaticUpstreamTest : public ServerSlotsTest {
 protected:
  StaticUpstreamTest() : ServerSlotsTest("    servers: [{address: 127.0.0.1:3001}]\n") {}
};

TEST_F(StaticUpstreamTest, HasNoSlots) {
  EXPECT_EQ(upstream_.slots, nullptr);
  EXPECT_EQ(upstream_.servers.size(), 1u);
  EXPECT_EQ(upstream_.fallback_host, "127.0.0.1:3001");
}

class EmptyDiscoveryTest : public ServerSlotsTest {
 protected:
  EmptyDiscoveryTest() : ServerSlotsTest("    discovery: {registry: web, max_servers: 3}\n") {}
};

TEST_F(EmptyDiscoveryTest, StartsWithNoServerPresent) {
  EXPECT_EQ(slots().present(), 0u);
  EXPECT_EQ(upstream_.servers.size(), 3u);
  EXPECT_EQ(upstream_.fallback_host, "pool");
  EXPECT_TRUE(addresses().empty());
}

}  // namespace
}  // namespace sg::proxy
