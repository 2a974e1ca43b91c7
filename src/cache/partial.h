#pragma once
// Partial responses in the cache (RFC 9111 3.3 and 3.4). A 206 with one byte range of a
// representation of known length is stored as a partial entry (status 206, the bytes it
// carries and where they sit, CachedResponse::partial_first / complete_length); ranges
// wholly inside it are answered from it (ranges.h planRange), anything else goes to the
// upstream. A partial entry is completed by asking only for the missing bytes: two parts
// are combined only when both carry the same strong validator (RFC 9110 15.3.7.3).
//
// Choices:
// - A partial entry needs no validator to answer ranges inside it (RFC 9111 3.3 only
//   forbids answering what it does not hold); combining needs a strong ETag (or a strong
//   Last-Modified, RFC 9110 8.8.2.2) on both parts.
// - Only a Content-Length-framed 206 whose length matches its Content-Range is stored
//   (multipart/byteranges and chunked 206s are relayed, not stored).
// - A 206 that holds the whole representation (bytes 0-(n-1)/n) is stored as a complete 200.
// - Freshness, storability and Vary are decided as for a 200 (206 is heuristically
//   cacheable, RFC 9110 15.1).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cached_response.h"
#include "cache/rfc9111.h"
#include "config/config.h"
#include "http/message.h"

namespace sg::cache {

// "bytes first-last/complete-length" (RFC 9110 14.4), with a known length.
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length = 0;

  bool operator==(const ContentRange&) const = default;
};
std::optional<ContentRange> parseContentRange(std::string_view value);

// makeCachedResponse for the answer to a GET that may carry Range: a 206 becomes a partial
// entry (kRange when it cannot: no or several Content-Range fields, unknown length, several
// ranges, a body not framed by a matching Content-Length); a 200 to a Range request (the
// upstream ignored Range or If-Range failed) is a complete response, stored as usual.
StoreResult makeStoredResponse(std::string key, const http::RequestHead& request,
                               const http::ResponseHead& response, Time request_time,
                               Time response_time, const config::RouteCacheConfig& route);

// The last byte position a partial entry holds (partial_first when it holds nothing).
uint64_t partialLast(const CachedResponse& entry);

// Both carry the same strong validator: a strong ETag, else (neither has an ETag) a strong
// Last-Modified (the Date at least a second later, RFC 9110 8.8.2.2).
bool strongValidatorsMatch(const CachedResponse& a, const CachedResponse& b);

// The strong validator to send in If-Range when completing `stored` (empty: none; the
// missing bytes are then asked without If-Range, and a 206 that cannot be combined makes
// the proxy ask again for the whole response).
std::string ifRangeValidator(const CachedResponse& stored);

// The upstream's answer to the request that completes `stored` (RFC 9111 3.4): a 206 with
// exactly the missing bytes (from partialLast + 1 to the end of the same complete length),
// framed by a matching Content-Length, carrying the stored strong validator. Only then may
// the two parts be combined.
bool continuesPartial(const CachedResponse& stored, const http::ResponseHead& response);

// A newly stored partial entry extended with an older one's bytes (RFC 9111 3.4): when both
// are parts of the same representation (same complete length and strong validator) and
// their bytes overlap or touch, one entry with the newer fields and the union of the bytes
// (a complete 200 when it holds them all); otherwise `newer` itself.
std::shared_ptr<const CachedResponse> extendPartial(const CachedResponse& older,
                                                    std::shared_ptr<const CachedResponse> newer,
                                                    uint64_t max_object_size);

}  // namespace sg::cache
