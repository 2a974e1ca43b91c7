#include "proxy/cache_state.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "cache/revalidation.h"
#include "proxy/cache_l2.h"

namespace sg::proxy {

std::string_view cacheResultName(CacheResult result) {
  switch (result) {
    case CacheResult::kHit:
      return "HIT";
    case CacheResult::kMiss:
      return "MISS";
    case CacheResult::kStale:
      return "STALE";
    case CacheResult::kRevalidated:
      return "REVALIDATED";
    case CacheResult::kBypass:
    case CacheResult::kCount:
      break;
  }
  return "BYPASS";
}

namespace {

std::string lowerName(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return out;
}

constexpr std::array<std::string_view, 3> kRevalidationNames{"not_modified", "modified", "failed"};

constexpr std::string_view kBusChannel = "sg:cache:invalidate";

std::string randomInstanceName() {
  std::random_device device;
  const uint64_t value = (static_cast<uint64_t>(device()) << 32) ^ device();
  return fmt::format("{:016x}", value);
}

void registerLayerMetrics(RouteCache& state, const metrics::Labels& labels,
                          metrics::Registry& registry) {
  constexpr std::array<std::string_view, 2> kLayers{"l1", "l2"};
  for (size_t i = 0; i < kLayers.size(); ++i) {
    metrics::Labels with = labels;
    with.emplace_back("layer", std::string(kLayers[i]));
    state.layer_hits[i] = &registry.counter(
        "scalegate_cache_hits_total",
        "HIT and STALE responses by the layer that answered: memory (l1) or the store (l2).", with);
  }
  if (!state.config->l2) return;
  constexpr std::array<std::string_view, 3> kLookups{"found", "missing", "failed"};
  for (size_t i = 0; i < kLookups.size(); ++i) {
    metrics::Labels with = labels;
    with.emplace_back("result", std::string(kLookups[i]));
    state.l2_lookups[i] = &registry.counter(
        "scalegate_cache_l2_lookups_total",
        "L2 lookups: the variant found, nothing usable, or failed (store down or slow: L1 only).",
        with);
  }
  state.l2_writes =
      &registry.counter("scalegate_cache_l2_writes_total", "Entries written to the L2.", labels);
}

}  // namespace

SharedCache::SharedCache(const config::CacheConfig& config, uint32_t routes)
    : config(config),
      cache(config, cache::CacheOptions{.owners = std::max<uint32_t>(1, routes)}),
      instance(randomInstanceName()) {}

SharedCache::~SharedCache() {
  if (bus) bus->stop();
}

void SharedCache::startBus(const config::StoreConfig& store) {
  if (store.type == config::StoreConfig::Type::kNone || bus) return;
  bus = std::make_unique<store::InvalidationBus>(
      store, std::string(kBusChannel), [this](std::string_view message) { onBusMessage(message); });
  // Pub/sub keeps nothing for an absent subscriber: what was purged elsewhere meanwhile may
  // still be in memory, so memory starts again from the L2 and the upstreams.
  bus->setOnResubscribed([this] {
    const size_t dropped = cache.erasePrefix("");
    memory_flushes.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "cache: dropped {} entries from memory: the store's invalidation channel was "
        "lost, purges made meanwhile may have been missed",
        dropped);
  });
  bus->start();
}

// "<instance> k <key>" or "<instance> p <prefix>"; this instance's own were applied already.
void SharedCache::onBusMessage(std::string_view message) {
  const size_t space = message.find(' ');
  if (space == std::string_view::npos || message.size() < space + 3 || message[space + 2] != ' ' ||
      message.substr(0, space) == instance) {
    return;
  }
  const std::string_view target = message.substr(space + 3);
  if (message[space + 1] == 'k') cache.erase(target);
  if (message[space + 1] == 'p' && !target.empty()) cache.erasePrefix(target);
}

size_t SharedCache::purgeKey(const std::string& key) {
  const size_t purged = cache.erase(key);
  if (bus) bus->publish({l2Key(key)}, instance + " k " + key);
  return purged;
}

size_t SharedCache::purgePrefix(const std::string& prefix) {
  const size_t purged = cache.erasePrefix(prefix);
  if (bus) bus->publishAfterDeleting(l2PurgePattern(prefix), instance + " p " + prefix);
  return purged;
}

std::unique_ptr<RouteCache> makeRouteCache(const config::RouteConfig& route,
                                           const std::string& listener, SharedCache* shared,
                                           uint32_t owner, metrics::Registry& registry) {
  if (!route.cache || !route.cache->enabled || shared == nullptr) return nullptr;
  auto state = std::make_unique<RouteCache>();
  state->config = &*route.cache;
  state->shared = shared;
  state->owner = owner;
  const metrics::Labels labels{{"listener", listener}, {"route", route.name}};
  for (size_t i = 0; i < state->responses.size(); ++i) {
    metrics::Labels result = labels;
    result.emplace_back("result", lowerName(cacheResultName(static_cast<CacheResult>(i))));
    state->responses[i] = &registry.counter(
        "scalegate_cache_responses_total",
        "Responses on cached routes, by X-Cache result (hit, miss, stale, revalidated, bypass).",
        result);
  }
  for (size_t i = 0; i < state->revalidations.size(); ++i) {
    metrics::Labels result = labels;
    result.emplace_back("result", std::string(kRevalidationNames[i]));
    state->revalidations[i] = &registry.counter(
        "scalegate_cache_revalidations_total",
        "Conditional requests the cache sent to revalidate a stored response, by outcome.", result);
  }
  state->collapsed = &registry.counter("scalegate_cache_collapsed_total",
                                       "Misses that waited for another request's fetch.", labels);
  state->lock_timeouts = &registry.counter(
      "scalegate_cache_lock_timeouts_total",
      "Collapsed misses that waited lock_timeout and went to the upstream themselves.", labels);
  state->stores =
      &registry.counter("scalegate_cache_stores_total", "Responses stored in the cache.", labels);
  registerLayerMetrics(*state, labels, registry);
  cache::Cache* cache = &shared->cache;
  registry.gaugeCallback(
      "scalegate_cache_entries", "Stored responses (variants).", labels,
      [cache, owner] { return static_cast<double>(cache->ownerStats(owner).entries); });
  registry.gaugeCallback(
      "scalegate_cache_bytes", "Bytes the stored responses take, counting whole entries.", labels,
      [cache, owner] { return static_cast<double>(cache->ownerStats(owner).bytes); });
  registry.counterCallback(
      "scalegate_cache_evictions_total", "Stored responses pushed out to make room.", labels,
      [cache, owner] { return static_cast<double>(cache->ownerStats(owner).evictions); });
  return state;
}

void CacheExchange::reset() {
  active = false;
  result = CacheResult::kMiss;
  key.clear();
  request_cc = {};
  request_time = {};
  stale.reset();
  revalidating = false;
  fill_owner = false;
  ticket = 0;
  wait_deadline_ms = 0;
  collapsed = false;
  after_store = false;
  store_head.reset();
  store_body = {};
  store_chunks.reset();
  store_decodes_chunks = false;
  invalidate = false;
  method.clear();
  host.clear();
  path.clear();
  query.clear();
  post_headers.clear();
}

std::string validatorLines(const cache::CachedResponse& stored) {
  const cache::ConditionalHeaders conditions = cache::conditionalHeaders(stored);
  std::string lines;
  if (!conditions.if_none_match.empty())
    lines.append("If-None-Match: ").append(conditions.if_none_match).append("\r\n");
  if (!conditions.if_modified_since.empty())
    lines.append("If-Modified-Since: ").append(conditions.if_modified_since).append("\r\n");
  return lines;
}

void registerCacheMetrics(SharedCache& shared, metrics::Registry& registry) {
  cache::Cache* cache = &shared.cache;
  registry.gaugeCallback("scalegate_cache_capacity_bytes", "The cache's memory bound.", {},
                         [cache] { return static_cast<double>(cache->stats().capacity); });
  registry.gaugeCallback(
      "scalegate_cache_fills_in_flight", "Upstream fetches other misses may wait for.", {},
      [&shared] { return static_cast<double>(shared.fill_locks.fillsInFlight()); });
  if (!shared.bus) return;
  const store::InvalidationBus* bus = shared.bus.get();
  registry.counterCallback("scalegate_cache_invalidations_received_total",
                           "Purges and invalidations from any instance received on the store's "
                           "channel (this instance's own included).",
                           {}, [bus] { return static_cast<double>(bus->received()); });
  registry.counterCallback(
      "scalegate_cache_memory_flushes_total",
      "Times memory was emptied because the invalidation channel was lost (missed purges).", {},
      [&shared] { return static_cast<double>(shared.memory_flushes.load()); });
  registry.counterCallback(
      "scalegate_cache_invalidation_failures_total",
      "Purges and invalidations that could not reach the store (down, erroring, queue full).", {},
      [bus] { return static_cast<double>(bus->failures()); });
}

}  // namespace sg::proxy
