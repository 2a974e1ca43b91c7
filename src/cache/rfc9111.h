#pragma once
// RFC 9111 rules for a shared cache, as pure functions with the time injected. The proxy
// calls them around Cache (cache.h): checkStorable/makeCachedResponse after a miss,
// decideServe on a hit, revalidation.h for conditional requests and invalidation.
//
// Decisions (RFC choices and where this cache is stricter or simpler):
// - Only GET responses are stored; HEAD is served from the GET entry (same primary key).
//   Also a POST response with explicit freshness whose Content-Location is the request's
//   own URL (RFC 9110 9.3.3), under that URL's GET key.
// - Requests with Range, and 206 responses, are refused here (kRange): partial.h stores
//   them (a 206 as a partial entry), ranges.h answers ranges from stored responses.
// - Statuses stored: final ones except 206 and 304, when the response has explicit
//   freshness (max-age, s-maxage, Expires) or is `public`, or the status is heuristically
//   cacheable (200 203 204 300 301 308 404 405 410 414 501). Heuristic freshness (those
//   statuses, or `public`): the route's default_ttl when set (the operator's choice wins),
//   else `heuristic` (default 10%) of Date - Last-Modified (RFC 9111 4.2.2), else 0.
// - Targeted cache control (RFC 9213): the first valid field of the route's
//   targeted_cache_control list present (default Scalegate-Cache-Control, then
//   CDN-Cache-Control) replaces Cache-Control and Expires for storing and freshness.
//   Scalegate-Cache-Control is not stored (not replayed on hits); CDN-Cache-Control is.
// - Age: a list (one line or several) counts as its first member (RFC 9111 5.1).
// - A response is worth storing only if it can be reused: lifetime > 0, or a validator
//   (ETag / Last-Modified) for cheap revalidation, or a stale-while-revalidate /
//   stale-if-error window.
// - no-store (request or response) and `private` (also private="X") prevent storing;
//   `must-understand` with a status this cache implements overrides the response's
//   no-store (RFC 9111 5.2.2.3).
// - Authorization in the request: stored only with public, s-maxage or must-revalidate
//   (RFC 9111 3.5).
// - Set-Cookie: by default (route set_cookie: bypass) a response with one is never stored,
//   even with `public` (nginx and Varnish defaults: storing one user's session cookie and
//   replaying it to everyone is the worst failure a shared cache can have). `strip` stores
//   it without its Set-Cookie lines; `store` stores and replays them (RFC 9111 allows it).
// - Vary: * is never stored. Bodies over the route's max_object_size are not stored.
// - force_ttl replaces the freshness lifetime only; it does not make no-store, private,
//   Set-Cookie or uncacheable statuses storable, nor cancel no-cache / must-revalidate.
// - Freshness lifetime: force_ttl > s-maxage > max-age > Expires - Date (Date missing or
//   invalid: the response time; invalid Expires, e.g. "0": already expired; several
//   differing Expires: expired) > default_ttl > heuristic x (Date - Last-Modified)
//   (heuristic statuses / public only) > 0.
// - Request directives are advisory for caches (RFC 9111 5.2.1). Honoured always:
//   no-store, only-if-cached (504 when nothing usable without the origin) and max-stale
//   (serve stale within it, never past must-revalidate etc.). Request no-cache,
//   `Pragma: no-cache` (without Cache-Control), max-age and min-fresh force a
//   revalidation only with ServeOptions::honor_request_no_cache (off by default, as nginx,
//   Varnish and CDNs: otherwise any client's reload drives load to the origin).
// - Never served stale (not even stale-while-revalidate / stale-if-error / max-stale):
//   response no-cache, must-revalidate, proxy-revalidate, s-maxage (RFC 9111 4.2.4).
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "cache/cache_control.h"
#include "cache/cached_response.h"
#include "config/config.h"
#include "http/message.h"

namespace sg::cache {

enum class StoreVerdict {
  kStore,
  kDisabled,       // route cache disabled
  kMethod,         // not GET
  kRange,          // Range request or 206 response
  kStatus,         // interim, 304, or must-understand with a status not implemented here
  kNoStore,        // no-store in request or response
  kPrivate,        // private
  kAuthorization,  // Authorization without public / s-maxage / must-revalidate
  kSetCookie,      // Set-Cookie in the response
  kVaryStar,       // Vary: *
  kTooLarge,       // over max_object_size
  kNotReusable,    // no freshness source, or nothing would ever make it reusable
};

std::string_view storeVerdictName(StoreVerdict verdict);

bool isHeuristicallyCacheable(int status);

// Everything RFC 9111 3 decides from the heads (the body size only via Content-Length;
// makeCachedResponse checks the real size). `response_time` matters only when Date is
// missing.
StoreVerdict checkStorable(const http::RequestHead& request, const http::ResponseHead& response,
                           const config::RouteCacheConfig& route, Time response_time);

// RFC 9111 4.2.1 with the route's force_ttl / default_ttl (precedence in the file comment).
Duration freshnessLifetime(int status, const std::vector<http::Header>& headers,
                           const ResponseCacheControl& cc, const config::RouteCacheConfig& route,
                           Time response_time);

// RFC 9111 4.2.3: corrected_initial_age = max(apparent_age, age_value + response_delay),
// apparent_age = max(0, response_time - date_value). Invalid Age or Date count as absent.
Duration correctedInitialAge(const std::vector<http::Header>& headers, Time request_time,
                             Time response_time);

struct StoreResult {
  StoreVerdict verdict = StoreVerdict::kStore;
  std::shared_ptr<const CachedResponse> entry;  // set exactly when verdict == kStore
};

// Builds the entry to insert. `request_time`: when the request was sent upstream;
// `response_time`: when the response head arrived.
StoreResult makeCachedResponse(std::string key, const http::RequestHead& request,
                               const http::ResponseHead& response, std::string body,
                               Time request_time, Time response_time,
                               const config::RouteCacheConfig& route);

// The proxy stores while it streams: it calls makeCachedResponse with an empty body when
// the head arrives, then this with the whole body at its end. Copies `head_only`, sets the
// body, the charge and the owner. Null when `body` exceeds `max_object_size`.
std::shared_ptr<const CachedResponse> withBody(const CachedResponse& head_only, std::string body,
                                               uint64_t max_object_size, uint32_t owner);

// current_age = corrected_initial_age + resident_time (now - response_time).
Duration currentAge(const CachedResponse& entry, Time now);
// Age header value to send: whole seconds, at most 2^31.
int64_t ageHeaderSeconds(const CachedResponse& entry, Time now);
bool isFresh(const CachedResponse& entry, Time now);

enum class ServeAction {
  kHit,                   // fresh: serve it
  kStaleHit,              // stale but the request's max-stale accepts it: serve it
  kStaleWhileRevalidate,  // serve it now and revalidate in the background
  kRevalidate,            // send a conditional request first (revalidation.h)
  kGatewayTimeout,        // only-if-cached and not usable without the origin: 504
};

struct ServeOptions {
  bool honor_request_no_cache = false;  // see the file comment
};

ServeAction decideServe(const CachedResponse& entry, const RequestCacheControl& request, Time now,
                        ServeOptions options = {});

// What to answer for only-if-cached when nothing is stored: 504 (RFC 9111 5.2.1.7).
inline constexpr int kOnlyIfCachedMissStatus = 504;

// RFC 5861 4: after a revalidation or miss failed with a connection error or one of
// these statuses, the stored response may be served within its stale-if-error window.
bool isStaleIfErrorStatus(int status);
bool mayServeStaleOnError(const CachedResponse& entry, Time now);

namespace detail {
// Shared with revalidation.cpp.
bool isExcludedFromStorage(std::string_view name, const std::vector<std::string_view>& tokens);
// Sets lifetime, stale windows, no_cache / never_stale and validators from the headers;
// entry.status and entry.response_time must be set.
void applyResponseRules(CachedResponse& entry, const std::vector<http::Header>& headers,
                        const ResponseCacheControl& cc, const config::RouteCacheConfig& route);
bool isReusable(const CachedResponse& entry);
// Whether a stored entry leaves out this field: Set-Cookie unless set_cookie is `store`.
bool stripsSetCookie(const config::RouteCacheConfig& route, std::string_view name);
}  // namespace detail

}  // namespace sg::cache
