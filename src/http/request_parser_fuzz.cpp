// libFuzzer target for the HTTP/1.x head parsers and the chunked decoder.
// The input is used as-is (so the seed corpus is plain HTTP); split points and limits are
// derived from a hash of it. Invariants checked:
//  - kComplete: head_length <= input size and <= max_head_size; every view lies inside the
//    head (absolute-form's default path "/" is a static literal); header count within limits;
//    content_length != 0 exactly when body == kContentLength; requests never kUntilClose.
//  - kIncomplete only below max_head_size; error set exactly when kError.
//  - Prefixes of a complete head are kIncomplete; extending it changes nothing.
//  - The path normaliser, on every parsed path and for each escaped-slash policy: its result
//    keeps the leading '/', holds no dot segment, and is a fixed point (a second pass
//    reports kUnchanged without writing).
//  - The chunked decoder gives the same status, payload and consumed count for one-shot,
//    byte-by-byte and hashed splits, with payload views inside the fed input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/fuzz_support.h"
#include "http/parser.h"
#include "http/path_normalizer.h"

namespace {

using namespace sg::http;

using sg::http::fuzz::check;
using sg::http::fuzz::hashOf;
using sg::http::fuzz::inside;

template <class Head>
void checkCommon(std::string_view in, const ParseLimits& limits, ParseStatus st, ParseError err,
                 const Head& h) {
  check((st == ParseStatus::kError) == (err != ParseError::kNone), "error iff kError");
  if (st == ParseStatus::kIncomplete) check(in.size() < limits.max_head_size, "incomplete < max");
  if (st != ParseStatus::kComplete) return;
  check(h.head_length > 0 && h.head_length <= in.size(), "head_length <= size");
  check(h.head_length <= limits.max_head_size, "head_length <= max_head_size");
  check(h.headers.size() <= limits.max_headers, "header count");
  const std::string_view head = in.substr(0, h.head_length);
  check(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n", "ends in CRLFCRLF");
  for (const Header& f : h.headers) {
    check(!f.name.empty() && inside(head, f.name) && inside(head, f.value), "header views");
    check(f.value.empty() || (f.value.front() != ' ' && f.value.back() != ' '), "trimmed");
  }
  for (const std::string_view t : h.connection_tokens) check(inside(head, t), "token view");
  check((h.content_length != 0) == (h.body == BodyKind::kContentLength), "content_length");
  check(h.version_minor == 0 || h.version_minor == 1, "version");
}

void fuzzPath(std::string_view path) {
  for (const PathOptions options : {PathOptions{}, PathOptions{false, EscapedSlashes::kKeep},
                                    PathOptions{true, EscapedSlashes::kDecode}}) {
    std::string out;
    const PathStatus st = normalizePath(path, options, &out);
    if (st == PathStatus::kBadEncoding || st == PathStatus::kEscapedSlash) continue;
    const std::string_view normal = st == PathStatus::kNormalized ? std::string_view(out) : path;
    check(path.front() != '/' || normal.front() == '/', "normal path keeps its leading /");
    check(normal.find("/./") == std::string_view::npos &&
              normal.find("/../") == std::string_view::npos,
          "normal path has no dot segment");
    std::string again;
    check(normalizePath(normal, options, &again) == PathStatus::kUnchanged && again.empty(),
          "normalising a normal path changes nothing");
  }
}

void fuzzRequest(std::string_view in, const ParseLimits& limits, size_t split) {
  RequestHead h;
  ParseError err = ParseError::kNone;
  const ParseStatus st = parseRequestHead(in, limits, &h, &err);
  checkCommon(in, limits, st, err, h);
  if (st != ParseStatus::kComplete) {
    if (st == ParseStatus::kIncomplete) {  // prefixes of an incomplete head are incomplete too
      RequestHead p;
      check(parseRequestHead(in.substr(0, split % (in.size() + 1)), limits, &p, &err) ==
                ParseStatus::kIncomplete,
            "prefix of incomplete");
    }
    return;
  }
  const std::string_view head = in.substr(0, h.head_length);
  check(!h.method.empty() && inside(head, h.method) && inside(head, h.target), "line views");
  check(inside(head, h.host) && inside(head, h.query), "host/query views");
  check(inside(head, h.path) || h.path.data() == std::string_view("/").data() || h.path == "/",
        "path view");
  check(!h.path.empty(), "path not empty");
  check(h.body != BodyKind::kUntilClose, "request never until-close");
  // Any shorter prefix is incomplete; the head alone parses the same.
  RequestHead p;
  const size_t cut = split % h.head_length;
  check(parseRequestHead(in.substr(0, cut), limits, &p, &err) == ParseStatus::kIncomplete,
        "prefix incomplete");
  check(parseRequestHead(head, limits, &p, &err) == ParseStatus::kComplete &&
            p.head_length == h.head_length && p.headers.size() == h.headers.size() &&
            p.body == h.body && p.content_length == h.content_length,
        "head alone parses the same");
  fuzzPath(h.path);
}

void fuzzResponse(std::string_view in, const ParseLimits& limits, bool head_request, size_t split) {
  ResponseHead h;
  ParseError err = ParseError::kNone;
  const ParseStatus st = parseResponseHead(in, limits, head_request, &h, &err);
  checkCommon(in, limits, st, err, h);
  if (st != ParseStatus::kComplete) return;
  const std::string_view head = in.substr(0, h.head_length);
  check(h.status >= 100 && h.status <= 599 && inside(head, h.reason), "status line");
  if (head_request || h.status < 200 || h.status == 204 || h.status == 304) {
    check(h.body == BodyKind::kNone, "bodiless status");
  }
  if (h.body == BodyKind::kUntilClose) check(!h.keep_alive, "until-close is not kept alive");
  ResponseHead p;
  check(parseResponseHead(in.substr(0, split % h.head_length), limits, head_request, &p, &err) ==
            ParseStatus::kIncomplete,
        "response prefix incomplete");
}

struct Decoded {
  ChunkedDecoder::Status status = ChunkedDecoder::Status::kNeedMore;
  std::string payload;
  size_t consumed = 0;
};

// Feeds `in` in pieces whose sizes come from `seed` (0 → one piece; 1 → byte by byte).
Decoded decodeChunked(std::string_view in, uint64_t seed) {
  ChunkedDecoder d;
  Decoded r;
  size_t pos = 0;
  while (pos < in.size() || in.empty()) {
    size_t len = in.size() - pos;
    if (seed == 1) len = 1;
    if (seed > 1) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      len = 1 + static_cast<size_t>((seed >> 33) % 17);
      if (len > in.size() - pos) len = in.size() - pos;
    }
    std::string_view piece = in.substr(pos, len);
    for (;;) {
      size_t consumed = 0;
      std::string_view payload;
      r.status = d.feed(piece, &consumed, &payload);
      check(consumed <= piece.size() && inside(piece.substr(0, consumed), payload), "feed views");
      r.payload.append(payload);
      r.consumed += consumed;
      piece.remove_prefix(consumed);
      if (r.status != ChunkedDecoder::Status::kNeedMore) return r;
      if (piece.empty()) break;
      check(consumed > 0, "feed makes progress");
    }
    pos += len;
    if (in.empty()) break;
  }
  return r;
}

void fuzzChunked(std::string_view in, uint64_t seed) {
  const Decoded whole = decodeChunked(in, 0);
  const Decoded bytes = decodeChunked(in, 1);
  const Decoded split = decodeChunked(in, seed | 2);
  for (const Decoded* other : {&bytes, &split}) {
    check(other->status == whole.status && other->payload == whole.payload &&
              other->consumed == whole.consumed,
          "chunked split invariance");
  }
  check(whole.payload.size() <= whole.consumed, "payload within consumed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint64_t h = hashOf(in);
  const ParseLimits defaults;
  ParseLimits small;
  small.max_head_size = 16 + static_cast<uint32_t>((h >> 8) % 512);
  small.max_headers = static_cast<uint32_t>((h >> 20) % 8);
  const auto split = static_cast<size_t>(h >> 32);

  fuzzRequest(in, defaults, split);
  fuzzRequest(in, small, split);
  fuzzResponse(in, defaults, false, split);
  fuzzResponse(in, small, (h & 1) != 0, split);
  fuzzChunked(in, h);

  // A chunked request body right after its head, as the proxy would see it.
  RequestHead head;
  ParseError err = ParseError::kNone;
  if (parseRequestHead(in, defaults, &head, &err) == ParseStatus::kComplete &&
      head.body == BodyKind::kChunked) {
    fuzzChunked(in.substr(head.head_length), h);
  }
  return 0;
}
