#pragma once
// A stored response. Immutable once built (rfc9111.h makeCachedResponse, or
// revalidation.h freshenWith304) and shared as std::shared_ptr<const CachedResponse>, so a
// worker can keep writing one to its client after the cache evicted or replaced it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::cache {

using Time = std::chrono::sys_time<std::chrono::milliseconds>;
using Duration = std::chrono::milliseconds;

struct StoredHeader {
  std::string name;  // case as received
  std::string value;
};

// One dimension of a variant (cache_key.h): a request header name (lower-case) and its
// normalised value in the request the response answered; nullopt when that request lacked
// the header (it then only matches requests that lack it too, RFC 9111 4.1).
struct VaryField {
  std::string name;
  std::optional<std::string> value;

  bool operator==(const VaryField&) const = default;
};

struct CachedResponse {
  std::string key;              // primary key (cache_key.h buildPrimaryKey)
  std::vector<VaryField> vary;  // sorted by name; empty when the response does not vary
  int status = 200;
  // End-to-end fields as received. Not stored: hop-by-hop fields (and those named in
  // Connection), Content-Length and Transfer-Encoding (the body is stored decoded and
  // whole: the writer sends Content-Length: body.size()) and Age (see ageHeaderSeconds).
  std::vector<StoredHeader> headers;
  // `headers` as the "Name: value\r\n" lines a response head carries, rendered once when
  // the entry is built (renderWireHeaders) so a hit appends one string.
  std::string wire_headers;
  // Never null once built; shared so that a 304 freshening does not copy the bytes.
  std::shared_ptr<const std::string> body;

  Time request_time{};                // when the request that produced the response was sent
  Time response_time{};               // when its head arrived
  Duration corrected_initial_age{0};  // RFC 9111 4.2.3
  Duration lifetime{0};               // freshness lifetime (rfc9111.h freshnessLifetime)
  // Stale windows: max(route config, the response's RFC 5861 directives); zero when
  // never_stale.
  Duration stale_while_revalidate{0};
  Duration stale_if_error{0};
  bool no_cache = false;      // response no-cache: revalidate before every use
  bool never_stale = false;   // must-revalidate, proxy-revalidate or s-maxage
  std::string etag;           // validators, empty when absent
  std::string last_modified;  // only when it is a valid HTTP-date
  // A stored 206 (status 206, partial.h): `body` holds the bytes from partial_first of a
  // representation of complete_length bytes; Content-Range is not among `headers`.
  uint64_t partial_first = 0;
  uint64_t complete_length = 0;

  uint64_t charge = 0;  // bytes counted against the cache's memory bound (whole entry)
  // Who stored it (the proxy's route number), for per-owner statistics (Cache::ownerStats).
  uint32_t owner = 0;

  // First value of a stored header (case-insensitive name).
  std::optional<std::string_view> header(std::string_view name) const;
  std::string_view bodyBytes() const { return body ? std::string_view(*body) : std::string_view(); }
  bool partial() const { return status == 206; }
};

// Sets entry.wire_headers from entry.headers.
void renderWireHeaders(CachedResponse& entry);

// Estimated bytes a stored response costs in the cache: every string's bytes plus
// allocation and bookkeeping overhead (object, control block, map node, policy node).
uint64_t estimateCharge(const CachedResponse& response);

}  // namespace sg::cache
