#pragma once
// Conditional revalidation (RFC 9111 4.3), freshening with 304 (4.3.4), answering a
// client's own conditional request from the cache (4.3.2), and invalidation by unsafe
// methods (4.4).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cached_response.h"
#include "config/config.h"
#include "http/message.h"
#include "http/path_normalizer.h"

namespace sg::cache {

// Header values for the conditional request that revalidates `entry`; an empty string
// means "do not send that header". If-None-Match carries the stored ETag as is (weak
// comparison applies); If-Modified-Since the stored Last-Modified value as is (RFC 9110
// 13.1.3 recommends exactly that date). Both empty: revalidate with a plain GET.
struct ConditionalHeaders {
  std::string if_none_match;
  std::string if_modified_since;
};
ConditionalHeaders conditionalHeaders(const CachedResponse& entry);

struct FreshenResult {
  // The stored response updated by the 304, to store; null only when `not_modified` is not a
  // 304.
  std::shared_ptr<const CachedResponse> entry;
  // What this client gets: `entry`, or (set_cookie bypass / strip with Set-Cookie in the
  // 304) a copy of it with the 304's Set-Cookie, which the stored entry does not keep.
  std::shared_ptr<const CachedResponse> served;
  // false when the merged response may no longer be stored (the 304 added no-store or
  // private, or nothing keeps it reusable): serve it to this client once and erase the
  // stored one.
  bool storable = false;
};

// Applies a 304 to the stored response: every 304 field replaces the stored fields of the
// same name, except hop-by-hop fields, Content-Length, Content-Range, Transfer-Encoding,
// Content-Encoding (the stored bytes are what they are), Vary (the variant identity) and
// Age; then freshness is recomputed from the merged fields and the 304's timing.
// Set-Cookie joins the entry only with set_cookie `store`.
// A new ETag or Last-Modified in the 304 replaces the stored one (RFC 9111 4.3.4 lists
// ETag among the updated fields): the revalidation sent only this entry's validators (the
// client's own conditionals are dropped), so the 304 says this entry is current, and its
// validators are the ones the origin now gives it. (4.3.4's selection by validator is
// among several stored responses; here there is one candidate.)
FreshenResult freshenWith304(const CachedResponse& stored, const http::ResponseHead& not_modified,
                             Time request_time, Time response_time,
                             const config::RouteCacheConfig& route);

// RFC 9111 4.3.2: whether a GET/HEAD request's own If-None-Match (weak comparison, "*"
// included) or, without If-None-Match, If-Modified-Since (against Last-Modified, else the
// stored Date, else the time it was received: 304 only when that is not later than the
// client's date) is satisfied by `entry`, so the cache answers 304 instead of the body.
bool clientNotModified(const http::RequestHead& request, const CachedResponse& entry);

// Methods other than GET, HEAD, OPTIONS and TRACE.
bool isUnsafeMethod(std::string_view method);

// RFC 9111 4.4: primary keys to erase after an unsafe request got a non-error (2xx/3xx)
// response: the target URI, and Location / Content-Location when they point to the same
// host (relative references always do). Empty for safe methods and error statuses.
// Erasing a primary key removes all its variants (cache.h). With `paths` (the listener's
// path normalisation), Location / Content-Location paths are normalised as request paths
// are, so they name the keys those requests were stored under.
std::vector<std::string> invalidatedKeys(const http::RequestHead& request,
                                         const http::ResponseHead& response,
                                         const config::RouteCacheConfig::Key& key,
                                         const http::PathOptions* paths = nullptr);

// RFC 9110 9.3.3: whether the response's one Content-Location names the request's own URL
// (a relative reference resolved against the request path; an absolute one with the
// request's authority), so a POST response may be stored for later GETs of that URL.
bool contentLocationIsTarget(const http::RequestHead& request, const http::ResponseHead& response);

}  // namespace sg::cache
