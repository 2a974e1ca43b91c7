#include "proxy/body_framer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

namespace sg::proxy {
namespace {

using Result = BodyFramer::Result;

void append(net::Buffer* buffer, std::string_view bytes) {
  buffer->reserve(bytes.size(), 1 << 20);
  ASSERT_GE(buffer->writable(), bytes.size());
  std::memcpy(buffer->writePtr(), bytes.data(), bytes.size());
  buffer->commit(bytes.size());
}

std::string contents(const net::Buffer& buffer) { return std::string(buffer.view()); }

constexpr std::string_view kChunkedBody =
    "5\r\nhello\r\n"
    "1;name=value\r\n \r\n"
    "10\r\n0123456789abcdef\r\n"
    "0\r\n"
    "X-Trailer: yes\r\n"
    "\r\n";
constexpr std::string_view kChunkedPayload = "hello 0123456789abcdef";
constexpr std::string_view kNextRequest = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

TEST(BodyFramer, DoneBeforeStart) {
  BodyFramer framer;
  EXPECT_TRUE(framer.done());
  EXPECT_EQ(framer.kind(), http::BodyKind::kNone);
}

TEST(BodyFramer, NoBodyIsDoneAtOnce) {
  BodyFramer framer;
  framer.start(http::BodyKind::kNone, 0, false);
  EXPECT_TRUE(framer.done());
  net::Buffer buffer(64);
  append(&buffer, kNextRequest);
  size_t body = 99;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(body, 0u);
  EXPECT_EQ(contents(buffer), kNextRequest);
  EXPECT_EQ(framer.payloadBytes(), 0u);
}

TEST(BodyFramer, ZeroContentLengthIsDoneAtOnce) {
  BodyFramer framer;
  framer.start(http::BodyKind::kContentLength, 0, false);
  EXPECT_TRUE(framer.done());
}

TEST(BodyFramer, ContentLengthExact) {
  BodyFramer framer;
  framer.start(http::BodyKind::kContentLength, 5, false);
  EXPECT_FALSE(framer.done());
  net::Buffer buffer(64);
  append(&buffer, "hello");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(body, 5u);
  EXPECT_TRUE(framer.done());
  EXPECT_EQ(framer.payloadBytes(), 5u);
  EXPECT_EQ(contents(buffer), "hello");
}

TEST(BodyFramer, ContentLengthStopsAtEndLeavingPipelinedBytes) {
  BodyFramer framer;
  framer.start(http::BodyKind::kContentLength, 5, false);
  net::Buffer buffer(128);
  std::string bytes = "HEAD-hello" + std::string(kNextRequest);
  append(&buffer, bytes);
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 5, &body), Result::kDone);  // body starts after "HEAD-"
  EXPECT_EQ(body, 5u);
  EXPECT_EQ(contents(buffer), bytes);
  // Once done, further scans take nothing.
  EXPECT_EQ(framer.scan(&buffer, 10, &body), Result::kDone);
  EXPECT_EQ(body, 0u);
  EXPECT_EQ(framer.payloadBytes(), 5u);
}

TEST(BodyFramer, ContentLengthOverSeveralBuffers) {
  BodyFramer framer;
  framer.start(http::BodyKind::kContentLength, 10, false);
  net::Buffer buffer(64);
  size_t body = 0;

  append(&buffer, "012");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(body, 3u);
  EXPECT_FALSE(framer.done());
  buffer.consume(body);

  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);  // nothing new
  EXPECT_EQ(body, 0u);

  append(&buffer, "3456");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(body, 4u);
  buffer.consume(body);

  append(&buffer, "789XYZ");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(body, 3u);
  EXPECT_EQ(contents(buffer), "789XYZ");
  EXPECT_EQ(framer.payloadBytes(), 10u);
  EXPECT_TRUE(framer.finishOnEof());  // done stays done
}

TEST(BodyFramer, ContentLengthEofBeforeEndIsNotProperEnd) {
  BodyFramer framer;
  framer.start(http::BodyKind::kContentLength, 10, false);
  net::Buffer buffer(64);
  append(&buffer, "0123");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_FALSE(framer.finishOnEof());
  EXPECT_FALSE(framer.done());
}

TEST(BodyFramer, ChunkedPassThroughStopsExactlyAtEnd) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(256);
  std::string bytes = std::string(kChunkedBody) + std::string(kNextRequest);
  append(&buffer, bytes);
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(body, kChunkedBody.size());
  EXPECT_TRUE(framer.done());
  EXPECT_EQ(contents(buffer), bytes);  // framing kept, next request untouched
  EXPECT_EQ(framer.payloadBytes(), kChunkedPayload.size());
}

TEST(BodyFramer, ChunkedPassThroughFromOffset) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(256);
  std::string bytes = "xyz" + std::string(kChunkedBody) + std::string(kNextRequest);
  append(&buffer, bytes);
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 3, &body), Result::kDone);
  EXPECT_EQ(body, kChunkedBody.size());
  EXPECT_EQ(contents(buffer), bytes);
}

// Feeds `input` split at `cut` (and the rest), consuming forwarded body bytes each time as
// a proxy would. Returns the concatenation of the body bytes handed out; *rest gets what
// stays in the buffer.
std::string feedSplit(BodyFramer* framer, std::string_view input, size_t cut, Result* last,
                      std::string* rest) {
  net::Buffer buffer(512);
  std::string forwarded;
  *last = Result::kMore;
  for (std::string_view piece : {input.substr(0, cut), input.substr(cut)}) {
    append(&buffer, piece);
    size_t body = 0;
    *last = framer->scan(&buffer, 0, &body);
    if (*last == Result::kError) break;
    forwarded.append(buffer.data(), body);
    buffer.consume(body);
    if (*last == Result::kDone) break;
  }
  *rest = contents(buffer);
  return forwarded;
}

TEST(BodyFramer, ChunkedPassThroughAnySplit) {
  std::string input = std::string(kChunkedBody) + std::string(kNextRequest);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    BodyFramer framer;
    framer.start(http::BodyKind::kChunked, 0, false);
    Result last;
    std::string rest;
    std::string forwarded = feedSplit(&framer, input, cut, &last, &rest);
    ASSERT_EQ(last, Result::kDone) << "cut " << cut;
    EXPECT_EQ(forwarded, kChunkedBody) << "cut " << cut;
    EXPECT_EQ(framer.payloadBytes(), kChunkedPayload.size()) << "cut " << cut;
    // Bytes of the second piece past the body stay in the buffer.
    if (cut < kChunkedBody.size()) {
      EXPECT_EQ(rest, kNextRequest) << "cut " << cut;
    } else {  // done with the first piece; the second was never read
      EXPECT_EQ(rest, input.substr(kChunkedBody.size(), cut - kChunkedBody.size())) << cut;
    }
  }
}

// Dechunking: the buffer is rewritten in place so only payload precedes the next message.
// Every split point of the input, pieces appended to one buffer without consuming.
TEST(BodyFramer, DechunkLeavesOnlyPayloadForEverySplit) {
  std::string input = std::string(kChunkedBody) + std::string(kNextRequest);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    SCOPED_TRACE("cut " + std::to_string(cut));
    BodyFramer framer;
    framer.start(http::BodyKind::kChunked, 0, true);
    net::Buffer buffer(512);
    size_t offset = 0;  // payload bytes kept at the front of the buffer so far
    Result result = Result::kMore;
    for (std::string_view piece : {std::string_view(input).substr(0, cut),
                                   std::string_view(input).substr(cut)}) {
      if (result == Result::kDone) {
        append(&buffer, piece);
        continue;
      }
      append(&buffer, piece);
      size_t body = 0;
      result = framer.scan(&buffer, offset, &body);
      ASSERT_NE(result, Result::kError);
      offset += body;
      EXPECT_EQ(contents(buffer).substr(0, offset), kChunkedPayload.substr(0, offset));
    }
    ASSERT_EQ(result, Result::kDone);
    EXPECT_EQ(offset, kChunkedPayload.size());
    EXPECT_EQ(contents(buffer), std::string(kChunkedPayload) + std::string(kNextRequest));
    EXPECT_EQ(framer.payloadBytes(), kChunkedPayload.size());
  }
}

// Byte by byte: each scan sees exactly one new byte.
TEST(BodyFramer, DechunkByteByByte) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, true);
  net::Buffer buffer(512);
  std::string forwarded;
  Result result = Result::kMore;
  size_t fed = 0;
  for (; fed < kChunkedBody.size() && result != Result::kDone; ++fed) {
    append(&buffer, kChunkedBody.substr(fed, 1));
    size_t body = 0;
    result = framer.scan(&buffer, 0, &body);
    ASSERT_NE(result, Result::kError) << fed;
    forwarded.append(buffer.data(), body);
    buffer.consume(body);
    EXPECT_TRUE(buffer.empty()) << fed;  // framing bytes were erased, payload consumed
  }
  EXPECT_EQ(result, Result::kDone);
  EXPECT_EQ(fed, kChunkedBody.size());  // done exactly at the last byte
  EXPECT_EQ(forwarded, kChunkedPayload);
  EXPECT_EQ(framer.payloadBytes(), kChunkedPayload.size());
}

TEST(BodyFramer, DechunkFromOffsetKeepsBytesBefore) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, true);
  net::Buffer buffer(256);
  append(&buffer, "HEAD");
  append(&buffer, "3\r\nabc\r\n0\r\n\r\n");
  append(&buffer, kNextRequest);
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 4, &body), Result::kDone);
  EXPECT_EQ(body, 3u);
  EXPECT_EQ(contents(buffer), "HEADabc" + std::string(kNextRequest));
}

TEST(BodyFramer, DechunkOnlyAppliesToChunked) {
  BodyFramer framer;
  framer.start(http::BodyKind::kContentLength, 4, true);
  net::Buffer buffer(64);
  append(&buffer, "4\r\nab");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(body, 4u);
  EXPECT_EQ(contents(buffer), "4\r\nab");
}

TEST(BodyFramer, BadChunkSizeIsError) {
  for (bool dechunk : {false, true}) {
    BodyFramer framer;
    framer.start(http::BodyKind::kChunked, 0, dechunk);
    net::Buffer buffer(64);
    append(&buffer, "zz\r\nhello\r\n0\r\n\r\n");
    size_t body = 0;
    EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kError) << dechunk;
    EXPECT_FALSE(framer.done());
  }
}

TEST(BodyFramer, MissingCrlfAfterChunkDataIsError) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(64);
  append(&buffer, "3\r\nabc");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(body, 6u);
  buffer.consume(body);
  append(&buffer, "Xd\r\n");  // chunk data longer than its size
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kError);
}

TEST(BodyFramer, BareLfInChunkedIsError) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(64);
  append(&buffer, "3\nabc\r\n0\r\n\r\n");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kError);
}

TEST(BodyFramer, ChunkedEofBeforeEndIsNotProperEnd) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(64);
  append(&buffer, "3\r\nabc\r\n");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_FALSE(framer.finishOnEof());
}

TEST(BodyFramer, UntilCloseNeverDoneUntilEof) {
  BodyFramer framer;
  framer.start(http::BodyKind::kUntilClose, 0, false);
  EXPECT_FALSE(framer.done());
  net::Buffer buffer(64);
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(body, 0u);
  append(&buffer, "0\r\n\r\nlooks like an end");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(body, buffer.size());
  EXPECT_FALSE(framer.done());
  buffer.consume(body);
  append(&buffer, "more");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(body, 4u);
  EXPECT_FALSE(framer.done());
  EXPECT_TRUE(framer.finishOnEof());
  EXPECT_TRUE(framer.done());
  EXPECT_EQ(framer.payloadBytes(), 22u + 4u);
}

TEST(BodyFramer, PayloadBytesCountsPayloadOnly) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(128);
  append(&buffer, "a\r\n0123456789\r\n");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(framer.payloadBytes(), 10u);
  buffer.consume(body);
  append(&buffer, "2;ext\r\nab\r\n0\r\n\r\n");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(framer.payloadBytes(), 12u);
}

// A body limit must count what crosses the wire: chunk sizes, extensions and trailers too.
TEST(BodyFramer, WireBytesCountChunkFraming) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(128);
  append(&buffer, "a\r\n0123456789\r\n");
  size_t body = 0;
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kMore);
  EXPECT_EQ(framer.wireBytes(), 15u);
  buffer.consume(body);
  append(&buffer, "2;ext\r\nab\r\n0\r\nT: v\r\n\r\n");
  append(&buffer, kNextRequest);
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(framer.wireBytes(), 15u + 22u);  // not the pipelined request after the body
  EXPECT_EQ(framer.payloadBytes(), 12u);
  // Dechunking in place does not change what was received.
  framer.start(http::BodyKind::kChunked, 0, true);
  buffer.clear();
  append(&buffer, kChunkedBody);
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(framer.wireBytes(), kChunkedBody.size());
  EXPECT_EQ(contents(buffer), kChunkedPayload);
  // Content-Length bodies: wire bytes are the payload.
  framer.start(http::BodyKind::kContentLength, 4, false);
  EXPECT_EQ(framer.wireBytes(), 0u);
  buffer.clear();
  append(&buffer, "abcdef");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(framer.wireBytes(), 4u);
}

TEST(BodyFramer, StartResetsState) {
  BodyFramer framer;
  framer.start(http::BodyKind::kChunked, 0, false);
  net::Buffer buffer(128);
  append(&buffer, "zz");
  size_t body = 0;
  ASSERT_EQ(framer.scan(&buffer, 0, &body), Result::kError);
  buffer.clear();
  // A new message after an error (or a finished one) starts clean.
  framer.start(http::BodyKind::kChunked, 0, false);
  append(&buffer, "1\r\nx\r\n0\r\n\r\n");
  EXPECT_EQ(framer.scan(&buffer, 0, &body), Result::kDone);
  EXPECT_EQ(body, 11u);
  EXPECT_EQ(framer.payloadBytes(), 1u);
  framer.start(http::BodyKind::kContentLength, 3, false);
  EXPECT_FALSE(framer.done());
  EXPECT_EQ(framer.payloadBytes(), 0u);
}

}  // namespace
}  // namespace sg::proxy
