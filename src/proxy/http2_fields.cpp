#include "proxy/http2_fields.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "http/chars.h"

namespace sg::proxy {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Lower-cases ASCII letters in place, 8 bytes at a time (the benchmark showed the byte loop
// among the HEADERS conversion's top costs). Other bytes, non-ASCII ones too, stay as they are.
void lowerInPlace(char* p, size_t n) {
  if (n < 8) {
    std::transform(p, p + n, p, lower);
    return;
  }
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  auto lower8 = [](char* at) {
    uint64_t x;
    std::memcpy(&x, at, sizeof(x));
    const uint64_t low7 = x & (kOnes * 0x7F);
    const uint64_t above_z = low7 + kOnes * (0x7F - 'Z');  // high bit: byte > 'Z'
    const uint64_t from_a = low7 + kOnes * (0x80 - 'A');   // high bit: byte >= 'A'
    const uint64_t upper = from_a & ~above_z & ~x & (kOnes * 0x80);
    x |= upper >> 2;  // 0x80 >> 2 == 'a' - 'A'
    std::memcpy(at, &x, sizeof(x));
  };
  for (size_t i = 0; i + 8 <= n; i += 8) lower8(p + i);
  if (n % 8 != 0) lower8(p + n - 8);  // the last 8 bytes again: lower-casing is idempotent
}

// What a response field is to the HEADERS frame, by its lower-case name: connection-specific
// ones (RFC 9113 8.2.2) are dropped. Sizes first: most names are none of these.
enum class ResponseField : uint8_t {
  kPlain,
  kDropped,
  kContentLength,
  kTransferEncoding,  // dropped too, but the body is chunked
  kRequestId
};

ResponseField classify(std::string_view name) {
  using namespace std::string_view_literals;
  switch (name.size()) {
    case 2:
      return name == "te"sv ? ResponseField::kDropped : ResponseField::kPlain;
    case 7:
      return name == "upgrade"sv ? ResponseField::kDropped : ResponseField::kPlain;
    case 10:
      return name == "connection"sv || name == "keep-alive"sv ? ResponseField::kDropped
                                                              : ResponseField::kPlain;
    case 12:
      return name == "x-request-id"sv ? ResponseField::kRequestId : ResponseField::kPlain;
    case 14:
      return name == "content-length"sv ? ResponseField::kContentLength : ResponseField::kPlain;
    case 16:
      return name == "proxy-connection"sv ? ResponseField::kDropped : ResponseField::kPlain;
    case 17:
      return name == "transfer-encoding"sv ? ResponseField::kTransferEncoding
                                           : ResponseField::kPlain;
    default:
      return ResponseField::kPlain;
  }
}

bool equalsLower(std::string_view lower_name, std::string_view token) {
  return lower_name.size() == token.size() &&
         std::equal(token.begin(), token.end(), lower_name.begin(),
                    [](char t, char n) { return lower(t) == n; });
}

// Connection-specific fields (RFC 9113 8.2.2) never go into HTTP/2 HEADERS.
bool connectionSpecific(http::HeaderKind kind) {
  using K = http::HeaderKind;
  return kind == K::kConnection || kind == K::kKeepAlive || kind == K::kProxyConnection ||
         kind == K::kTransferEncoding || kind == K::kUpgrade || kind == K::kTE;
}

uint8_t* bytes(const char* text) { return reinterpret_cast<uint8_t*>(const_cast<char*>(text)); }

void appendLine(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

// Fields are given to nghttp2 without copies: they must outlive the HEADERS frame.
constexpr uint8_t kNoCopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;

// ":status" (its digits written into `status`) as the first field of `out`.
void startFields(int code, char (&status)[4], std::vector<nghttp2_nv>* out) {
  status[0] = static_cast<char>('0' + code / 100);
  status[1] = static_cast<char>('0' + code / 10 % 10);
  status[2] = static_cast<char>('0' + code % 10);
  status[3] = '\0';
  out->clear();
  out->push_back({bytes(":status"), bytes(status), 7, 3, kNoCopy});
}

}  // namespace

void Http2RequestHead::add(std::string_view name, std::string_view value) {
  if (name == ":method") {
    method_ = value;
  } else if (name == ":path") {
    path_ = value;
  } else if (name == ":authority") {
    authority_ = value;
  } else if (name.empty() || name.front() == ':') {
    return;  // :scheme (and :protocol) have no HTTP/1.1 field
  } else if (name == "cookie") {
    // HTTP/2 may split cookies into several fields; HTTP/1.1 wants one (RFC 9113 8.2.3).
    if (!cookies_.empty()) cookies_ += "; ";
    cookies_ += value;
  } else if (name != "te") {  // "te: trailers" is the only one allowed and means nothing here
    if (name == "content-length") has_content_length_ = true;
    // :authority wins (RFC 9113 8.3.1); it comes first, as pseudo-header fields do.
    if (name == "host" && !authority_.empty()) return;
    if (fields_.empty()) fields_.reserve(256);  // one allocation for a usual request's fields
    appendLine(&fields_, name, value);
  }
}

void Http2RequestHead::finish(bool end_stream, std::string* out) {
  chunked_ = !end_stream && !has_content_length_;
  out->reserve(out->size() + method_.size() + path_.size() + authority_.size() + fields_.size() +
               cookies_.size() + 64);
  out->append(method_);
  out->push_back(' ');
  out->append(path_);
  out->append(" HTTP/1.1\r\n");
  if (!authority_.empty()) appendLine(out, "Host", authority_);
  out->append(fields_);
  if (!cookies_.empty()) appendLine(out, "Cookie", cookies_);
  if (chunked_) out->append("Transfer-Encoding: chunked\r\n");
  out->append("\r\n");
  fields_.clear();
  cookies_.clear();
}

void Http2RequestHead::clear() {
  method_.clear();
  path_.clear();
  authority_.clear();
  fields_.clear();
  cookies_.clear();
  has_content_length_ = false;
  chunked_ = false;
}

Http2HeaderListLimit::Verdict Http2HeaderListLimit::add(size_t name_size, size_t value_size) {
  constexpr uint64_t kFieldOverhead = 32;  // RFC 9113 6.5.2
  size_ += name_size + value_size + kFieldOverhead;
  if (size_ > limit_ * kAbusiveFactor) return Verdict::kAbusive;
  if (over_) return Verdict::kDropped;
  if (size_ <= limit_) return Verdict::kWithin;
  over_ = true;
  return Verdict::kTooLarge;
}

void Http2ResponseHead::start(int status) {
  status_code_ = status;
  bytes_.clear();
  fields_.clear();
  chunked_ = false;
  has_length_ = false;
  broken_ = false;
  content_length_ = 0;
}

void Http2ResponseHead::add(std::string_view name, std::string_view value) {
  const size_t name_offset = bytes_.size();
  bytes_.append(name);
  lowerInPlace(bytes_.data() + name_offset, name.size());
  addValue(name_offset, name.size(), value);
}

void Http2ResponseHead::addLower(std::string_view lower_name, std::string_view value) {
  const size_t name_offset = bytes_.size();
  bytes_.append(lower_name);
  addValue(name_offset, lower_name.size(), value);
}

// The field whose lower-case name was just appended at `name_offset`.
void Http2ResponseHead::addValue(size_t name_offset, size_t name_size, std::string_view value) {
  const ResponseField kind = classify(std::string_view(bytes_.data() + name_offset, name_size));
  // The gateway frames a body with chunked coding alone (it dechunks anything else).
  if (kind == ResponseField::kTransferEncoding) chunked_ = true;
  if (kind == ResponseField::kTransferEncoding || kind == ResponseField::kDropped ||
      (kind == ResponseField::kContentLength && !takeLength(value))) {
    bytes_.resize(name_offset);
    return;
  }
  const size_t value_offset = bytes_.size();
  bytes_.append(value);
  fields_.push_back({static_cast<uint32_t>(name_offset), static_cast<uint32_t>(name_size),
                     static_cast<uint32_t>(value_offset), static_cast<uint32_t>(value.size()),
                     kind == ResponseField::kRequestId});
}

// The gateway writes one decimal value (once); anything else would have been refused by the
// HTTP/1.1 parser, so the head is broken (the stream is reset rather than framed wrong).
bool Http2ResponseHead::takeLength(std::string_view value) {
  uint64_t length = 0;
  bool digits = !value.empty() && value.size() <= 19;  // no overflow
  for (char c : value) {
    digits = digits && c >= '0' && c <= '9';
    length = length * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!digits || (has_length_ && length != content_length_)) {
    broken_ = true;
    return false;
  }
  has_length_ = true;
  content_length_ = length;
  return true;
}

void Http2ResponseHead::addLines(std::string_view lines) {
  while (!lines.empty()) {
    const size_t end = lines.find("\r\n");
    const std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    add(line.substr(0, colon), http::detail::trimOws(line.substr(colon + 1)));
  }
}

http::BodyKind Http2ResponseHead::body(bool request_is_head) const {
  const int s = status_code_;
  if (request_is_head || s < 200 || s == 204 || s == 304) return http::BodyKind::kNone;
  if (chunked_) return http::BodyKind::kChunked;
  if (!has_length_) return http::BodyKind::kUntilClose;
  // Content-Length: 0 is no body, as the parser says (the stream ends with the HEADERS).
  return content_length_ > 0 ? http::BodyKind::kContentLength : http::BodyKind::kNone;
}

void Http2ResponseHead::nghttp2Fields(std::vector<nghttp2_nv>* out) {
  startFields(status_code_, status_, out);  // 100-599: the gateway writes no other
  const char* base = bytes_.data();
  for (const Field& field : fields_) {
    const uint8_t flags = kNoCopy | (field.no_index ? NGHTTP2_NV_FLAG_NO_INDEX : 0);
    out->push_back({bytes(base + field.name_offset), bytes(base + field.value_offset),
                    field.name_size, field.value_size, flags});
  }
}

void Http2ResponseHead::releaseLargeBuffers(size_t kept_capacity) {
  if (bytes_.capacity() > kept_capacity) bytes_ = std::string();
  if (fields_.capacity() > kept_capacity / sizeof(Field)) fields_ = std::vector<Field>();
}

void http2ResponseFields(const http::ResponseHead& head, std::string& text, char (&status)[4],
                         std::vector<nghttp2_nv>* fields) {
  startFields(head.status, status, fields);  // 100-599: the parser accepts no other
  for (const http::Header& header : head.headers) {
    if (connectionSpecific(header.kind)) continue;
    if (header.kind == http::HeaderKind::kContentLength && head.content_length_ignored) continue;
    char* name = text.data() + (header.name.data() - text.data());
    lowerInPlace(name, header.name.size());
    const std::string_view lower_name(name, header.name.size());
    if (std::any_of(head.connection_tokens.begin(), head.connection_tokens.end(),
                    [&](std::string_view token) { return equalsLower(lower_name, token); })) {
      continue;  // named in Connection: hop-by-hop (RFC 9110 7.6.1)
    }
    const uint8_t flags =
        kNoCopy | (header.kind == http::HeaderKind::kXRequestId ? NGHTTP2_NV_FLAG_NO_INDEX : 0);
    fields->push_back(
        {bytes(name), bytes(header.value.data()), header.name.size(), header.value.size(), flags});
  }
}

}  // namespace sg::proxy
