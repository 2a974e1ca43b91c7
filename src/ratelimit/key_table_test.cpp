// The bounded key table: sizing, lookups, idle-first and soonest-idle eviction, counters,
// and the key hash (SipHash reference vector).
#include "ratelimit/key_table.h"

#include <gtest/gtest.h>

#include <string>

#include "ratelimit/key_hash.h"

namespace sg::ratelimit {
namespace {

struct Result {
  bool allowed = true;
  bool fresh = false;
  int64_t idle_at = 0;
};

// Touches `hash`; a fresh entry gets idle_at = `idle_at`.
Result touch(KeyTable& table, uint64_t hash, int64_t now, int64_t idle_at, bool allowed = true) {
  return table.update(hash, now, [&](State& state, bool fresh) {
    if (fresh) state.idle_at = idle_at;
    return Result{allowed, fresh, state.idle_at};
  });
}

TEST(KeyTable, CapacityIsMaxKeysRoundedDownToWholeSets) {
  struct Case {
    uint64_t max_keys;
    uint64_t capacity;
    size_t shards;
  };
  const Case cases[] = {{0, 8, 1},
                        {1, 8, 1},
                        {10, 8, 1},
                        {16, 16, 1},
                        {127, 120, 1},
                        {128, 128, 2},
                        {100'000, 99'840, 64},
                        {1'000'000, 999'936, 64}};
  for (const Case& c : cases) {
    KeyTable table(c.max_keys);
    EXPECT_EQ(table.capacity(), c.capacity) << c.max_keys;
    EXPECT_EQ(table.shardCount(), c.shards) << c.max_keys;
    // 32 bytes per entry plus one cache line of lock and counters per shard.
    EXPECT_EQ(table.bytesAllocated(), c.capacity * 32 + c.shards * 64) << c.max_keys;
    EXPECT_EQ(table.stats().bytes, table.bytesAllocated());
  }
}

TEST(KeyTable, FindsWhatItInsertedAndCountsDecisions) {
  KeyTable table(1000);
  for (uint64_t key = 1; key <= 500; ++key) {
    EXPECT_TRUE(touch(table, key * 0x9e3779b97f4a7c15ULL, 0, 100).fresh);
  }
  for (uint64_t key = 1; key <= 500; ++key) {
    EXPECT_FALSE(touch(table, key * 0x9e3779b97f4a7c15ULL, 0, 100, false).fresh) << key;
  }
  const TableStats stats = table.stats();
  EXPECT_EQ(stats.keys, 500u);
  EXPECT_EQ(stats.allowed, 500u);
  EXPECT_EQ(stats.refused, 500u);
  EXPECT_EQ(stats.idle_evictions + stats.forced_evictions, 0u);
}

TEST(KeyTable, HashZeroIsAnOrdinaryKey) {
  KeyTable table(16);
  EXPECT_TRUE(touch(table, 0, 0, 5).fresh);
  EXPECT_FALSE(touch(table, 0, 0, 5).fresh);
  EXPECT_EQ(table.stats().keys, 1u);
}

// 16 entries: one shard of two sets, so every key may use every entry.
TEST(KeyTable, EvictsIdleEntriesFirstAndKeepsLiveOnes) {
  KeyTable table(16);
  ASSERT_EQ(table.capacity(), 16u);
  auto hash = [](uint64_t key) { return key * 0x9e3779b97f4a7c15ULL; };
  for (uint64_t key = 1; key <= 16; ++key) {
    touch(table, hash(key), 0, key <= 8 ? 100 : 1000 + static_cast<int64_t>(key));
  }
  EXPECT_EQ(table.stats().keys, 16u);
  // At t=500 keys 1..8 are idle: eight new keys take their places, losing nothing.
  for (uint64_t key = 17; key <= 24; ++key) EXPECT_TRUE(touch(table, hash(key), 500, 2000).fresh);
  TableStats stats = table.stats();
  EXPECT_EQ(stats.idle_evictions, 8u);
  EXPECT_EQ(stats.forced_evictions, 0u);
  for (uint64_t key = 9; key <= 24; ++key)
    EXPECT_FALSE(touch(table, hash(key), 500, 0).fresh) << key;

  // Nothing idle now: a new key replaces the entry that becomes idle soonest (key 9, at 1009).
  EXPECT_TRUE(touch(table, hash(25), 500, 3000).fresh);
  stats = table.stats();
  EXPECT_EQ(stats.forced_evictions, 1u);
  EXPECT_EQ(stats.keys, 16u);
  for (uint64_t key = 10; key <= 25; ++key)
    EXPECT_FALSE(touch(table, hash(key), 500, 0).fresh) << key;
  EXPECT_TRUE(touch(table, hash(9), 500, 0).fresh);  // key 9 starts afresh
}

TEST(KeyTable, NeverHoldsMoreThanItsCapacity) {
  KeyTable table(1000);
  for (uint64_t key = 1; key <= 50'000; ++key) {
    touch(table, key * 0xd1342543de82ef95ULL, static_cast<int64_t>(key),
          static_cast<int64_t>(key) + 10);
  }
  const TableStats stats = table.stats();
  EXPECT_EQ(stats.keys, table.capacity());
  EXPECT_EQ(stats.keys + stats.idle_evictions + stats.forced_evictions, 50'000u);
  EXPECT_GT(stats.idle_evictions, 0u);
}

// Two-choice placement plus one cuckoo step fills the table to about 90% with live keys
// before the first forced eviction (two choices alone: 72%).
TEST(KeyTable, FillsNearlyFullBeforeEvicting) {
  KeyTable table(100'000);
  uint64_t inserted = 0;
  while (table.stats().forced_evictions == 0) {
    ++inserted;
    touch(table, hashKey(sipKeyFromSeed(7), std::to_string(inserted)), 0, 1'000'000);
  }
  EXPECT_GT(static_cast<double>(inserted) / static_cast<double>(table.capacity()), 0.88);
}

// SipHash-2-4 reference vector (Aumasson and Bernstein, appendix A): key 00..0f, message 00..0e.
TEST(KeyHash, SipHashReferenceVector) {
  const SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  std::string message;
  for (char c = 0; c < 15; ++c) message.push_back(c);
  EXPECT_EQ(sipHash(key, message, 2, 4), 0xa129ca6149be45e5ULL);
}

TEST(KeyHash, SeedChangesEveryHash) {
  const SipKey a = sipKeyFromSeed(1);
  const SipKey b = sipKeyFromSeed(2);
  EXPECT_EQ(hashKey(a, "203.0.113.9"), hashKey(a, "203.0.113.9"));
  EXPECT_NE(hashKey(a, "203.0.113.9"), hashKey(b, "203.0.113.9"));
  EXPECT_NE(hashKey(a, "203.0.113.9"), hashKey(a, "203.0.113.8"));
  EXPECT_NE(hashKey(a, ""), hashKey(a, std::string(1, '\0')));
}

}  // namespace
}  // namespace sg::ratelimit
