// The single-node client against a real redis-server: pipelining, scripts, timeouts, a
// Redis that dies and comes back, AUTH and SELECT, and servers that answer garbage.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "metrics/metrics.h"
#include "store/client.h"
#include "store/resp.h"
#include "store/script.h"
#include "store/test_redis.h"

namespace sg::store {
namespace {

using testing::LoopRunner;
using testing::RedisServer;

struct Got {
  ReplyStatus status;
  std::string text;  // string, integer as text, or the error
};

class Recorder final : public ReplyHandler {
 public:
  void onReply(uint64_t cookie, const Reply& reply) override {
    std::string text;
    if (reply.isInteger()) {
      text = std::to_string(reply.integer());
    } else if (reply.isString()) {
      text = std::string(reply.string());
    } else if (!reply.ok()) {
      text = std::string(reply.error());
    } else if (reply.isArray()) {
      text = "array:" + std::to_string(reply.size());
    }
    got[cookie] = Got{reply.status(), text};
  }
  std::map<uint64_t, Got> got;
};

class NodeClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<Client> connect(
      const std::string& address, const std::string& password = {}, uint32_t database = 0,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(200)) {
    config::StoreConfig config;
    config.type = config::StoreConfig::Type::kRedis;
    std::string error;
    config.address = *net::Address::parse(address, &error);
    config.password = password;
    config.database = database;
    config.timeout = timeout;
    auto client = makeClient(config, loop_, stats_);
    client->start();
    return client;
  }
  bool command(Client& client, std::initializer_list<std::string_view> argv, uint64_t cookie) {
    std::string encoded;
    appendCommand(&encoded, argv);
    const std::string_view key = argv.size() > 1 ? *(argv.begin() + 1) : std::string_view();
    return client.send(key, std::move(encoded), nullptr, &recorder_, cookie);
  }
  bool waitReady(Client& client) {
    return runner_.runUntil([&] { return client.ready(); });
  }
  bool waitFor(size_t replies, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    return runner_.runUntil([&] { return recorder_.got.size() >= replies; }, limit);
  }

  metrics::Registry registry_{1};
  StoreStats stats_{registry_, "redis"};
  net::EventLoop loop_;
  LoopRunner runner_{loop_};
  Recorder recorder_;
};

TEST_F(NodeClientTest, PipelinedRepliesComeInOrder) {
  RedisServer redis;
  auto client = connect(redis.address());
  ASSERT_TRUE(waitReady(*client));
  for (uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(command(*client, {"INCR", "counter"}, i));
  ASSERT_TRUE(waitFor(100));
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(recorder_.got[i].text, std::to_string(i + 1));
  EXPECT_EQ(stats_.commands->value(), 100u);
  EXPECT_EQ(stats_.state(), "up");
}

TEST_F(NodeClientTest, CommandsSentWhileConnectingGoOutOnceConnected) {
  RedisServer redis;
  auto client = connect(redis.address());
  ASSERT_TRUE(command(*client, {"SET", "k", "v"}, 1));
  ASSERT_TRUE(command(*client, {"GET", "k"}, 2));
  ASSERT_TRUE(waitFor(2));
  EXPECT_EQ(recorder_.got[2].text, "v");
}

TEST_F(NodeClientTest, ScriptsRunByDigestAndSurviveAFlush) {
  RedisServer redis;
  auto client = connect(redis.address());
  ASSERT_TRUE(waitReady(*client));
  const Script script("return tonumber(ARGV[1]) * 2");
  auto call = [&](uint64_t cookie) {
    std::string encoded;
    appendScriptCall(&encoded, script, "k", {"21"});
    return client->send("k", std::move(encoded), &script, &recorder_, cookie);
  };
  ASSERT_TRUE(call(1));  // unknown to Redis: NOSCRIPT, resent whole
  ASSERT_TRUE(waitFor(1));
  EXPECT_EQ(recorder_.got[1].text, "42");
  EXPECT_NE(redis.cli("SCRIPT EXISTS " + script.sha1()).find('1'), std::string::npos);
  redis.cli("SCRIPT FLUSH");
  ASSERT_TRUE(call(2));
  ASSERT_TRUE(waitFor(2));
  EXPECT_EQ(recorder_.got[2].status, ReplyStatus::kOk);
  EXPECT_EQ(recorder_.got[2].text, "42");
}

TEST_F(NodeClientTest, ErrorRepliesReachTheHandler) {
  RedisServer redis;
  auto client = connect(redis.address());
  ASSERT_TRUE(command(*client, {"LPUSH", "list", "a"}, 1));
  ASSERT_TRUE(command(*client, {"INCR", "list"}, 2));
  ASSERT_TRUE(waitFor(2));
  EXPECT_EQ(recorder_.got[2].status, ReplyStatus::kError);
  EXPECT_TRUE(recorder_.got[2].text.starts_with("WRONGTYPE")) << recorder_.got[2].text;
}

TEST_F(NodeClientTest, APausedRedisTimesOutThenRecovers) {
  RedisServer redis;
  auto client = connect(redis.address(), {}, 0, std::chrono::milliseconds(50));
  ASSERT_TRUE(waitReady(*client));
  redis.pause();
  ASSERT_TRUE(command(*client, {"PING"}, 1));
  ASSERT_TRUE(waitFor(1, std::chrono::milliseconds(2000)));
  EXPECT_EQ(recorder_.got[1].status, ReplyStatus::kTimeout);
  EXPECT_EQ(stats_.timeouts->value(), 1u);
  redis.resume();
  ASSERT_TRUE(command(*client, {"PING"}, 2));
  ASSERT_TRUE(waitFor(2));
  EXPECT_EQ(recorder_.got[2].text, "PONG");  // the late PONG of 1 was dropped, not given to 2
}

TEST_F(NodeClientTest, AStalledRedisIsReconnected) {
  RedisServer redis;
  auto client = connect(redis.address(), {}, 0, std::chrono::milliseconds(20));
  ASSERT_TRUE(waitReady(*client));
  redis.pause();
  ASSERT_TRUE(command(*client, {"PING"}, 1));
  ASSERT_TRUE(runner_.runUntil([&] { return !client->ready(); }, std::chrono::seconds(3)));
  redis.resume();
  ASSERT_TRUE(waitReady(*client));
  EXPECT_GE(stats_.reconnects->value(), 2u);
}

TEST_F(NodeClientTest, ARedisThatDiesFailsWaitersAndComesBack) {
  auto redis = std::make_unique<RedisServer>();
  const uint16_t port = redis->port();
  auto client = connect(redis->address());
  ASSERT_TRUE(waitReady(*client));
  ASSERT_TRUE(command(*client, {"BLPOP", "never", "0"}, 1));  // waits on the server
  ASSERT_TRUE(command(*client, {"PING"}, 2));
  runner_.runUntil([] { return false; }, std::chrono::milliseconds(50));
  redis->stop();
  ASSERT_TRUE(waitFor(2));
  EXPECT_EQ(recorder_.got[1].status, ReplyStatus::kUnavailable);
  EXPECT_EQ(recorder_.got[2].status, ReplyStatus::kUnavailable);
  EXPECT_FALSE(client->ready());
  EXPECT_FALSE(command(*client, {"PING"}, 3));  // backing off: refused at once
  EXPECT_EQ(stats_.state(), "down");
  redis = std::make_unique<RedisServer>(std::vector<std::string>{}, port);
  ASSERT_TRUE(runner_.runUntil([&] { return client->ready(); }, std::chrono::seconds(8)));
  ASSERT_TRUE(command(*client, {"PING"}, 4));
  ASSERT_TRUE(waitFor(3));
  EXPECT_EQ(recorder_.got[4].text, "PONG");
}

TEST_F(NodeClientTest, AuthAndSelect) {
  RedisServer redis({"--requirepass", "s3cret"});
  redis.cli("-a s3cret --no-auth-warning -n 2 SET where two");
  auto client = connect(redis.address(), "s3cret", 2);
  ASSERT_TRUE(command(*client, {"GET", "where"}, 1));
  ASSERT_TRUE(waitFor(1));
  EXPECT_EQ(recorder_.got[1].text, "two");
}

TEST_F(NodeClientTest, AWrongPasswordNeverBecomesReady) {
  RedisServer redis({"--requirepass", "s3cret"});
  auto client = connect(redis.address(), "wrong");
  ASSERT_TRUE(command(*client, {"PING"}, 1));
  ASSERT_TRUE(waitFor(1));
  EXPECT_EQ(recorder_.got[1].status, ReplyStatus::kUnavailable);
  EXPECT_NE(recorder_.got[1].text.find("refused the handshake"), std::string::npos)
      << recorder_.got[1].text;
  EXPECT_FALSE(client->ready());
}

TEST_F(NodeClientTest, CancelledHandlersGetNothing) {
  RedisServer redis;
  auto client = connect(redis.address());
  ASSERT_TRUE(waitReady(*client));
  Recorder other;
  std::string encoded;
  appendCommand(&encoded, {"PING"});
  ASSERT_TRUE(client->send("", std::move(encoded), nullptr, &other, 1));
  client->cancel(&other);
  ASSERT_TRUE(command(*client, {"PING"}, 2));
  ASSERT_TRUE(waitFor(1));
  EXPECT_TRUE(other.got.empty());
}

// A fake server on a loopback socket that answers every connection with `reply` bytes.
class FakeServer {
 public:
  explicit FakeServer(std::string reply, bool close_after = true) {
    std::string error;
    auto address = net::Address::parse("127.0.0.1:0", &error);
    fd_ = net::listenSocket(*address, 8, &error);
    port_ = net::localAddress(fd_).port();
    thread_ = std::thread([this, reply = std::move(reply), close_after] {
      int client = -1;
      while (!stop_ && (client = ::accept(fd_, nullptr, nullptr)) < 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (client < 0) return;
      char buffer[4096];
      [[maybe_unused]] ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      for (size_t sent = 0; sent < reply.size() && !stop_;) {
        ssize_t w = ::send(client, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += static_cast<size_t>(w);
      }
      if (close_after) ::close(client);
    });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(NodeClientTest, MalformedRepliesFailTheCommandNotTheProcess) {
  for (const std::string garbage : {"!!!\r\n", "$abc\r\n", "*-5x\r\n", ":12\r\n:13\r\n"}) {
    SCOPED_TRACE(garbage);
    recorder_.got.clear();
    FakeServer server(garbage, false);
    auto client = connect(server.address());
    ASSERT_TRUE(command(*client, {"PING"}, 1));
    ASSERT_TRUE(waitFor(1));
    // ":12" alone is a fine reply; the extra ":13" answers no command and fails the connection.
    if (garbage.starts_with(":")) {
      EXPECT_EQ(recorder_.got[1].text, "12");
      ASSERT_TRUE(runner_.runUntil([&] { return !client->ready(); }));
    } else {
      EXPECT_EQ(recorder_.got[1].status, ReplyStatus::kUnavailable);
    }
    client->shutdown();
  }
}

TEST_F(NodeClientTest, AServerClosingMidReplyFailsTheCommand) {
  FakeServer server("$100\r\nonly part of it");
  auto client = connect(server.address());
  ASSERT_TRUE(command(*client, {"GET", "k"}, 1));
  ASSERT_TRUE(waitFor(1));
  EXPECT_EQ(recorder_.got[1].status, ReplyStatus::kUnavailable);
  EXPECT_NE(recorder_.got[1].text.find("closed the connection"), std::string::npos)
      << recorder_.got[1].text;
}

TEST_F(NodeClientTest, AHugeReplyIsRefused) {
  std::string huge = "$200000000\r\n" + std::string(65 * 1024 * 1024, 'x');
  FakeServer server(huge, false);
  auto client = connect(server.address(), {}, 0, std::chrono::seconds(20));
  ASSERT_TRUE(command(*client, {"GET", "k"}, 1));
  ASSERT_TRUE(waitFor(1, std::chrono::seconds(20)));
  EXPECT_EQ(recorder_.got[1].status, ReplyStatus::kUnavailable);
  EXPECT_NE(recorder_.got[1].text.find("larger than 64 MiB"), std::string::npos)
      << recorder_.got[1].text;
  EXPECT_GE(stats_.errors->value(), 1u);
}

TEST_F(NodeClientTest, NothingListeningMeansUnavailable) {
  auto client = connect("127.0.0.1:" + std::to_string(testing::freePort()));
  // Each is refused at once (backing off) or fails when its connect attempt does.
  size_t sent = 0;
  for (uint64_t i = 0; i < 5; ++i) {
    sent += command(*client, {"PING"}, i) ? 1 : 0;
    runner_.runUntil([] { return false; }, std::chrono::milliseconds(60));
  }
  ASSERT_TRUE(waitFor(sent));
  for (const auto& [cookie, got] : recorder_.got) EXPECT_EQ(got.status, ReplyStatus::kUnavailable);
  EXPECT_FALSE(client->ready());
  EXPECT_EQ(stats_.state(), "down");
}

}  // namespace
}  // namespace sg::store
