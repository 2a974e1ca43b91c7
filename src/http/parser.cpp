// Strict HTTP/1.x head parser (RFC 9112 / RFC 9110). Two steps per call:
//  1. findHeadEnd(): memchr over LFs for the first CRLFCRLF within max_head_size, rejecting
//     bare LF / bare CR between lines on the way. Partial heads only pay for this step.
//  2. One validating pass over the complete head that fills the views. The head ends in
//     CRLFCRLF, and CR belongs to none of the byte classes scanned, so every class loop
//     stops at or before the final CR without bounds checks ("sentinel"); any CR the
//     loops stop at has its LF (or another byte) after it inside the head.
#include "http/parser.h"

#include <cstring>

#include "http/chars.h"

namespace sg::http {
namespace {

using detail::equalsLower;
using detail::forEachListElement;
using detail::isDigit;
using detail::isOws;
using detail::isTchar;

constexpr std::string_view kDefaultPath = "/";  // absolute-form target without a path
constexpr uint64_t kMaxContentLength = 0x7FFFFFFFFFFFFFFFULL;

// What the framing- and connection-relevant fields said, gathered during the field pass and
// turned into RequestHead/ResponseHead semantics at the end.
struct FieldState {
  std::string_view host;
  uint32_t host_count = 0;
  bool have_content_length = false;
  uint64_t content_length = 0;
  uint32_t te_headers = 0;
  uint32_t te_codings = 0;  // non-empty codings over all Transfer-Encoding headers
  uint32_t te_chunked = 0;  // how many of those codings are "chunked"
  bool te_empty_element = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade_header = false;
  bool expect_continue = false;
};

HeaderKind classifyHeader(std::string_view n) {
  switch (n.size()) {
    case 2:
      return equalsLower(n, "te") ? HeaderKind::kTE : HeaderKind::kOther;
    case 4:
      return equalsLower(n, "host") ? HeaderKind::kHost : HeaderKind::kOther;
    case 6:
      return equalsLower(n, "expect") ? HeaderKind::kExpect : HeaderKind::kOther;
    case 7:
      if (equalsLower(n, "upgrade")) return HeaderKind::kUpgrade;
      return equalsLower(n, "trailer") ? HeaderKind::kTrailer : HeaderKind::kOther;
    case 9:
      return equalsLower(n, "forwarded") ? HeaderKind::kForwarded : HeaderKind::kOther;
    case 10:
      if (equalsLower(n, "connection")) return HeaderKind::kConnection;
      return equalsLower(n, "keep-alive") ? HeaderKind::kKeepAlive : HeaderKind::kOther;
    case 12:
      return equalsLower(n, "x-request-id") ? HeaderKind::kXRequestId : HeaderKind::kOther;
    case 14:
      return equalsLower(n, "content-length") ? HeaderKind::kContentLength : HeaderKind::kOther;
    case 15:
      return equalsLower(n, "x-forwarded-for") ? HeaderKind::kXForwardedFor : HeaderKind::kOther;
    case 16:
      if (equalsLower(n, "proxy-connection")) return HeaderKind::kProxyConnection;
      return equalsLower(n, "x-forwarded-host") ? HeaderKind::kXForwardedHost : HeaderKind::kOther;
    case 17:
      if (equalsLower(n, "transfer-encoding")) return HeaderKind::kTransferEncoding;
      return equalsLower(n, "x-forwarded-proto") ? HeaderKind::kXForwardedProto
                                                 : HeaderKind::kOther;
    default:
      return HeaderKind::kOther;
  }
}

// 1*DIGIT, or a list of identical 1*DIGIT values ("5, 5"); at most 2^63 - 1.
ParseError parseContentLength(std::string_view value, uint64_t* out) {
  bool have = false;
  uint64_t first = 0;
  size_t i = 0;
  const size_t n = value.size();
  for (;;) {
    while (i < n && isOws(value[i])) ++i;
    const size_t digits_start = i;
    uint64_t v = 0;
    for (; i < n && isDigit(value[i]); ++i) {
      const auto d = static_cast<uint64_t>(value[i] - '0');
      if (v > (kMaxContentLength - d) / 10) return ParseError::kBadContentLength;
      v = v * 10 + d;
    }
    if (i == digits_start) return ParseError::kBadContentLength;
    while (i < n && isOws(value[i])) ++i;
    if (i < n && value[i] != ',') return ParseError::kBadContentLength;
    if (have && v != first) return ParseError::kConflictingContentLength;
    first = v;
    have = true;
    if (i == n) break;
    ++i;  // ','
  }
  *out = first;
  return ParseError::kNone;
}

void noteTransferEncoding(std::string_view value, FieldState* st) {
  ++st->te_headers;
  forEachListElement(value, [st](std::string_view coding) {
    if (coding.empty()) {
      st->te_empty_element = true;
      return;
    }
    const bool chunked = equalsLower(coding, "chunked");
    ++st->te_codings;
    st->te_chunked += chunked ? 1 : 0;
  });
}

void noteConnection(std::string_view value, std::vector<std::string_view>* tokens, FieldState* st) {
  forEachListElement(value, [tokens, st](std::string_view token) {
    if (token.empty()) return;
    if (equalsLower(token, "close")) {
      st->conn_close = true;
    } else if (equalsLower(token, "keep-alive")) {
      st->conn_keep_alive = true;
    } else if (equalsLower(token, "upgrade")) {
      st->conn_upgrade = true;
    } else {
      tokens->push_back(token);
    }
  });
}

ParseError applyField(const Header& h, std::vector<std::string_view>* tokens, FieldState* st) {
  switch (h.kind) {
    case HeaderKind::kHost:
      if (st->host_count++ == 0) st->host = h.value;
      return ParseError::kNone;
    case HeaderKind::kContentLength: {
      uint64_t v = 0;
      const ParseError e = parseContentLength(h.value, &v);
      if (e != ParseError::kNone) return e;
      if (st->have_content_length && v != st->content_length) {
        return ParseError::kConflictingContentLength;
      }
      st->have_content_length = true;
      st->content_length = v;
      return ParseError::kNone;
    }
    case HeaderKind::kTransferEncoding:
      noteTransferEncoding(h.value, st);
      break;
    case HeaderKind::kConnection:
      noteConnection(h.value, tokens, st);
      break;
    case HeaderKind::kUpgrade:  // an empty field lists no protocol: it asks for nothing
      st->has_upgrade_header = st->has_upgrade_header || !h.value.empty();
      break;
    case HeaderKind::kExpect:
      st->expect_continue = st->expect_continue || equalsLower(h.value, "100-continue");
      break;
    default:
      break;
  }
  return ParseError::kNone;
}

// Error for a field line whose name scan stopped at `stop` (not at a ':' after 1+ tchar).
ParseError fieldNameError(const char* line, const char* stop) {
  if (stop == line && isOws(*line)) return ParseError::kObsFold;
  if (*stop == '\r' && stop[1] != '\n') return ParseError::kBareLineFeed;
  return ParseError::kBadHeaderName;
}

// Parses field lines from `p` up to and including the final empty line.
ParseError parseFields(const char* p, const char* end, uint32_t max_headers,
                       std::vector<Header>* headers, std::vector<std::string_view>* tokens,
                       FieldState* st) {
  uint32_t count = 0;
  for (;;) {
    if (*p == '\r') return p[1] == '\n' ? ParseError::kNone : ParseError::kBareLineFeed;
    const char* name = p;
    while (isTchar(*p)) ++p;
    if (p == name || *p != ':') return fieldNameError(name, p);
    const auto name_len = static_cast<size_t>(p - name);
    ++p;
    while (isOws(*p)) ++p;
    const char* value = p;
    p = detail::scanFieldValue(p, end);
    if (*p != '\r') return ParseError::kBadHeaderValue;
    if (p[1] != '\n') return ParseError::kBareLineFeed;
    const char* value_end = p;
    while (value_end > value && isOws(value_end[-1])) --value_end;
    p += 2;
    if (++count > max_headers) return ParseError::kTooManyHeaders;
    const std::string_view name_view(name, name_len);
    headers->push_back(Header{name_view,
                              std::string_view(value, static_cast<size_t>(value_end - value)),
                              classifyHeader(name_view)});
    if (headers->back().kind != HeaderKind::kOther) {
      const ParseError e = applyField(headers->back(), tokens, st);
      if (e != ParseError::kNone) return e;
    }
  }
}

// Finds the end of the head (one past the LF of the first CRLFCRLF at or after `start`) within
// the first max_head_size bytes. kIncomplete when not there yet; kError for a bare LF, a bare CR
// at a line start, or a head that cannot fit.
ParseStatus findHeadEnd(std::string_view buf, size_t start, uint32_t max_head_size, size_t* end,
                        ParseError* error) {
  const char* base = buf.data();
  const size_t limit = buf.size() < max_head_size ? buf.size() : max_head_size;
  size_t pos = start;
  while (pos < limit) {
    const void* hit = std::memchr(base + pos, '\n', limit - pos);
    if (hit == nullptr) break;
    const auto lf = static_cast<size_t>(static_cast<const char*>(hit) - base);
    if (lf == 0 || base[lf - 1] != '\r') {
      *error = ParseError::kBareLineFeed;
      return ParseStatus::kError;
    }
    if (lf + 1 >= limit) break;
    if (base[lf + 1] == '\r') {
      if (lf + 2 >= limit) break;
      if (base[lf + 2] != '\n') {
        *error = ParseError::kBareLineFeed;
        return ParseStatus::kError;
      }
      *end = lf + 3;
      return ParseStatus::kComplete;
    }
    pos = lf + 1;
  }
  if (buf.size() >= max_head_size) {
    *error = ParseError::kHeadTooLarge;
    return ParseStatus::kError;
  }
  return ParseStatus::kIncomplete;
}

// "HTTP/" DIGIT "." DIGIT; only 1.0 and 1.1 are supported.
ParseError parseVersion(std::string_view v, ParseError malformed, int* minor) {
  if (v.size() != 8 || std::memcmp(v.data(), "HTTP/", 5) != 0 || !isDigit(v[5]) || v[6] != '.' ||
      !isDigit(v[7])) {
    return malformed;
  }
  if (v[5] != '1' || v[7] > '1') return ParseError::kUnsupportedVersion;
  *minor = v[7] - '0';
  return ParseError::kNone;
}

bool isValidHost(std::string_view host) {
  for (const char c : host) {
    if (!detail::hasClass(c, detail::kClassHost)) return false;
  }
  return true;
}

// absolute-form "http(s)://authority[/path][?query]": host = authority, path defaults to "/".
ParseError parseAbsoluteForm(std::string_view t, RequestHead* head) {
  size_t scheme_len = 0;
  if (t.size() > 7 && equalsLower(t.substr(0, 7), "http://")) {
    scheme_len = 7;
  } else if (t.size() > 8 && equalsLower(t.substr(0, 8), "https://")) {
    scheme_len = 8;
  } else {
    return ParseError::kBadTarget;
  }
  const std::string_view rest = t.substr(scheme_len);
  const size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  // userinfo ('@') is deprecated and a phishing/confusion vector (RFC 9110 4.2.4).
  if (authority.empty() || !isValidHost(authority)) return ParseError::kBadTarget;
  head->host = authority;
  if (authority_end == std::string_view::npos) {
    head->path = kDefaultPath;
    return ParseError::kNone;
  }
  const std::string_view path_query = rest.substr(authority_end);
  const size_t q = path_query.find('?');
  head->path = q == 0 ? kDefaultPath : path_query.substr(0, q);
  if (q != std::string_view::npos) head->query = path_query.substr(q + 1);
  return ParseError::kNone;
}

ParseError parseTarget(RequestHead* head, bool* absolute) {
  const std::string_view t = head->target;
  *absolute = false;
  if (t[0] == '/') {
    const size_t q = t.find('?');
    head->path = t.substr(0, q);
    if (q != std::string_view::npos) head->query = t.substr(q + 1);
    return ParseError::kNone;
  }
  if (t[0] == '*') {
    if (t.size() != 1 || head->method != "OPTIONS") return ParseError::kBadTarget;
    head->path = t;
    return ParseError::kNone;
  }
  *absolute = true;
  return parseAbsoluteForm(t, head);
}

// method SP request-target SP HTTP-version CRLF; advances *pp past the CRLF.
ParseError parseRequestLine(const char** pp, const char* end, RequestHead* head) {
  const char* p = *pp;
  const char* method = p;
  while (isTchar(*p)) ++p;
  if (*p != ' ' || p == method) {
    if (*p == '\r' && p[1] != '\n') return ParseError::kBareLineFeed;
    return (*p == ' ' || *p == '\t' || *p == '\r') ? ParseError::kBadRequestLine
                                                   : ParseError::kBadMethod;
  }
  head->method = std::string_view(method, static_cast<size_t>(p - method));
  const char* target = ++p;
  p = detail::scanVisible(p, end);
  if (*p != ' ' || p == target) {
    if (*p == '\r' && p[1] != '\n') return ParseError::kBareLineFeed;
    return (*p == ' ' || *p == '\r') ? ParseError::kBadRequestLine : ParseError::kBadTarget;
  }
  head->target = std::string_view(target, static_cast<size_t>(p - target));
  const char* version = ++p;
  while (*p != '\r' && *p != ' ') ++p;
  if (*p == ' ') return ParseError::kBadRequestLine;
  if (p[1] != '\n') return ParseError::kBareLineFeed;
  const ParseError e = parseVersion(std::string_view(version, static_cast<size_t>(p - version)),
                                    ParseError::kBadVersion, &head->version_minor);
  *pp = p + 2;
  return e;
}

// The only Transfer-Encoding the gateway accepts, in requests and responses alike: exactly one
// coding, "chunked", in HTTP/1.1. The field is hop-by-hop and the gateway writes its own, so any
// other coding ("gzip, chunked") would reach the peer applied but undeclared, and a repeated
// "chunked" could be decoded twice by the next hop. HTTP/1.0 has no Transfer-Encoding (RFC 9112
// 6.1).
bool onlyChunked(const FieldState& st, bool v11) {
  return v11 && st.te_codings == 1 && st.te_chunked == 1 && !st.te_empty_element;
}

ParseError finishRequest(const FieldState& st, bool absolute, RequestHead* head) {
  const bool v11 = head->version_minor == 1;
  if (st.host_count > 1 || (st.host_count == 0 && v11 && !absolute)) {
    return ParseError::kMissingHost;
  }
  // Validated even when the absolute-form authority wins: the field may still be forwarded.
  if (!isValidHost(st.host)) return ParseError::kBadHeaderValue;
  if (!absolute) head->host = st.host;
  if (st.te_headers > 0) {
    if (st.have_content_length) return ParseError::kContentLengthAndTransferEncoding;
    if (!onlyChunked(st, v11)) return ParseError::kBadTransferEncoding;
    head->body = BodyKind::kChunked;
  } else if (st.content_length > 0) {
    head->body = BodyKind::kContentLength;
    head->content_length = st.content_length;
  }
  head->keep_alive = !st.conn_close && (v11 || st.conn_keep_alive);
  head->expect_continue = v11 && st.expect_continue;
  head->upgrade = v11 && st.conn_upgrade && st.has_upgrade_header;  // 1.0: ignored (9110 7.8)
  return ParseError::kNone;
}

void resetRequest(RequestHead* head) {
  head->method = {};
  head->target = {};
  head->path = {};
  head->query = {};
  head->version_minor = 1;
  head->headers.clear();
  head->host = {};
  head->body = BodyKind::kNone;
  head->content_length = 0;
  head->keep_alive = true;
  head->expect_continue = false;
  head->upgrade = false;
  head->head_length = 0;
  head->connection_tokens.clear();
}

void resetResponse(ResponseHead* head) {
  head->status = 0;
  head->reason = {};
  head->version_minor = 1;
  head->headers.clear();
  head->body = BodyKind::kNone;
  head->content_length = 0;
  head->keep_alive = true;
  head->upgrade = false;
  head->content_length_ignored = false;
  head->has_content_length = false;
  head->declared_length = 0;
  head->head_length = 0;
  head->connection_tokens.clear();
}

ParseStatus fail(ParseError e, ParseError* error) {
  *error = e;
  return ParseStatus::kError;
}

// RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line.
// Returns the offset of the request line, or stops early at an incomplete CR.
ParseStatus skipLeadingEmptyLines(std::string_view buf, size_t* start, ParseError* error) {
  size_t pos = 0;
  while (pos < buf.size()) {
    if (buf[pos] == '\n') return fail(ParseError::kBareLineFeed, error);
    if (buf[pos] != '\r' || pos + 1 == buf.size()) break;
    if (buf[pos + 1] != '\n') return fail(ParseError::kBareLineFeed, error);
    pos += 2;
  }
  *start = pos;
  return ParseStatus::kComplete;
}

// HTTP-version SP 3DIGIT [SP reason-phrase] CRLF
ParseError parseStatusLine(const char** pp, const char* end, ResponseHead* head) {
  const char* p = *pp;
  const char* version = p;
  while (*p != ' ' && *p != '\r') ++p;
  if (*p == '\r' && p[1] != '\n') return ParseError::kBareLineFeed;
  if (*p != ' ') return ParseError::kBadStatusLine;
  const ParseError e = parseVersion(std::string_view(version, static_cast<size_t>(p - version)),
                                    ParseError::kBadStatusLine, &head->version_minor);
  if (e != ParseError::kNone) return e;
  ++p;
  // Short-circuit keeps the reads inside the head: the CR sentinel is not a digit.
  if (!isDigit(p[0]) || !isDigit(p[1]) || !isDigit(p[2])) return ParseError::kBadStatusLine;
  head->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
  if (head->status < 100 || head->status > 599) return ParseError::kBadStatusLine;
  p += 3;
  const char* reason = p;
  if (*p == ' ') {
    reason = ++p;
    p = detail::scanFieldValue(p, end);
  }
  if (*p != '\r') return ParseError::kBadStatusLine;
  if (p[1] != '\n') return ParseError::kBareLineFeed;
  head->reason = std::string_view(reason, static_cast<size_t>(p - reason));
  *pp = p + 2;
  return ParseError::kNone;
}

// RFC 9112 6.3 message body length for a response. A Transfer-Encoding other than exactly
// "chunked" is refused (the session answers 502, as nginx does) rather than read until close:
// the client would get the codings applied but not declared.
ParseError finishResponse(const FieldState& st, bool request_method_head, ResponseHead* head) {
  const int s = head->status;
  const bool v11 = head->version_minor == 1;
  const bool te = st.te_headers > 0;
  if (te && !onlyChunked(st, v11)) return ParseError::kBadTransferEncoding;
  head->content_length_ignored = te && st.have_content_length;
  head->has_content_length = st.have_content_length && !te;
  head->declared_length = head->has_content_length ? st.content_length : 0;
  if (request_method_head || s < 200 || s == 204 || s == 304) {
    head->body = BodyKind::kNone;
  } else if (te) {
    head->body = BodyKind::kChunked;
  } else if (st.have_content_length) {
    head->body = st.content_length > 0 ? BodyKind::kContentLength : BodyKind::kNone;
    head->content_length = st.content_length;
  } else {
    head->body = BodyKind::kUntilClose;
  }
  if (head->body != BodyKind::kContentLength) head->content_length = 0;
  head->keep_alive = !st.conn_close && (v11 || st.conn_keep_alive) &&
                     head->body != BodyKind::kUntilClose && !head->content_length_ignored;
  head->upgrade = st.conn_upgrade && st.has_upgrade_header;
  return ParseError::kNone;
}

}  // namespace

int statusFor(ParseError error) {
  switch (error) {
    case ParseError::kNone:
      return 0;
    case ParseError::kHeadTooLarge:
    case ParseError::kTooManyHeaders:
      return 431;
    case ParseError::kUnsupportedVersion:
      return 505;
    default:
      return 400;
  }
}

std::string_view errorName(ParseError error) {
  switch (error) {
    case ParseError::kNone:
      return "none";
    case ParseError::kBadRequestLine:
      return "bad_request_line";
    case ParseError::kBadMethod:
      return "bad_method";
    case ParseError::kBadTarget:
      return "bad_target";
    case ParseError::kBadVersion:
      return "bad_version";
    case ParseError::kUnsupportedVersion:
      return "unsupported_version";
    case ParseError::kBadHeaderName:
      return "bad_header_name";
    case ParseError::kBadHeaderValue:
      return "bad_header_value";
    case ParseError::kObsFold:
      return "obs_fold";
    case ParseError::kBareLineFeed:
      return "bare_line_feed";
    case ParseError::kHeadTooLarge:
      return "head_too_large";
    case ParseError::kTooManyHeaders:
      return "too_many_headers";
    case ParseError::kMissingHost:
      return "missing_host";
    case ParseError::kContentLengthAndTransferEncoding:
      return "content_length_and_transfer_encoding";
    case ParseError::kBadContentLength:
      return "bad_content_length";
    case ParseError::kConflictingContentLength:
      return "conflicting_content_length";
    case ParseError::kBadTransferEncoding:
      return "bad_transfer_encoding";
    case ParseError::kBadStatusLine:
      return "bad_status_line";
  }
  return "unknown";
}

ParseStatus parseRequestHead(std::string_view buffer, const ParseLimits& limits, RequestHead* head,
                             ParseError* error) {
  resetRequest(head);
  *error = ParseError::kNone;
  size_t start = 0;
  size_t end = 0;
  if (skipLeadingEmptyLines(buffer, &start, error) == ParseStatus::kError) {
    return ParseStatus::kError;
  }
  const ParseStatus found = findHeadEnd(buffer, start, limits.max_head_size, &end, error);
  if (found != ParseStatus::kComplete) return found;

  const char* p = buffer.data() + start;
  const char* head_end = buffer.data() + end;
  ParseError e = parseRequestLine(&p, head_end, head);
  if (e != ParseError::kNone) return fail(e, error);
  bool absolute = false;
  e = parseTarget(head, &absolute);
  if (e != ParseError::kNone) return fail(e, error);
  FieldState st;
  e = parseFields(p, head_end, limits.max_headers, &head->headers, &head->connection_tokens, &st);
  if (e == ParseError::kNone) e = finishRequest(st, absolute, head);
  if (e != ParseError::kNone) return fail(e, error);
  head->head_length = static_cast<uint32_t>(end);
  return ParseStatus::kComplete;
}

ParseStatus parseResponseHead(std::string_view buffer, const ParseLimits& limits,
                              bool request_method_head, ResponseHead* head, ParseError* error) {
  resetResponse(head);
  *error = ParseError::kNone;
  size_t end = 0;
  const ParseStatus found = findHeadEnd(buffer, 0, limits.max_head_size, &end, error);
  if (found != ParseStatus::kComplete) return found;

  const char* p = buffer.data();
  const char* head_end = buffer.data() + end;
  ParseError e = parseStatusLine(&p, head_end, head);
  FieldState st;
  if (e == ParseError::kNone) {
    e = parseFields(p, head_end, limits.max_headers, &head->headers, &head->connection_tokens, &st);
  }
  if (e == ParseError::kNone) e = finishResponse(st, request_method_head, head);
  if (e != ParseError::kNone) return fail(e, error);
  head->head_length = static_cast<uint32_t>(end);
  return ParseStatus::kComplete;
}

}  // namespace sg::http
