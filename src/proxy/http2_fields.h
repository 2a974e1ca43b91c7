#pragma once
// Header conversion between an HTTP/2 stream and the HTTP/1.1 heads its request path reads
// and writes (http2_stream.h): a request's decoded fields become one HTTP/1.1 request head,
// and a parsed HTTP/1.1 response head becomes the response's HEADERS fields. Both run once
// per stream, so they build in place and allocate little.
#include <nghttp2/nghttp2.h>

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
