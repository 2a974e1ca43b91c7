// Response caching of a session (route key `cache`; the RFC 9111 rules live in src/cache).
// Phase 3c of docs/life-of-a-request.md: after the rate limits, before the circuit
// breaker. A request is answered from memory when a stored response may be used; else one
// request per key fetches (the others wait, FillLocks) and the response is stored while it
// streams to the client. Stale copies cover for a failing upstream (stale-if-error) and
// are refreshed in the background (stale-while-revalidate).
#include <algorithm>
#include <chrono>

#include "cache/cache_key.h"
#include "cache/revalidation.h"
#include "cache/rfc9111.h"
#include "proxy/request_key.h"
#include "proxy/router.h"
#include "proxy/session.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

using Outcome = cache::FillLocks::Outcome;

cache::Time wallNow() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// GET and HEAD without a body, a Range or an upgrade may be answered from the cache.
bool cacheableRequest(const http::RequestHead& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  if (request.body != http::BodyKind::kNone || request.upgrade) return false;
  return !headerValue(request, "range").has_value();
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

}  // namespace

// Returns true when the request must go to the upstream; false when it was answered or
// waits for another request's fetch.
bool Session::consultCache(const http::RequestHead& request) {
  if (!startCacheExchange(request)) return true;
  return useStoredResponse(request);
}

// Returns false when the request bypasses the cache.
bool Session::startCacheExchange(const http::RequestHead& request) {
  cache_.active = true;
  cache_.request_time = wallNow();
  const auto& key_config = route_->cache->config->key;
  if (!cacheableRequest(request)) {
    cache_.result = CacheResult::kBypass;
    if (cache::isUnsafeMethod(request.method)) {
      cache_.invalidate = true;
      cache_.method.assign(request.method);
      cache_.host.assign(request.host);
      cache_.path.assign(request.path);
      cache_.query.assign(request.query);
    }
    return false;
  }
  cache_.key = cache::buildPrimaryKey(request, key_config);
  cache_.request_cc = cache::parseRequestCacheControl(request.headers);
  cache_.result = CacheResult::kMiss;
  return true;
}

// Answers from the cache when a stored response may be used (RFC 9111 4); otherwise
// claims the key's fetch. Returns true when the request must go to the upstream.
bool Session::useStoredResponse(const http::RequestHead& request) {
  cache::Cache& cache = route_->cache->shared->cache;
  auto entry = cache.lookup(cache_.key, request.headers);
  if (refresh_) {  // a background refresh revalidates whatever is stored now
    cache_.stale = std::move(entry);
    cache_.revalidating = cache_.stale != nullptr;
    return true;
  }
  if (entry) {
    // Validated by the fetch this request waited for, after the request arrived.
    if (cache_.after_store && entry->response_time >= cache_.request_time) {
      serveFromCache(std::move(entry), CacheResult::kHit);
      return false;
    }
    switch (cache::decideServe(*entry, cache_.request_cc, wallNow())) {
      case cache::ServeAction::kHit:
        serveFromCache(std::move(entry), CacheResult::kHit);
        return false;
      case cache::ServeAction::kStaleHit:
        serveFromCache(std::move(entry), CacheResult::kStale);
        return false;
      case cache::ServeAction::kStaleWhileRevalidate:
        refreshInBackground(request);
        serveFromCache(std::move(entry), CacheResult::kStale);
        return false;
      case cache::ServeAction::kGatewayTimeout:
        break;
      case cache::ServeAction::kRevalidate:
        cache_.stale = std::move(entry);
        break;
    }
  }
  if (cache_.request_cc.only_if_cached) {  // RFC 9111 5.2.1.7: nothing usable without the origin
    input_.consume(request.head_length);
    reject(cache::kOnlyIfCachedMissStatus, false);
    return false;
  }
  // A HEAD miss is forwarded as it is: nothing of its response can be stored, so it
  // neither waits for nor holds up the GETs of the same key.
  if (request_is_head_) return true;
  cache_.revalidating = cache_.stale != nullptr;
  // Request no-store: this response will not be stored, so nobody should wait for it.
  if (cache_.request_cc.no_store) return true;
  return claimFill();
}

// Returns true when this request fetches (it owns the key, or it may not wait); false
// when it waits for the owner's fetch.
bool Session::claimFill() {
  cache::FillLocks& locks = route_->cache->shared->fill_locks;
  const int64_t now_ms = worker_->loop().now();
  const uint64_t ticket = worker_->nextFillTicket();
  switch (locks.claim(cache_.key, now_ms, worker_, ticket)) {
    case cache::FillLocks::Claim::kOwner:
      cache_.fill_owner = true;
      return true;
    case cache::FillLocks::Claim::kPass:
    case cache::FillLocks::Claim::kBusy:
      return true;
    case cache::FillLocks::Claim::kWait:
      break;
  }
  if (cache_.wait_deadline_ms == 0) {
    cache_.wait_deadline_ms = now_ms + route_->cache->shared->config.lock_timeout.count();
  }
  if (!cache_.collapsed) route_->cache->collapsed->inc();
  cache_.collapsed = true;
  cache_.ticket = ticket;
  worker_->awaitFill(ticket, this);
  setState(State::kWaitingForCache);
  worker_->loop().timers().arm(timer_, std::max<int64_t>(0, cache_.wait_deadline_ms - now_ms));
  return false;
}

void Session::onFillDone(cache::FillLocks::Outcome outcome) {
  cache_.ticket = 0;
  timer_.cancel();
  switch (outcome) {
    case Outcome::kStored:
      cache_.after_store = true;
      [[fallthrough]];
    case Outcome::kAborted:  // look again; one of the waiters becomes the new owner
      if (useStoredResponse(request_)) forwardRequest(request_);
      return;
    case Outcome::kFailed:
      if (cache_.stale && cache::mayServeStaleOnError(*cache_.stale, wallNow())) {
        serveFromCache(cache_.stale, CacheResult::kStale);
        return;
      }
      break;
    case Outcome::kNotStored:
      break;
  }
  forwardRequest(request_);  // on its own, without waiting again
}

// lock_timeout: the request stops waiting and goes to the upstream itself.
void Session::onFillWaitTimeout() {
  route_->cache->shared->fill_locks.cancel(cache_.key, worker_, cache_.ticket);
  worker_->forgetFill(cache_.ticket);
  cache_.ticket = 0;
  route_->cache->lock_timeouts->inc();
  forwardRequest(request_);
}

// Through the shared state, not route_: a background refresh may end before its route was
// matched (its key was given to it).
void Session::releaseFill(cache::FillLocks::Outcome outcome) {
  if (!cache_.fill_owner) return;
  cache_.fill_owner = false;
  SharedCache* shared = worker_->shared().cache();
  if (shared != nullptr) shared->fill_locks.release(cache_.key, outcome, worker_->loop().now());
}

// The exchange ends (or is cut): stop waiting, forget a partial store, release the key.
void Session::endCacheExchange(cache::FillLocks::Outcome outcome) {
  if (cache_.ticket != 0) {
    route_->cache->shared->fill_locks.cancel(cache_.key, worker_, cache_.ticket);
    worker_->forgetFill(cache_.ticket);
    cache_.ticket = 0;
  }
  dropStore();
  releaseFill(outcome);
}

// stale-while-revalidate: one refresh per key at a time, on a session of its own.
void Session::refreshInBackground(const http::RequestHead& request) {
  cache::FillLocks& locks = route_->cache->shared->fill_locks;
  if (locks.claim(cache_.key, worker_->loop().now(), nullptr, 0) != cache::FillLocks::Claim::kOwner)
    return;  // a fetch or a refresh of this key is under way
  worker_->startRefresh(listener_, std::string(input_.data(), request.head_length), client_ip_,
                        cache_.key);
}

void Session::serveFromCache(std::shared_ptr<const cache::CachedResponse> entry,
                             CacheResult result) {
  input_.consume(request_.head_length);
  serveCached(std::move(entry), result);
}

// Writes a stored response to the client: a 304 when the client's own validators match
// (RFC 9111 4.3.2), no body for HEAD, Age from the stored response's age.
void Session::serveCached(std::shared_ptr<const cache::CachedResponse> entry, CacheResult result) {
  serving_ = std::move(entry);
  const cache::CachedResponse& stored = *serving_;
  cache_.result = result;
  const bool not_modified = stored.status == 200 && cache::clientNotModified(request_, stored);
  status_ = not_modified ? 304 : stored.status;
  response_started_ = true;
  const bool must_close =
      close_after_ || client_eof_ || worker_->draining() || !request_body_.done();
  close_after_ = must_close;
  announceCacheResult();
  appendNumberLine(&extra_headers_, "Age",
                   static_cast<uint64_t>(cache::ageHeaderSeconds(stored, wallNow())));
  writeCachedHead(stored, !request_is_head_ && !not_modified && status_ != 204);
  record(status_);
  endResponse(must_close);
}

// The head for the stored response, and its body (borrowed from the entry, or compressed
// when the route compresses and the client accepts it).
void Session::writeCachedHead(const cache::CachedResponse& stored, bool with_body) {
  response_.status = status_;
  response_.reason = {};
  response_.headers.clear();
  for (const auto& header : stored.headers)
    response_.headers.push_back({header.name, header.value});
  const std::string_view body = stored.bodyBytes();
  response_.body = body.empty() ? http::BodyKind::kNone : http::BodyKind::kContentLength;
  response_.content_length = body.size();
  response_.connection_tokens.clear();
  response_.content_length_ignored = false;
  ClientResponseContext context;
  if (status_ != 304) decideCompression(&context);
  std::string_view payload = body;
  if (compressor_ && compressCachedBody(body)) {
    payload = std::string_view(compressed_->data(), compressed_->size());
  } else if (compressor_) {
    releaseCompressor();  // could not compress: the stored bytes go as they are
    context.content_encoding = {};
  }
  if (status_ != 304 && status_ != 204)
    appendNumberLine(&extra_headers_, "Content-Length", payload.size());
  context.close = close_after_;
  context.keep_alive_header = client_minor_ == 0 && !close_after_;
  context.request_id = generated_id_;
  context.extra_headers = extra_headers_;
  context.defaults = &listener_->default_headers;
  if (context.content_encoding.empty() && !context.vary_accept_encoding) {
    writeStoredResponseHead(status_, stored.wire_headers, response_.headers, context,
                            &to_client_.head());
  } else {
    writeClientResponseHead(response_, context, &to_client_.head());
  }
  if (with_body && !payload.empty()) to_client_.borrowBody(payload);
}

bool Session::compressCachedBody(std::string_view body) {
  return compressor_->compress(body, compressed_.get()) && compressor_->finish(compressed_.get());
}

// An upstream failure (an error status, or 502/503/504 answered by the gateway) with a stored
// copy that stale-if-error allows: the copy is served instead.
bool Session::serveStaleOnError() {
  if (!cache_.stale || !cache::mayServeStaleOnError(*cache_.stale, wallNow())) return false;
  if (cache_.revalidating) countRevalidation(RevalidationResult::kFailed);
  releaseFill(Outcome::kFailed);
  closeUpstream();  // an error response's body is not read
  serveCached(cache_.stale, CacheResult::kStale);
  return true;
}

// At the upstream's final response head, before it goes to the client. Returns true when
// the cache answered instead: a 304 to its revalidation, or an error it covers with the
// stale copy.
bool Session::interceptCachedResponse() {
  if (!cache_.stale) return false;
  const int status = response_.status;
  if (status == 304 && cache_.revalidating) {
    freshenStored();
    return true;
  }
  if (cache::isStaleIfErrorStatus(status) && serveStaleOnError()) return true;
  if (cache_.revalidating)
    countRevalidation(status >= 500 ? RevalidationResult::kFailed : RevalidationResult::kModified);
  return false;
}

// A 304 answered the cache's conditional request: the stored response is updated from it
// (RFC 9111 4.3.4) and served.
void Session::freshenStored() {
  RouteCache& route_cache = *route_->cache;
  countRevalidation(RevalidationResult::kNotModified);
  auto freshened = cache::freshenWith304(*cache_.stale, response_, cache_.request_time, wallNow(),
                                         *route_cache.config);
  net::Buffer& input = upstream_->input();
  const bool reusable = response_.keep_alive && !upstream_eof_ && to_upstream_.idle() &&
                        input.size() == response_.head_length;
  input.consume(response_.head_length);
  releaseUpstream(reusable);
  if (!freshened.entry) {  // the 304 names another representation than the stored one
    route_cache.shared->cache.erase(cache_.key);
    releaseFill(Outcome::kFailed);
    cache_.stale.reset();
    cache_.result = CacheResult::kMiss;
    return reject(502, false);
  }
  if (freshened.storable) {
    route_cache.shared->cache.insert(freshened.entry);
    releaseFill(Outcome::kStored);
  } else {
    route_cache.shared->cache.erase(cache_.key);
    releaseFill(Outcome::kNotStored);
  }
  serveCached(std::move(freshened.entry), CacheResult::kRevalidated);
}

// At the response head of a miss: whether the response will be stored; if so the head is
// kept and the body collected as it streams (captureForStore). `dechunked`: the body
// framer strips the chunk framing itself (the client gets it re-framed or not at all).
void Session::prepareStore(bool dechunked) {
  if (cache_.result != CacheResult::kMiss || request_is_head_) return;
  const config::RouteCacheConfig& config = *route_->cache->config;
  auto made = cache::makeCachedResponse(cache_.key, request_, response_, {}, cache_.request_time,
                                        wallNow(), config);
  if (made.verdict != cache::StoreVerdict::kStore) {
    releaseFill(notStoredOutcome(made.verdict, response_.status));
    return;
  }
  cache_.store_head = std::move(made.entry);
  cache_.store_body.clear();
  if (response_.body == http::BodyKind::kContentLength) {
    cache_.store_body.reserve(
        static_cast<size_t>(std::min<uint64_t>(response_.content_length, config.max_object_size)));
  }
  cache_.store_decodes_chunks = response_.body == http::BodyKind::kChunked && !dechunked;
  cache_.store_chunks.reset();
}

// Body bytes as they reach the client (chunk framing included when the client gets it).
void Session::captureForStore(std::string_view body_bytes) {
  if (!cache_.store_decodes_chunks) {
    cache_.store_body.append(body_bytes);
  } else {
    while (!body_bytes.empty()) {
      size_t consumed = 0;
      std::string_view payload;
      auto status = cache_.store_chunks.feed(body_bytes, &consumed, &payload);
      if (status == http::ChunkedDecoder::Status::kError) {
        dropStore();
        return releaseFill(Outcome::kFailed);
      }
      cache_.store_body.append(payload);
      body_bytes.remove_prefix(consumed);
      if (status == http::ChunkedDecoder::Status::kDone || consumed == 0) break;
    }
  }
  if (cache_.store_body.size() > route_->cache->config->max_object_size) {
    dropStore();
    releaseFill(Outcome::kNotStored);
  }
}

// The body is complete: the response joins the cache.
void Session::finishStore() {
  RouteCache& route_cache = *route_->cache;
  auto entry = cache::withBody(*cache_.store_head, std::move(cache_.store_body),
                               route_cache.config->max_object_size, route_cache.owner);
  cache_.store_head.reset();
  cache_.store_body.clear();
  if (!entry) return releaseFill(Outcome::kNotStored);
  const bool stored = route_cache.shared->cache.insert(std::move(entry));
  if (stored) route_cache.stores->inc();
  releaseFill(stored ? Outcome::kStored : Outcome::kFailed);
}

void Session::dropStore() {
  cache_.store_head.reset();
  cache_.store_body.clear();
  cache_.store_body.shrink_to_fit();
}

// RFC 9111 4.4: a successful unsafe request invalidates what is stored for its target.
void Session::invalidateAfterUnsafe() {
  http::RequestHead target;
  target.method = cache_.method;
  target.host = cache_.host;
  target.path = cache_.path;
  target.query = cache_.query;
  cache::Cache& cache = route_->cache->shared->cache;
  const auto& paths = listener_->config->path_normalization;
  const http::PathOptions options = paths.options();
  for (const std::string& key : cache::invalidatedKeys(
           target, response_, route_->cache->config->key, paths.enabled ? &options : nullptr)) {
    cache.erase(key);
  }
}

void Session::countRevalidation(RevalidationResult result) {
  route_->cache->revalidations[static_cast<size_t>(result)]->inc();
}

// X-Cache on every response of a cached route, counted per route.
void Session::announceCacheResult() {
  if (!cache_.active) return;
  extra_headers_.append("X-Cache: ").append(cacheResultName(cache_.result)).append("\r\n");
  if (!refresh_) route_->cache->responses[static_cast<size_t>(cache_.result)]->inc();
}

}  // namespace sg::proxy
