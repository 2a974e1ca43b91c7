#pragma once
// Semantic normalisation of the content-negotiation fields a response may Vary on, so that
// requests the origin cannot tell apart share one stored variant (RFC 9111 4.1 lets a cache
// normalise selecting header fields with knowledge of their semantics).
//
// Accept-Language and Accept-Encoding: names lower-cased (tags and codings are
// case-insensitive), whitespace ignored, q-values in canonical form ("q=1.0" is dropped,
// "q=0.50" is "q=0.5"), elements ordered by q-value, highest first, then by name: order
// among equal q-values carries no preference. Entries with q=0 are dropped unless a "*"
// element is present (then they exclude something the wildcard would allow); Accept-Encoding
// keeps "identity;q=0" always, since identity is acceptable when not mentioned (RFC 9110
// 12.5.3). An element with another parameter or an invalid q-value is kept verbatim (only
// whitespace trimmed): it cannot be compared by meaning.
//
// Example: "De;q=0.5, EN-gb , fr;q=0" → "en-gb,de;q=0.5".
#include <string>
#include <string_view>

namespace sg::cache {

// True when `name` (any case) gets a semantic normalisation here.
bool hasSemanticNormalisation(std::string_view name);

// The canonical value of field `name` (any case) from its value already joined with ","
// (cache_key.h normalizedFieldValue); other fields are returned unchanged.
std::string normaliseVaryValue(std::string_view name, std::string value);

// Whether a request whose canonical Accept-Language is `accept_language` selects a stored
// response in `content_language`: the request's most preferred range (the only one with
// the highest q-value, not "*") is that language tag, case-insensitively. The origin is
// known to have that language, and nothing else the client prefers as much, so it would
// choose it again (RFC 9110 12.5.4). Content-Language lists of several tags never match.
bool acceptLanguageSelects(std::string_view accept_language, std::string_view content_language);

}  // namespace sg::cache
