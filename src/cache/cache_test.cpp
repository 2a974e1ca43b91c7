// The sharded Cache: lookups and variants, replacement, erase / erasePrefix, the memory
// bound under random fills, entries outliving eviction, and concurrent use.
#include "cache/cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_key.h"
#include "cache/test_support.h"

namespace sg::cache {
namespace {

using namespace testing;

std::shared_ptr<const CachedResponse> makeEntry(std::string key, size_t body_size,
                                                std::vector<VaryField> vary = {}) {
  auto entry = std::make_shared<CachedResponse>();
  entry->key = std::move(key);
  entry->vary = std::move(vary);
  entry->body = std::make_shared<const std::string>(body_size, 'x');
  entry->headers.push_back(StoredHeader{"Content-Type", "text/plain"});
  entry->charge = estimateCharge(*entry);
  return entry;
}

config::CacheConfig cacheConfig(uint64_t memory, PolicyKind policy = PolicyKind::kTinyLfu) {
  config::CacheConfig config;
  config.memory = memory;
  config.policy = policy;
  return config;
}

VaryField encoding(std::optional<std::string> value) {
  return VaryField{"accept-encoding", std::move(value)};
}

TEST(Cache, ChargeCountsTheWholeEntry) {
  const auto small = makeEntry("k", 0);
  EXPECT_GE(small->charge, sizeof(CachedResponse) + 200);  // bookkeeping counted
  const auto heap_body = makeEntry("k", 16);               // past the inline-string size
  const auto body = makeEntry("k", 10'016);
  EXPECT_EQ(body->charge - heap_body->charge, 10'000u);
  const auto key = makeEntry(std::string(5000, 'k'), 0);
  EXPECT_GE(key->charge - small->charge, 2 * 5000u);  // the entry's key and the map's copy
  auto headers_entry = std::make_shared<CachedResponse>(*small);
  headers_entry->headers.push_back(StoredHeader{"X-Long", std::string(3000, 'v')});
  EXPECT_GE(estimateCharge(*headers_entry) - small->charge, 3000u);
  auto vary_entry = std::make_shared<CachedResponse>(*small);
  vary_entry->vary.push_back(encoding(std::string(2000, 'g')));
  EXPECT_GE(estimateCharge(*vary_entry) - small->charge, 2000u);
}

TEST(Cache, InsertThenLookup) {
  Cache cache(cacheConfig(1 << 20));
  const auto entry = makeEntry("example.com/a", 100);
  EXPECT_FALSE(cache.insert(nullptr));
  EXPECT_EQ(cache.lookup("example.com/a", request()), nullptr);
  ASSERT_TRUE(cache.insert(entry));
  EXPECT_EQ(cache.lookup("example.com/a", request()), entry);
  EXPECT_EQ(cache.lookup("example.com/b", request()), nullptr);
  EXPECT_EQ(cache.lookup("example.com/a/", request()), nullptr);
  const CacheStats stats = cache.stats();
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.inserts, 1u);
  EXPECT_EQ(stats.bytes, entry->charge);
  EXPECT_EQ(stats.capacity, 1u << 20);
}

TEST(Cache, VariantsAreSelectedByRequestHeaders) {
  Cache cache(cacheConfig(1 << 20));
  const auto gzip = makeEntry("k", 10, {encoding("gzip")});
  const auto br = makeEntry("k", 10, {encoding("br")});
  const auto plain = makeEntry("k", 10, {encoding(std::nullopt)});
  ASSERT_TRUE(cache.insert(gzip));
  ASSERT_TRUE(cache.insert(br));
  ASSERT_TRUE(cache.insert(plain));
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Encoding", "gzip"}})), gzip);
  EXPECT_EQ(cache.lookup("k", headers({{"accept-encoding", " br "}})), br);
  EXPECT_EQ(cache.lookup("k", headers({})), plain);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Encoding", "zstd"}})), nullptr);
}

// A response varying on Accept-Language in `language`, stored for `accept_language`.
std::shared_ptr<const CachedResponse> languageEntry(std::string_view accept_language,
                                                    const char* language, size_t body_size) {
  auto entry = std::make_shared<CachedResponse>(*makeEntry("k", body_size));
  entry->vary = variantFields(headers({{"Accept-Language", accept_language}}), {"accept-language"});
  entry->headers.push_back(StoredHeader{"Content-Language", language});
  entry->charge = estimateCharge(*entry);
  return entry;
}

TEST(Cache, EquivalentAcceptFieldsShareAVariantAndExactBeatsSelected) {
  Cache cache(cacheConfig(1 << 20));
  const auto exact = languageEntry("fr;q=0.5, de", "de", 10);
  const auto newer = languageEntry("en, de", "de", 20);
  ASSERT_TRUE(cache.insert(exact));
  ASSERT_TRUE(cache.insert(newer));
  EXPECT_EQ(cache.stats().entries, 2u);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Language", "DE, fr;q=0.50"}})), exact);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Language", "De , EN"}})), newer);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Language", "de;q=1.0, it;q=0.1"}})), newer);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Language", "it, de;q=0.9"}})), nullptr);
  // Storing an equivalent request's response replaces that variant.
  ASSERT_TRUE(cache.insert(languageEntry("DE,EN", "de", 30)));
  EXPECT_EQ(cache.stats().entries, 2u);
  // Accept-Encoding: order, case and q=1 do not make another variant.
  const auto coded = makeEntry("c", 10, {VaryField{"accept-encoding", "br,gzip"}});
  ASSERT_TRUE(cache.insert(coded));
  EXPECT_EQ(cache.lookup("c", headers({{"Accept-Encoding", "GZIP, br;q=1"}})), coded);
  EXPECT_EQ(cache.lookup("c", headers({{"Accept-Encoding", "gzip"}})), nullptr);
}

TEST(Cache, SameVariantReplacesAndNewVaryNamesReplaceAll) {
  Cache cache(cacheConfig(1 << 20));
  ASSERT_TRUE(cache.insert(makeEntry("k", 10, {encoding("gzip")})));
  ASSERT_TRUE(cache.insert(makeEntry("k", 10, {encoding("br")})));
  const auto newer = makeEntry("k", 20, {encoding("gzip")});
  ASSERT_TRUE(cache.insert(newer));
  EXPECT_EQ(cache.stats().entries, 2u);
  EXPECT_EQ(cache.stats().erased, 1u);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Encoding", "gzip"}})), newer);
  // The resource now varies on Origin instead: both encodings variants go.
  const auto by_origin = makeEntry("k", 10, {VaryField{"origin", "https://a"}});
  ASSERT_TRUE(cache.insert(by_origin));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Encoding", "gzip"}})), nullptr);
  EXPECT_EQ(cache.lookup("k", headers({{"Origin", "https://a"}})), by_origin);
  // No Vary at all replaces the varying one too.
  const auto single = makeEntry("k", 10);
  ASSERT_TRUE(cache.insert(single));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.lookup("k", headers({{"Origin", "https://b"}})), single);
  EXPECT_EQ(cache.stats().bytes, single->charge);
}

TEST(Cache, MaxVariantsDropsTheOldest) {
  Cache cache(cacheConfig(1 << 20), CacheOptions{.shards = 1, .max_variants = 3});
  for (const char* value : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(cache.insert(makeEntry("k", 10, {encoding(value)})));
  }
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Encoding", "a"}})), nullptr);
  EXPECT_NE(cache.lookup("k", headers({{"Accept-Encoding", "d"}})), nullptr);
}

TEST(Cache, EraseRemovesEveryVariant) {
  Cache cache(cacheConfig(1 << 20));
  ASSERT_TRUE(cache.insert(makeEntry("k", 10, {encoding("gzip")})));
  ASSERT_TRUE(cache.insert(makeEntry("k", 10, {encoding("br")})));
  ASSERT_TRUE(cache.insert(makeEntry("other", 10)));
  EXPECT_EQ(cache.erase("k"), 2u);
  EXPECT_EQ(cache.erase("k"), 0u);
  EXPECT_EQ(cache.lookup("k", headers({{"Accept-Encoding", "gzip"}})), nullptr);
  EXPECT_NE(cache.lookup("other", headers({})), nullptr);
  const CacheStats stats = cache.stats();
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.erased, 2u);
  ASSERT_TRUE(cache.insert(makeEntry("k", 10)));  // reusable after erase
}

TEST(Cache, ErasePrefixAcrossShards) {
  Cache cache(cacheConfig(8 << 20), CacheOptions{.shards = 8});
  ASSERT_EQ(cache.shardCount(), 8u);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(cache.insert(makeEntry("a.com/x/" + std::to_string(i), 10)));
    ASSERT_TRUE(cache.insert(makeEntry("a.com/y/" + std::to_string(i), 10)));
    ASSERT_TRUE(cache.insert(makeEntry("b.com/x/" + std::to_string(i), 10)));
  }
  ASSERT_TRUE(cache.insert(makeEntry("a.com/x", 10)));  // not under "a.com/x/"
  EXPECT_EQ(cache.erasePrefix("a.com/x/"), 50u);
  EXPECT_EQ(cache.stats().entries, 101u);
  EXPECT_EQ(cache.lookup("a.com/x/7", headers({})), nullptr);
  EXPECT_NE(cache.lookup("a.com/y/7", headers({})), nullptr);
  EXPECT_NE(cache.lookup("b.com/x/7", headers({})), nullptr);
  EXPECT_NE(cache.lookup("a.com/x", headers({})), nullptr);
  EXPECT_EQ(cache.erasePrefix(""), 101u);
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(Cache, RefusesEntriesLargerThanAShard) {
  Cache cache(cacheConfig(1 << 20), CacheOptions{.shards = 4});
  EXPECT_EQ(cache.shardCapacity(), (1u << 20) / 4);
  ASSERT_TRUE(cache.insert(makeEntry("small", 1000)));
  EXPECT_FALSE(cache.insert(makeEntry("big", (1 << 20) / 4)));
  EXPECT_EQ(cache.stats().too_large, 1u);
  EXPECT_NE(cache.lookup("small", headers({})), nullptr);
}

TEST(Cache, MemoryBoundHoldsUnderRandomFill) {
  for (PolicyKind policy : {PolicyKind::kLru, PolicyKind::kTinyLfu}) {
    SCOPED_TRACE(policyName(policy));
    const uint64_t memory = 2 << 20;
    Cache cache(cacheConfig(memory, policy), CacheOptions{.shards = 4});
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> key_of(0, 1999);
    std::uniform_int_distribution<size_t> size_of(0, size_t{64} * 1024);
    for (int i = 0; i < 20'000; ++i) {
      const std::string key = "h/" + std::to_string(key_of(rng) % (1 + key_of(rng)));
      if (cache.lookup(key, headers({})) == nullptr) cache.insert(makeEntry(key, size_of(rng)));
      ASSERT_LE(cache.stats().bytes, memory);
    }
    // The accounting matches what is really resident.
    uint64_t bytes = 0;
    uint64_t entries = 0;
    for (int k = 0; k < 2000; ++k) {
      if (const auto entry = cache.lookup("h/" + std::to_string(k), headers({}))) {
        bytes += entry->charge;
        ++entries;
      }
    }
    const CacheStats stats = cache.stats();
    EXPECT_EQ(stats.bytes, bytes);
    EXPECT_EQ(stats.entries, entries);
    EXPECT_GT(stats.bytes, memory / 2);  // it did fill up
    EXPECT_GT(stats.evictions + stats.rejected, 0u);
  }
}

TEST(Cache, EntryOutlivesItsEviction) {
  Cache cache(cacheConfig(uint64_t{64} * 1024, PolicyKind::kLru), CacheOptions{.shards = 1});
  ASSERT_TRUE(cache.insert(makeEntry("first", 1000)));
  const auto held = cache.lookup("first", headers({}));
  ASSERT_NE(held, nullptr);
  for (int i = 0; i < 200; ++i) cache.insert(makeEntry("fill/" + std::to_string(i), 1000));
  EXPECT_EQ(cache.lookup("first", headers({})), nullptr);
  EXPECT_EQ(held->bodyBytes(), std::string(1000, 'x'));  // still readable (ASan checks)
}

TEST(Cache, TinyLfuKeepsTheHotSetThroughAScanLruDoesNot) {
  for (PolicyKind policy : {PolicyKind::kLru, PolicyKind::kTinyLfu}) {
    SCOPED_TRACE(policyName(policy));
    const auto probe = makeEntry("probe", 100);
    Cache cache(cacheConfig(100 * probe->charge, policy), CacheOptions{.shards = 1});
    const auto touch = [&](const std::string& key) {
      if (cache.lookup(key, headers({})) != nullptr) return true;
      cache.insert(makeEntry(key, 100));
      return false;
    };
    for (int round = 0; round < 20; ++round) {
      for (int k = 0; k < 40; ++k) touch("hot/" + std::to_string(k));
    }
    for (int k = 0; k < 5000; ++k) touch("scan/" + std::to_string(k));
    int hits = 0;
    for (int k = 0; k < 40; ++k) hits += touch("hot/" + std::to_string(k)) ? 1 : 0;
    if (policy == PolicyKind::kLru) {
      EXPECT_EQ(hits, 0);
    } else {
      EXPECT_GE(hits, 38);
    }
  }
}

TEST(Cache, ConcurrentLookupsInsertsErasesAndVisits) {
  const uint64_t memory = 1 << 20;
  for (PolicyKind policy : {PolicyKind::kLru, PolicyKind::kTinyLfu}) {
    SCOPED_TRACE(policyName(policy));
    Cache cache(cacheConfig(memory, policy), CacheOptions{.shards = 4});
    std::atomic<uint64_t> hits{0};
    std::atomic<uint64_t> visited{0};
    std::atomic<bool> bound_broken{false};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(100 + t);
        std::uniform_int_distribution<int> key_of(0, 499);
        std::uniform_int_distribution<int> op_of(0, 99);
        std::uniform_int_distribution<size_t> size_of(0, size_t{16} * 1024);
        for (int i = 0; i < 20'000; ++i) {
          const std::string key = "k/" + std::to_string(key_of(rng));
          const int op = op_of(rng);
          if (op < 70) {
            if (const auto entry = cache.lookup(key, headers({}))) {
              hits += entry->bodyBytes().size() == entry->body->size() ? 1 : 0;
            }
          } else if (op < 95) {
            cache.insert(makeEntry(key, size_of(rng)));
          } else if (op < 99) {
            cache.erase(key);
          } else if (t == 0) {
            cache.erasePrefix("k/1");
          } else if (t == 1) {
            cache.forEachEntry([&](const std::shared_ptr<const CachedResponse>& entry) {
              visited += entry->bodyBytes().size() == entry->body->size() ? 1 : 0;
            });
          }
          if (i % 1000 == 0 && cache.stats().bytes > memory) bound_broken = true;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_FALSE(bound_broken);
    EXPECT_GT(hits.load(), 0u);
    EXPECT_GT(visited.load(), 0u);
    uint64_t bytes = 0;
    uint64_t entries = 0;
    for (int k = 0; k < 500; ++k) {
      if (const auto entry = cache.lookup("k/" + std::to_string(k), headers({}))) {
        bytes += entry->charge;
        ++entries;
      }
    }
    EXPECT_EQ(cache.stats().bytes, bytes);
    EXPECT_EQ(cache.stats().entries, entries);
    EXPECT_LE(bytes, memory);
  }
}

std::shared_ptr<const CachedResponse> ownedEntry(std::string key, size_t body_size, uint32_t owner,
                                                 std::vector<VaryField> vary = {}) {
  auto entry =
      std::make_shared<CachedResponse>(*makeEntry(std::move(key), body_size, std::move(vary)));
  entry->owner = owner;
  return entry;
}

// Per-owner entries and bytes add up to the cache's totals.
void expectOwnersAddUp(const Cache& cache, uint32_t owners) {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  for (uint32_t owner = 0; owner < owners; ++owner) {
    entries += cache.ownerStats(owner).entries;
    bytes += cache.ownerStats(owner).bytes;
  }
  const CacheStats stats = cache.stats();
  EXPECT_EQ(entries, stats.entries);
  EXPECT_EQ(bytes, stats.bytes);
}

void expectOwner(const Cache& cache, uint32_t owner,
                 std::initializer_list<std::shared_ptr<const CachedResponse>> resident) {
  uint64_t bytes = 0;
  for (const auto& entry : resident) bytes += entry->charge;
  const OwnerStats stats = cache.ownerStats(owner);
  EXPECT_EQ(stats.entries, resident.size()) << "owner " << owner;
  EXPECT_EQ(stats.bytes, bytes) << "owner " << owner;
  EXPECT_EQ(stats.evictions, 0u) << "owner " << owner;  // erasing is not evicting
}

TEST(Cache, OwnerStatsFollowInsertsReplacementsAndErases) {
  Cache cache(cacheConfig(1 << 20), CacheOptions{.shards = 4, .owners = 2});
  const auto gzip = ownedEntry("a/k", 10, 0, {encoding("gzip")});
  const auto br = ownedEntry("a/k", 20, 0, {encoding("br")});
  const auto other = ownedEntry("a/other", 30, 1);
  const auto clamped = ownedEntry("b/k", 40, 7);  // beyond `owners`: counts as the last
  for (const auto& entry : {gzip, br, other, clamped}) ASSERT_TRUE(cache.insert(entry));
  expectOwner(cache, 0, {gzip, br});
  expectOwner(cache, 1, {other, clamped});
  EXPECT_EQ(cache.ownerStats(7).bytes, cache.ownerStats(1).bytes);
  expectOwnersAddUp(cache, 2);

  // Owner 1 stores the gzip variant again: it replaces owner 0's.
  const auto gzip_again = ownedEntry("a/k", 50, 1, {encoding("gzip")});
  ASSERT_TRUE(cache.insert(gzip_again));
  expectOwner(cache, 0, {br});
  expectOwner(cache, 1, {other, clamped, gzip_again});
  expectOwnersAddUp(cache, 2);
  // Other Vary names replace every variant.
  const auto by_origin = ownedEntry("a/k", 60, 0, {VaryField{"origin", "https://a"}});
  ASSERT_TRUE(cache.insert(by_origin));
  expectOwner(cache, 0, {by_origin});
  expectOwner(cache, 1, {other, clamped});
  expectOwnersAddUp(cache, 2);

  EXPECT_EQ(cache.erase("a/k"), 1u);
  expectOwner(cache, 0, {});
  expectOwner(cache, 1, {other, clamped});
  EXPECT_EQ(cache.erasePrefix("a/"), 1u);
  expectOwner(cache, 1, {clamped});
  EXPECT_EQ(cache.erasePrefix(""), 1u);
  expectOwner(cache, 1, {});
  expectOwnersAddUp(cache, 2);
}

TEST(Cache, OwnerStatsCountEvictionsPerOwner) {
  for (PolicyKind policy : {PolicyKind::kLru, PolicyKind::kTinyLfu}) {
    SCOPED_TRACE(policyName(policy));
    Cache cache(cacheConfig(512 * 1024, policy), CacheOptions{.shards = 2, .owners = 2});
    std::mt19937 rng(5);
    std::uniform_int_distribution<size_t> size_of(0, size_t{16} * 1024);
    uint64_t stored[2] = {0, 0};
    uint64_t turned_away = 0;
    const int inserts = 3000;
    for (int i = 0; i < inserts; ++i) {
      // Unique keys: every resident that leaves is evicted (none replaced or erased).
      const uint32_t owner = rng() % 3 == 0 ? 1 : 0;
      const bool became_resident =
          cache.insert(ownedEntry("k/" + std::to_string(i), size_of(rng), owner));
      (became_resident ? stored[owner] : turned_away) += 1;
      // Hits on recent keys give TinyLFU candidates a chance to win duels.
      for (int j = 0; j < 3; ++j) {
        cache.lookup("k/" + std::to_string(std::max(0, i - static_cast<int>(rng() % 50))),
                     headers({}));
      }
      if (i % 100 == 0) expectOwnersAddUp(cache, 2);
    }
    expectOwnersAddUp(cache, 2);
    // A scan of what is resident agrees with each owner's share.
    OwnerStats scanned[2];
    for (int i = 0; i < inserts; ++i) {
      if (const auto entry = cache.lookup("k/" + std::to_string(i), headers({}))) {
        ++scanned[entry->owner].entries;
        scanned[entry->owner].bytes += entry->charge;
      }
    }
    const CacheStats stats = cache.stats();
    uint64_t evictions = 0;
    for (uint32_t owner = 0; owner < 2; ++owner) {
      const OwnerStats counted = cache.ownerStats(owner);
      EXPECT_EQ(counted.entries, scanned[owner].entries);
      EXPECT_EQ(counted.bytes, scanned[owner].bytes);
      EXPECT_EQ(counted.evictions, stored[owner] - counted.entries);
      EXPECT_GT(counted.evictions, 0u);
      evictions += counted.evictions;
    }
    // Residents that left as rejected window candidates count as the owner's evictions.
    EXPECT_EQ(evictions, stats.evictions + stats.rejected - turned_away);
  }
}

std::vector<std::string> keysColdestFirst(const Cache& cache) {
  std::vector<std::string> keys;
  cache.forEachEntry(
      [&](const std::shared_ptr<const CachedResponse>& entry) { keys.push_back(entry->key); });
  return keys;
}

TEST(Cache, ForEachEntryVisitsLruColdestFirstWithoutHoldingALock) {
  Cache cache(cacheConfig(1 << 20, PolicyKind::kLru), CacheOptions{.shards = 1});
  for (const char* key : {"a", "b", "c", "d"}) ASSERT_TRUE(cache.insert(makeEntry(key, 10)));
  ASSERT_NE(cache.lookup("b", headers({})), nullptr);
  size_t hits = 0;
  cache.forEachEntry([&](const std::shared_ptr<const CachedResponse>& entry) {
    // The shard's lock is not held: using the cache from the visitor does not deadlock.
    hits += cache.lookup(entry->key, headers({})) != nullptr ? 1 : 0;
  });
  EXPECT_EQ(hits, 4u);
  // Those lookups touched every entry again, in the order visited: a, c, d, b.
  EXPECT_EQ(keysColdestFirst(cache), (std::vector<std::string>{"a", "c", "d", "b"}));
  ASSERT_NE(cache.lookup("a", headers({})), nullptr);
  EXPECT_EQ(keysColdestFirst(cache), (std::vector<std::string>{"c", "d", "b", "a"}));
}

TEST(Cache, ForEachEntryVisitsTinyLfuProbationThenProtectedThenWindow) {
  const auto probe = makeEntry("e1", 100);
  // A window of 1% of the capacity: room for one entry, the newest.
  Cache cache(cacheConfig(150 * probe->charge), CacheOptions{.shards = 1});
  for (const char* key : {"e1", "e2", "e3", "e4", "e5"}) {
    ASSERT_TRUE(cache.insert(makeEntry(key, 100)));
  }
  ASSERT_NE(cache.lookup("e2", headers({})), nullptr);  // probation -> protected
  EXPECT_EQ(keysColdestFirst(cache), (std::vector<std::string>{"e1", "e3", "e4", "e2", "e5"}));
}

TEST(Cache, ForEachEntryInterleavesShardsByRank) {
  Cache cache(cacheConfig(1 << 20, PolicyKind::kLru), CacheOptions{.shards = 4});
  constexpr int kEntries = 400;
  for (int i = 0; i < kEntries; ++i) ASSERT_TRUE(cache.insert(makeEntry(std::to_string(i), 10)));
  const std::vector<std::string> keys = keysColdestFirst(cache);
  ASSERT_EQ(keys.size(), size_t{kEntries});
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), size_t{kEntries});
  // Stored oldest first with no hits: each shard lists them in insertion order, so the
  // merge by rank comes out close to insertion order over the whole cache (not shard 0's
  // newest before shard 1's oldest).
  for (size_t position = 0; position < kEntries / 4; ++position) {
    EXPECT_LT(std::stoi(keys[position]), kEntries / 2) << position;
  }
  for (size_t position = 3 * kEntries / 4; position < kEntries; ++position) {
    EXPECT_GE(std::stoi(keys[position]), kEntries / 2) << position;
  }
}

TEST(Cache, ForEachEntryOnAnEmptyCacheVisitsNothing) {
  Cache cache(cacheConfig(1 << 20), CacheOptions{.shards = 4});
  EXPECT_TRUE(keysColdestFirst(cache).empty());
}

TEST(Cache, ShardFreeBytesFollowTheKeysShard) {
  Cache cache(cacheConfig(1 << 20), CacheOptions{.shards = 4});
  const auto free_bytes = [&] {
    std::vector<uint64_t> out;
    for (uint32_t s = 0; s < cache.shardCount(); ++s) out.push_back(cache.shardFreeBytes(s));
    return out;
  };
  const std::vector<uint64_t> empty(4, cache.shardCapacity());
  EXPECT_EQ(free_bytes(), empty);
  std::set<uint32_t> used;
  for (int i = 0; i < 20; ++i) {
    const std::string key = "k/" + std::to_string(i);
    const uint32_t shard = cache.shardIndex(key);
    ASSERT_LT(shard, 4u);
    used.insert(shard);
    std::vector<uint64_t> expected = free_bytes();
    const auto entry = makeEntry(key, 100);
    ASSERT_TRUE(cache.insert(entry));
    expected[shard] -= entry->charge;
    EXPECT_EQ(free_bytes(), expected) << key;
  }
  EXPECT_GT(used.size(), 1u);  // the keys spread over the shards
  cache.erasePrefix("k/");
  EXPECT_EQ(free_bytes(), empty);
}

TEST(Cache, ShardCounts) {
  EXPECT_EQ(defaultShardCount(1 << 20), 1u);
  EXPECT_EQ(defaultShardCount(32ull << 20), 2u);
  EXPECT_EQ(defaultShardCount(256ull << 20), 16u);
  EXPECT_EQ(defaultShardCount(64ull << 30), 64u);
  EXPECT_EQ(Cache(cacheConfig(1 << 20), CacheOptions{.shards = 6}).shardCount(), 4u);
  EXPECT_EQ(Cache(cacheConfig(256ull << 20)).shardCount(), 16u);
}

}  // namespace
}  // namespace sg::cache
