#include "queue/delivery_request.h"

#include <algorithm>
#include <array>

#include "http/parser.h"
#include "queue/text.h"

namespace sg::queue {

namespace {

using detail::equalsIgnoreCase;
using detail::trimOws;

constexpr std::array<std::string_view, 13> kDropped = {"connection",
                                                       "keep-alive",
                                                       "proxy-connection",
                                                       "te",
                                                       "trailer",
                                                       "transfer-encoding",
                                                       "upgrade",
                                                       "expect",
                                                       "content-length",
                                                       "x-scalegate-job-id",
                                                       "x-scalegate-attempt",
                                                       "x-scalegate-batch-size",
                                                       "x-scalegate-job-ids"};

bool unsafe(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != s.npos; }

}  // namespace

std::string deliveryRequest(const StoredRequest& request, std::string_view job_id,
                            uint32_t attempt) {
  std::string fields;
  fields.append("X-Scalegate-Job-Id: ").append(job_id).append("\r\n");
  fields.append("X-Scalegate-Attempt: ").append(std::to_string(attempt)).append("\r\n");
  return requestWithFields(request, fields);
}

std::string requestWithFields(const StoredRequest& request, std::string_view scalegate_fields) {
  // Every Connection field's tokens name more hop-by-hop fields (RFC 9110 7.6.1).
  std::vector<std::string_view> named;
  for (const HeaderLine& line : request.headers) {
    if (!equalsIgnoreCase(line.name, "connection")) continue;
    std::string_view rest = line.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view token = trimOws(rest.substr(0, comma));
      if (!token.empty()) named.push_back(token);
      rest = comma == rest.npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  auto dropped = [&](std::string_view name) {
    auto is = [&](std::string_view other) { return equalsIgnoreCase(name, other); };
    return std::any_of(kDropped.begin(), kDropped.end(), is) ||
           std::any_of(named.begin(), named.end(), is);
  };

  std::string out;
  size_t size = request.method.size() + request.target.size() + request.body.size() +
                scalegate_fields.size() + 64;
  for (const HeaderLine& line : request.headers) size += line.name.size() + line.value.size() + 4;
  out.reserve(size);
  out.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  for (const HeaderLine& line : request.headers) {
    if (dropped(line.name) || unsafe(line.name) || unsafe(line.value)) continue;
    out.append(line.name).append(": ").append(line.value).append("\r\n");
  }
  out.append(scalegate_fields);
  out.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n\r\n");
  out.append(request.body);
  return out;
}

ResponseCapture::ResponseCapture(uint64_t max_body, bool head_request)
    : max_body_(max_body), head_request_(head_request) {}

void ResponseCapture::append(std::string_view bytes) {
  while (!bytes.empty() && !failed_ && !body_done_ && !finished_) {
    if (head_done_) {
      feedBody(bytes);
      return;
    }
    // Copy no more than the head limit can use (+ the 4 bytes that may end it).
    size_t room = kMaxHeadSize + 4 - head_buffer_.size();
    size_t take = std::min(bytes.size(), room);
    head_buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    while (!failed_ && !head_done_ && parseHead()) {
    }
    if (!head_done_ && !failed_ && head_buffer_.size() >= kMaxHeadSize + 4) failed_ = true;
  }
}

// Parses the head in head_buffer_ once its end has arrived. Returns true when it consumed
// an interim head (and should look again at what follows).
bool ResponseCapture::parseHead() {
  size_t start = scan_from_ >= 3 ? scan_from_ - 3 : 0;
  size_t end = head_buffer_.find("\r\n\r\n", start);
  if (end == std::string::npos) {
    scan_from_ = head_buffer_.size();
    return false;
  }
  http::ResponseHead head;
  http::ParseError error = http::ParseError::kNone;
  http::ParseLimits limits{kMaxHeadSize, kMaxHeaders};
  auto status = http::parseResponseHead(head_buffer_, limits, head_request_, &head, &error);
  if (status != http::ParseStatus::kComplete) {
    // The head's end is there, so incomplete cannot be the parser's last word.
    failed_ = true;
    return false;
  }
  if (head.status >= 100 && head.status <= 199) {
    if (head.status == 101) {
      failed_ = true;
      return false;
    }
    head_buffer_.erase(0, head.head_length);
    scan_from_ = 0;
    return true;
  }
  result_.status = head.status;
  result_.headers.reserve(head.headers.size());
  for (const http::Header& h : head.headers) {
    result_.headers.push_back({std::string(h.name), std::string(h.value)});
  }
  body_kind_ = head.body;
  remaining_ = head.content_length;
  head_done_ = true;
  body_done_ = body_kind_ == http::BodyKind::kNone;
  std::string rest = head_buffer_.substr(head.head_length);
  head_buffer_ = std::string();  // frees the head's memory
  if (!rest.empty()) feedBody(rest);
  return false;
}

void ResponseCapture::feedBody(std::string_view bytes) {
  switch (body_kind_) {
    case http::BodyKind::kNone:
      return;
    case http::BodyKind::kContentLength: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
      keep(bytes.substr(0, n));
      remaining_ -= n;
      if (remaining_ == 0) body_done_ = true;
      return;
    }
    case http::BodyKind::kChunked:
      while (!bytes.empty() && !body_done_ && !failed_) {
        size_t consumed = 0;
        std::string_view payload;
        auto status = chunked_.feed(bytes, &consumed, &payload);
        keep(payload);
        bytes.remove_prefix(consumed);
        if (status == http::ChunkedDecoder::Status::kDone) body_done_ = true;
        if (status == http::ChunkedDecoder::Status::kError) failed_ = true;
      }
      return;
    case http::BodyKind::kUntilClose:
      keep(bytes);
      return;
  }
}

void ResponseCapture::keep(std::string_view decoded) {
  result_.body_size += decoded.size();
  if (result_.body_omitted) return;
  if (result_.body_size > max_body_) {
    result_.body_omitted = true;
    result_.body = std::string();
    return;
  }
  result_.body.append(decoded);
}

bool ResponseCapture::complete() const { return head_done_ && body_done_ && !failed_; }

std::optional<JobResult> ResponseCapture::finish() {
  if (finished_ || failed_ || !head_done_) return std::nullopt;
  if (!body_done_ && body_kind_ != http::BodyKind::kUntilClose) return std::nullopt;
  finished_ = true;
  body_done_ = true;
  return std::move(result_);
}

}  // namespace sg::queue
