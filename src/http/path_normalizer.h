#pragma once
// Request path normalisation, so that routes, limits and cache keys see one spelling of a
// path and the upstream receives exactly the path that was routed (Envoy's normalize_path +
// merge_slashes, nginx's URI normalisation). In this order:
//  1. percent-encodings are checked (an invalid one, "%zz" or a cut "%4", is rejected) and
//     those of unreserved characters (ALPHA DIGIT - . _ ~) decoded; the others are kept
//     with upper-case hex ("%c3%a9" → "%C3%A9");
//  2. encoded slashes and backslashes (%2F, %5C) and raw backslashes are rejected, kept as
//     they are (never a segment separator), or decoded to '/' (EscapedSlashes);
//  3. runs of '/' are merged into one (merge_slashes);
//  4. dot segments are removed (RFC 3986 5.2.4, also "%2e" ones after step 1). A path that
//     climbs above the root stays at the root: "/../x" → "/x", as RFC 3986 and Envoy do.
// The query is not part of the path and is never touched.
#include <cstdint>
#include <string>
#include <string_view>

namespace sg::http {

enum class EscapedSlashes : uint8_t {
  kReject,  // %2F, %5C or '\' in the path: 400 (the default: the safe choice)
  kKeep,    // left encoded (hex upper-cased) and never treated as a separator
  kDecode,  // decoded to '/' before slashes are merged and dot segments removed
};

struct PathOptions {
  bool merge_slashes = true;
  EscapedSlashes escaped_slashes = EscapedSlashes::kReject;
};

enum class PathStatus : uint8_t {
  kUnchanged,     // the path is already normal; *out was not touched
  kNormalized,    // the normal form is in *out
  kBadEncoding,   // '%' not followed by two hex digits
  kEscapedSlash,  // %2F, %5C or '\' under EscapedSlashes::kReject
};

// `path` is an origin-form path (starts with '/', no query). Already normal paths, the
// common case, are recognised in one pass without writing or allocating anything.
PathStatus normalizePath(std::string_view path, const PathOptions& options, std::string* out);

}  // namespace sg::http
