// libFuzzer target for the response head parser (parser.h parseResponseHead), with default
// limits and with small limits derived from a hash of the input, for responses to GET and to
// HEAD. The input is used as-is (the seed corpus is plain responses). Invariants:
//  - kError exactly when an error is set; kIncomplete only below max_head_size.
//  - kComplete: the head ends in CRLFCRLF within the input and the limits; every view lies in
//    it; names are non-empty tokens, values have no outer whitespace; status 100-599;
//    content_length != 0 exactly when body == kContentLength; HEAD, 1xx, 204 and 304 have no
//    body; a body read until close, or a Content-Length overridden by Transfer-Encoding, never
//    keeps the connection.
//  - Verdicts only depend on the bytes seen: a complete head parses the same alone and with
//    any bytes after it, every shorter prefix of it is kIncomplete, and an error stays the
//    same error however many bytes follow (the proxy re-parses as bytes arrive).
//  - The request method changes only the body framing, never the status line or the fields.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/chars.h"
#include "http/fuzz_support.h"
#include "http/parser.h"

namespace {

using namespace sg::http;

using sg::http::fuzz::check;
using sg::http::fuzz::hashOf;
using sg::http::fuzz::inside;

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!detail::isTchar(c)) return false;
  }
  return true;
}

bool sameHead(const ResponseHead& a, const ResponseHead& b) {
  if (a.status != b.status || a.reason != b.reason || a.version_minor != b.version_minor ||
      a.head_length != b.head_length || a.headers.size() != b.headers.size() || a.body != b.body ||
      a.content_length != b.content_length || a.keep_alive != b.keep_alive ||
      a.upgrade != b.upgrade || a.content_length_ignored != b.content_length_ignored) {
    return false;
  }
  for (size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value ||
        a.headers[i].kind != b.headers[i].kind) {
      return false;
    }
  }
  return true;
}

void checkComplete(std::string_view in, const ParseLimits& limits, bool head_request,
                   const ResponseHead& h) {
  check(h.head_length > 0 && h.head_length <= in.size(), "head_length <= size");
  check(h.head_length <= limits.max_head_size, "head_length <= max_head_size");
  check(h.headers.size() <= limits.max_headers, "header count <= max_headers");
  const std::string_view head = in.substr(0, h.head_length);
  check(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n", "ends in CRLFCRLF");
  check(h.status >= 100 && h.status <= 599 && inside(head, h.reason), "status line");
  check(h.version_minor == 0 || h.version_minor == 1, "version");
  for (const Header& f : h.headers) {
    check(isToken(f.name) && inside(head, f.name) && inside(head, f.value), "field views");
    check(f.value.empty() || (!detail::isOws(f.value.front()) && !detail::isOws(f.value.back())),
          "field value trimmed");
  }
  for (const std::string_view t : h.connection_tokens) check(inside(head, t), "token view");
  check((h.content_length != 0) == (h.body == BodyKind::kContentLength), "content_length");
  if (head_request || h.status < 200 || h.status == 204 || h.status == 304) {
    check(h.body == BodyKind::kNone, "bodiless response");
  }
  if (h.body == BodyKind::kUntilClose) check(!h.keep_alive, "until-close is not kept alive");
  if (h.content_length_ignored) check(!h.keep_alive, "ignored Content-Length is not kept alive");
}

void fuzzResponse(std::string_view in, const ParseLimits& limits, bool head_request,
                  uint64_t split) {
  ResponseHead h;
  ParseError err = ParseError::kNone;
  const ParseStatus st = parseResponseHead(in, limits, head_request, &h, &err);
  check((st == ParseStatus::kError) == (err != ParseError::kNone), "error iff kError");
  ResponseHead p;
  ParseError perr = ParseError::kNone;
  std::string longer(in);
  longer.append(static_cast<size_t>(split % 64), static_cast<char>(split >> 8));
  longer += "\r\n\r\n";
  if (st == ParseStatus::kIncomplete) {
    check(in.size() < limits.max_head_size, "incomplete only below max_head_size");
    check(parseResponseHead(in.substr(0, split % (in.size() + 1)), limits, head_request, &p,
                            &perr) == ParseStatus::kIncomplete,
          "prefix of incomplete is incomplete");
    return;
  }
  if (st == ParseStatus::kError) {
    check(parseResponseHead(longer, limits, head_request, &p, &perr) == ParseStatus::kError &&
              perr == err,
          "an error stays when bytes follow");
    return;
  }
  checkComplete(in, limits, head_request, h);
  const std::string_view head = in.substr(0, h.head_length);
  check(parseResponseHead(head, limits, head_request, &p, &perr) == ParseStatus::kComplete &&
            sameHead(h, p),
        "the head alone parses the same");
  check(parseResponseHead(longer, limits, head_request, &p, &perr) == ParseStatus::kComplete &&
            sameHead(h, p),
        "the head parses the same with more bytes after it");
  check(parseResponseHead(head.substr(0, split % head.size()), limits, head_request, &p, &perr) ==
            ParseStatus::kIncomplete,
        "a prefix of a complete head is incomplete");
  // The other request method: same status line and fields, possibly other framing.
  check(parseResponseHead(in, limits, !head_request, &p, &perr) == ParseStatus::kComplete &&
            p.status == h.status && p.reason == h.reason && p.head_length == h.head_length &&
            p.headers.size() == h.headers.size(),
        "the request method only changes the framing");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint64_t h = hashOf(in);
  ParseLimits small;
  small.max_head_size = 16 + static_cast<uint32_t>((h >> 8) % 512);
  small.max_headers = static_cast<uint32_t>((h >> 20) % 8);
  const uint64_t split = h >> 32;
  fuzzResponse(in, ParseLimits{}, false, split);
  fuzzResponse(in, ParseLimits{}, true, split);
  fuzzResponse(in, small, (h & 1) != 0, split);
  return 0;
}
