// The cache's response side (docs/life-of-a-request.md, "Cache"): the final response head
// of a cached route may be answered from the stored copy (a 304 to the cache's own
// conditional request, or an error stale-if-error covers); otherwise a successful unsafe
// request invalidates its target, and a storable response is collected as it streams and
// stored when it ends.
#include <algorithm>
#include <chrono>

#include "cache/cache_key.h"
#include "cache/partial.h"
#include "cache/revalidation.h"
#include "cache/rfc9111.h"
#include "proxy/cache_phase.h"
#include "proxy/exchange.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

using Outcome = cache::FillLocks::Outcome;

cache::Time wallNow() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// A response that was not stored tells the fill's waiters to fetch on their own. When that
// is a property of the resource (private, no-store, too large...) later misses skip the
// queue too for a while (FillLocks::kPassWindow); errors and per-request reasons do not.
Outcome notStoredOutcome(cache::StoreVerdict verdict, int status) {
  if (status >= 500 || verdict == cache::StoreVerdict::kAuthorization ||
      verdict == cache::StoreVerdict::kMethod) {
    return Outcome::kFailed;
  }
  return Outcome::kNotStored;
}

// The POST as CachePhase::keepPost kept it.
http::RequestHead keptPost(const CacheExchange& state) {
  http::RequestHead request;
  request.method = state.method;
  request.host = state.host;
  request.path = state.path;
  request.query = state.query;
  for (const cache::StoredHeader& header : state.post_headers)
    request.headers.push_back(http::Header{header.name, header.value});
  return request;
}

}  // namespace

Verdict CachePhase::onResponse() {
  if (!state_.active) return Verdict::kContinue;
  if (completing_ && !acceptCompletion()) return Verdict::kAnswered;  // sent again
  const int status = ex_.response.status;
  if (state_.stale) {
    if (status == 304 && state_.revalidating) {
      freshenStored();
      return Verdict::kAnswered;
    }
    if (cache::isStaleIfErrorStatus(status) && serveStaleOnError()) return Verdict::kAnswered;
    if (state_.revalidating)
      countRevalidation(status >= 500 ? RevalidationResult::kFailed
                                      : RevalidationResult::kModified);
  }
  if (state_.invalidate) invalidateAfterUnsafe();
  return Verdict::kContinue;
}

// A 304 answered the cache's conditional request: the stored response is updated from it
// (RFC 9111 4.3.4) and served.
void CachePhase::freshenStored() {
  RouteCache& route_cache = *ex_.route->cache;
  countRevalidation(RevalidationResult::kNotModified);
  auto freshened = cache::freshenWith304(*state_.stale, ex_.response, state_.request_time,
                                         wallNow(), *route_cache.config);
  UpstreamPhase& upstream = ex_.phases.upstream;
  net::Buffer& input = upstream.connection()->input();
  const bool reusable = ex_.response.keep_alive && !upstream.eof() && upstream.pipe().idle() &&
                        input.size() == ex_.response.head_length;
  input.consume(ex_.response.head_length);
  upstream.release(reusable);
  if (!freshened.entry) {  // not a 304 (the caller checks): nothing to serve
    route_cache.shared->cache.erase(state_.key);
    releaseFill(Outcome::kFailed);
    state_.stale.reset();
    state_.result = CacheResult::kMiss;
    return ex_.reject(502, false);
  }
  if (freshened.storable) {
    writeL2(freshened.entry);
    route_cache.shared->cache.insert(freshened.entry);
    releaseFill(Outcome::kStored);
  } else {
    route_cache.shared->cache.erase(state_.key);
    releaseFill(Outcome::kNotStored);
  }
  serveCached(std::move(freshened.served), CacheResult::kRevalidated);
}

// At the response head of a miss: whether the response will be stored; if so the head is
// kept and the body collected as it streams (captureForStore). When the exchange dechunks,
// the body framer strips the chunk framing itself.
Verdict CachePhase::prepareStore() {
  if (completing_) combineWithPartial();  // after compression decided: a 206 is not compressed
  // A POST is judged after it invalidated its URL (onResponse); never a 206 of it.
  const bool post = state_.invalidate && state_.method == "POST" && ex_.response.status != 206;
  if (!state_.active || (state_.result != CacheResult::kMiss && !post) || ex_.request_is_head)
    return Verdict::kContinue;
  const http::ResponseHead& response = ex_.response;
  const config::RouteCacheConfig& config = *ex_.route->cache->config;
  const http::RequestHead kept = post ? keptPost(state_) : http::RequestHead{};
  auto made = cache::makeStoredResponse(state_.key, post ? kept : ex_.request, response,
                                        state_.request_time, wallNow(), config);
  if (made.verdict != cache::StoreVerdict::kStore) {
    releaseFill(notStoredOutcome(made.verdict, response.status));
    return Verdict::kContinue;
  }
  state_.store_head = std::move(made.entry);
  state_.store_body.clear();
  if (response.body == http::BodyKind::kContentLength) {
    state_.store_body.reserve(
        static_cast<size_t>(std::min<uint64_t>(response.content_length, config.max_object_size)));
  }
  state_.store_decodes_chunks = response.body == http::BodyKind::kChunked && !ex_.dechunk;
  state_.store_chunks.reset();
  return Verdict::kContinue;
}

void CachePhase::captureForStore(std::string_view body_bytes) {
  if (!state_.store_decodes_chunks) {
    state_.store_body.append(body_bytes);
  } else {
    while (!body_bytes.empty()) {
      size_t consumed = 0;
      std::string_view payload;
      auto status = state_.store_chunks.feed(body_bytes, &consumed, &payload);
      if (status == http::ChunkedDecoder::Status::kError) {
        dropStore();
        return releaseFill(Outcome::kFailed);
      }
      state_.store_body.append(payload);
      body_bytes.remove_prefix(consumed);
      if (status == http::ChunkedDecoder::Status::kDone || consumed == 0) break;
    }
  }
  if (state_.store_body.size() > ex_.route->cache->config->max_object_size) {
    dropStore();
    releaseFill(Outcome::kNotStored);
  }
}

// The body is complete: the response joins the cache.
void CachePhase::finishStore() {
  RouteCache& route_cache = *ex_.route->cache;
  auto entry = cache::withBody(*state_.store_head, std::move(state_.store_body),
                               route_cache.config->max_object_size, route_cache.owner);
  state_.store_head.reset();
  state_.store_body.clear();
  if (partial_)  // another part of the same representation: one entry (RFC 9111 3.4)
    entry = cache::extendPartial(*partial_, std::move(entry), route_cache.config->max_object_size);
  if (!entry) return releaseFill(Outcome::kNotStored);
  writeL2(entry);
  const bool stored = route_cache.shared->cache.insert(std::move(entry));
  if (stored) route_cache.stores->inc();
  releaseFill(stored ? Outcome::kStored : Outcome::kFailed);
}

void CachePhase::dropStore() {
  state_.store_head.reset();
  state_.store_body.clear();
  state_.store_body.shrink_to_fit();
}

// RFC 9111 4.4: a successful unsafe request invalidates what is stored for its target.
void CachePhase::invalidateAfterUnsafe() {
  http::RequestHead target;
  target.method = state_.method;
  target.host = state_.host;
  target.path = state_.path;
  target.query = state_.query;
  SharedCache& shared = *ex_.route->cache->shared;
  const auto& paths = ex_.listener->config->path_normalization;
  const http::PathOptions options = paths.options();
  for (const std::string& key :
       cache::invalidatedKeys(target, ex_.response, ex_.route->cache->config->key,
                              paths.enabled ? &options : nullptr)) {
    shared.purgeKey(key);  // here, in the L2 and on every instance
  }
}

}  // namespace sg::proxy
