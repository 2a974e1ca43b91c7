#pragma once
// RateLimit-Policy and RateLimit response header values (draft-ietf-httpapi-ratelimit-
// headers-09): Structured Field lists with one member per policy, e.g.
//   RateLimit-Policy: "api";q=100;w=60, "route";q=10;w=1
//   RateLimit: "api";r=42;t=17, "route";r=9;t=1
// A request that passed several limiters (listener and route) appends one member each to
// the same two strings. The partition key parameter (pk) is never sent: it would echo the
// client's key (an API key, say) back in the response.
#include <string>
#include <string_view>

#include "ratelimit/rate_limiter.h"

namespace sg::ratelimit {

// Largest sf-integer (15 digits); larger numbers are clamped to it.
inline constexpr uint64_t kMaxSfInteger = 999'999'999'999'999;

// Appends `name` as an sf-string: quoted, with `"` and `\` escaped by a backslash. Bytes
// outside printable ASCII (0x20-0x7E), which an sf-string cannot carry, each become '?'.
void appendSfString(std::string* out, std::string_view text);

// Appends `"name";q=<limit>;w=<window_seconds>`, preceded by ", " when out is not empty.
void appendPolicy(std::string* out, std::string_view name, const Decision& decision);

// Appends `"name";r=<remaining>;t=<reset_seconds>`, preceded by ", " when out is not empty.
void appendState(std::string* out, std::string_view name, const Decision& decision);

}  // namespace sg::ratelimit
