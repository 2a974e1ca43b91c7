#pragma once
// A stored response as the second cache layer (L2, Redis) keeps it: the bytes of one
// CachedResponse, and the names of the hash fields an entry's variants live under.
//
// Format (version 1), all integers fixed-width little-endian:
//   u8 version
//   str key
//   u32 vary count, then per field: str name, u8 has_value, [str value when has_value]
//   u16 status
//   u32 header count, then per header: str name, str value
//   i64 request_time, i64 response_time (ms since the epoch)
//   i64 corrected_initial_age, lifetime, stale_while_revalidate, stale_if_error (ms)
//   u8 no_cache, u8 never_stale
//   str etag, str last_modified
//   u64 partial_first, u64 complete_length
//   str body
// where str is a u32 byte length and the bytes. wire_headers, charge and owner are not
// stored: they are derived (renderWireHeaders, estimateCharge) or local (the route number
// of this instance's config), so decode rebuilds them.
//
// L2 bytes come from a shared store other processes (or an attacker with access to it)
// write, so decode checks every length against the bytes left before allocating and
// rejects anything that is not exactly one valid encoding.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cached_response.h"

namespace sg::cache {

inline constexpr uint8_t kL2FormatVersion = 1;

// Bytes of one stored response as L2 keeps it (every field of CachedResponse except
// wire_headers, charge and owner, which are rebuilt on decode). "" (never a valid encoding)
// when a string exceeds 4 GiB, which the u32 lengths cannot hold; L2 callers cap entries
// at l2_max_object_size, far below that.
std::string encodeL2Entry(const CachedResponse& entry);

// The response back, with wire_headers rendered, charge estimated and owner set; null (and
// *error, when not null, set to a short reason) when `bytes` is not a valid encoding
// (truncated, wrong version, lengths past the end, trailing bytes, status outside 100..999,
// a bool byte other than 0 or 1, vary names not sorted and unique, partial fields
// inconsistent with the status and body).
std::shared_ptr<const CachedResponse> decodeL2Entry(std::string_view bytes, uint32_t owner,
                                                    std::string* error);

// The L2 hash field that names an entry's variant: a canonical string of `vary` (names and
// values, absent values distinct from empty ones); "" for an entry that does not vary.
// Every name and value is length-prefixed, so no bytes inside them can make two different
// variants spell the same field.
std::string l2VariantField(const std::vector<VaryField>& vary);

// The vary names only (in stored order, which is sorted; comma-joined, lower-case), e.g.
// "accept-encoding,accept-language"; "" for an entry that does not vary.
std::string l2VaryNames(const std::vector<VaryField>& vary);

}  // namespace sg::cache
