#pragma once
// The two ends of one delivery through the gateway's own proxy path: the request bytes fed
// into a connection without a socket, and the capture of what the gateway writes back.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/message.h"
#include "queue/job.h"

namespace sg::queue {

// The HTTP/1.1 request bytes a delivery sends into the gateway: "METHOD target HTTP/1.1\r\n",
// the stored header lines in order MINUS hop-by-hop fields (Connection and every field it
// names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Expect),
// Content-Length, and any X-Scalegate-Job-Id / -Attempt / -Batch-Size / -Job-Ids the client sent
// (case-insensitive names); then "X-Scalegate-Job-Id: <id>", "X-Scalegate-Attempt: <n>",
// "Content-Length: <body size>" (always, also 0), blank line, body. A stored request without a
// Host line gets none added (the caller stored it as received). A stored field whose name or
// value holds CR, LF or NUL is dropped too: the parser never stores one, and a line break
// there would let stored bytes add header lines.
std::string deliveryRequest(const StoredRequest& request, std::string_view job_id,
                            uint32_t attempt);

// deliveryRequest's framing with the caller's own lines ("Name: value\r\n" each) in place of
// the job id and attempt (a batch's). X-Scalegate-Batch-Size and X-Scalegate-Job-Ids from the
// stored request are dropped as the other X-Scalegate-* fields are.
std::string requestWithFields(const StoredRequest& request, std::string_view scalegate_fields);

// Collects what the gateway writes back for one delivery (bytes arrive in pieces, in order)
// and turns it into a JobResult. The head is parsed with sg::http's response parser (limits
// 64 KiB / 256 fields); the body is framed by Content-Length, chunked (trailers are read and
// dropped) or the end of the stream. Interim 1xx heads are skipped; a 101 (a protocol switch
// the delivery never asks for) makes the capture fail. Decoded body bytes beyond max_body are
// not kept: body_omitted = true, body empty, body_size = the full decoded size. Header lines
// are kept as they came, in order (names as sent, values without surrounding whitespace).
// Bytes after a complete response are ignored.
class ResponseCapture {
 public:
  explicit ResponseCapture(uint64_t max_body, bool head_request = false);

  // Memory stays bounded by the head limit + max_body: a piece is copied only while the head
  // is incomplete, and then at most up to the head limit.
  void append(std::string_view bytes);
  // A whole response (head + framed body) has arrived. Never true for a body that ends with
  // the stream until finish().
  bool complete() const;
  // At the end of the stream: the result, or nothing when no complete head arrived, the
  // response was malformed or the framed body was cut short (the caller treats that as a
  // failed delivery). Gives the result once; later calls return nothing.
  std::optional<JobResult> finish();
  // The final head's status once parsed, else 0 (an interim 1xx is not reported).
  int status() const { return result_.status; }
  // The response was malformed (bad head, bad chunked framing, 101): finish() gives nothing.
  bool failed() const { return failed_; }

  static constexpr uint32_t kMaxHeadSize = 64 * 1024;
  static constexpr uint32_t kMaxHeaders = 256;

 private:
  void feedHead(std::string_view bytes);
  bool parseHead();  // false: wait for more bytes
  void feedBody(std::string_view bytes);
  void keep(std::string_view decoded);

  uint64_t max_body_;
  bool head_request_;
  std::string head_buffer_;  // bytes of the head(s) so far
  size_t scan_from_ = 0;     // where the search for the head's end resumes
  bool head_done_ = false;
  bool body_done_ = false;
  bool failed_ = false;
  bool finished_ = false;
  http::BodyKind body_kind_ = http::BodyKind::kNone;
  uint64_t remaining_ = 0;  // kContentLength: body bytes still to come
  http::ChunkedDecoder chunked_;
  JobResult result_;
};

}  // namespace sg::queue
