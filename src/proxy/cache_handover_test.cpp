// The memory cache carried over a reload: exportCache on one SharedState, importCache on
// another built from the same or a changed config (routes renumbered, gone, no cache, a
// smaller memory budget), and bytes that are not a valid export.
#include "proxy/cache_handover.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cache/l2_codec.h"
#include "cache/test_support.h"
#include "config/config.h"

namespace sg::proxy {
namespace {

using cache::CachedResponse;

// Routes "public/plain" (no cache, owner 0), "public/api" (owner 1), "public/img" (owner 2).
std::string threeRoutes(std::string_view cache = "cache: { memory: 1MiB }") {
  return fmt::format(R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - {{ name: plain, match: {{ prefix: /plain }}, upstream: app }}
      - {{ name: api, match: {{ prefix: /api }}, upstream: app, cache: {{ default_ttl: 10s }} }}
      - {{ name: img, match: {{ prefix: /img }}, upstream: app, cache: {{ default_ttl: 10s }} }}
upstreams:
  app:
    servers: [{{ address: 127.0.0.1:3001 }}]
{}
)",
                     cache);
}

std::unique_ptr<SharedState> sharedFrom(const std::string& text) {
  auto loaded = config::loadConfigString(text, "cache_handover_test.yaml");
  EXPECT_TRUE(loaded.errors.empty());
  return std::make_unique<SharedState>(loaded.config, 1);
}

// The RouteCache::owner of "listener/route" in `shared`.
uint32_t ownerOf(SharedState& shared, std::string_view listener, std::string_view route) {
  for (const SharedListener& each : shared.listeners()) {
    if (each.config->name != listener) continue;
    for (const Route& candidate : each.router.routes()) {
      if (candidate.config->name == route && candidate.cache) return candidate.cache->owner;
    }
  }
  ADD_FAILURE() << listener << "/" << route << " does not cache";
  return 0;
}

std::shared_ptr<CachedResponse> makeEntry(std::string key, uint32_t owner, size_t body_size = 100) {
  auto entry = std::make_shared<CachedResponse>();
  entry->key = std::move(key);
  entry->headers = {{"Content-Type", "text/plain"}, {"ETag", "\"v1\""}};
  cache::renderWireHeaders(*entry);
  entry->body = std::make_shared<const std::string>(body_size, 'b');
  entry->request_time = cache::testing::kNow;
  entry->response_time = cache::testing::kNow + std::chrono::milliseconds(3);
  entry->lifetime = std::chrono::seconds(60);
  entry->etag = "\"v1\"";
  entry->owner = owner;
  entry->charge = cache::estimateCharge(*entry);
  return entry;
}

void store(SharedState& shared, std::shared_ptr<CachedResponse> entry) {
  ASSERT_TRUE(shared.cache()->cache.insert(std::move(entry)));
}

// Each resident entry as its codec bytes and owner.
std::set<std::pair<std::string, uint32_t>> residents(SharedState& shared) {
  std::set<std::pair<std::string, uint32_t>> out;
  shared.cache()->cache.forEachEntry([&](const std::shared_ptr<const CachedResponse>& entry) {
    out.emplace(cache::encodeL2Entry(*entry), entry->owner);
  });
  return out;
}

std::vector<std::string> keysColdestFirst(SharedState& shared) {
  std::vector<std::string> keys;
  shared.cache()->cache.forEachEntry(
      [&](const std::shared_ptr<const CachedResponse>& entry) { keys.push_back(entry->key); });
  return keys;
}

// The charge an entry has once decoded (estimateCharge counts string capacities).
uint64_t decodedCharge(const CachedResponse& entry) {
  return cache::decodeL2Entry(cache::encodeL2Entry(entry), 0, nullptr)->charge;
}

std::string exported(SharedState& shared) {
  std::string out;
  exportCache(shared, &out);
  return out;
}

// Writes the format by hand, as cache_handover.h documents it.
struct Blob {
  std::string out{static_cast<char>(kCacheHandoverVersion)};
  Blob& uint(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
    return *this;
  }
  Blob& str(std::string_view text) {
    uint(text.size(), 4);
    out.append(text);
    return *this;
  }
  // (owner, listener, route) of each caching route.
  Blob& routes(
      std::initializer_list<std::tuple<uint32_t, std::string_view, std::string_view>> list) {
    uint(list.size(), 4);
    for (const auto& [owner, listener, route] : list) uint(owner, 4).str(listener).str(route);
    return *this;
  }
  Blob& entry(uint32_t owner, std::string_view bytes) { return uint(owner, 4).str(bytes); }
  Blob& entry(uint32_t owner, const CachedResponse& entry) {
    return this->entry(owner, cache::encodeL2Entry(entry));
  }
};

TEST(CacheHandover, RoundTripKeepsEveryFieldVariantsAndPartials) {
  auto old_state = sharedFrom(threeRoutes());
  auto gzip = makeEntry("example.com/api/v", 1);
  gzip->vary = {{"accept-encoding", "gzip"}};
  gzip->charge = cache::estimateCharge(*gzip);
  auto brotli = makeEntry("example.com/api/v", 1, 50);
  brotli->vary = {{"accept-encoding", "br"}};
  brotli->charge = cache::estimateCharge(*brotli);
  auto partial = makeEntry("example.com/img/big", 2, 1000);
  partial->status = 206;
  partial->partial_first = 4000;
  partial->complete_length = 10'000;
  partial->charge = cache::estimateCharge(*partial);
  for (const auto& entry : {gzip, brotli, partial, makeEntry("example.com/img/a", 2)}) {
    store(*old_state, entry);
  }
  const auto before = residents(*old_state);
  ASSERT_EQ(before.size(), 4u);

  auto new_state = sharedFrom(threeRoutes());
  CacheImport result;
  std::string error;
  ASSERT_TRUE(importCache(*new_state, exported(*old_state), &result, &error)) << error;
  EXPECT_EQ(result.restored, 4u);
  EXPECT_EQ(result.refused, 0u);
  EXPECT_EQ(result.unowned, 0u);
  EXPECT_EQ(residents(*new_state), before);
  // Both variants answer their own requests.
  cache::Cache& cache = new_state->cache()->cache;
  const auto br =
      cache.lookup("example.com/api/v", cache::testing::headers({{"Accept-Encoding", "br"}}));
  ASSERT_NE(br, nullptr);
  EXPECT_EQ(br->bodyBytes().size(), 50u);
  const auto gz =
      cache.lookup("example.com/api/v", cache::testing::headers({{"Accept-Encoding", "gzip"}}));
  ASSERT_NE(gz, nullptr);
  EXPECT_EQ(gz->bodyBytes().size(), 100u);
  const auto range = cache.lookup("example.com/img/big", cache::testing::headers({}));
  ASSERT_NE(range, nullptr);
  EXPECT_TRUE(range->partial());
  EXPECT_EQ(range->partial_first, 4000u);
  EXPECT_EQ(range->wire_headers, partial->wire_headers);  // rebuilt on decode
  // Charges are estimated again (capacities may differ from the old process's strings).
  EXPECT_EQ(range->charge, cache::estimateCharge(*range));
  const auto small = cache.lookup("example.com/img/a", cache::testing::headers({}));
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(cache.ownerStats(2).entries, 2u);
  EXPECT_EQ(cache.ownerStats(2).bytes, range->charge + small->charge);
}

TEST(CacheHandover, ImportKeepsTheOldRecencyOrder) {
  const std::string lru = threeRoutes("cache: { memory: 1MiB, policy: lru }");
  auto old_state = sharedFrom(lru);
  for (const char* key : {"a", "b", "c", "d", "e"}) store(*old_state, makeEntry(key, 1));
  for (const char* key : {"b", "a"}) {
    ASSERT_NE(old_state->cache()->cache.lookup(key, cache::testing::headers({})), nullptr);
  }
  const std::vector<std::string> expected{"c", "d", "e", "b", "a"};
  ASSERT_EQ(keysColdestFirst(*old_state), expected);
  auto new_state = sharedFrom(lru);
  CacheImport result;
  std::string error;
  ASSERT_TRUE(importCache(*new_state, exported(*old_state), &result, &error)) << error;
  EXPECT_EQ(keysColdestFirst(*new_state), expected);
}

TEST(CacheHandover, OwnersFollowTheRouteNameAcrossRenumbering) {
  auto old_state = sharedFrom(threeRoutes());
  store(*old_state, makeEntry("api/1", ownerOf(*old_state, "public", "api")));
  store(*old_state, makeEntry("api/2", ownerOf(*old_state, "public", "api")));
  store(*old_state, makeEntry("img/1", ownerOf(*old_state, "public", "img")));
  // The new config puts a new caching route first and swaps api and img.
  auto new_state = sharedFrom(R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - { name: new, match: { prefix: /new }, upstream: app, cache: { default_ttl: 10s } }
      - { name: img, match: { prefix: /img }, upstream: app, cache: { default_ttl: 10s } }
      - { name: api, match: { prefix: /api }, upstream: app, cache: { default_ttl: 10s } }
upstreams:
  app:
    servers: [{ address: 127.0.0.1:3001 }]
cache: { memory: 1MiB }
)");
  const uint32_t api = ownerOf(*new_state, "public", "api");
  const uint32_t img = ownerOf(*new_state, "public", "img");
  ASSERT_EQ(api, 2u);
  ASSERT_EQ(img, 1u);
  CacheImport result;
  std::string error;
  ASSERT_TRUE(importCache(*new_state, exported(*old_state), &result, &error)) << error;
  EXPECT_EQ(result.restored, 3u);
  cache::Cache& cache = new_state->cache()->cache;
  EXPECT_EQ(cache.lookup("api/1", cache::testing::headers({}))->owner, api);
  EXPECT_EQ(cache.lookup("img/1", cache::testing::headers({}))->owner, img);
  EXPECT_EQ(cache.ownerStats(api).entries, 2u);
  EXPECT_EQ(cache.ownerStats(img).entries, 1u);
  EXPECT_EQ(cache.ownerStats(ownerOf(*new_state, "public", "new")).entries, 0u);
}

// Two listeners, each with a caching route named "api"; `first` comes first.
std::string twoListeners(std::string_view first, std::string_view second) {
  return fmt::format(R"(listeners:
  - name: {}
    address: 127.0.0.1:0
    routes:
      - {{ name: api, match: {{ prefix: /api }}, upstream: app, cache: {{ default_ttl: 10s }} }}
  - name: {}
    address: 127.0.0.1:0
    routes:
      - {{ name: api, match: {{ prefix: /api }}, upstream: app, cache: {{ default_ttl: 10s }} }}
upstreams:
  app:
    servers: [{{ address: 127.0.0.1:3001 }}]
cache: {{ memory: 1MiB }}
)",
                     first, second);
}

TEST(CacheHandover, TheListenerNameTellsRoutesOfTheSameNameApart) {
  auto old_state = sharedFrom(twoListeners("public", "internal"));
  store(*old_state, makeEntry("public-entry", ownerOf(*old_state, "public", "api")));
  store(*old_state, makeEntry("internal-entry", ownerOf(*old_state, "internal", "api")));
  auto new_state = sharedFrom(twoListeners("internal", "public"));
  ASSERT_NE(ownerOf(*old_state, "public", "api"), ownerOf(*new_state, "public", "api"));
  CacheImport result;
  std::string error;
  ASSERT_TRUE(importCache(*new_state, exported(*old_state), &result, &error)) << error;
  EXPECT_EQ(result.restored, 2u);
  cache::Cache& cache = new_state->cache()->cache;
  EXPECT_EQ(cache.lookup("public-entry", cache::testing::headers({}))->owner,
            ownerOf(*new_state, "public", "api"));
  EXPECT_EQ(cache.lookup("internal-entry", cache::testing::headers({}))->owner,
            ownerOf(*new_state, "internal", "api"));
}

TEST(CacheHandover, EntriesOfARouteThatNoLongerCachesAreDropped) {
  auto old_state = sharedFrom(threeRoutes());
  store(*old_state, makeEntry("api/1", 1));
  store(*old_state, makeEntry("img/1", 2));
  store(*old_state, makeEntry("img/2", 2));
  // img is still there but without a cache; api stays.
  auto new_state = sharedFrom(R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - { name: api, match: { prefix: /api }, upstream: app, cache: { default_ttl: 10s } }
      - { name: img, match: { prefix: /img }, upstream: app }
upstreams:
  app:
    servers: [{ address: 127.0.0.1:3001 }]
cache: { memory: 1MiB }
)");
  CacheImport result;
  std::string error;
  ASSERT_TRUE(importCache(*new_state, exported(*old_state), &result, &error)) << error;
  EXPECT_EQ(result.restored, 1u);
  EXPECT_EQ(result.unowned, 2u);
  EXPECT_EQ(keysColdestFirst(*new_state), std::vector<std::string>{"api/1"});
  EXPECT_EQ(new_state->cache()->cache.ownerStats(0).entries, 1u);
}

TEST(CacheHandover, NoCacheOnEitherSideIsNotAnError) {
  const std::string uncached = R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - { name: api, match: { prefix: /api }, upstream: app }
upstreams:
  app:
    servers: [{ address: 127.0.0.1:3001 }]
)";
  auto old_state = sharedFrom(threeRoutes());
  store(*old_state, makeEntry("api/1", 1));
  auto no_cache = sharedFrom(uncached);
  ASSERT_EQ(no_cache->cache(), nullptr);
  CacheImport result;
  std::string error;
  EXPECT_TRUE(importCache(*no_cache, exported(*old_state), &result, &error));
  EXPECT_EQ(result.restored + result.refused + result.unowned, 0u);
  EXPECT_EQ(error, "");

  // From a process without a cache: a valid export of nothing.
  const std::string empty_export = exported(*no_cache);
  EXPECT_EQ(empty_export, Blob().routes({}).out);
  auto new_state = sharedFrom(threeRoutes());
  EXPECT_TRUE(importCache(*new_state, empty_export, &result, &error)) << error;
  EXPECT_EQ(result.restored, 0u);
  EXPECT_EQ(new_state->cache()->cache.stats().entries, 0u);
}

TEST(CacheHandover, ASmallerBudgetKeepsTheHottestEntries) {
  for (std::string_view policy : {"lru", "tinylfu"}) {
    SCOPED_TRACE(policy);
    auto old_state = sharedFrom(threeRoutes("cache: { memory: 1MiB, policy: lru }"));
    constexpr int kEntries = 60;
    for (int i = 0; i < kEntries; ++i) store(*old_state, makeEntry(std::to_string(i), 1, 4000));
    auto new_state =
        sharedFrom(threeRoutes(fmt::format("cache: {{ memory: 64KiB, policy: {} }}", policy)));
    CacheImport result;
    std::string error;
    ASSERT_TRUE(importCache(*new_state, exported(*old_state), &result, &error)) << error;
    const uint64_t charge = decodedCharge(*makeEntry("00", 1, 4000));
    ASSERT_EQ(new_state->cache()->cache.shardCount(), 1u);
    const uint64_t fit = new_state->cache()->cache.shardCapacity() / charge;
    EXPECT_EQ(result.restored, fit);
    EXPECT_EQ(result.refused, kEntries - fit);
    // The most recently stored ones, in their order.
    std::vector<std::string> expected;
    for (int i = kEntries - static_cast<int>(fit); i < kEntries; ++i) {
      expected.push_back(std::to_string(i));
    }
    EXPECT_EQ(keysColdestFirst(*new_state), expected);
    EXPECT_EQ(new_state->cache()->cache.stats().evictions, 0u);  // nothing had to make room
  }
}

TEST(CacheHandover, ASmallerBudgetIsSharedOutShardByShard) {
  // 1 MiB bodies: 8 shards of 16 MiB on the old side, 2 on the new one (the default count
  // for 32 MiB), each with room for 15 of them, so about a third are left out.
  auto old_state = sharedFrom(threeRoutes("cache: { memory: 128MiB, policy: lru }"));
  constexpr int kEntries = 45;
  const size_t body = size_t{1} << 20;
  for (int i = 0; i < kEntries; ++i)
    store(*old_state, makeEntry(fmt::format("k{:02}", i), 1, body));
  ASSERT_EQ(old_state->cache()->cache.stats().entries, size_t{kEntries});
  auto new_state = sharedFrom(threeRoutes("cache: { memory: 32MiB, policy: tinylfu }"));
  cache::Cache& cache = new_state->cache()->cache;
  ASSERT_EQ(cache.shardCount(), 2u);
  const uint64_t per_shard = cache.shardCapacity() / decodedCharge(*makeEntry("k00", 1, body));
  ASSERT_EQ(per_shard, 15u);
  CacheImport result;
  std::string error;
  ASSERT_TRUE(importCache(*new_state, exported(*old_state), &result, &error)) << error;
  // Per new shard, the hottest ones that fit, hottest as the old cache ranked them (across its
  // 8 shards that is close to, not exactly, the order they were stored in).
  const std::vector<std::string> old_order = keysColdestFirst(*old_state);
  std::vector<uint64_t> kept(2, 0);
  std::set<std::string> expected;
  for (size_t i = old_order.size(); i-- > 0;) {
    uint64_t& shard_kept = kept[cache.shardIndex(old_order[i])];
    if (shard_kept == per_shard) continue;
    ++shard_kept;
    expected.insert(old_order[i]);
  }
  EXPECT_EQ(expected.size(), 2 * per_shard);  // both shards full
  const std::vector<std::string> resident = keysColdestFirst(*new_state);
  EXPECT_EQ(std::set<std::string>(resident.begin(), resident.end()), expected);
  EXPECT_EQ(result.restored, expected.size());
  EXPECT_EQ(result.refused, kEntries - expected.size());
  EXPECT_EQ(cache.stats().evictions + cache.stats().rejected, 0u);
}

TEST(CacheHandover, TruncatedBytesKeepTheEntriesBefore) {
  auto old_state = sharedFrom(threeRoutes("cache: { memory: 1MiB, policy: lru }"));
  for (const char* key : {"a", "b", "c"}) store(*old_state, makeEntry(key, 1));
  const std::string bytes = exported(*old_state);
  for (size_t cut : {size_t{1}, size_t{20}}) {
    auto new_state = sharedFrom(threeRoutes());
    CacheImport result;
    std::string error;
    EXPECT_FALSE(importCache(*new_state, std::string_view(bytes).substr(0, bytes.size() - cut),
                             &result, &error));
    EXPECT_EQ(error, "entry 3: truncated");
    EXPECT_EQ(result.restored, 2u);
    EXPECT_EQ(keysColdestFirst(*new_state), (std::vector<std::string>{"a", "b"}));
  }
}

TEST(CacheHandover, BadHeadersImportNothing) {
  const std::string valid = Blob().routes({{1, "public", "api"}}).entry(1, *makeEntry("a", 1)).out;
  std::string wrong_version = valid;
  wrong_version[0] = 2;
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "empty"},
      {wrong_version, "version 2, expected 1"},
      {valid.substr(0, 3), "truncated route table"},
      {valid.substr(0, 12), "route table: route 1 of 1 truncated"},
  };
  for (const auto& [bytes, reason] : cases) {
    SCOPED_TRACE(reason);
    auto new_state = sharedFrom(threeRoutes());
    CacheImport result;
    std::string error;
    EXPECT_FALSE(importCache(*new_state, bytes, &result, &error));
    EXPECT_EQ(error, reason);
    EXPECT_EQ(new_state->cache()->cache.stats().entries, 0u);
  }
}

TEST(CacheHandover, ABadEntryStopsTheImportAndKeepsWhatCameBefore) {
  const auto first = makeEntry("first", 1);
  const auto after = makeEntry("after", 1);
  std::string bad = cache::encodeL2Entry(*makeEntry("bad", 1));
  bad[0] = 9;  // the codec's version byte
  const std::string bytes =
      Blob().routes({{1, "public", "api"}}).entry(1, *first).entry(1, bad).entry(1, *after).out;
  auto new_state = sharedFrom(threeRoutes());
  CacheImport result;
  std::string error;
  EXPECT_FALSE(importCache(*new_state, bytes, &result, &error));
  EXPECT_TRUE(error.starts_with("entry 2: ")) << error;
  EXPECT_EQ(result.restored, 1u);
  EXPECT_EQ(keysColdestFirst(*new_state), std::vector<std::string>{"first"});
}

TEST(CacheHandover, ALengthPastTheEndIsTruncatedNotAllocated) {
  const auto first = makeEntry("first", 1);
  // The second entry claims 4 GiB - 1 bytes; a route name claims the same in the other case.
  const std::string bytes =
      Blob().routes({{1, "public", "api"}}).entry(1, *first).uint(1, 4).uint(0xffffffff, 4).out;
  const std::string route_bytes = Blob().uint(1, 4).uint(1, 4).uint(0xffffffff, 4).out;
  auto new_state = sharedFrom(threeRoutes());
  CacheImport result;
  std::string error;
  EXPECT_FALSE(importCache(*new_state, bytes, &result, &error));
  EXPECT_EQ(error, "entry 2: truncated");
  EXPECT_EQ(keysColdestFirst(*new_state), std::vector<std::string>{"first"});
  EXPECT_FALSE(importCache(*new_state, route_bytes, &result, &error));
  EXPECT_EQ(error, "route table: route 1 of 1 truncated");
}

TEST(CacheHandover, AnUnknownOwnerNumberIsUnowned) {
  // An entry whose owner the route table does not list (a hand-written or damaged export).
  const std::string bytes = Blob().routes({{1, "public", "api"}}).entry(7, *makeEntry("a", 7)).out;
  auto new_state = sharedFrom(threeRoutes());
  CacheImport result;
  std::string error;
  ASSERT_TRUE(importCache(*new_state, bytes, &result, &error)) << error;
  EXPECT_EQ(result.unowned, 1u);
  EXPECT_EQ(new_state->cache()->cache.stats().entries, 0u);
}

}  // namespace
}  // namespace sg::proxy
