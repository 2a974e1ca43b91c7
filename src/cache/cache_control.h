#pragma once
// Cache-Control (RFC 9111 5.2) and the stale-* extensions (RFC 5861), parsed from every
// Cache-Control field line of a message. Directive names are case-insensitive; arguments
// may be tokens or quoted strings. Unknown directives are ignored.
//
// Malformed or conflicting input is read conservatively (RFC 9111 4.2.1 and 5.2):
// - max-age / s-maxage that are not delta-seconds, or that appear twice with different
//   values, read as 0: the response is stale on arrival.
// - stale-while-revalidate / stale-if-error that are malformed read as 0 (no window);
//   differing duplicates keep the smaller window.
// - Request max-age, min-fresh and max-stale that are malformed are ignored (they only
//   ever loosen or tighten what the response itself allows); duplicates keep the most
//   restrictive value (smallest max-age and max-stale, largest min-fresh).
// - Qualified no-cache="Set-Cookie" and private="X" are read as the unqualified
//   directives: revalidate every time / never store in a shared cache.
// - Boolean directives given an argument (no-store=1) still count.
// - Deltas above 2^31 seconds are clamped to 2^31 (RFC 9111 1.2.2).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "http/message.h"

namespace sg::cache {

struct ResponseCacheControl {
  bool no_store = false;
  bool no_cache = false;
  bool is_private = false;
  bool is_public = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool must_understand = false;
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::chrono::seconds> s_maxage;
  std::optional<std::chrono::seconds> stale_while_revalidate;
  std::optional<std::chrono::seconds> stale_if_error;
  // Read from a targeted field (RFC 9213): Cache-Control and Expires are ignored.
  bool targeted = false;
};

struct RequestCacheControl {
  bool no_store = false;
  bool no_cache = false;  // also `Pragma: no-cache` when the request has no Cache-Control
  bool only_if_cached = false;
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::chrono::seconds> min_fresh;
  std::optional<std::chrono::seconds> max_stale;  // with a value
  bool max_stale_any = false;                     // `max-stale` without a value: any staleness
};

ResponseCacheControl parseResponseCacheControl(const std::vector<http::Header>& headers);
RequestCacheControl parseRequestCacheControl(const std::vector<http::Header>& headers);

// RFC 9213 targeted cache control (CDN-Cache-Control and the like): the first of
// `field_names` (any case) present with a valid, non-empty Structured Field Dictionary
// value (RFC 8941; all lines of the field joined). A field that does not parse, or whose
// max-age / s-maxage / stale-* is not a non-negative Integer, is skipped (RFC 9213 2.1).
// nullopt when no field qualifies: Cache-Control and Expires apply as usual.
std::optional<ResponseCacheControl> parseTargetedCacheControl(
    const std::vector<http::Header>& headers, const std::vector<std::string>& field_names);

}  // namespace sg::cache
