#pragma once
// Strict RFC 9112 head parser. Hand-written rather than llhttp: it yields views over the
// read buffer in one pass without callbacks, and every smuggling rule (CL+TE, differing
// duplicate CL, obs-fold, bare CR/LF, whitespace before ':') is an explicit rejection here.
// Fuzzed by src/http/request_parser_fuzz.cpp.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace sg::http {

enum class ParseStatus { kComplete, kIncomplete, kError };

enum class ParseError : uint8_t {
  kNone,
  kBadRequestLine,      // 400
  kBadMethod,           // 400
  kBadTarget,           // 400
  kBadVersion,          // 400: not of the form HTTP/DIGIT.DIGIT
  kUnsupportedVersion,  // 505: well-formed but not HTTP/1.0 or HTTP/1.1
  kBadHeaderName,       // 400
  kBadHeaderValue,      // 400
  kObsFold,             // 400: line folding is a smuggling vector (RFC 9112 5.2)
  kBareLineFeed,        // 400: lines must end in CRLF
  kHeadTooLarge,        // 431
  kTooManyHeaders,      // 431
  kMissingHost,         // 400: HTTP/1.1 without Host (unless absolute-form), or several Host
  kContentLengthAndTransferEncoding,  // 400: smuggling vector
  kBadContentLength,                  // 400: not digits, or overflow
  kConflictingContentLength,          // 400: duplicate Content-Length with different values
  kBadTransferEncoding,               // 400 (request: only "chunked" is accepted) / 502 (response)
  kBadStatusLine,                     // responses only
};

// HTTP status the gateway answers a client with for a request parse error: 431 for the size
// limits, 505 for kUnsupportedVersion, 400 otherwise (0 for kNone).
int statusFor(ParseError error);
// Short stable name, used as a metric label and in logs ("obs_fold", "head_too_large").
std::string_view errorName(ParseError error);

struct ParseLimits {
  uint32_t max_head_size = 16 * 1024;  // bytes up to and including the final CRLFCRLF
  uint32_t max_headers = 100;
};

// Parses a request head at the start of `buffer`. kIncomplete means more bytes are needed
// (and the head is still within limits). On kComplete, head->head_length bytes were used.
// `head` is cleared first; its vectors keep their capacity so steady state does not allocate.
// *error is kNone unless kError is returned. A bare CR/LF is reported as soon as it arrives;
// every other rule is judged once the whole head is there, so a prefix of a valid head is
// always kIncomplete. Decisions beyond the RFC's MUSTs:
//  - Empty lines before the request-line are skipped and counted in head_length.
//  - Targets: origin-form, absolute-form with http/https (host = authority, path "/" if
//    absent; userinfo rejected), "*" only with OPTIONS. Authority-form (CONNECT) is kBadTarget.
//  - Host must be exactly one field in HTTP/1.1 (none allowed with absolute-form; never two);
//    its value must be uri-host[:port] bytes, else kBadHeaderValue.
//  - Transfer-Encoding must be one field whose value is exactly "chunked" (empty list
//    elements rejected too: "chunked," or a second, empty Transfer-Encoding field could be read
//    differently by the upstream); any Transfer-Encoding in HTTP/1.0 is rejected.
//  - Content-Length 0 gives BodyKind::kNone (see message.h).
ParseStatus parseRequestHead(std::string_view buffer, const ParseLimits& limits, RequestHead* head,
                             ParseError* error);

// Parses a response head. `request_method_head` and the status decide whether a body follows
// (HEAD, 1xx, 204 and 304 have none; RFC 9112 6.3). Status codes outside 100-599 are
// kBadStatusLine; Content-Length is validated even where it does not decide the framing;
// Transfer-Encoding must be exactly "chunked" as in requests (the gateway re-frames and cannot
// pass another coding on; nginx refuses it too), else kBadTransferEncoding, whatever the
// status; it gives kChunked and overrides any Content-Length (see
// ResponseHead::content_length_ignored). Transfer-Encoding in an HTTP/1.0 response is
// kBadTransferEncoding (faulty framing, RFC 9112 6.1).
ParseStatus parseResponseHead(std::string_view buffer, const ParseLimits& limits,
                              bool request_method_head, ResponseHead* head, ParseError* error);

}  // namespace sg::http
