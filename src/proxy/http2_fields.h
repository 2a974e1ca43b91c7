#pragma once
// Header conversion between an HTTP/2 stream and the HTTP/1.1 heads its request path reads
// and writes (http2_stream.h): a request's decoded fields become one HTTP/1.1 request head,
// and a response head becomes the response's HEADERS fields, either given as fields by the
// head writer (Http2ResponseHead) or, for heads written as text, parsed from HTTP/1.1. All
// run once per stream, so they build in place and allocate little.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace sg::proxy {

// A request's HTTP/1.1 head, built from its HEADERS fields as nghttp2 decodes them (names
// lower-case and validated; pseudo-header fields first).
class Http2RequestHead {
 public:
  void add(std::string_view name, std::string_view value);
  // Appends the head to `out`. `end_stream`: the HEADERS ended the stream (no body). A body
  // without Content-Length is framed chunked; chunked() tells.
  void finish(bool end_stream, std::string* out);
  bool chunked() const { return chunked_; }
  const std::string& method() const { return method_; }
  // Empty again for another stream; the strings keep their capacity.
  void clear();

 private:
  std::string method_, path_, authority_;
  std::string fields_;   // "name: value\r\n" lines, in arrival order
  std::string cookies_;  // cookie fields joined with "; " (RFC 9113 8.2.3)
  bool has_content_length_ = false;
  bool chunked_ = false;
};

// The size of one request header block as nghttp2 decodes it, against
// SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 6.5.2: name + value + 32 per field). A block past
// the limit is a request too large (answered 431, RFC 9113 10.5.1), its later fields dropped;
// a block past kAbusiveFactor times the limit is abuse (an HPACK bomb, a CONTINUATION flood).
class Http2HeaderListLimit {
 public:
  // Why 4: a client that ignores the advertised limit but is honest overshoots it by a cookie
  // or two (common servers take 8 to 32 KB; a client sends what one of them takes); decoding
  // more than 4 times the limit (64 KB by default) for one request that is refused anyway is
  // work the client imposes (an indexed field costs it one byte on the wire), so it stops there.
  static constexpr uint64_t kAbusiveFactor = 4;
  enum class Verdict : uint8_t {
    kWithin,    // keep the field
    kTooLarge,  // this field took the block past the limit: refuse the request
    kDropped,   // the block was refused already: drop the field
    kAbusive,   // past kAbusiveFactor times the limit: end the connection
  };

  explicit Http2HeaderListLimit(uint32_t limit) : limit_(limit) {}
  void startBlock() {
    size_ = 0;
    over_ = false;
  }
  Verdict add(size_t name_size, size_t value_size);

 private:
  uint64_t limit_;
  uint64_t size_ = 0;  // of the block so far
  bool over_ = false;
};

// A response head the gateway gives as fields rather than HTTP/1.1 text (head_writer.h, for a
// client that is an HTTP/2 stream): names are lower-cased as they are added, connection-specific
// fields (RFC 9113 8.2.2) left out, and the body's framing is noted as the HTTP/1.1 parser would
// read it from the same head written as text. Saves writing the head as text and parsing it back
// (the benchmark showed the parse among the top costs of a stream).
class Http2ResponseHead {
 public:
  // Starts a head over (the buffers keep their capacity).
  void start(int status);
  void add(std::string_view name, std::string_view value);
  void addLower(std::string_view lower_name, std::string_view value);  // already lower-case
  // Whole "Name: value\r\n" lines as the gateway writes them (its own fields, stored ones).
  void addLines(std::string_view lines);
  void setChunked() { chunked_ = true; }  // the body follows with chunked framing

  int status() const { return status_code_; }
  // A status outside 100-599 or a Content-Length that is not one decimal number: the HTTP/1.1
  // parser would have refused the text head.
  bool broken() const { return broken_ || status_code_ < 100 || status_code_ > 599; }
  // The body's framing, as parseResponseHead would say for the text head.
  http::BodyKind body(bool request_is_head) const;
  uint64_t contentLength() const { return content_length_; }
  size_t fieldCount() const { return fields_.size(); }
  // The HEADERS fields, ":status" first, all marked NO_COPY (X-Request-Id also NO_INDEX, as
  // below): they point into this head, which must stay unchanged until nghttp2 has sent the
  // HEADERS frame or closed the stream.
  void nghttp2Fields(std::vector<nghttp2_nv>* out);
  // Drops buffers a big head left behind (a stream kept for reuse).
  void releaseLargeBuffers(size_t kept_capacity);

 private:
  struct Field {
    uint32_t name_offset, name_size, value_offset, value_size;
    bool no_index;
  };
  void addValue(size_t name_offset, size_t name_size, std::string_view value);
  bool takeLength(std::string_view value);

  std::string bytes_;  // names (lower-cased) and values, back to back
  std::vector<Field> fields_;
  char status_[4] = {};
  int status_code_ = 0;
  bool chunked_ = false;
  bool has_length_ = false;
  bool broken_ = false;
  uint64_t content_length_ = 0;
};

// The HEADERS fields of a final response head: ":status" (written into `status`), then the
// head's fields with names lower-cased in place in `text` (the buffer `head` was parsed
// from, so the fields point into it and into `status`), without connection-specific ones
// (RFC 9113 8.2.2). X-Request-Id is never indexed: its value is unique per response, so
// adding it to the HPACK table only evicts entries that would be reused. The fields are
// marked NO_COPY (nghttp2 neither copies nor lower-cases them again: the benchmark showed the
// copy among the top costs), so `text` and `status` must stay unchanged until nghttp2 has
// sent the HEADERS frame or closed the stream.
void http2ResponseFields(const http::ResponseHead& head, std::string& text, char (&status)[4],
                         std::vector<nghttp2_nv>* fields);

}  // namespace sg::proxy
