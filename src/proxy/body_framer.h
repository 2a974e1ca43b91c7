#pragma once
// Tracks where a message body ends in a stream of bytes, so bodies stream through without
// being buffered whole. Content-Length and chunked bodies are forwarded byte for byte;
// with `dechunk`, chunk framing is removed in place (for HTTP/1.0 clients).
#include <cstdint>

#include "http/chunked.h"
#include "http/message.h"
#include "net/buffer.h"

namespace sg::proxy {

class BodyFramer {
 public:
  enum class Result { kMore, kDone, kError };

  void start(http::BodyKind kind, uint64_t content_length, bool dechunk);
  // Examines the bytes of `buffer` from `offset` on; *body_bytes is how many of them (after
  // in-place dechunking) belong to the body. Bytes past the body's end are left untouched.
  Result scan(net::Buffer* buffer, size_t offset, size_t* body_bytes);
  // The source closed. Returns true when that ends the body properly (read-until-close).
  bool finishOnEof();

  bool done() const { return done_; }
  uint64_t payloadBytes() const { return payload_bytes_; }
  // Body bytes as received, chunk framing (sizes, extensions, trailers) included: what a body
  // limit must count, or chunk extensions could carry far more than the limit.
  uint64_t wireBytes() const { return wire_bytes_; }
  http::BodyKind kind() const { return kind_; }

 private:
  Result scanChunked(net::Buffer* buffer, size_t offset, size_t* body_bytes);

  http::BodyKind kind_ = http::BodyKind::kNone;
  uint64_t remaining_ = 0;
  uint64_t payload_bytes_ = 0;
  uint64_t wire_bytes_ = 0;
  bool dechunk_ = false;
  bool done_ = true;
  http::ChunkedDecoder chunked_;
};

}  // namespace sg::proxy
