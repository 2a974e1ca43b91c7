#pragma once
// Pure helpers for rewriting a response head when the gateway compresses the body. Each
// takes one field value as received and never allocates except to append to `out`.
#include <span>
#include <string>
#include <string_view>

namespace sg::compress {

// True when the response already has a content coding: any Content-Encoding member other
// than "identity" (an empty value counts as none).
bool alreadyEncoded(std::string_view content_encoding_value);

// True when a Cache-Control field value holds the no-transform directive, which forbids
// intermediaries from changing the content (RFC 9111 5.2.2.6).
bool hasNoTransform(std::string_view cache_control_value);

// Appends the ETag to send with a compressed body: a strong ETag `"abc"` becomes weak
// `W/"abc"` (the bytes differ, the meaning does not), a weak one is kept. Returns false
// and appends nothing when the value is not an entity-tag; the caller drops the header,
// as nginx does.
bool appendWeakEtag(std::string_view etag_value, std::string* out);

// Appends the Vary value for a response whose coding depends on Accept-Encoding: every
// existing Vary line joined with ", ", plus "Accept-Encoding" unless already listed (any
// case). "*" already varies on everything and is written alone.
void appendVaryAcceptEncoding(std::span<const std::string_view> vary_values, std::string* out);

}  // namespace sg::compress
