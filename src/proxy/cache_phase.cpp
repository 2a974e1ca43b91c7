// The cache's request side (docs/life-of-a-request.md, "Cache"): a request is answered from
// memory when a stored response may be used; else one request per key fetches and the
// others pause until its fetch ends (FillLocks; the owner may be on another worker, so the
// waiter is resumed through its own worker's completions). Stale copies cover for a failing
// upstream (stale-if-error) and are refreshed in the background (stale-while-revalidate).
#include "proxy/cache_phase.h"

#include <algorithm>
#include <chrono>

#include "cache/cache_key.h"
#include "cache/revalidation.h"
#include "cache/rfc9111.h"
#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/request_key.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

using Outcome = cache::FillLocks::Outcome;

cache::Time wallNow() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// GET and HEAD without a body or an upgrade may be answered from the cache (with Range
// too: the stored complete response answers it, CachePhase::planRange).
bool cacheableRequest(const http::RequestHead& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  return request.body == http::BodyKind::kNone && !request.upgrade;
}

}  // namespace

Verdict CachePhase::lookup() {
  if (!start()) return Verdict::kContinue;
  return useStoredResponse();
}

// Returns false when the request bypasses the cache.
bool CachePhase::start() {
  const http::RequestHead& request = ex_.request;
  state_.active = true;
  state_.request_time = wallNow();
  if (!cacheableRequest(request)) {
    state_.result = CacheResult::kBypass;
    if (cache::isUnsafeMethod(request.method)) {
      state_.invalidate = true;
      state_.method.assign(request.method);
      state_.host.assign(request.host);
      state_.path.assign(request.path);
      state_.query.assign(request.query);
      if (request.method == "POST") keepPost();
    }
    return false;
  }
  state_.key = cache::buildPrimaryKey(request, ex_.route->cache->config->key);
  state_.request_cc = cache::parseRequestCacheControl(request.headers);
  state_.result = CacheResult::kMiss;
  readRange();
  return true;
}

// A POST's response may be stored under its URL's GET key (RFC 9110 9.3.3; rfc9111.h):
// the key and the header lines are kept for prepareStore.
void CachePhase::keepPost() {
  state_.key = cache::buildPrimaryKey(ex_.request, ex_.route->cache->config->key);
  for (const auto& header : ex_.request.headers)
    state_.post_headers.push_back({std::string(header.name), std::string(header.value)});
}

// Range on a GET; more than one Range line is taken as several ranges (answered whole).
void CachePhase::readRange() {
  has_range_ = false;
  range_.reset();
  if (ex_.request_is_head) return;
  size_t lines = 0;
  std::string_view value;
  for (const auto& header : ex_.request.headers) {
    if (!equalsIgnoreCase(header.name, "range")) continue;
    ++lines;
    value = header.value;
  }
  has_range_ = lines > 0;
  if (lines == 1) range_ = cache::parseSingleByteRange(value);
}

// Answers from the cache when a stored response may be used (RFC 9111 4); otherwise
// claims the key's fetch.
Verdict CachePhase::useStoredResponse() {
  cache::Cache& cache = ex_.route->cache->shared->cache;
  auto entry = cache.lookup(state_.key, ex_.request.headers);
  if (ex_.refresh()) {  // a background refresh revalidates whatever is stored now
    state_.stale = std::move(entry);
    state_.revalidating = state_.stale != nullptr;
    return Verdict::kContinue;
  }
  // A partial entry answers only ranges inside it (RFC 9111 3.3): else it is kept aside.
  if (entry && entry->partial() && !partialAnswers(*entry)) partial_ = std::move(entry);
  if (entry) {
    // Validated by the fetch this request waited for, after the request arrived.
    if (state_.after_store && entry->response_time >= state_.request_time) {
      return serve(std::move(entry), CacheResult::kHit);
    }
    switch (cache::decideServe(*entry, state_.request_cc, wallNow())) {
      case cache::ServeAction::kHit:
        return serve(std::move(entry), CacheResult::kHit);
      case cache::ServeAction::kStaleHit:
        return serve(std::move(entry), CacheResult::kStale);
      case cache::ServeAction::kStaleWhileRevalidate:
        // The refresh replays this request's head: with a Range its answer is not storable.
        if (!has_range_) refreshInBackground();
        return serve(std::move(entry), CacheResult::kStale);
      case cache::ServeAction::kGatewayTimeout:
        break;
      case cache::ServeAction::kRevalidate:
        state_.stale = std::move(entry);
        break;
    }
  }
  if (state_.request_cc.only_if_cached) {  // RFC 9111 5.2.1.7: nothing usable without the origin
    ex_.consumeHead();
    ex_.reject(cache::kOnlyIfCachedMissStatus, false);
    return Verdict::kAnswered;
  }
  // A HEAD miss is forwarded as it is: nothing of its response can be stored, so it
  // neither waits for nor holds up the GETs of the same key.
  if (ex_.request_is_head) return Verdict::kContinue;
  if (has_range_) return forwardRangeMiss();
  state_.revalidating = state_.stale != nullptr;
  // Request no-store: this response will not be stored, so nobody should wait for it.
  if (state_.request_cc.no_store) return Verdict::kContinue;
  if (partial_) planCompletion();
  return claimFill();
}

// A Range request the cache cannot answer goes to the upstream with its Range, neither
// holding nor waiting for the key's fill. Its answer to one byte range is stored (a 206 as
// a partial entry, partial.h). A stale copy is revalidated (a 304 serves the range from
// it); several or invalid ranges bypass the cache with their conditionals intact.
Verdict CachePhase::forwardRangeMiss() {
  state_.revalidating = state_.stale != nullptr;
  if (!state_.revalidating && !range_) state_.result = CacheResult::kBypass;
  return Verdict::kContinue;
}

// kContinue when this request fetches (it owns the key, or it may not wait); kPause when it
// waits for the owner's fetch.
Verdict CachePhase::claimFill() {
  cache::FillLocks& locks = ex_.route->cache->shared->fill_locks;
  const int64_t now_ms = ex_.nowMs();
  const uint64_t ticket = ex_.expectCompletion();
  switch (locks.claim(state_.key, now_ms, ex_.worker, ticket)) {
    case cache::FillLocks::Claim::kOwner:
      state_.fill_owner = true;
      ex_.forgetCompletion(ticket);
      // The fill owner asks the other instances' layer before the upstream.
      if (l2Enabled() && !l2_checked_) return lookupL2('1');
      return Verdict::kContinue;
    case cache::FillLocks::Claim::kPass:
    case cache::FillLocks::Claim::kBusy:
      ex_.forgetCompletion(ticket);
      return Verdict::kContinue;
    case cache::FillLocks::Claim::kWait:
      break;
  }
  if (state_.wait_deadline_ms == 0) {
    state_.wait_deadline_ms = now_ms + ex_.route->cache->shared->config.lock_timeout.count();
  }
  if (!state_.collapsed) ex_.route->cache->collapsed->inc();
  state_.collapsed = true;
  state_.ticket = ticket;
  ex_.armPauseTimer(state_.wait_deadline_ms - now_ms);
  return Verdict::kPause;
}

Verdict CachePhase::onResume(uint64_t value) {
  if (value == kL2Answered) return onL2Answer();
  return onFillDone(static_cast<Outcome>(value));
}

Verdict CachePhase::onFillDone(Outcome outcome) {
  state_.ticket = 0;
  switch (outcome) {
    case Outcome::kStored:
      state_.after_store = true;
      [[fallthrough]];
    case Outcome::kAborted:  // look again; one of the waiters becomes the new owner
      return useStoredResponse();
    case Outcome::kFailed:
      if (state_.stale && cache::mayServeStaleOnError(*state_.stale, wallNow())) {
        return serve(state_.stale, CacheResult::kStale);
      }
      break;
    case Outcome::kNotStored:
      break;
  }
  return Verdict::kContinue;  // on its own, without waiting again
}

// lock_timeout: the request stops waiting and goes to the upstream itself.
Verdict CachePhase::onWaitTimeout() {
  if (l2_step_ == L2Step::kPolling) {  // time to look at the other instance's fetch again
    l2_step_ = L2Step::kIdle;
    return lookupL2('1');
  }
  ex_.route->cache->shared->fill_locks.cancel(state_.key, ex_.worker, state_.ticket);
  ex_.forgetCompletion(state_.ticket);
  state_.ticket = 0;
  ex_.route->cache->lock_timeouts->inc();
  return Verdict::kContinue;
}

// Through the shared state, not the route: a background refresh may end before its route
// was matched (its key was given to it).
void CachePhase::releaseFill(Outcome outcome) {
  endL2Lock();
  if (!state_.fill_owner) return;
  state_.fill_owner = false;
  SharedCache* shared = ex_.worker->shared().cache();
  if (shared != nullptr) shared->fill_locks.release(state_.key, outcome, ex_.nowMs());
}

void CachePhase::end(Outcome outcome) {
  if (l2_step_ == L2Step::kLookup) {
    ex_.worker->store()->cancel(this);
    l2_step_ = L2Step::kIdle;
  }
  if (state_.ticket != 0) {
    ex_.route->cache->shared->fill_locks.cancel(state_.key, ex_.worker, state_.ticket);
    ex_.forgetCompletion(state_.ticket);
    state_.ticket = 0;
  }
  dropStore();
  releaseFill(outcome);
}

void CachePhase::startRefresh(std::string key) {
  state_.fill_owner = true;  // claimed for this refresh by the request that started it
  state_.key = std::move(key);
}

void CachePhase::reset() {
  if (state_.active || !state_.key.empty()) state_.reset();
  has_range_ = false;
  range_.reset();
  partial_.reset();
  completing_ = false;
  completion_lines_.clear();
  prefix_ = {};
  resetL2();
}

// stale-while-revalidate: one refresh per key at a time, on a connection of its own.
void CachePhase::refreshInBackground() {
  cache::FillLocks& locks = ex_.route->cache->shared->fill_locks;
  if (locks.claim(state_.key, ex_.nowMs(), nullptr, 0) != cache::FillLocks::Claim::kOwner)
    return;  // a fetch or a refresh of this key is under way
  ex_.worker->startRefresh(ex_.listener, std::string(ex_.input().data(), ex_.request.head_length),
                           ex_.clientIp(), state_.key);
}

Verdict CachePhase::serve(std::shared_ptr<const cache::CachedResponse> entry, CacheResult result) {
  ex_.consumeHead();
  serveCached(std::move(entry), result);
  return Verdict::kAnswered;
}

// Writes a stored response to the client: a 304 when the client's own validators match
// (RFC 9111 4.3.2; evaluated before Range, RFC 9110 13.2.2), else a 206 or 416 for a Range,
// no body for HEAD, Age from the stored response's age.
void CachePhase::serveCached(std::shared_ptr<const cache::CachedResponse> entry,
                             CacheResult result) {
  ex_.serving = std::move(entry);
  const cache::CachedResponse& stored = *ex_.serving;
  state_.result = result;
  const bool not_modified = stored.status == 200 && cache::clientNotModified(ex_.request, stored);
  const cache::RangePlan range = not_modified ? cache::RangePlan{} : planRange(stored);
  std::string_view body = stored.bodyBytes();
  ex_.status = not_modified ? 304 : stored.status;
  if (range.answer == cache::RangeAnswer::kPartial) {
    ex_.status = 206;
    // Borrowed, not copied; a partial entry's body starts at partial_first.
    body = body.substr(range.slice.first - stored.partial_first, range.slice.size());
  } else if (range.answer == cache::RangeAnswer::kUnsatisfiable) {
    ex_.status = 416;
    body = {};
  }
  ex_.response_started = true;
  const bool must_close = ex_.close_after || ex_.clientEof() || ex_.worker->closesConnections() ||
                          !ex_.request_body.done();
  ex_.close_after = must_close;
  announce();
  appendNumberLine(&ex_.extra_headers, "Age",
                   static_cast<uint64_t>(cache::ageHeaderSeconds(stored, wallNow())));
  cache::appendContentRangeLine(&ex_.extra_headers, range);
  writeCachedHead(stored, body, !ex_.request_is_head && !not_modified && ex_.status != 204);
  ex_.phases.log.record(ex_.status);
  ex_.endResponse(must_close);
}

// A partial entry answers a GET whose one range lies wholly inside it (or past the end: 416).
bool CachePhase::partialAnswers(const cache::CachedResponse& stored) const {
  return !ex_.request_is_head && range_ && planRange(stored).answer != cache::RangeAnswer::kWhole;
}

// The GET's Range against the stored response (whole when there is none).
cache::RangePlan CachePhase::planRange(const cache::CachedResponse& stored) const {
  if (!range_) return {};
  std::optional<std::string_view> if_range;
  for (const auto& header : ex_.request.headers) {
    if (equalsIgnoreCase(header.name, "if-range")) if_range = header.value;
  }
  return cache::planRange(*range_, if_range, stored);
}

// The head for the stored response, and `body` (the stored body or a range of it, borrowed
// from the entry; or compressed when the route compresses and the client accepts it). A 416
// carries none of the stored fields: it describes no representation a cache should keep.
void CachePhase::writeCachedHead(const cache::CachedResponse& stored, std::string_view body,
                                 bool with_body) {
  http::ResponseHead& response = ex_.response;
  const int status = ex_.status;
  const bool unsatisfiable = status == 416;
  response.status = status;
  response.reason = {};
  response.headers.clear();
  if (!unsatisfiable) {
    for (const auto& header : stored.headers)
      response.headers.push_back({header.name, header.value});
  }
  response.body = body.empty() ? http::BodyKind::kNone : http::BodyKind::kContentLength;
  response.content_length = body.size();
  response.connection_tokens.clear();
  response.content_length_ignored = false;
  ClientResponseContext context;
  CompressionPhase& compression = ex_.phases.compression;
  // A 304 has no body; a 206 or 416 is about the stored bytes as they are.
  if (status != 304 && status != 206 && !unsatisfiable) compression.decide(&context);
  std::string_view payload = body;
  if (compression.active() && compression.compressWhole(body)) {
    payload = std::string_view(compression.output()->data(), compression.output()->size());
  } else if (compression.active()) {
    compression.release();  // could not compress: the stored bytes go as they are
    context.content_encoding = {};
  }
  if (status != 304 && status != 204)
    appendNumberLine(&ex_.extra_headers, "Content-Length", payload.size());
  context.close = ex_.close_after;
  context.keep_alive_header = ex_.client_minor == 0 && !ex_.close_after;
  context.request_id = ex_.generated_id;
  context.extra_headers = ex_.extra_headers;
  context.defaults = &ex_.listener->default_headers;
  if (context.content_encoding.empty() && !context.vary_accept_encoding) {
    writeStoredResponseHead(status, unsatisfiable ? std::string_view() : stored.wire_headers,
                            response.headers, context, ex_.clientHead());
  } else {
    writeClientResponseHead(response, context, ex_.clientHead());
  }
  if (with_body && !payload.empty()) ex_.to_client.borrowBody(payload);
}

// An upstream failure (an error status, or 502/503/504 answered by the gateway) with a stored
// copy that stale-if-error allows: the copy is served instead.
bool CachePhase::serveStaleOnError() {
  if (!state_.stale || !cache::mayServeStaleOnError(*state_.stale, wallNow())) return false;
  if (state_.revalidating) countRevalidation(RevalidationResult::kFailed);
  releaseFill(Outcome::kFailed);
  ex_.phases.upstream.close();  // an error response's body is not read
  serveCached(state_.stale, CacheResult::kStale);
  return true;
}

void CachePhase::announce() {
  if (!state_.active) return;
  ex_.extra_headers.append("X-Cache: ").append(cacheResultName(state_.result));
  if (from_l2_) ex_.extra_headers.append("; layer=l2");
  ex_.extra_headers.append("\r\n");
  if (ex_.refresh()) return;
  RouteCache& route_cache = *ex_.route->cache;
  route_cache.responses[static_cast<size_t>(state_.result)]->inc();
  if (state_.result == CacheResult::kHit || state_.result == CacheResult::kStale)
    route_cache.layer_hits[from_l2_ ? 1 : 0]->inc();
}

void CachePhase::countRevalidation(RevalidationResult result) {
  ex_.route->cache->revalidations[static_cast<size_t>(result)]->inc();
}

}  // namespace sg::proxy
