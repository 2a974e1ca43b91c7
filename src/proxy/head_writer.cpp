#include "proxy/head_writer.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <span>

#include "compress/response_head.h"
#include "http/chars.h"
#include "proxy/http2_stream.h"
#include "proxy/router.h"

namespace sg::proxy {

namespace {

using http::HeaderKind;

bool namedByConnection(const http::Header& header,
                       const std::vector<std::string_view>& connection_tokens) {
  for (auto token : connection_tokens) {
    if (equalsIgnoreCase(token, header.name)) return true;
  }
  return false;
}

// Headers that never cross the proxy as they came.
bool isHopByHop(HeaderKind kind) {
  switch (kind) {
    case HeaderKind::kConnection:
    case HeaderKind::kKeepAlive:
    case HeaderKind::kProxyConnection:
    case HeaderKind::kTE:
    case HeaderKind::kTrailer:
    case HeaderKind::kTransferEncoding:
    case HeaderKind::kUpgrade:
      return true;
    default:
      return false;
  }
}

bool isCacheConditional(const http::Header& header) {
  return equalsIgnoreCase(header.name, "if-none-match") ||
         equalsIgnoreCase(header.name, "if-modified-since");
}

void appendHeader(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

void appendNumber(std::string* out, uint64_t value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, result.ptr);
}

}  // namespace

void appendNumberLine(std::string* out, std::string_view name, uint64_t value) {
  out->append(name);
  out->append(": ");
  appendNumber(out, value);
  out->append("\r\n");
}

// Headers the gateway itself interprets (framing, Host, forwarding) are never removed by a
// Connection token: honouring "Connection: content-length" would desynchronise framing.
bool droppedByConnection(const http::Header& header,
                         const std::vector<std::string_view>& connection_tokens) {
  return header.kind == HeaderKind::kOther && !connection_tokens.empty() &&
         namedByConnection(header, connection_tokens);
}

namespace {

// token, or quoted-string (RFC 9110 5.6.4) when the value holds anything else.
void appendTokenOrQuoted(std::string_view value, std::string* out) {
  const bool token = !value.empty() && std::all_of(value.begin(), value.end(),
                                                   [](char c) { return http::detail::isTchar(c); });
  if (token) {
    out->append(value);
    return;
  }
  out->push_back('"');
  for (const char c : value) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

// This hop's RFC 7239 forwarded-element: for= the client (an IPv6 address bracketed and
// quoted, section 6), host= the Host the client asked for, proto= the listener's scheme.
void appendForwardedElement(std::string_view client_ip, std::string_view host, bool https,
                            std::string* out) {
  out->append("for=");
  if (client_ip.empty()) {
    out->append("unknown");
  } else if (client_ip.find(':') != std::string_view::npos) {
    out->append("\"[").append(client_ip).append("]\"");
  } else {
    out->append(client_ip);
  }
  if (!host.empty()) {
    out->append(";host=");
    appendTokenOrQuoted(host, out);
  }
  out->append(https ? ";proto=https" : ";proto=http");
}

// Starts the one line of a forwarding list: "Name: ", then, when `keep`, the values of every
// such field the client sent, each followed by ", " (several lines of a list field are one list,
// RFC 9110 5.3, and the next hop must read them as one). The caller appends this hop's entry.
// The line keeps the name as the client first wrote it.
void beginForwardingList(const http::RequestHead& request, HeaderKind kind, bool keep,
                         std::string_view default_name, std::string* out) {
  std::string_view name = default_name;
  if (keep) {
    auto first = std::find_if(request.headers.begin(), request.headers.end(),
                              [kind](const http::Header& h) { return h.kind == kind; });
    if (first != request.headers.end()) name = first->name;
  }
  out->append(name).append(": ");
  if (!keep) return;
  for (const auto& header : request.headers) {
    if (header.kind == kind && !header.value.empty()) out->append(header.value).append(", ");
  }
}

// The client's fields as they are forwarded: hop-by-hop and gateway-set fields dropped,
// Content-Length written once with its one value (RFC 9110 8.6: "3, 3" or a repeated field
// reach the upstream as "3").
void appendRequestFields(const http::RequestHead& request, const UpstreamRequestContext& context,
                         std::string* out) {
  bool content_length_written = false;
  for (const auto& header : request.headers) {
    switch (header.kind) {
      case HeaderKind::kXForwardedFor:  // merged into one line by the caller
      case HeaderKind::kForwarded:
      case HeaderKind::kHost:
      case HeaderKind::kXForwardedProto:
      case HeaderKind::kXForwardedHost:
      case HeaderKind::kExpect:  // the gateway answers 100-continue itself
        continue;
      case HeaderKind::kContentLength:
        if (!content_length_written) appendNumberLine(out, header.name, request.content_length);
        content_length_written = true;
        continue;
      case HeaderKind::kUpgrade:
        if (request.upgrade) appendHeader(out, header.name, header.value);
        continue;
      default:
        if (isHopByHop(header.kind) || droppedByConnection(header, request.connection_tokens)) {
          continue;
        }
        if (context.drop_conditionals && isCacheConditional(header)) continue;
        appendHeader(out, header.name, header.value);
    }
  }
}

}  // namespace

void writeUpstreamRequestHead(const http::RequestHead& request,
                              const UpstreamRequestContext& context, std::string* out) {
  out->clear();
  out->append(request.method);
  out->push_back(' ');
  out->append(context.path);
  if (!request.query.empty()) {
    out->push_back('?');
    out->append(request.query);
  }
  out->append(" HTTP/1.1\r\n");
  // RFC 9112 3.2.2: the target's authority (absolute-form) replaces any received Host.
  out->append("Host: ").append(request.host.empty() ? context.fallback_host : request.host);
  out->append("\r\n");
  appendRequestFields(request, context, out);
  // X-Forwarded-For is always continued (the upstream decides whom to believe); Forwarded only
  // from a trusted proxy, as its hops are believed by the gateway (listener trusted_proxies).
  beginForwardingList(request, HeaderKind::kXForwardedFor, true, "X-Forwarded-For", out);
  out->append(context.client_ip).append("\r\n");
  out->append(context.https ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
  if (!request.host.empty()) appendHeader(out, "X-Forwarded-Host", request.host);
  beginForwardingList(request, HeaderKind::kForwarded, context.trusted_peer, "Forwarded", out);
  appendForwardedElement(context.client_ip, request.host, context.https, out);
  out->append("\r\n");
  if (!context.request_id.empty()) appendHeader(out, "X-Request-Id", context.request_id);
  if (request.body == http::BodyKind::kChunked) out->append("Transfer-Encoding: chunked\r\n");
  if (request.upgrade) out->append("Connection: upgrade\r\n");
  out->append(context.extra_headers);
  out->append("\r\n");
}

namespace {

void appendStatusLine(int status, std::string_view reason, std::string* out) {
  out->append("HTTP/1.1 ");
  appendNumber(out, static_cast<uint64_t>(status));
  out->push_back(' ');
  out->append(reason.empty() ? reasonPhrase(status) : reason);
  out->append("\r\n");
}

// Where a response head is written: HTTP/1.1 text...
class TextHead {
 public:
  explicit TextHead(std::string* out) : out_(out) {}
  void status(int code, std::string_view reason) { appendStatusLine(code, reason, out_); }
  void field(std::string_view name, std::string_view value) { appendHeader(out_, name, value); }
  void number(std::string_view name, uint64_t value) {
    out_->append(name);
    out_->append(": ");
    appendNumber(out_, value);
    out_->append("\r\n");
  }
  void lines(std::string_view text) { out_->append(text); }  // whole "Name: value\r\n" lines
  void defaultField(const DefaultHeader& header) { out_->append(header.line); }
  void chunked() { out_->append("Transfer-Encoding: chunked\r\n"); }
  void connection(std::string_view line) { out_->append(line); }  // a whole Connection line
  void end() { out_->append("\r\n"); }

 private:
  std::string* out_;
};

// ...or the fields of an HTTP/2 stream's HEADERS (http2_fields.h), submitted at end(). The
// framing and connection fields an HTTP/1.1 client needs have no place there.
class FieldsHead {
 public:
  explicit FieldsHead(Http2Stream* stream) : stream_(stream), head_(&stream->responseHead()) {}
  void status(int code, std::string_view) { head_->start(code); }
  void field(std::string_view name, std::string_view value) { head_->add(name, value); }
  void number(std::string_view name, uint64_t value) {
    char digits[24];
    auto result = std::to_chars(digits, digits + sizeof(digits), value);
    head_->add(name, std::string_view(digits, static_cast<size_t>(result.ptr - digits)));
  }
  void lines(std::string_view text) { head_->addLines(text); }
  void defaultField(const DefaultHeader& header) {
    head_->addLower(header.lower_name, header.value());
  }
  void chunked() { head_->setChunked(); }
  void connection(std::string_view) {}
  void end() { stream_->submitResponseHead(); }

 private:
  Http2Stream* stream_;
  Http2ResponseHead* head_;
};

bool hasHeader(const std::vector<http::Header>& headers, std::string_view lower_name) {
  for (const auto& header : headers) {
    if (header.name.size() == lower_name.size() && equalsIgnoreCase(header.name, lower_name))
      return true;
  }
  return false;
}

template <class Out>
void writeDefaults(const DefaultHeaders* defaults, const std::vector<http::Header>* present,
                   Out& out) {
  if (defaults == nullptr) return;
  for (const auto& header : *defaults) {
    if (present == nullptr || !hasHeader(*present, header.lower_name)) out.defaultField(header);
  }
}

// Headers the gateway changes when it compresses the body: Content-Length goes (the length
// changes) and a strong ETag becomes weak (the bytes differ, the meaning does not; nginx
// does the same). Vary is rewritten apart (see writeVary). Returns true when handled.
template <class Out>
bool rewriteForEncoding(const http::Header& header, const ClientResponseContext& context,
                        Out& out) {
  if (context.content_encoding.empty()) return false;
  // The upstream's Content-Encoding can only be "identity" here: it is replaced.
  if (header.kind == HeaderKind::kContentLength ||
      equalsIgnoreCase(header.name, "content-encoding"))
    return true;
  if (!equalsIgnoreCase(header.name, "etag")) return false;
  std::string weak;
  if (compress::appendWeakEtag(header.value, &weak)) out.field(header.name, weak);
  return true;
}

// One Vary field: the response's Vary values plus Accept-Encoding.
template <class Out>
void writeVary(const http::ResponseHead& response, Out& out) {
  constexpr size_t kMaxVaryLines = 8;  // more Vary lines than this are merged no further
  std::array<std::string_view, kMaxVaryLines> values{};
  size_t count = 0;
  for (const auto& header : response.headers) {
    if (count < kMaxVaryLines && equalsIgnoreCase(header.name, "vary"))
      values[count++] = header.value;
  }
  std::string vary;
  compress::appendVaryAcceptEncoding(std::span(values.data(), count), &vary);
  out.field("Vary", vary);
}

// What follows the response's own fields: the gateway's fields, framing, connection.
template <class Out>
void writeResponseTail(const std::vector<http::Header>& present,
                       const ClientResponseContext& context, Out& out) {
  writeDefaults(context.defaults, &present, out);
  out.lines(context.extra_headers);
  if (!context.request_id.empty()) out.field("X-Request-Id", context.request_id);
  if (!context.set_cookie.empty()) out.field("Set-Cookie", context.set_cookie);
  if (context.chunked) out.chunked();
  if (context.tunnel) {
    out.connection("Connection: upgrade\r\n");
  } else if (context.close) {
    out.connection("Connection: close\r\n");
  } else if (context.keep_alive_header) {
    out.connection("Connection: keep-alive\r\n");
  }
  out.end();
}

template <class Out>
void writeStoredHead(int status, std::string_view wire_headers,
                     const std::vector<http::Header>& headers, const ClientResponseContext& context,
                     Out& out) {
  out.status(status, {});
  out.lines(wire_headers);
  writeResponseTail(headers, context, out);
}

template <class Out>
void writeResponseHead(const http::ResponseHead& response, const ClientResponseContext& context,
                       Out& out) {
  out.status(response.status, response.reason);
  bool content_length_written = false;
  for (const auto& header : response.headers) {
    if (header.kind == HeaderKind::kUpgrade && context.tunnel) {
      out.field(header.name, header.value);
      continue;
    }
    if (isHopByHop(header.kind) || droppedByConnection(header, response.connection_tokens)) {
      continue;
    }
    // With Transfer-Encoding, Content-Length is not the framing (RFC 9112 6.3) and must go.
    if (header.kind == HeaderKind::kContentLength &&
        (response.body == http::BodyKind::kChunked || response.content_length_ignored)) {
      continue;
    }
    if (header.kind == HeaderKind::kOther || header.kind == HeaderKind::kContentLength) {
      if (context.vary_accept_encoding && equalsIgnoreCase(header.name, "vary")) continue;
      if (rewriteForEncoding(header, context, out)) continue;
    }
    if (header.kind == HeaderKind::kContentLength) {  // its one value, once (RFC 9110 8.6)
      if (!content_length_written) out.number(header.name, response.declared_length);
      content_length_written = true;
      continue;
    }
    out.field(header.name, header.value);
  }
  if (!context.content_encoding.empty()) out.field("Content-Encoding", context.content_encoding);
  if (context.vary_accept_encoding) writeVary(response, out);
  writeResponseTail(response.headers, context, out);
}

// The head, then the body into `body` (the text head's own buffer, or the pipe's when the
// head went as fields).
template <class Out>
void writeLocal(const LocalResponse& response, Out& out, std::string* body) {
  const int status = response.status;
  const std::string_view reason = reasonPhrase(status);
  out.status(status, reason);
  out.field("Server", "scalegate");
  out.field("Content-Type",
            response.has_body ? response.content_type : "text/plain; charset=utf-8");
  writeDefaults(response.defaults, nullptr, out);
  out.lines(response.extra_headers);
  if (!response.request_id.empty()) out.field("X-Request-Id", response.request_id);
  out.number("Content-Length", response.has_body ? response.body.size() : 4 + reason.size() + 1);
  if (response.close) {
    out.connection("Connection: close\r\n");
  } else if (response.keep_alive_header) {
    out.connection("Connection: keep-alive\r\n");
  }
  out.end();
  if (response.head_only) return;
  if (response.has_body) {
    body->append(response.body);
    return;
  }
  appendNumber(body, static_cast<uint64_t>(status));
  body->push_back(' ');
  body->append(reason);
  body->push_back('\n');
}

}  // namespace

void writeStoredResponseHead(int status, std::string_view wire_headers,
                             const std::vector<http::Header>& headers,
                             const ClientResponseContext& context, ClientHead to) {
  if (to.stream != nullptr) {
    FieldsHead out(to.stream);
    writeStoredHead(status, wire_headers, headers, context, out);
    return;
  }
  TextHead out(to.text);
  writeStoredHead(status, wire_headers, headers, context, out);
}

void writeClientResponseHead(const http::ResponseHead& response,
                             const ClientResponseContext& context, ClientHead to) {
  if (to.stream != nullptr) {
    FieldsHead out(to.stream);
    writeResponseHead(response, context, out);
    return;
  }
  TextHead out(to.text);
  writeResponseHead(response, context, out);
}

void writeLocalResponse(const LocalResponse& response, ClientHead to) {
  if (to.stream != nullptr) {
    FieldsHead out(to.stream);
    writeLocal(response, out, to.text);
    return;
  }
  TextHead out(to.text);
  writeLocal(response, out, to.text);
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace sg::proxy
