// The Redis sync against a real redis-server: two registries (two "gateways") on one Redis.
#include "discovery/registry_sync.h"

#include <gtest/gtest.h>

#include <thread>

#include "store/test_redis.h"

namespace sg::discovery {
namespace {

using namespace std::chrono_literals;
using store::testing::LoopRunner;
using store::testing::RedisServer;

class FakeClock final : public Clock {
 public:
  int64_t nowMs() const override { return now; }
  int64_t now = 1'700'000'000'000;
};

InstanceSpec spec(const std::string& address, int64_t ttl_ms = 30'000) {
  std::string error;
  InstanceSpec out;
  out.address = *net::Address::parse(address, &error);
  out.address_text = address;
  out.ttl_ms = ttl_ms;
  return out;
}

std::vector<std::string> ids(const Registry& registry, const std::string& service) {
  std::vector<std::string> out;
  for (const auto& instance : registry.snapshot(service).instances) out.push_back(instance.id);
  return out;
}

// One gateway's view: its registry and its sync, on the test's loop.
struct Node {
  Node(const config::StoreConfig& config, net::EventLoop& loop)
      : metrics(1),
        stats(metrics, "redis"),
        registry(clock, &metrics),
        sync(registry, config, loop, stats) {
    sync.start();
  }
  ~Node() { sync.shutdown(); }
  FakeClock clock;
  metrics::Registry metrics;
  store::StoreStats stats;
  Registry registry;
  RegistrySync sync;
};

class RegistrySyncTest : public ::testing::Test {
 protected:
  RegistrySyncTest() {
    config_.type = config::StoreConfig::Type::kRedis;
    std::string error;
    config_.address = *net::Address::parse(redis_.address(), &error);
    config_.timeout = 200ms;
    a_ = std::make_unique<Node>(config_, loop_);
    b_ = std::make_unique<Node>(config_, loop_);
  }

  // Runs sync rounds (every 50 ms, as the registry thread does every 250 ms) until done().
  bool syncUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    auto last = std::chrono::steady_clock::now() - 1s;
    return runner_.runUntil(
        [&] {
          const auto now = std::chrono::steady_clock::now();
          if (now - last >= 50ms) {
            last = now;
            a_->sync.tick();
            b_->sync.tick();
          }
          return done();
        },
        limit);
  }

  RedisServer redis_;
  config::StoreConfig config_;
  net::EventLoop loop_;
  LoopRunner runner_{loop_};
  std::unique_ptr<Node> a_;
  std::unique_ptr<Node> b_;
};

TEST_F(RegistrySyncTest, ChangesOnOneRegistryReachTheOther) {
  ASSERT_TRUE(syncUntil([&] { return a_->sync.synced() && b_->sync.synced(); }));
  a_->registry.put("users", "u1", spec("127.0.0.1:3001"));
  ASSERT_TRUE(
      syncUntil([&] { return ids(b_->registry, "users") == std::vector<std::string>{"u1"}; }));
  EXPECT_EQ(b_->registry.find("users", "u1")->registered_at_ms, a_->clock.now);
  EXPECT_EQ(store::testing::trim(redis_.cli("SISMEMBER scalegate:registry:services users")), "1");

  b_->clock.now += 5'000;
  ASSERT_TRUE(b_->registry.heartbeat("users", "u1"));
  ASSERT_TRUE(syncUntil(
      [&] { return a_->registry.find("users", "u1")->last_heartbeat_ms == b_->clock.now; }));

  ASSERT_TRUE(b_->registry.remove("users", "u1"));
  ASSERT_TRUE(syncUntil([&] { return ids(a_->registry, "users").empty(); }));
  EXPECT_EQ(store::testing::trim(redis_.cli("HLEN scalegate:registry:{users}")), "0");
}

TEST_F(RegistrySyncTest, RedisExpiresTheHeartbeatAndOneRegistryCountsTheEviction) {
  a_->registry.put("users", "short", spec("127.0.0.1:3001", 1'000));
  ASSERT_TRUE(syncUntil([&] { return ids(b_->registry, "users").size() == 1; }));
  std::this_thread::sleep_for(1100ms);  // Redis's own clock expires the heartbeat key
  ASSERT_TRUE(syncUntil(
      [&] { return ids(a_->registry, "users").empty() && ids(b_->registry, "users").empty(); }));
  const auto evictions = [](Node& node) {
    const std::string text = node.metrics.renderPrometheus();
    return text.find(R"(scalegate_registry_evictions_total{service="users",reason="ttl"} 1)") !=
           std::string::npos;
  };
  EXPECT_NE(evictions(*a_), evictions(*b_));  // exactly one of them dropped it from Redis
}

TEST_F(RegistrySyncTest, WithRedisDownTheLastRegistryStaysAndIsRepublishedOnReturn) {
  a_->registry.put("users", "u1", spec("127.0.0.1:3001"));
  ASSERT_TRUE(
      syncUntil([&] { return ids(b_->registry, "users").size() == 1 && b_->sync.synced(); }));
  redis_.stop();
  ASSERT_TRUE(syncUntil([&] { return !a_->sync.synced() && !b_->sync.synced(); }));
  a_->registry.put("users", "u2", spec("127.0.0.1:3002"));  // applies here meanwhile
  b_->clock.now += 60'000;                                  // past every ttl: kept all the same
  syncUntil([] { return false; }, 300ms);
  EXPECT_EQ(ids(b_->registry, "users"), std::vector<std::string>{"u1"});
  EXPECT_EQ(ids(a_->registry, "users"), (std::vector<std::string>{"u1", "u2"}));

  redis_.start();  // empty
  ASSERT_TRUE(syncUntil(
      [&] {
        return ids(b_->registry, "users") == std::vector<std::string>{"u1", "u2"} &&
               ids(a_->registry, "users") == std::vector<std::string>{"u1", "u2"};
      },
      10s));
  EXPECT_EQ(store::testing::trim(redis_.cli("HLEN scalegate:registry:{users}")), "2");
}

TEST_F(RegistrySyncTest, ListenersHearOfRemoteChangesAndEvictionsByAddressAreShared) {
  std::vector<std::pair<std::string, uint64_t>> heard;
  b_->registry.subscribe(
      [&](const std::string& service, uint64_t version) { heard.emplace_back(service, version); });
  a_->registry.put("users", "u1", spec("127.0.0.1:3001"));
  a_->registry.put("users", "u2", spec("127.0.0.1:3002"));
  ASSERT_TRUE(syncUntil([&] { return ids(b_->registry, "users").size() == 2; }));
  ASSERT_FALSE(heard.empty());
  EXPECT_EQ(heard.back().first, "users");
  EXPECT_EQ(heard.back().second, b_->registry.snapshot("users").version);

  // b's active health check finds 127.0.0.1:3001 dead: a drops it too
  std::string error;
  EXPECT_EQ(b_->registry.evictAddress(*net::Address::parse("127.0.0.1:3001", &error), "users"), 1u);
  ASSERT_TRUE(
      syncUntil([&] { return ids(a_->registry, "users") == std::vector<std::string>{"u2"}; }));
}

TEST_F(RegistrySyncTest, AReadOlderThanALocalChangeDoesNotUndoIt) {
  ASSERT_TRUE(syncUntil([&] { return a_->sync.synced(); }));
  const uint64_t before = a_->registry.localWriteSeq();
  a_->registry.put("users", "u1", spec("127.0.0.1:3001"));
  // What a read issued before the put would bring: nothing for the service.
  EXPECT_FALSE(a_->registry.applyRemote("users", {}, {}, before));
  EXPECT_EQ(ids(a_->registry, "users"), std::vector<std::string>{"u1"});
  ASSERT_TRUE(syncUntil([&] { return ids(b_->registry, "users").size() == 1; }));
  EXPECT_EQ(ids(a_->registry, "users"), std::vector<std::string>{"u1"});
}

}  // namespace
}  // namespace sg::discovery
