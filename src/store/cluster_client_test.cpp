// The cluster client against a real 3-master Redis Cluster on loopback: commands reach the
// slot's master, and a slot moved during traffic is followed through MOVED and ASK.
#include "store/cluster_client.h"

#include <gtest/gtest.h>

#include <map>

#include "metrics/metrics.h"
#include "store/client.h"
#include "store/cluster_slots.h"
#include "store/resp.h"
#include "store/test_redis.h"

namespace sg::store {
namespace {

using testing::LoopRunner;
using testing::RedisServer;
using testing::trim;

class Collect final : public ReplyHandler {
 public:
  void onReply(uint64_t cookie, const Reply& reply) override {
    got[cookie] = reply.ok() ? std::string(reply.isString() ? reply.string() : "ok")
                             : "error:" + std::string(reply.error());
  }
  std::map<uint64_t, std::string> got;
};

class ClusterClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(testing::startCluster(&nodes_), ""); }
  static void TearDownTestSuite() { nodes_.clear(); }

  std::unique_ptr<Client> connect() {
    config::StoreConfig config;
    config.type = config::StoreConfig::Type::kRedisCluster;
    std::string error;
    config.seeds.push_back(*net::Address::parse(nodes_[1]->address(), &error));
    config.timeout = std::chrono::milliseconds(500);
    auto client = makeClient(config, loop_, stats_);
    client->start();
    return client;
  }
  bool set(Client& client, const std::string& key, const std::string& value, uint64_t cookie) {
    std::string encoded;
    appendCommand(&encoded, {"SET", key, value});
    return client.send(key, std::move(encoded), nullptr, &collect_, cookie);
  }
  // The one master that answers a plain GET of `key` itself (the others answer MOVED).
  static RedisServer& owner(const std::string& key) {
    for (auto& node : nodes_) {
      if (node->cli("GET " + key).find("MOVED") == std::string::npos) return *node;
    }
    throw std::runtime_error("no owner for " + key);
  }
  static std::string nodeId(RedisServer& node) { return trim(node.cli("CLUSTER MYID")); }

  static std::vector<std::unique_ptr<RedisServer>> nodes_;
  metrics::Registry registry_{1};
  StoreStats stats_{registry_, "redis_cluster"};
  net::EventLoop loop_;
  LoopRunner runner_{loop_};
  Collect collect_;
};

std::vector<std::unique_ptr<RedisServer>> ClusterClientTest::nodes_;

TEST_F(ClusterClientTest, KeysReachTheirSlotsMaster) {
  auto client = connect();
  ASSERT_TRUE(runner_.runUntil([&] { return client->ready(); }));
  runner_.runUntil([&] { return !static_cast<ClusterClient&>(*client).nodeOf(0).empty(); });
  for (uint64_t i = 0; i < 20; ++i)
    ASSERT_TRUE(set(*client, "key" + std::to_string(i), "v" + std::to_string(i), i));
  ASSERT_TRUE(runner_.runUntil([&] { return collect_.got.size() == 20; }));
  for (uint64_t i = 0; i < 20; ++i) {
    const std::string key = "key" + std::to_string(i);
    EXPECT_EQ(collect_.got[i], "OK") << key;
    EXPECT_EQ(trim(owner(key).cli("GET " + key)), "v" + std::to_string(i)) << key;
  }
  EXPECT_EQ(stats_.redirects->value(), 0u);  // the slot map was known: no MOVED needed
}

// Moves `key`'s slot to another master: ASK while it migrates, MOVED once it has moved.
TEST_F(ClusterClientTest, FollowsASlotMigration) {
  auto client = connect();
  ASSERT_TRUE(runner_.runUntil([&] { return client->ready(); }));
  ASSERT_TRUE(
      runner_.runUntil([&] { return !static_cast<ClusterClient&>(*client).nodeOf(0).empty(); }));
  const std::string key = "migrating-key";
  const std::string slot = std::to_string(keySlot(key));
  RedisServer& source = owner(key);
  RedisServer* target = nullptr;
  for (auto& node : nodes_) {
    if (node.get() != &source) target = node.get();
  }
  target->cli("CLUSTER SETSLOT " + slot + " IMPORTING " + nodeId(source));
  source.cli("CLUSTER SETSLOT " + slot + " MIGRATING " + nodeId(*target));
  ASSERT_TRUE(set(*client, key, "during", 1));  // absent on the source: ASK to the target
  ASSERT_TRUE(runner_.runUntil([&] { return collect_.got.size() == 1; }));
  EXPECT_EQ(collect_.got[1], "OK");
  EXPECT_EQ(stats_.redirects->value(), 1u);
  for (auto& node : nodes_) node->cli("CLUSTER SETSLOT " + slot + " NODE " + nodeId(*target));
  ASSERT_TRUE(set(*client, key, "after", 2));  // the source answers MOVED
  ASSERT_TRUE(runner_.runUntil([&] { return collect_.got.size() == 2; }));
  EXPECT_EQ(collect_.got[2], "OK");
  EXPECT_EQ(stats_.redirects->value(), 2u);
  EXPECT_EQ(trim(target->cli("GET " + key)), "after");
  EXPECT_EQ(static_cast<ClusterClient&>(*client).nodeOf(keySlot(key)), target->address());
  ASSERT_TRUE(set(*client, key, "direct", 3));  // the map knows now: no redirect
  ASSERT_TRUE(runner_.runUntil([&] { return collect_.got.size() == 3; }));
  EXPECT_EQ(stats_.redirects->value(), 2u);
}

}  // namespace
}  // namespace sg::store
