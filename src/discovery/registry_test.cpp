#include "discovery/registry.h"

#include <gtest/gtest.h>

namespace sg::discovery {
namespace {

class FakeClock final : public Clock {
 public:
  int64_t nowMs() const override { return now; }
  int64_t now = 1'700'000'000'000;
};

InstanceSpec spec(const std::string& address, int64_t ttl_ms = 30'000, uint32_t weight = 1) {
  std::string error;
  InstanceSpec out;
  out.address = *net::Address::parse(address, &error);
  out.address_text = address;
  out.ttl_ms = ttl_ms;
  out.weight = weight;
  return out;
}

class RecordingSink final : public ChangeSink {
 public:
  void onLocalChange(const std::string& service, const std::string& id, Kind kind) override {
    changes.push_back(service + "/" + id + "/" + std::to_string(static_cast<int>(kind)));
  }
  std::vector<std::string> changes;
};

TEST(Registry, RegistersReplacesAndDeregisters) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  EXPECT_EQ(registry.put("users", "a", spec("127.0.0.1:3001")), Registry::PutResult::kCreated);
  EXPECT_EQ(registry.put("users", "b", spec("127.0.0.1:3002")), Registry::PutResult::kCreated);
  EXPECT_EQ(registry.put("users", "a", spec("127.0.0.1:3003", 30'000, 5)),
            Registry::PutResult::kReplaced);
  ServiceSnapshot snapshot = registry.snapshot("users");
  ASSERT_EQ(snapshot.instances.size(), 2u);
  EXPECT_EQ(snapshot.instances[0].spec.address_text, "127.0.0.1:3003");
  EXPECT_EQ(snapshot.instances[0].spec.weight, 5u);
  EXPECT_TRUE(registry.remove("users", "a"));
  EXPECT_FALSE(registry.remove("users", "a"));
  EXPECT_FALSE(registry.remove("orders", "a"));
  EXPECT_EQ(registry.snapshot("users").instances.size(), 1u);
}

TEST(Registry, HeartbeatOfUnknownInstanceFails) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  EXPECT_FALSE(registry.heartbeat("users", "a"));
  registry.put("users", "a", spec("127.0.0.1:3001"));
  EXPECT_FALSE(registry.heartbeat("users", "b"));
  clock.now += 1000;
  EXPECT_TRUE(registry.heartbeat("users", "a"));
  EXPECT_EQ(registry.find("users", "a")->last_heartbeat_ms, clock.now);
}

TEST(Registry, EvictsInstancesWhoseHeartbeatIsOlderThanTtl) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  registry.put("users", "short", spec("127.0.0.1:3001", 1'000));
  registry.put("users", "long", spec("127.0.0.1:3002", 10'000));
  clock.now += 1'000;
  EXPECT_EQ(registry.evictExpired(), 0u);  // exactly ttl old: still live
  clock.now += 1;
  EXPECT_EQ(registry.evictExpired(), 1u);
  EXPECT_FALSE(registry.find("users", "short"));
  clock.now += 5'000;
  EXPECT_TRUE(registry.heartbeat("users", "long"));
  clock.now += 9'000;
  EXPECT_EQ(registry.evictExpired(), 0u);  // the heartbeat restarted its ttl
  clock.now += 1'001;
  EXPECT_EQ(registry.evictExpired(), 1u);
  EXPECT_TRUE(registry.services().empty());
}

TEST(Registry, LocalEvictionCanBeLeftToTheSharedStore) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  registry.setLocalEviction(false);
  registry.put("users", "a", spec("127.0.0.1:3001", 1'000));
  clock.now += 60'000;
  EXPECT_EQ(registry.evictExpired(), 0u);
  EXPECT_TRUE(registry.find("users", "a"));
}

TEST(Registry, EvictsByAddress) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  registry.put("users", "a", spec("127.0.0.1:3001"));
  registry.put("users", "b", spec("127.0.0.1:3002"));
  registry.put("orders", "a", spec("127.0.0.1:3001"));
  std::string error;
  const net::Address dead = *net::Address::parse("127.0.0.1:3001", &error);
  EXPECT_EQ(registry.evictAddress(dead, "users"), 1u);
  EXPECT_TRUE(registry.find("orders", "a"));
  EXPECT_EQ(registry.evictAddress(dead), 1u);
  EXPECT_FALSE(registry.find("orders", "a"));
  EXPECT_TRUE(registry.find("users", "b"));
}

TEST(Registry, VersionCountsChangesButNotHeartbeats) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  std::vector<std::pair<std::string, uint64_t>> seen;
  const uint64_t token = registry.subscribe(
      [&](const std::string& service, uint64_t v) { seen.emplace_back(service, v); });
  registry.put("users", "a", spec("127.0.0.1:3001"));
  const uint64_t after_put = registry.version();
  registry.heartbeat("users", "a");
  registry.put("users", "a", spec("127.0.0.1:3001"));  // same fields: no change
  EXPECT_EQ(registry.version(), after_put);
  registry.put("users", "a", spec("127.0.0.1:3001", 30'000, 2));
  registry.remove("users", "a");
  EXPECT_EQ(registry.version(), after_put + 2);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.back().first, "users");
  EXPECT_EQ(seen.back().second, registry.version());
  registry.unsubscribe(token);
  registry.put("users", "b", spec("127.0.0.1:3002"));
  EXPECT_EQ(seen.size(), 3u);
}

TEST(Registry, RefusesPastTheInstanceCap) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  for (size_t i = 0; i < kMaxInstancesPerService; ++i)
    ASSERT_EQ(registry.put("users", "i" + std::to_string(i), spec("127.0.0.1:3001")),
              Registry::PutResult::kCreated);
  EXPECT_EQ(registry.put("users", "one-more", spec("127.0.0.1:3001")), Registry::PutResult::kFull);
  EXPECT_EQ(registry.put("users", "i0", spec("127.0.0.1:3002")), Registry::PutResult::kReplaced);
}

TEST(Registry, LocalChangesReachTheSink) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  RecordingSink sink;
  registry.setChangeSink(&sink);
  registry.put("users", "a", spec("127.0.0.1:3001", 1'000));
  registry.heartbeat("users", "a");
  registry.remove("users", "a");
  registry.put("users", "b", spec("127.0.0.1:3002", 1'000));
  clock.now += 2'000;
  registry.evictExpired();
  EXPECT_EQ(sink.changes, (std::vector<std::string>{"users/a/0", "users/a/1", "users/a/2",
                                                    "users/b/0", "users/b/2"}));
}

TEST(Registry, RemoteStateIsAppliedUnlessALocalChangeIsNewer) {
  FakeClock clock;
  Registry registry(clock, nullptr);
  Instance remote{"r", spec("127.0.0.1:3009"), clock.now, clock.now};
  uint64_t issued = registry.localWriteSeq();
  EXPECT_TRUE(registry.applyRemote("users", {remote}, {}, issued));
  EXPECT_TRUE(registry.find("users", "r"));
  const uint64_t version = registry.version();
  EXPECT_TRUE(registry.applyRemote("users", {remote}, {}, issued));
  EXPECT_EQ(registry.version(), version);  // same membership: no change

  registry.put("users", "local", spec("127.0.0.1:3001"));  // after the read was issued
  EXPECT_FALSE(registry.applyRemote("users", {}, {}, issued));
  EXPECT_TRUE(registry.find("users", "local"));
  EXPECT_TRUE(registry.applyRemote("users", {}, {"r"}, registry.localWriteSeq()));
  EXPECT_TRUE(registry.services().empty());
}

TEST(Registry, HeartbeatsDoNotHoldBackRemoteStateAndKeepTheNewerTime) {
  FakeClock clock;
  metrics::Registry metrics(1);
  Registry registry(clock, &metrics);
  const Instance remote{"r", spec("127.0.0.1:3009"), clock.now, clock.now};
  ASSERT_TRUE(registry.applyRemote("users", {remote}, {}, registry.localWriteSeq()));
  const uint64_t issued = registry.localWriteSeq();
  clock.now += 4'000;
  ASSERT_TRUE(registry.heartbeat("users", "r"));  // after the read was issued
  const Instance other{"o", spec("127.0.0.1:3010"), clock.now, clock.now};
  EXPECT_TRUE(registry.applyRemote("users", {remote, other}, {"gone"}, issued));
  EXPECT_EQ(registry.find("users", "r")->last_heartbeat_ms, clock.now);  // not Redis's older one
  EXPECT_TRUE(registry.find("users", "o"));
  // an expiry the read found is counted even when the rest is not applied
  registry.put("users", "local", spec("127.0.0.1:3001"));
  EXPECT_FALSE(registry.applyRemote("users", {}, {"gone2"}, issued));
  EXPECT_NE(metrics.renderPrometheus().find(
                R"(scalegate_registry_evictions_total{service="users",reason="ttl"} 2)"),
            std::string::npos);
}

TEST(Registry, CountsInMetrics) {
  FakeClock clock;
  metrics::Registry metrics(1);
  Registry registry(clock, &metrics);
  registry.put("users", "a", spec("127.0.0.1:3001", 1'000));
  registry.put("users", "b", spec("127.0.0.1:3002", 5'000));
  registry.heartbeat("users", "b");
  clock.now += 1'001;
  registry.evictExpired();
  const std::string text = metrics.renderPrometheus();
  EXPECT_NE(text.find("scalegate_registry_instances{service=\"users\"} 1"), std::string::npos);
  EXPECT_NE(text.find("scalegate_registry_registrations_total{service=\"users\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("scalegate_registry_heartbeats_total{service=\"users\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("scalegate_registry_evictions_total{service=\"users\",reason=\"ttl\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace sg::discovery
