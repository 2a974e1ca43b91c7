// The L2's keys, TTL and reply parsing, and its three scripts run on a real redis-server
// (store/test_redis.h): the lock is taken only by the first asker, ends with the holder's
// store or becomes a pass, expires on Redis's clock, and other Vary names replace variants.
#include "proxy/cache_l2.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/l2_codec.h"
#include "cache/rfc9111.h"
#include "store/test_redis.h"

namespace sg::proxy {
namespace {

using namespace std::chrono_literals;

cache::CachedResponse entryFor(const std::string& key, std::optional<std::string> language) {
  cache::CachedResponse entry;
  entry.key = key;
  if (language) entry.vary = {{"accept-language", *language}};
  entry.headers = {{"Content-Type", "text/plain"}};
  entry.body = std::make_shared<const std::string>("body " + language.value_or("-"));
  entry.response_time = cache::Time(1'796'000'000'000ms);
  entry.request_time = entry.response_time;
  entry.lifetime = 60s;
  return entry;
}

TEST(CacheL2, KeysAndPurgePatterns) {
  EXPECT_EQ(l2Key("api.test/a?b=1"), "sg:c:api.test/a?b=1");
  EXPECT_EQ(l2PurgePattern("api.test/x*[y]?\\"), "sg:c:api.test/x\\*\\[y\\]\\?\\\\*");
}

TEST(CacheL2, TtlIsFreshnessLeftPlusTheLongerStaleWindow) {
  cache::CachedResponse entry = entryFor("k", std::nullopt);
  const cache::Time now = entry.response_time + 5s;
  EXPECT_EQ(l2TtlMs(entry, now), 55'000);
  entry.stale_while_revalidate = 10s;
  entry.stale_if_error = 30s;
  EXPECT_EQ(l2TtlMs(entry, now), 85'000);
  EXPECT_EQ(l2TtlMs(entry, entry.response_time + 100s), -10'000);  // nothing left: not written
}

// A synchronous connection to the test server, for running the scripts as the gateway does.
class ScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    context_.reset(redisConnect("127.0.0.1", server_.port()));
    ASSERT_TRUE(context_ && context_->err == 0);
  }

  using ReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;
  ReplyPtr eval(const store::Script& script, const std::string& key,
                std::initializer_list<std::string> args) {
    std::vector<const char*> argv{"EVAL", script.source().c_str(), "1", key.c_str()};
    std::vector<size_t> lengths{4, script.source().size(), 1, key.size()};
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(redisCommandArgv(
        context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()));
    return ReplyPtr(reply, freeReplyObject);
  }
  // The lock state a lookup reports (mode, owner, lock ms).
  int64_t lookupLock(const std::string& key, const std::string& mode, const std::string& owner,
                     const std::string& lock_ms = "5000") {
    ReplyPtr reply = eval(l2LookupScript(), key, {mode, owner, lock_ms});
    EXPECT_TRUE(reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return -1;
    return reply->element[1]->integer;
  }
  void store(const std::string& key, const cache::CachedResponse& entry, const std::string& owner,
             const std::string& ttl_ms = "60000") {
    ReplyPtr reply = eval(l2StoreScript(), key,
                          {cache::l2VaryNames(entry.vary), cache::l2VariantField(entry.vary),
                           cache::encodeL2Entry(entry), ttl_ms, owner});
    ASSERT_TRUE(reply && reply->type == REDIS_REPLY_INTEGER) << (reply ? reply->str : "no reply");
  }
  L2Lookup lookup(const std::string& key, const std::vector<http::Header>& headers) {
    ReplyPtr reply = eval(l2LookupScript(), key, {"0", "reader", "5000"});
    return parseL2Lookup(store::Reply::of(reply.get()), 3, headers);
  }

  store::testing::RedisServer server_;
  std::unique_ptr<redisContext, decltype(&redisFree)> context_{nullptr, redisFree};
};

TEST_F(ScriptTest, LockGoesToTheFirstAskerAndEndsWithItsStore) {
  const std::string key = l2Key("site/a");
  EXPECT_EQ(lookupLock(key, "1", "a-1"), static_cast<int64_t>(L2LockState::kTaken));
  EXPECT_EQ(lookupLock(key, "1", "b-1"), static_cast<int64_t>(L2LockState::kBusy));
  EXPECT_EQ(lookupLock(key, "1", "a-1"), static_cast<int64_t>(L2LockState::kTaken));  // its own
  store(key, entryFor("site/a", std::nullopt), "a-1");
  EXPECT_EQ(lookupLock(key, "1", "b-1"), static_cast<int64_t>(L2LockState::kNotAsked));
  const L2Lookup found = lookup(key, {});
  ASSERT_TRUE(found.ok && found.entry);
  EXPECT_EQ(found.entry->bodyBytes(), "body -");
  EXPECT_EQ(found.entry->owner, 3u);
  const auto ttl = std::stoll(server_.cli("PTTL " + key));
  EXPECT_GT(ttl, 59'000);
  EXPECT_LE(ttl, 60'000);
  // mode 2: the lock even though something is stored (the entry needs revalidating)
  EXPECT_EQ(lookupLock(key, "2", "b-1"), static_cast<int64_t>(L2LockState::kTaken));
}

TEST_F(ScriptTest, AFetchThatStoresNothingPassesTheWaiters) {
  const std::string key = l2Key("site/nostore");
  EXPECT_EQ(lookupLock(key, "1", "a-1"), static_cast<int64_t>(L2LockState::kTaken));
  ReplyPtr other = eval(l2ReleaseScript(), key, {"b-1", "1000"});  // not the holder: no effect
  EXPECT_EQ(other->integer, 0);
  EXPECT_EQ(lookupLock(key, "1", "b-1"), static_cast<int64_t>(L2LockState::kBusy));
  ReplyPtr released = eval(l2ReleaseScript(), key, {"a-1", "1000"});
  EXPECT_EQ(released->integer, 1);
  EXPECT_EQ(lookupLock(key, "1", "b-1"), static_cast<int64_t>(L2LockState::kPass));
}

TEST_F(ScriptTest, LockExpiresOnRedissClock) {
  const std::string key = l2Key("site/slow");
  EXPECT_EQ(lookupLock(key, "1", "a-1", "100"), static_cast<int64_t>(L2LockState::kTaken));
  EXPECT_EQ(lookupLock(key, "1", "b-1"), static_cast<int64_t>(L2LockState::kBusy));
  std::this_thread::sleep_for(150ms);  // the holder died: the next asker takes over
  EXPECT_EQ(lookupLock(key, "1", "b-1"), static_cast<int64_t>(L2LockState::kTaken));
}

TEST_F(ScriptTest, VariantsAreSelectedAndOtherVaryNamesReplaceThem) {
  const std::string key = l2Key("site/lang");
  store(key, entryFor("site/lang", "en"), "w");
  store(key, entryFor("site/lang", "fr"), "w");
  const L2Lookup fr = lookup(key, {{"Accept-Language", "fr"}});
  ASSERT_TRUE(fr.entry);
  EXPECT_EQ(fr.entry->bodyBytes(), "body fr");
  EXPECT_FALSE(lookup(key, {{"Accept-Language", "de"}}).entry);
  store(key, entryFor("site/lang", std::nullopt), "w");  // the resource stopped varying
  EXPECT_EQ(server_.cli("HLEN " + key), "2\n");          // _vary and the one entry
  const L2Lookup plain = lookup(key, {{"Accept-Language", "fr"}});
  ASSERT_TRUE(plain.entry);
  EXPECT_EQ(plain.entry->bodyBytes(), "body -");
}

TEST_F(ScriptTest, GarbageEntriesAndRepliesAreSkipped) {
  const std::string key = l2Key("site/garbage");
  server_.cli("HSET " + key + " x notanentry");
  store(key, entryFor("site/garbage", std::nullopt), "w");
  const L2Lookup found = lookup(key, {});
  EXPECT_TRUE(found.ok);
  EXPECT_EQ(found.undecodable, 1u);
  ASSERT_TRUE(found.entry);
  EXPECT_FALSE(parseL2Lookup(store::Reply::failed(store::ReplyStatus::kTimeout, "slow"), 0, {}).ok);
  ReplyPtr wrong(static_cast<redisReply*>(redisCommand(context_.get(), "PING")), freeReplyObject);
  EXPECT_FALSE(parseL2Lookup(store::Reply::of(wrong.get()), 0, {}).ok);
}

}  // namespace
}  // namespace sg::proxy
