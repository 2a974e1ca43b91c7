#pragma once
// Byte ranges (RFC 9110 14): a GET with one byte range answered from a complete stored
// response (RFC 9111 3.3) as a 206 with the slice, or a 416 when the range lies beyond it.
// Anything else the cache may ignore (RFC 9110 14.2 lets a server ignore Range): multiple
// ranges, other units and invalid syntax get the whole stored response.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cached_response.h"

namespace sg::cache {

// One byte-range-spec: first-pos "-" [last-pos], or "-" suffix-length.
struct ByteRangeSpec {
  bool suffix = false;
  uint64_t first = 0;            // first-pos; the suffix-length when `suffix`
  std::optional<uint64_t> last;  // last-pos; absent: to the end of the representation

  bool operator==(const ByteRangeSpec&) const = default;
};

// A Range field value with exactly one byte range ("bytes" in any case, OWS and empty
// elements around commas allowed). nullopt for what is answered whole: another unit,
// invalid syntax, last-pos below first-pos, or more than one range. Positions too large
// for 64 bits saturate.
std::optional<ByteRangeSpec> parseSingleByteRange(std::string_view value);

// The range resolved against a representation of `length` bytes: inclusive positions
// within it, or not satisfiable (RFC 9110 14.1.1: first-pos at or past the end, a zero
// suffix-length, an empty representation).
struct ByteSlice {
  bool satisfiable = false;
  uint64_t first = 0;
  uint64_t last = 0;

  uint64_t size() const { return satisfiable ? last - first + 1 : 0; }
  bool operator==(const ByteSlice&) const = default;
};
ByteSlice resolveByteRange(const ByteRangeSpec& spec, uint64_t length);

// RFC 9110 13.1.5: an If-Range entity-tag matches a strong stored ETag character for
// character (weak tags never match); an HTTP-date matches the stored Last-Modified exactly,
// and only when that is a strong validator (the response's Date at least one second later,
// RFC 9110 8.8.2.2).
bool ifRangeMatches(std::string_view if_range, const CachedResponse& stored);

enum class RangeAnswer : uint8_t { kWhole, kPartial, kUnsatisfiable };

struct RangePlan {
  RangeAnswer answer = RangeAnswer::kWhole;
  ByteSlice slice;      // kPartial: the bytes sent
  uint64_t length = 0;  // the stored body's length (Content-Range complete-length)
};

// What a GET carrying `spec` (and `if_range`, when present) gets from `stored`: ranges
// apply to a complete 200 with a body; a failed If-Range means the whole response. A
// partial entry is planned by planPartialRange.
RangePlan planRange(const ByteRangeSpec& spec, std::optional<std::string_view> if_range,
                    const CachedResponse& stored);

// The same for a partial entry (CachedResponse::partial, partial.h): kPartial only for a
// slice wholly inside the bytes it holds, kUnsatisfiable past complete_length, else kWhole,
// which for a partial entry means it cannot answer (the request goes to the upstream).
// The slice is in representation positions: the body offset is first - partial_first.
RangePlan planPartialRange(const ByteRangeSpec& spec, std::optional<std::string_view> if_range,
                           const CachedResponse& stored);

// "Content-Range: bytes first-last/length\r\n" for kPartial, "bytes */length" for
// kUnsatisfiable (RFC 9110 14.4); nothing for kWhole.
void appendContentRangeLine(std::string* out, const RangePlan& plan);

}  // namespace sg::cache
