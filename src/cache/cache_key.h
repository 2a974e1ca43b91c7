#pragma once
// Cache keys. An entry is found in two steps (RFC 9111 4.1):
// 1. The primary key names the resource: "<host><path>[?<query>]", host lower-cased without
//    its port (routing ignores the port too, so "t", "t:1" and "T:0001" are one resource),
//    path as routed (the listener's path normalisation already applied; no further
//    decoding: %2F and / may differ at the origin), query per the route's `key.query`:
//    kAll = as sent, kNone = dropped,
//    kNames = only the listed parameters, stably sorted by name. GET and HEAD share it.
//    Example: "api.example.com/users/7?page=2". erasePrefix() matches on this string.
// 2. The variant: the stored response's Vary names plus the route's `key.headers`, each
//    with the request's normalised value. The configured key headers act as an implicit
//    Vary so that invalidating or purging a URL reaches every header variant with one
//    exact-key erase (they are still part of the key, only not of its first part).
// Field values are normalised by joining all lines of the field with ",", trimming OWS
// around every list element and dropping empty elements ("gzip, br" == "gzip,br");
// Accept-Language and Accept-Encoding further by their meaning (vary_normalise.h: case,
// order among equal q-values, q-value spelling: "br, GZip;q=1.0" == "gzip,br"). The same
// normalisation builds the stored value and the one a request is compared with.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cached_response.h"
#include "config/config.h"
#include "http/message.h"

namespace sg::cache {

// The host as keys hold it, appended to `out`: lower-case, port dropped ("[::1]:80" → "[::1]").
void appendKeyHost(std::string& out, std::string_view host);
// `host` without its port, case kept: "Example.com:8080" → "Example.com".
std::string_view keyHostWithoutPort(std::string_view host);
// A purge's key or key prefix (admin API) with its host part as keys hold it: "T:0001/a" →
// "t/a". A prefix that stops inside the host is lower-cased; one that ends in a port named
// the whole host and gets its '/' ("t:1" → "t/", so "tx/..." is not purged).
std::string normalizeKeyHost(std::string_view key, bool is_prefix);

std::string buildPrimaryKey(const http::RequestHead& request,
                            const config::RouteCacheConfig::Key& key);
std::string buildPrimaryKey(std::string_view host, std::string_view path, std::string_view query,
                            const config::RouteCacheConfig::Key& key);

// Names the variant depends on: the response's Vary names and the configured key headers,
// lower-cased, sorted, unique. nullopt for `Vary: *` (no later request can match, so such a
// response is not stored).
std::optional<std::vector<std::string>> variantNames(const http::ResponseHead& response,
                                                     const config::RouteCacheConfig::Key& key);

// The request's normalised value of `name`; nullopt when the request lacks the field.
std::optional<std::string> normalizedFieldValue(const std::vector<http::Header>& headers,
                                                std::string_view name);

std::vector<VaryField> variantFields(const std::vector<http::Header>& request_headers,
                                     const std::vector<std::string>& names);

// True when `request_headers` have the normalised values of `fields` (allocation-free
// except for the semantically normalised fields).
bool variantMatches(const std::vector<VaryField>& fields,
                    const std::vector<http::Header>& request_headers);

// kExact: the request has every stored variant value (variantMatches). kSelected: it
// differs only in Accept-Language, whose most preferred language is the stored response's
// Content-Language (vary_normalise.h acceptLanguageSelects), so the origin would have
// chosen that same representation. A lookup prefers an exact variant.
enum class VariantMatch { kNone, kExact, kSelected };
VariantMatch matchVariant(const CachedResponse& entry,
                          const std::vector<http::Header>& request_headers);

}  // namespace sg::cache
