#include "admin/cache_admin.h"

#include "admin/admin_reply.h"
#include "cache/cache_key.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

ServiceResponse statsReply(const cache::Cache& cache) {
  const cache::CacheStats stats = cache.stats();
  json::object document;
  document["entries"] = stats.entries;
  document["bytes"] = stats.bytes;
  document["capacity"] = stats.capacity;
  document["inserts"] = stats.inserts;
  document["evictions"] = stats.evictions;
  document["rejected"] = stats.rejected;
  document["too_large"] = stats.too_large;
  document["erased"] = stats.erased;
  return jsonReply(200, std::move(document));
}

ServiceResponse purge(proxy::SharedCache& cache, std::string_view query) {
  const auto key = queryParam(query, "key");
  const auto prefix = queryParam(query, "prefix");
  if (key.has_value() == prefix.has_value())
    return errorReply(400, "give exactly one of ?key=<primary key> or ?prefix=<key prefix>");
  if ((key && key->empty()) || (prefix && prefix->empty()))
    return errorReply(400, "the key or prefix is empty (an empty prefix would purge everything)");
  json::object document;
  // Keys hold the host lower-case and without its port: a purge names it as it likes.
  // With a store, the L2 and the other instances drop them too (SharedCache::purgeKey).
  document["purged"] = key ? cache.purgeKey(cache::normalizeKeyHost(*key, false))
                           : cache.purgePrefix(cache::normalizeKeyHost(*prefix, true));
  return jsonReply(200, std::move(document));
}

// Answers at once: the requests run on the workers (proxy/cache_warm.h).
ServiceResponse warm(proxy::CacheWarmer& warmer, const http::RequestHead& request) {
  if (request.method != "POST") {
    ServiceResponse response = errorReply(405, "use POST");
    response.headers.emplace_back("Allow", "POST");
    return response;
  }
  using Status = proxy::CacheWarmer::Status;
  const proxy::CacheWarmer::Started started = warmer.start();
  switch (started.status) {
    case Status::kNoWarmRoutes:
      return errorReply(404, "no route has cache warm");
    case Status::kRunning:
      return errorReply(409, "a cache warm is already running");
    case Status::kNoWorkers:
      return errorReply(503, "the gateway is not running requests");
    case Status::kStarted:
      break;
  }
  json::object document;
  document["routes"] = started.routes;
  document["urls"] = started.urls;
  return jsonReply(202, std::move(document));
}

}  // namespace

std::optional<ServiceResponse> handleCacheAdmin(proxy::SharedState& shared,
                                                const http::RequestHead& request) {
  if (request.path == "/admin/cache/warm") return warm(shared.cacheWarmer(), request);
  if (request.path != "/admin/cache") return std::nullopt;
  proxy::SharedCache* cache = shared.cache();
  if (cache == nullptr) return errorReply(404, "no route has a cache");
  if (request.method == "GET" || request.method == "HEAD") return statsReply(cache->cache);
  if (request.method == "DELETE") return purge(*cache, request.query);
  ServiceResponse response = errorReply(405, "use GET or DELETE");
  response.headers.emplace_back("Allow", "GET, HEAD, DELETE");
  return response;
}

}  // namespace sg::admin
