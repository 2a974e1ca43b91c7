#pragma once
// One HTTP/2 stream as the request path sees it: a net::Channel in place of a client socket.
// Reads give the request as HTTP/1.1 bytes (built from the stream's HEADERS, then its DATA,
// chunked when no Content-Length was sent); writes take the pipeline's HTTP/1.1 response
// bytes, which become the stream's DATA. The response head comes as fields from the head
// writer (responseHead(), submitResponseHead()); a head written as HTTP/1.1 text (an interim
// 100 Continue, any head not given as fields) is parsed here instead. So every phase of
// the request path runs unchanged for HTTP/2. Nothing is buffered whole: request data is
// bounded by the stream's flow-control window, response data by kSendCap (writes past it are
// refused, the session wakes the connection when DATA frames have taken bytes).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/chunked.h"
#include "http/message.h"
#include "http/parser.h"
#include "net/stream.h"
#include "proxy/http2_fields.h"

namespace sg::proxy {

class ClientConnection;
class Http2Session;

class Http2Stream final : public net::Channel {
 public:
  // Response body bytes held for DATA frames before writes are refused.
  static constexpr size_t kSendCap = 256 * 1024;
  // A response head longer than this is a broken response (the gateway writes its heads).
  static constexpr size_t kMaxResponseHead = 64 * 1024;

  Http2Stream(Http2Session* session, int32_t id);
  int32_t id() const { return id_; }
  // The session keeps finished streams for its next ones (the benchmark showed per-stream
  // allocations among the top costs): reuse() starts a spare stream over as stream `id`,
  // keeping its buffers' capacity; releaseLargeBuffers() drops buffers a big request or
  // response left behind before the stream is kept.
  void reuse(int32_t id);
  void releaseLargeBuffers();

  // Request side (the session's nghttp2 callbacks). Header names arrive lower-case and
  // validated by nghttp2.
  void addHeader(std::string_view name, std::string_view value);
  // The request's HEADERS are complete: builds the HTTP/1.1 head. `end_stream`: no body.
  void headersDone(bool end_stream);
  // The request is refused before it starts (its header block was past the limit): the
  // fields gathered so far are dropped and no HTTP/1.1 head is built; the stream's connection
  // answers as the HTTP/1.1 parser's `error` is answered (431), without reading the stream.
  void rejectHead(http::ParseError error);
  http::ParseError headError() const { return head_error_; }
  void addData(std::string_view data);
  void endRequest();  // the client's END_STREAM after DATA
  bool requestBuilt() const { return built_; }

  // Response side. The head writer fills responseHead() and submits it, once, before any body
  // byte is written; an interim (1xx) head is dropped (HTTP/2 clients do without it), 101 or
  // a broken head resets the stream.
  Http2ResponseHead& responseHead();
  void submitResponseHead();
  // DATA frames take up to `size` bytes; *eof when the body is complete.
  size_t takeResponse(uint8_t* out, size_t size, bool* eof);
  bool responseDone() const { return body_done_ && out_.empty(); }
  bool wantsWriteWake() const { return blocked_ && out_.size() - out_offset_ < kSendCap; }
  void clearWriteWake() { blocked_ = false; }
  // The upstream's chunked trailers as fields of a trailing HEADERS frame (RFC 9113 8.1):
  // names lower-cased, connection-specific and framing fields left out. Empty when none.
  std::vector<std::pair<std::string, std::string>> trailerFields() const;

  // net::Channel, for the stream's ClientConnection.
  ssize_t read(char* data, size_t size) override;
  ssize_t writeVec(const iovec* iov, int count) override;
  void close() override;

  ClientConnection* connection = nullptr;  // the connection running the stream's exchange
  bool channel_closed = false;             // the connection is done with the channel
  bool stream_closed = false;              // nghttp2 closed the stream

 private:
  enum class Phase : uint8_t { kHead, kBody, kDone, kBroken };
  size_t acceptResponse(std::string_view bytes);
  size_t acceptHead(std::string_view bytes);
  size_t acceptBody(std::string_view bytes);
  bool submitHead();                                         // response_, parsed from head_
  bool submitFields(const std::vector<nghttp2_nv>& fields);  // response_ says the framing
  void finishBody();
  void fail();

  Http2Session* session_;
  int32_t id_;
  // request
  Http2RequestHead request_;
  bool built_ = false;
  http::ParseError head_error_ = http::ParseError::kNone;
  std::string in_;         // request bytes not read yet
  size_t in_offset_ = 0;   // read up to here
  size_t unconsumed_ = 0;  // DATA payload bytes received and not yet read (window credit owed)
  // response
  Phase phase_ = Phase::kHead;
  std::string head_;  // the response head; its fields are the HEADERS frame's (NO_COPY)
  char status_[4] = {};
  http::ResponseHead response_;
  Http2ResponseHead fields_head_;  // the head as given by the head writer (NO_COPY fields)
  uint64_t remaining_ = 0;         // kContentLength: body bytes still to come
  http::ChunkedDecoder chunked_decoder_;
  std::string trailers_;  // the chunked body's trailer field lines, as received
  std::string out_;       // response body bytes for DATA frames
  size_t out_offset_ = 0;
  bool body_done_ = false;
  bool blocked_ = false;  // a write was refused (or cut short): wake the connection later
};

}  // namespace sg::proxy
