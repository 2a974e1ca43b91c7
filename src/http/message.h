#pragma once
// HTTP/1.x message heads as views over the connection's read buffer (no copies).
// The parser (parser.h) fills these; the views stay valid while the buffer is not moved.
#include <cstdint>
#include <string_view>
#include <vector>

namespace sg::http {

// Headers the proxy acts on are classified once by the parser so later stages never
// compare names again.
enum class HeaderKind : uint8_t {
  kOther,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTE,
  kTrailer,
  kUpgrade,
  kExpect,
  kXForwardedFor,
  kXForwardedProto,
  kXForwardedHost,
  kForwarded,
  kXRequestId,
};

struct Header {
  std::string_view name;   // as received (case preserved)
  std::string_view value;  // leading/trailing whitespace removed
  HeaderKind kind = HeaderKind::kOther;
};

enum class BodyKind : uint8_t {
  kNone,           // no body bytes follow the head
  kContentLength,  // exactly content_length bytes follow
  kChunked,        // chunked framing follows (see chunked.h)
  kUntilClose,     // responses only: body ends when the upstream closes
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as sent: origin-form "/a?b", absolute-form, or "*"
  std::string_view path;    // path part of target ("/a"); "*" for asterisk-form
  std::string_view query;   // after '?', without it; empty if none
  int version_minor = 1;    // HTTP/1.<minor>; only 0 and 1 are accepted
  std::vector<Header> headers;
  std::string_view host;  // Host header value (or authority of an absolute-form target)
  // kContentLength only when Content-Length > 0: "Content-Length: 0" gives kNone with
  // content_length 0. content_length is non-zero exactly when body == kContentLength.
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;        // after version default and Connection tokens
  bool expect_continue = false;  // Expect: 100-continue
  bool upgrade = false;          // Connection: upgrade and an Upgrade header
  uint32_t head_length = 0;      // bytes of the head including the final CRLF CRLF
  // Comma-separated tokens of the Connection header(s) other than close/keep-alive/upgrade:
  // headers named there are hop-by-hop too (RFC 9110 7.6.1). Rare; usually empty.
  std::vector<std::string_view> connection_tokens;
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  std::vector<Header> headers;
  // As in RequestHead: content_length is non-zero exactly when body == kContentLength (so a
  // HEAD/204/304 response's Content-Length is validated but not reported here).
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;  // false for kUntilClose, Connection: close, 1.0 without keep-alive
  bool upgrade = false;    // Connection: upgrade and an Upgrade header (with 101: a tunnel)
  // Transfer-Encoding and Content-Length both present: Transfer-Encoding decided the framing
  // (RFC 9112 6.3), keep_alive is false, and the proxy must drop Content-Length when forwarding.
  bool content_length_ignored = false;
  // A Content-Length field (not ignored) was present: declared_length is its one value, however
  // it was written ("3, 3", repeated fields, leading zeros), also where it does not frame the
  // body (HEAD, 204, 304). The gateway forwards this value once (RFC 9110 8.6).
  bool has_content_length = false;
  uint64_t declared_length = 0;
  uint32_t head_length = 0;
  std::vector<std::string_view> connection_tokens;
};

}  // namespace sg::http
