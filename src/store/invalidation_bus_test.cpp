// The invalidation bus against real redis-server processes (one node and a 3-master cluster)
// and against servers that answer junk: publishes reach every subscribed instance, keys and
// key patterns leave Redis, and a dead or broken Redis costs counted failures, never a hang.
#include "store/invalidation_bus.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "store/cluster_slots.h"
#include "store/test_redis.h"

namespace sg::store {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::RedisServer;
using testing::trim;

bool waitUntil(const std::function<bool()>& done, milliseconds limit = milliseconds(5000)) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// What one instance's on_message saw, with arrival times.
class Inbox {
 public:
  InvalidationBus::OnMessage callback() {
    return [this](std::string_view message) {
      std::lock_guard lock(mutex_);
      messages_.emplace_back(message);
      arrivals_.push_back(Clock::now());
    };
  }
  size_t size() {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  std::string message(size_t i) {
    std::lock_guard lock(mutex_);
    return messages_.at(i);
  }
  Clock::time_point arrival(size_t i) {
    std::lock_guard lock(mutex_);
    return arrivals_.at(i);
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> messages_;
  std::vector<Clock::time_point> arrivals_;
};

net::Address parseAddress(const std::string& text) {
  std::string error;
  return *net::Address::parse(text, &error);
}

config::StoreConfig nodeConfig(const std::string& where, const std::string& password = {},
                               uint32_t database = 0) {
  config::StoreConfig config;
  config.type = config::StoreConfig::Type::kRedis;
  config.address = parseAddress(where);
  config.password = password;
  config.database = database;
  return config;
}

config::StoreConfig clusterConfig(const std::vector<std::string>& seeds) {
  config::StoreConfig config;
  config.type = config::StoreConfig::Type::kRedisCluster;
  for (const std::string& seed : seeds) config.seeds.push_back(parseAddress(seed));
  return config;
}

constexpr const char* kChannel = "sg:invalidate";

TEST(InvalidationBusTest, APublishReachesEveryInstanceAndDeletesTheKeys) {
  RedisServer redis;
  redis.cli("MSET page:1 a page:2 b page:3 c");
  Inbox inbox_a, inbox_b;
  InvalidationBus a(nodeConfig(redis.address()), kChannel, inbox_a.callback());
  InvalidationBus b(nodeConfig(redis.address()), kChannel, inbox_b.callback());
  a.start();
  b.start();
  ASSERT_TRUE(waitUntil([&] { return a.subscribed() && b.subscribed(); }));
  EXPECT_EQ(a.subscriptions(), 1u);

  const auto sent = Clock::now();
  a.publish({"page:1", "page:2"}, "purge /page");
  ASSERT_TRUE(waitUntil([&] { return inbox_a.size() == 1 && inbox_b.size() == 1; }));
  EXPECT_EQ(inbox_a.message(0), "purge /page");
  EXPECT_EQ(inbox_b.message(0), "purge /page");
  for (Inbox* inbox : {&inbox_a, &inbox_b}) {
    const auto latency = inbox->arrival(0) - sent;
    std::cout << "publish -> callback (with UNLINK): "
              << std::chrono::duration_cast<std::chrono::microseconds>(latency).count() << " us\n";
    EXPECT_LT(latency, milliseconds(2000));
  }
  EXPECT_EQ(trim(redis.cli("EXISTS page:1 page:2 page:3")), "1");
  EXPECT_EQ(a.failures(), 0u);
  EXPECT_EQ(b.received(), 1u);
  // An instance on another channel hears nothing.
  Inbox inbox_c;
  InvalidationBus c(nodeConfig(redis.address()), "other", inbox_c.callback());
  c.start();
  ASSERT_TRUE(waitUntil([&] { return c.subscribed(); }));
  b.publish({}, "second");
  ASSERT_TRUE(waitUntil([&] { return inbox_a.size() == 2; }));
  EXPECT_EQ(inbox_a.message(1), "second");
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(inbox_c.size(), 0u);
}

// Sequential purges, each waited for: the delay from publish() to the other instance's
// callback (UNLINK, PUBLISH, delivery). Printed; only a generous bound is asserted.
TEST(InvalidationBusTest, PublishToCallbackLatency) {
  RedisServer redis;
  Inbox inbox_a, inbox_b;
  InvalidationBus a(nodeConfig(redis.address()), kChannel, inbox_a.callback());
  InvalidationBus b(nodeConfig(redis.address()), kChannel, inbox_b.callback());
  a.start();
  b.start();
  ASSERT_TRUE(waitUntil([&] { return a.subscribed() && b.subscribed(); }));
  constexpr size_t kRounds = 200;
  std::vector<int64_t> micros;
  for (size_t i = 0; i < kRounds; ++i) {
    const auto sent = Clock::now();
    a.publish({"key:" + std::to_string(i)}, "m" + std::to_string(i));
    ASSERT_TRUE(waitUntil([&] { return inbox_b.size() == i + 1; }, milliseconds(2000)));
    EXPECT_EQ(inbox_b.message(i), "m" + std::to_string(i));
    micros.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(inbox_b.arrival(i) - sent).count());
  }
  std::sort(micros.begin(), micros.end());
  std::cout << "publish -> other instance's callback over " << kRounds << " purges: p50 "
            << micros[kRounds / 2] << " us, p99 " << micros[kRounds * 99 / 100] << " us, max "
            << micros.back() << " us\n";
  EXPECT_LT(micros.back(), 2'000'000);
  EXPECT_EQ(a.failures(), 0u);
}

TEST(InvalidationBusTest, PublishAfterDeletingDeletesExactlyTheMatchingKeys) {
  RedisServer redis({"--enable-debug-command", "yes"});
  std::string mset = "MSET";
  for (int i = 0; i < 50; ++i) mset += " cache:/img/" + std::to_string(i) + " x";
  for (int i = 0; i < 20; ++i) mset += " cache:/doc/" + std::to_string(i) + " x";
  mset += " cache:/img x other:/img/1 x";  // no match: no trailing slash, other prefix
  redis.cli(mset);
  redis.cli("DEBUG POPULATE 3000 cache:/big");  // cache:/big:0..2999: several SCAN rounds
  ASSERT_EQ(trim(redis.cli("DBSIZE")), "3072");

  Inbox inbox;
  InvalidationBus bus(nodeConfig(redis.address()), kChannel, inbox.callback());
  bus.start();
  ASSERT_TRUE(waitUntil([&] { return bus.subscribed(); }));
  bus.publishAfterDeleting("cache:/img/*", "purge /img/*");
  ASSERT_TRUE(waitUntil([&] { return inbox.size() == 1; }));
  EXPECT_EQ(inbox.message(0), "purge /img/*");
  EXPECT_EQ(trim(redis.cli("DBSIZE")), "3022");
  EXPECT_EQ(trim(redis.cli("KEYS cache:/img/*")), "");
  EXPECT_EQ(trim(redis.cli("EXISTS cache:/img other:/img/1 cache:/doc/0")), "3");

  bus.publishAfterDeleting("cache:/big:*", "purge big");
  ASSERT_TRUE(waitUntil([&] { return inbox.size() == 2; }));
  EXPECT_EQ(trim(redis.cli("DBSIZE")), "22");
  EXPECT_EQ(bus.failures(), 0u);
}

TEST(InvalidationBusTest, AuthAndSelect) {
  RedisServer redis({"--requirepass", "s3cret"});
  redis.cli("-a s3cret --no-auth-warning -n 2 MSET gone 1 kept 2");
  Inbox inbox;
  InvalidationBus bus(nodeConfig(redis.address(), "s3cret", 2), kChannel, inbox.callback());
  bus.start();
  ASSERT_TRUE(waitUntil([&] { return bus.subscribed(); }));
  bus.publish({"gone"}, "m");
  ASSERT_TRUE(waitUntil([&] { return inbox.size() == 1; }));
  EXPECT_EQ(trim(redis.cli("-a s3cret --no-auth-warning -n 2 DBSIZE")), "1");
  EXPECT_EQ(bus.failures(), 0u);

  Inbox refused;
  InvalidationBus wrong(nodeConfig(redis.address(), "wrong"), kChannel, refused.callback());
  wrong.start();
  wrong.publish({"kept"}, "m");
  ASSERT_TRUE(waitUntil([&] { return wrong.failures() == 1; }));
  EXPECT_FALSE(wrong.subscribed());
}

TEST(InvalidationBusTest, ARedisThatDiesCountsFailuresAndComesBack) {
  auto redis = std::make_unique<RedisServer>();
  const uint16_t port = redis->port();
  Inbox inbox_a, inbox_b;
  InvalidationBus a(nodeConfig(redis->address()), kChannel, inbox_a.callback());
  InvalidationBus b(nodeConfig(redis->address()), kChannel, inbox_b.callback());
  std::atomic<int> resubscribed{0};  // not on the first SUBSCRIBE, once per lost subscription
  b.setOnResubscribed([&resubscribed] { ++resubscribed; });
  a.start();
  b.start();
  ASSERT_TRUE(waitUntil([&] { return a.subscribed() && b.subscribed(); }));
  EXPECT_EQ(resubscribed.load(), 0);
  a.publish({"k"}, "before");
  ASSERT_TRUE(waitUntil([&] { return inbox_b.size() == 1; }));

  redis->stop();
  ASSERT_TRUE(waitUntil([&] { return !a.subscribed() && !b.subscribed(); }));
  const auto before = Clock::now();
  for (int i = 0; i < 5; ++i) a.publish({"k"}, "lost");
  EXPECT_LT(Clock::now() - before, milliseconds(50));  // queued, never waits on Redis
  ASSERT_TRUE(waitUntil([&] { return a.failures() == 5; }));

  redis = std::make_unique<RedisServer>(std::vector<std::string>{}, port);
  ASSERT_TRUE(waitUntil([&] { return a.subscribed() && b.subscribed(); }, milliseconds(8000)));
  EXPECT_EQ(a.subscriptions(), 2u);
  EXPECT_EQ(resubscribed.load(), 1);
  redis->cli("SET k v");
  a.publish({"k"}, "after");
  ASSERT_TRUE(waitUntil([&] { return inbox_a.size() == 2 && inbox_b.size() == 2; }));
  EXPECT_EQ(inbox_b.message(1), "after");
  EXPECT_EQ(trim(redis->cli("EXISTS k")), "0");
  EXPECT_EQ(a.failures(), 5u);
}

// A stopped (not dead) Redis never closes the socket: the subscriber's PING notices it.
TEST(InvalidationBusTest, ASilentSubscriberIsPingedAndReplaced) {
  RedisServer redis;
  Inbox inbox;
  InvalidationBus bus(nodeConfig(redis.address()), kChannel, inbox.callback());
  bus.start();
  ASSERT_TRUE(waitUntil([&] { return bus.subscribed(); }));
  std::this_thread::sleep_for(milliseconds(1500));  // idle: PINGed and answered
  EXPECT_TRUE(bus.subscribed());
  redis.pause();
  ASSERT_TRUE(waitUntil([&] { return !bus.subscribed(); }, milliseconds(6000)));
  redis.resume();
  ASSERT_TRUE(waitUntil([&] { return bus.subscribed(); }, milliseconds(8000)));
  EXPECT_EQ(bus.subscriptions(), 2u);
  bus.publish({}, "m");
  ASSERT_TRUE(waitUntil([&] { return inbox.size() == 1; }));
}

// A paused Redis holds the bus thread on its timeouts: publish() still returns at once and
// what does not fit in the queue is dropped and counted.
TEST(InvalidationBusTest, AFullQueueDropsAndCounts) {
  RedisServer redis;
  Inbox inbox;
  InvalidationBus bus(nodeConfig(redis.address()), kChannel, inbox.callback());
  bus.start();
  ASSERT_TRUE(waitUntil([&] { return bus.subscribed(); }));
  redis.pause();
  const size_t extra = 20;
  const auto before = Clock::now();
  for (size_t i = 0; i < InvalidationBus::kMaxQueued + extra; ++i) bus.publish({"k"}, "m");
  EXPECT_LT(Clock::now() - before, milliseconds(1000));
  EXPECT_GE(bus.failures(), 1u);
  redis.resume();
  bus.stop();  // the queued rest are counted as failures too
  EXPECT_LE(bus.failures(), InvalidationBus::kMaxQueued + extra);
}

// Answers every request on every connection with `reply` (then closes when asked to).
class JunkServer {
 public:
  explicit JunkServer(std::string reply, bool close_after)
      : reply_(std::move(reply)), close_after_(close_after) {
    std::string error;
    fd_ = net::listenSocket(parseAddress("127.0.0.1:0"), 16, &error);
    port_ = net::localAddress(fd_).port();
    accepter_ = std::thread([this] {
      while (!stop_) {
        pollfd listener{fd_, POLLIN, 0};
        if (::poll(&listener, 1, 10) <= 0) continue;
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client >= 0) clients_.emplace_back([this, client] { serve(client); });
      }
      for (auto& client : clients_) client.join();
    });
  }
  ~JunkServer() {
    stop_ = true;
    accepter_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void serve(int client) {
    char buffer[4096];
    while (!stop_) {
      pollfd fd{client, POLLIN, 0};
      if (::poll(&fd, 1, 10) <= 0) continue;
      if (::recv(client, buffer, sizeof(buffer), 0) <= 0) break;
      ::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      if (close_after_) break;
    }
    ::close(client);
  }

  std::string reply_;
  bool close_after_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accepter_;
  std::vector<std::thread> clients_;  // the accepter's only
};

TEST(InvalidationBusTest, AServerAnsweringJunkGivesFailuresNotACrash) {
  const std::vector<std::pair<std::string, bool>> cases{{"!!!\r\n", false},
                                                        {"$abc\r\n", false},
                                                        {"*-5x\r\n", false},
                                                        {"-ERR nope\r\n", false},
                                                        {"$100\r\nonly part of it", true}};
  for (const auto& [junk, close_after] : cases) {
    SCOPED_TRACE(junk);
    JunkServer server(junk, close_after);
    Inbox inbox;
    InvalidationBus bus(nodeConfig(server.address()), kChannel, inbox.callback());
    bus.start();
    bus.publish({"k"}, "m1");
    bus.publishAfterDeleting("cache:*", "m2");
    bus.publish({}, "m3");
    ASSERT_TRUE(waitUntil([&] { return bus.failures() == 3; }));
    EXPECT_FALSE(bus.subscribed());
    EXPECT_EQ(bus.received(), 0u);
    const auto before = Clock::now();
    bus.stop();
    EXPECT_LT(Clock::now() - before, milliseconds(2000));
  }
}

TEST(InvalidationBusTest, NoStoreIsAConfigError) {
  EXPECT_THROW(InvalidationBus(config::StoreConfig{}, kChannel, {}), std::invalid_argument);
  EXPECT_THROW(InvalidationBus(clusterConfig({}), kChannel, {}), std::invalid_argument);
}

class InvalidationBusClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(testing::startCluster(&nodes_), ""); }
  static void TearDownTestSuite() { nodes_.clear(); }

  // Keys per master (DBSIZE of each).
  static std::vector<std::string> sizes() {
    std::vector<std::string> out;
    for (auto& node : nodes_) out.push_back(trim(node->cli("DBSIZE")));
    return out;
  }
  // SET on the slot's master, found by following MOVED (redis-cli -c per key is slow).
  static void set(const std::string& key) {
    uint16_t port = nodes_[0]->port();
    for (int attempt = 0; attempt < 2; ++attempt) {
      redisContext* context = redisConnect("127.0.0.1", port);
      ASSERT_TRUE(context != nullptr && context->err == 0);
      auto* reply = static_cast<redisReply*>(redisCommand(context, "SET %s x", key.c_str()));
      ASSERT_NE(reply, nullptr);
      const auto redirect = reply->type == REDIS_REPLY_ERROR
                                ? parseRedirect(std::string_view(reply->str, reply->len))
                                : std::nullopt;
      freeReplyObject(reply);
      redisFree(context);
      if (!redirect) return;
      port = redirect->port;
    }
    FAIL() << "SET " << key << " was redirected twice";
  }

  static std::vector<std::unique_ptr<RedisServer>> nodes_;
};

std::vector<std::unique_ptr<RedisServer>> InvalidationBusClusterTest::nodes_;

TEST_F(InvalidationBusClusterTest, PublishReachesInstancesOnOtherNodesAndDeletesOnEachMaster) {
  std::vector<std::string> keys;
  for (int i = 0; i < 12; ++i) {
    keys.push_back("page:" + std::to_string(i));
    set(keys.back());
  }
  for (const std::string& size : sizes()) EXPECT_NE(size, "0");  // spread over the masters
  // Each instance subscribes on a different node (its first seed).
  Inbox inbox_a, inbox_b;
  InvalidationBus a(clusterConfig({nodes_[0]->address(), nodes_[1]->address()}), kChannel,
                    inbox_a.callback());
  InvalidationBus b(clusterConfig({nodes_[2]->address()}), kChannel, inbox_b.callback());
  a.start();
  b.start();
  ASSERT_TRUE(waitUntil([&] { return a.subscribed() && b.subscribed(); }));
  const auto sent = Clock::now();
  b.publish(keys, "purge pages");
  ASSERT_TRUE(waitUntil([&] { return inbox_a.size() == 1 && inbox_b.size() == 1; }));
  std::cout
      << "cluster publish -> callback on another node: "
      << std::chrono::duration_cast<std::chrono::microseconds>(inbox_a.arrival(0) - sent).count()
      << " us\n";
  EXPECT_EQ(inbox_a.message(0), "purge pages");
  EXPECT_EQ(sizes(), (std::vector<std::string>{"0", "0", "0"}));
  // Connections made: later purges (3 keys, one per master) cost less.
  std::vector<int64_t> micros;
  for (size_t i = 1; i <= 50; ++i) {
    const auto again = Clock::now();
    b.publish({"x", "y", "z"}, "m");
    ASSERT_TRUE(waitUntil([&] { return inbox_a.size() == i + 1; }, milliseconds(2000)));
    micros.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(inbox_a.arrival(i) - again).count());
  }
  std::sort(micros.begin(), micros.end());
  std::cout << "cluster publish -> callback on another node over 50 purges: p50 " << micros[25]
            << " us, max " << micros.back() << " us\n";
  EXPECT_EQ(b.failures(), 0u);
}

TEST_F(InvalidationBusClusterTest, PublishAfterDeletingScansEveryMaster) {
  for (int i = 0; i < 50; ++i) set("cache:/img/" + std::to_string(i));
  for (int i = 0; i < 10; ++i) set("cache:/doc/" + std::to_string(i));
  set("other:/img/1");
  for (auto& node : nodes_) EXPECT_NE(trim(node->cli("KEYS cache:/img/*")), "");
  Inbox inbox;
  InvalidationBus bus(clusterConfig({nodes_[1]->address()}), kChannel, inbox.callback());
  bus.start();
  ASSERT_TRUE(waitUntil([&] { return bus.subscribed(); }));
  const auto sent = Clock::now();
  bus.publishAfterDeleting("cache:/img/*", "purge /img/*");
  ASSERT_TRUE(waitUntil([&] { return inbox.size() == 1; }));
  std::cout
      << "cluster publishAfterDeleting -> callback: "
      << std::chrono::duration_cast<std::chrono::microseconds>(inbox.arrival(0) - sent).count()
      << " us\n";
  size_t left = 0;
  for (auto& node : nodes_) {
    EXPECT_EQ(trim(node->cli("KEYS cache:/img/*")), "");
    left += std::stoul(trim(node->cli("DBSIZE")));
  }
  EXPECT_EQ(left, 11u);
  EXPECT_EQ(bus.failures(), 0u);
  for (auto& node : nodes_) node->cli("FLUSHALL");
}

// A slot moved behind the bus's back: UNLINK follows MOVED to the new master.
TEST_F(InvalidationBusClusterTest, FollowsAMovedSlot) {
  Inbox inbox;
  InvalidationBus bus(clusterConfig({nodes_[0]->address()}), kChannel, inbox.callback());
  bus.start();
  ASSERT_TRUE(waitUntil([&] { return bus.subscribed(); }));
  bus.publish({"warm"}, "load the slot map");
  ASSERT_TRUE(waitUntil([&] { return inbox.size() == 1; }));

  const std::string key = "moving-key";
  const std::string slot = std::to_string(keySlot(key));
  RedisServer* source = nullptr;
  for (auto& node : nodes_)
    if (node->cli("GET " + key).find("MOVED") == std::string::npos) source = node.get();
  ASSERT_NE(source, nullptr);
  RedisServer* target = source == nodes_[0].get() ? nodes_[1].get() : nodes_[0].get();
  const std::string target_id = trim(target->cli("CLUSTER MYID"));
  // The slot is empty: it can be handed over at once on both nodes.
  for (auto& node : nodes_) node->cli("CLUSTER SETSLOT " + slot + " NODE " + target_id);
  set(key);
  ASSERT_EQ(trim(target->cli("EXISTS " + key)), "1");
  bus.publish({key}, "after the move");
  ASSERT_TRUE(waitUntil([&] { return inbox.size() == 2; }));
  EXPECT_EQ(trim(target->cli("EXISTS " + key)), "0");
  EXPECT_EQ(bus.failures(), 0u);
  const std::string source_id = trim(source->cli("CLUSTER MYID"));
  for (auto& node : nodes_) node->cli("CLUSTER SETSLOT " + slot + " NODE " + source_id);
}

// The node the bus subscribed on dies: it subscribes on another and purges keep flowing.
// Last in the suite: it kills a master.
TEST_F(InvalidationBusClusterTest, ASubscribedNodeThatDiesIsReplaced) {
  Inbox inbox_a, inbox_b;
  InvalidationBus a(clusterConfig({nodes_[2]->address(), nodes_[0]->address()}), kChannel,
                    inbox_a.callback());
  InvalidationBus b(clusterConfig({nodes_[0]->address()}), kChannel, inbox_b.callback());
  a.start();
  b.start();
  ASSERT_TRUE(waitUntil([&] { return a.subscribed() && b.subscribed(); }));
  nodes_[2]->stop();
  ASSERT_TRUE(waitUntil([&] { return a.subscriptions() == 2 && a.subscribed(); }));
  b.publish({}, "still here");  // no keys: the dead master's slots are not needed
  ASSERT_TRUE(waitUntil([&] { return inbox_a.size() == 1; }));
  EXPECT_EQ(inbox_a.message(0), "still here");
  EXPECT_EQ(b.failures(), 0u);
}

}  // namespace
}  // namespace sg::store
