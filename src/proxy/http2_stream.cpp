#include "proxy/http2_stream.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "http/chars.h"
#include "http/parser.h"
#include "proxy/http2_session.h"

namespace sg::proxy {

namespace {

// Fields a trailer section must not carry to an HTTP/2 client: connection-specific ones (RFC
// 9113 8.2.2) and those about framing and routing (RFC 9110 6.5.1), which are meaningless
// after the body.
bool forbiddenTrailer(std::string_view name) {
  for (std::string_view forbidden :
       {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
        "content-length", "host", "trailer"}) {
    if (name == forbidden) return true;
  }
  return false;
}

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

Http2Stream::Http2Stream(Http2Session* session, int32_t id) : session_(session), id_(id) {
  response_.headers.reserve(16);  // one allocation for a usual response head, not four
}

void Http2Stream::reuse(int32_t id) {
  id_ = id;
  request_.clear();
  built_ = false;
  head_error_ = http::ParseError::kNone;
  in_.clear();
  in_offset_ = 0;
  unconsumed_ = 0;
  phase_ = Phase::kHead;
  head_.clear();
  std::vector<http::Header> headers = std::move(response_.headers);
  std::vector<std::string_view> tokens = std::move(response_.connection_tokens);
  response_ = http::ResponseHead{};
  headers.clear();
  tokens.clear();
  response_.headers = std::move(headers);
  response_.connection_tokens = std::move(tokens);
  remaining_ = 0;
  chunked_decoder_.reset();
  trailers_.clear();
  out_.clear();
  out_offset_ = 0;
  body_done_ = false;
  blocked_ = false;
  connection = nullptr;
  channel_closed = false;
  stream_closed = false;
}

void Http2Stream::releaseLargeBuffers() {
  constexpr size_t kKeptCapacity = 16 * 1024;  // a usual head and small body fit
  for (std::string* buffer : {&in_, &head_, &out_, &trailers_}) {
    if (buffer->capacity() > kKeptCapacity) *buffer = std::string();
  }
  fields_head_.releaseLargeBuffers(kKeptCapacity);
}

void Http2Stream::addHeader(std::string_view name, std::string_view value) {
  request_.add(name, value);
}

void Http2Stream::headersDone(bool end_stream) {
  if (head_error_ == http::ParseError::kNone) request_.finish(end_stream, &in_);
  built_ = true;
}

void Http2Stream::rejectHead(http::ParseError error) {
  head_error_ = error;
  request_.clear();
}

void Http2Stream::addData(std::string_view data) {
  if (data.empty()) return;
  unconsumed_ += data.size();
  if (!request_.chunked()) {
    in_.append(data);
    return;
  }
  char size_line[24];
  int n = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
  in_.append(size_line, static_cast<size_t>(n));
  in_.append(data);
  in_ += "\r\n";
}

void Http2Stream::endRequest() {
  if (request_.chunked()) in_ += "0\r\n\r\n";
}

ssize_t Http2Stream::read(char* data, size_t size) {
  // Never 0 (EOF): the request ending is its framing's business; a reset closes the
  // connection instead.
  if (in_offset_ == in_.size()) return -1;
  size_t n = std::min(size, in_.size() - in_offset_);
  std::memcpy(data, in_.data() + in_offset_, n);
  in_offset_ += n;
  if (in_offset_ == in_.size() || in_offset_ >= kSendCap) {
    in_.erase(0, in_offset_);
    in_offset_ = 0;
  }
  // Window credit for what the request path took (framing bytes counted as payload: the
  // credit is given a little early, never beyond what arrived).
  size_t credit = std::min(n, unconsumed_);
  unconsumed_ -= credit;
  if (credit > 0) session_->consumed(id_, credit);
  return static_cast<ssize_t>(n);
}

ssize_t Http2Stream::writeVec(const iovec* iov, int count) {
  size_t accepted = 0;
  for (int i = 0; i < count; ++i) {
    std::string_view piece(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    size_t n = acceptResponse(piece);
    if (phase_ == Phase::kBroken) return -1;
    accepted += n;
    if (n < piece.size()) {
      blocked_ = true;
      break;
    }
  }
  return static_cast<ssize_t>(accepted);
}

size_t Http2Stream::acceptResponse(std::string_view bytes) {
  size_t used = 0;
  while (used < bytes.size()) {
    size_t n = 0;
    switch (phase_) {
      case Phase::kHead:
        n = acceptHead(bytes.substr(used));
        break;
      case Phase::kBody:
        n = acceptBody(bytes.substr(used));
        if (n == 0) return used;  // send buffer full
        break;
      case Phase::kDone:
        return bytes.size();  // nothing follows a complete response on a stream
      case Phase::kBroken:
        return used;
    }
    used += n;
  }
  return used;
}

// Gathers the head; returns the bytes of `bytes` that belong to it.
size_t Http2Stream::acceptHead(std::string_view bytes) {
  const size_t before = head_.size();
  head_.append(bytes.substr(0, kMaxResponseHead + 1 - before));
  http::ParseLimits limits{static_cast<uint32_t>(kMaxResponseHead), 1000};
  http::ParseError error = http::ParseError::kNone;
  auto status =
      http::parseResponseHead(head_, limits, request_.method() == "HEAD", &response_, &error);
  if (status == http::ParseStatus::kError ||
      (status == http::ParseStatus::kIncomplete && head_.size() > kMaxResponseHead)) {
    fail();
    return 0;
  }
  if (status == http::ParseStatus::kIncomplete) return head_.size() - before;
  const size_t used = response_.head_length - before;
  if (response_.status >= 100 && response_.status < 200) {
    // An interim response: a 100 Continue goes on (the client may wait for it before it sends
    // its body); others are dropped. The final one follows.
    if (response_.status == 101) fail();
    if (response_.status == 100) session_->submitContinue(id_);
    head_.clear();
    return used;
  }
  // head_ and status_ stay as they are: nghttp2 reads the fields from them (NO_COPY) when it
  // sends the HEADERS frame; reuse() clears them once the stream is closed.
  if (!submitHead()) return 0;
  return used;
}

bool Http2Stream::submitHead() {
  // One list per worker thread, reused: nghttp2 copies the list (not the bytes: NO_COPY).
  static thread_local std::vector<nghttp2_nv> fields;
  http2ResponseFields(response_, head_, status_, &fields);
  return submitFields(fields);
}

Http2ResponseHead& Http2Stream::responseHead() {
  // A head already submitted stays as nghttp2 reads it: a second one is written aside (and
  // resets the stream when submitted).
  static thread_local Http2ResponseHead aside;
  return phase_ == Phase::kHead ? fields_head_ : aside;
}

void Http2Stream::submitResponseHead() {
  if (phase_ == Phase::kBroken) return;
  const int status = fields_head_.status();
  if (phase_ != Phase::kHead || !head_.empty() || fields_head_.broken() || status == 101) {
    fail();
    return;
  }
  if (status < 200) {  // interim: the final head follows
    if (status == 100) session_->submitContinue(id_);
    return;
  }
  static thread_local std::vector<nghttp2_nv> fields;
  fields_head_.nghttp2Fields(&fields);
  response_.status = status;
  response_.body = fields_head_.body(request_.method() == "HEAD");
  response_.content_length = fields_head_.contentLength();
  submitFields(fields);
}

bool Http2Stream::submitFields(const std::vector<nghttp2_nv>& fields) {
  remaining_ = response_.content_length;
  const bool has_body = response_.body != http::BodyKind::kNone;
  phase_ = has_body ? Phase::kBody : Phase::kDone;
  body_done_ = !has_body;
  chunked_decoder_.reset();
  chunked_decoder_.keepTrailers(&trailers_);
  if (!session_->submitResponse(id_, fields, has_body)) {
    fail();
    return false;
  }
  return true;
}

// Body bytes into the send buffer (chunked framing removed); 0 when it is full.
size_t Http2Stream::acceptBody(std::string_view bytes) {
  const size_t held = out_.size() - out_offset_;
  if (held >= kSendCap) return 0;
  bytes = bytes.substr(0, kSendCap - held);
  size_t used = 0;
  if (response_.body == http::BodyKind::kContentLength) {
    used = static_cast<size_t>(std::min<uint64_t>(bytes.size(), remaining_));
    out_.append(bytes.substr(0, used));
    remaining_ -= used;
    if (remaining_ == 0) finishBody();
  } else if (response_.body == http::BodyKind::kChunked) {
    while (used < bytes.size() && phase_ == Phase::kBody) {
      size_t consumed = 0;
      std::string_view payload;
      auto status = chunked_decoder_.feed(bytes.substr(used), &consumed, &payload);
      out_.append(payload);
      used += consumed;
      if (status == http::ChunkedDecoder::Status::kError) {
        fail();
        return used;
      }
      if (status == http::ChunkedDecoder::Status::kDone) finishBody();
    }
  } else {  // kUntilClose: everything until the channel closes
    out_.append(bytes);
    used = bytes.size();
  }
  session_->resumeData(id_);
  return used;
}

// trailers_ holds whole field lines ("name: value\r\n"), checked by the chunked decoder.
std::vector<std::pair<std::string, std::string>> Http2Stream::trailerFields() const {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string_view rest = trailers_;
  while (!rest.empty()) {
    const size_t end = rest.find("\r\n");
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = lowered(line.substr(0, colon));
    if (!forbiddenTrailer(name))
      fields.emplace_back(std::move(name),
                          std::string(http::detail::trimOws(line.substr(colon + 1))));
  }
  return fields;
}

void Http2Stream::finishBody() {
  phase_ = Phase::kDone;
  body_done_ = true;
  session_->resumeData(id_);
}

void Http2Stream::fail() {
  phase_ = Phase::kBroken;
  session_->resetStream(id_);
}

size_t Http2Stream::takeResponse(uint8_t* out, size_t size, bool* eof) {
  size_t n = std::min(size, out_.size() - out_offset_);
  std::memcpy(out, out_.data() + out_offset_, n);
  out_offset_ += n;
  if (out_offset_ == out_.size() || out_offset_ >= kSendCap) {
    out_.erase(0, out_offset_);
    out_offset_ = 0;
  }
  *eof = body_done_ && out_.empty();
  return n;
}

void Http2Stream::close() {
  channel_closed = true;
  connection = nullptr;
  if (session_->closing()) return;
  if (stream_closed) {
  } else if (phase_ == Phase::kBody && response_.body == http::BodyKind::kUntilClose) {
    finishBody();
  } else if (phase_ == Phase::kHead || phase_ == Phase::kBody) {
    // The exchange ended without a whole response (an upstream that failed mid-body, an
    // error the request path closes on): the client must not take it for complete.
    fail();
  }
  session_->channelClosed(this);
}

}  // namespace sg::proxy
