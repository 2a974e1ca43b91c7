#include "proxy/body_framer.h"

#include <algorithm>

namespace sg::proxy {

void BodyFramer::start(http::BodyKind kind, uint64_t content_length, bool dechunk) {
  kind_ = kind;
  remaining_ = content_length;
  payload_bytes_ = 0;
  wire_bytes_ = 0;
  dechunk_ = dechunk && kind == http::BodyKind::kChunked;
  done_ = kind == http::BodyKind::kNone ||
          (kind == http::BodyKind::kContentLength && content_length == 0);
  chunked_.reset();
}

BodyFramer::Result BodyFramer::scan(net::Buffer* buffer, size_t offset, size_t* body_bytes) {
  *body_bytes = 0;
  if (done_) return Result::kDone;
  size_t available = buffer->size() - offset;
  switch (kind_) {
    case http::BodyKind::kContentLength: {
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, available));
      remaining_ -= take;
      payload_bytes_ += take;
      wire_bytes_ += take;
      *body_bytes = take;
      done_ = remaining_ == 0;
      return done_ ? Result::kDone : Result::kMore;
    }
    case http::BodyKind::kUntilClose:
      payload_bytes_ += available;
      wire_bytes_ += available;
      *body_bytes = available;
      return Result::kMore;
    case http::BodyKind::kChunked:
      return scanChunked(buffer, offset, body_bytes);
    case http::BodyKind::kNone:
      break;
  }
  return Result::kDone;
}

BodyFramer::Result BodyFramer::scanChunked(net::Buffer* buffer, size_t offset,
                                           size_t* body_bytes) {
  size_t cursor = offset;  // end of the bytes accepted as body so far
  while (cursor < buffer->size()) {
    size_t consumed = 0;
    std::string_view payload;
    auto status = chunked_.feed({buffer->data() + cursor, buffer->size() - cursor}, &consumed,
                                &payload);
    if (status == http::ChunkedDecoder::Status::kError) return Result::kError;
    payload_bytes_ += payload.size();
    wire_bytes_ += consumed;
    if (dechunk_) {
      // Payload is the tail of what was consumed: drop the framing in front of it.
      size_t framing = consumed - payload.size();
      if (framing > 0) buffer->erase(cursor, framing);
      cursor += payload.size();
    } else {
      cursor += consumed;
    }
    if (status == http::ChunkedDecoder::Status::kDone) {
      done_ = true;
      break;
    }
  }
  *body_bytes = cursor - offset;
  return done_ ? Result::kDone : Result::kMore;
}

bool BodyFramer::finishOnEof() {
  if (kind_ == http::BodyKind::kUntilClose) done_ = true;
  return done_;
}

}  // namespace sg::proxy
