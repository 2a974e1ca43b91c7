#pragma once
// Choosing a response content coding from the request's Accept-Encoding (RFC 9110
// 12.5.3) and deciding which media types are worth compressing.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace sg::compress {

enum class Encoding { kIdentity, kGzip, kBrotli };

// The Content-Encoding token: "identity", "gzip" or "br".
std::string_view encodingToken(Encoding encoding);
Encoding fromConfig(config::CompressionConfig::Encoding encoding);

// Picks the coding for a response. `accept_encoding_values` holds every Accept-Encoding
// field line of the request (none = header absent). The enabled coding with the highest
// q-value wins; ties go to the earlier entry of `enabled`. Identity competes only when the
// client weighted it (listed, or via "*"), and loses ties. Returns kIdentity when nothing
// enabled is acceptable, when the header is absent or empty, and also when identity itself
// is refused (identity;q=0, *;q=0): like nginx and Envoy the gateway then sends the body
// as it is rather than a 406.
Encoding negotiate(std::span<const std::string_view> accept_encoding_values,
                   const std::vector<config::CompressionConfig::Encoding>& enabled);

// Parses an RFC 9110 qvalue ("0", "0.5", "1.000") into thousandths; -1 when malformed.
int parseQvalue(std::string_view text);

// True when the media type of `content_type_header` (before ';', trimmed, any case) is in
// `allow` (lower-case); an entry "type/*" matches every subtype of that type, except
// text/event-stream, which only an entry naming it matches.
bool contentTypeAllowed(std::string_view content_type_header,
                        const std::vector<std::string>& allow);


}  // namespace sg::compress
