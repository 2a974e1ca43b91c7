#pragma once
// Shared caching state built from the config at start-up: the one response cache and its
// fill locks (request collapsing) for all workers, and per route the route's cache
// settings with the metrics counted next to them.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "cache/cache_control.h"
#include "cache/cached_response.h"
#include "cache/fill_locks.h"
#include "config/config.h"
#include "http/chunked.h"
#include "metrics/metrics.h"
#include "store/invalidation_bus.h"

namespace sg::proxy {

// The X-Cache value of a response on a cached route.
enum class CacheResult : uint8_t { kHit, kMiss, kStale, kRevalidated, kBypass, kCount };
std::string_view cacheResultName(CacheResult result);

enum class L2LookupResult : uint8_t { kFound, kMissing, kFailed, kCount };

// How a conditional request the cache sent ended.
enum class RevalidationResult : uint8_t { kNotModified, kModified, kFailed, kCount };

struct SharedCache {
  explicit SharedCache(const config::CacheConfig& config, uint32_t routes);
  ~SharedCache();

  // With a store: purges and invalidations also reach the L2 and every instance's memory
  // (messages on the store's pub/sub channel). Started with the gateway.
  void startBus(const config::StoreConfig& store);
  // Drops `key` (or every key starting with `prefix`) here, then from the L2 and the other
  // instances through the bus. Returns how many entries left this instance's memory.
  size_t purgeKey(const std::string& key);
  size_t purgePrefix(const std::string& prefix);

  const config::CacheConfig& config;
  cache::Cache cache;
  cache::FillLocks fill_locks;
  // Random: names this process in L2 locks and in the messages it sends (and ignores).
  const std::string instance;
  std::unique_ptr<store::InvalidationBus> bus;
  // Memory dropped whole because the bus lost its subscription (purges may have been missed).
  std::atomic<uint64_t> memory_flushes{0};

 private:
  void onBusMessage(std::string_view message);
};

struct RouteCache {
  const config::RouteCacheConfig* config = nullptr;
  SharedCache* shared = nullptr;
  uint32_t owner = 0;  // CachedResponse::owner of this route's entries
  std::array<metrics::Counter*, static_cast<size_t>(CacheResult::kCount)> responses{};
  std::array<metrics::Counter*, static_cast<size_t>(RevalidationResult::kCount)> revalidations{};
  metrics::Counter* collapsed = nullptr;  // requests that waited for another's fetch
  metrics::Counter* lock_timeouts = nullptr;
  metrics::Counter* stores = nullptr;
  // Hits (HIT and STALE responses) by the layer that answered: memory (l1) or the store (l2).
  std::array<metrics::Counter*, 2> layer_hits{};
  // L2 lookups: found the variant, found nothing usable, or failed (store down, timeout).
  std::array<metrics::Counter*, static_cast<size_t>(L2LookupResult::kCount)> l2_lookups{};
  metrics::Counter* l2_writes = nullptr;  // entries sent to the L2
};

// Null when the route has no enabled `cache`.
std::unique_ptr<RouteCache> makeRouteCache(const config::RouteConfig& route,
                                           const std::string& listener, SharedCache* shared,
                                           uint32_t owner, metrics::Registry& registry);

// The cache's part of one exchange (session_cache.cpp). Reset between exchanges.
struct CacheExchange {
  bool active = false;  // the route caches; `result` is this response's X-Cache
  CacheResult result = CacheResult::kMiss;
  std::string key;  // primary key (also kept for unsafe methods, for invalidation)
  cache::RequestCacheControl request_cc;
  cache::Time request_time{};
  // The stored copy being revalidated: the stale-if-error fallback.
  std::shared_ptr<const cache::CachedResponse> stale;
  bool revalidating = false;  // the upstream request carries the stored validators
  bool fill_owner = false;    // holds the key's fill lock (FillLocks::kOwner)
  uint64_t ticket = 0;        // non-zero while waiting for another request's fetch
  int64_t wait_deadline_ms = 0;
  bool collapsed = false;    // counted in RouteCache::collapsed
  bool after_store = false;  // woken because a fetch stored a response
  // Storing while streaming: the head-only entry, the payload so far, and a chunked
  // decoder when the body reaches the client with its chunk framing.
  std::shared_ptr<const cache::CachedResponse> store_head;
  std::string store_body;
  http::ChunkedDecoder store_chunks;
  bool store_decodes_chunks = false;
  // Unsafe methods: the target, kept (the request head's bytes may be reused by then).
  bool invalidate = false;
  std::string method;
  std::string host;
  std::string path;
  std::string query;
  // A POST's header lines, kept with the target: its response may be stored for later GETs
  // (RFC 9110 9.3.3), and the request head's bytes may be gone by then.
  std::vector<cache::StoredHeader> post_headers;

  // For the next exchange (keeps the strings' capacity: a hit path without malloc/free).
  void reset();
};

// The header lines of the conditional request that revalidates `stored` ("" when it has no
// validators: then a plain GET refetches it).
std::string validatorLines(const cache::CachedResponse& stored);

void registerCacheMetrics(SharedCache& shared, metrics::Registry& registry);

}  // namespace sg::proxy
