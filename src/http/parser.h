#pragma once
// Strict RFC 9112 head parser. Hand-written rather than llhttp: it yields views over the
// read buffer in one pass without callbacks, and every smuggling rule (CL+TE, differing
// duplicate CL, obs-fold, bare CR/LF, whitespace before ':') is an explicit rejection here.
// Fuzzed by fuzz/request_parser_fuzz.cpp.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace sg::http {

enum class ParseStatus { kComplete, kIncomplete, kError };

enum class ParseError : uint8_t {
  kNone,
  kBadRequestLine,    // 400
  kBadMethod,         // 400
  kBadTarget,         // 400
  kBadVersion,        // 505 for HTTP/2+, 400 otherwise (see statusFor)
  kBadHeaderName,     // 400
  kBadHeaderValue,    // 400
  kObsFold,           // 400: line folding is a smuggling vector (RFC 9112 5.2)
  kBareLineFeed,      // 400: lines must end in CRLF
  kHeadTooLarge,      // 431
  kTooManyHeaders,    // 431
  kMissingHost,       // 400: HTTP/1.1 without Host, or more than one Host
  kContentLengthAndTransferEncoding,  // 400: smuggling vector
  kBadContentLength,         // 400: not digits, or overflow
  kConflictingContentLength, // 400: duplicate Content-Length with different values
  kBadTransferEncoding,      // 400 (request: only "chunked" is accepted) / 502 (response)
  kBadStatusLine,            // responses only
};

// HTTP status the gateway answers a client with for a request parse error.
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
ParseStatus parseRequestHead(std::string_view buffer, const ParseLimits& limits, RequestHead* head,
                             ParseError* error);

// Parses a response head. `request_method_head` and the status decide whether a body follows
// (HEAD, 1xx, 204 and 304 have none; RFC 9112 6.3).
ParseStatus parseResponseHead(std::string_view buffer, const ParseLimits& limits,
                              bool request_method_head, ResponseHead* head, ParseError* error);

}  // namespace sg::http
