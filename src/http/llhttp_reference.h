#pragma once
// llhttp (Debian's node-llhttp, built from /usr/share/llhttp in strict mode with no lenient
// flags) as a reference parser for differential testing of parser.h. Test-only: the gateway
// never links it. See src/http/request_differential_fuzz.cpp and docs/parser-differences.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::http::reference {

struct LlhttpHead {
  enum class Verdict { kComplete, kIncomplete, kError };
  Verdict verdict = Verdict::kIncomplete;
  int error = 0;             // llhttp_errno (0 unless kError)
  std::string error_name;    // "HPE_INVALID_METHOD"
  std::string error_reason;  // llhttp's message ("Invalid method encountered")
  size_t error_offset = 0;   // offset of the byte llhttp stopped at (kError)
  std::string method;        // method bytes as llhttp saw them
  std::string url;           // raw request-target bytes
  int http_major = 0;
  int http_minor = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // values as llhttp gave them
  uint16_t flags = 0;                                        // llhttp_flags at on_headers_complete
  uint64_t content_length = 0;                               // parsed Content-Length (0 if none)
  bool chunked = false;  // F_CHUNKED: the final coding is chunked
  bool has_content_length = false;
  bool has_transfer_encoding = false;
  bool keep_alive = false;  // llhttp_should_keep_alive at on_headers_complete
  bool upgrade = false;     // llhttp's upgrade (Connection: upgrade + Upgrade, or CONNECT)
  size_t head_length = 0;   // bytes up to and including the final CRLF (kComplete)
};

// Parses the request head at the start of `input`. kComplete once llhttp has accepted the
// whole head, including the framing decision it makes right after on_headers_complete (a
// request whose Transfer-Encoding does not end in chunked is an error there).
LlhttpHead parseRequestWithLlhttp(std::string_view input);

// True if `method` is one of llhttp's HTTP methods (it rejects every other method name in an
// HTTP/1.x request).
bool llhttpKnowsMethod(std::string_view method);

}  // namespace sg::http::reference
