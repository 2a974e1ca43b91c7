#include "queue/delivery_request.h"

#include <gtest/gtest.h>

#include <string>

namespace sg::queue {
namespace {

const std::string kId = "00000000000100112233445566778899aabbccddeeff";

TEST(DeliveryRequest, LineHeadersAndBody) {
  StoredRequest r;
  r.method = "POST";
  r.target = "/api/orders?x=1";
  r.headers = {{"Host", "shop.example"}, {"Content-Type", "application/json"}, {"X-A", "1"}};
  r.body = "{\"a\":1}";
  EXPECT_EQ(deliveryRequest(r, kId, 2),
            "POST /api/orders?x=1 HTTP/1.1\r\n"
            "Host: shop.example\r\n"
            "Content-Type: application/json\r\n"
            "X-A: 1\r\n"
            "X-Scalegate-Job-Id: " +
                kId +
                "\r\n"
                "X-Scalegate-Attempt: 2\r\n"
                "Content-Length: 7\r\n"
                "\r\n"
                "{\"a\":1}");
}

TEST(DeliveryRequest, EmptyBodyStillHasContentLengthAndNoHostIsAdded) {
  StoredRequest r;
  r.method = "DELETE";
  r.target = "/x";
  EXPECT_EQ(deliveryRequest(r, kId, 1),
            "DELETE /x HTTP/1.1\r\nX-Scalegate-Job-Id: " + kId +
                "\r\nX-Scalegate-Attempt: 1\r\nContent-Length: 0\r\n\r\n");
}

TEST(DeliveryRequest, HopByHopFieldsAreStripped) {
  StoredRequest r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"Host", "a"},
               {"connection", "keep-alive, X-Secret ,,Upgrade"},
               {"Keep-Alive", "timeout=5"},
               {"Proxy-Connection", "keep-alive"},
               {"TE", "trailers"},
               {"Trailer", "X-T"},
               {"Transfer-Encoding", "chunked"},
               {"UPGRADE", "websocket"},
               {"Expect", "100-continue"},
               {"Content-Length", "999"},
               {"x-secret", "named by Connection"},
               {"X-Kept", "yes"},
               {"Connection", "x-other"},
               {"X-OTHER", "named by the second Connection field"}};
  r.body = "abc";
  EXPECT_EQ(deliveryRequest(r, kId, 1),
            "POST / HTTP/1.1\r\nHost: a\r\nX-Kept: yes\r\n"
            "X-Scalegate-Job-Id: " +
                kId +
                "\r\nX-Scalegate-Attempt: 1\r\nContent-Length: "
                "3\r\n\r\nabc");
}

TEST(DeliveryRequest, ClientSentScalegateFieldsAreDropped) {
  StoredRequest r;
  r.method = "PUT";
  r.target = "/j";
  r.headers = {{"x-scalegate-job-id", "forged"},
               {"X-Scalegate-Attempt", "forged-99"},
               {"X-SCALEGATE-ATTEMPT", "forged-98"},
               {"X-Scalegate-Other", "kept"}};
  std::string out = deliveryRequest(r, kId, 3);
  EXPECT_EQ(out.find("forged"), std::string::npos);
  EXPECT_EQ(out, "PUT /j HTTP/1.1\r\nX-Scalegate-Other: kept\r\nX-Scalegate-Job-Id: " + kId +
                     "\r\nX-Scalegate-Attempt: 3\r\nContent-Length: 0\r\n\r\n");
}

TEST(DeliveryRequest, DuplicatesAndOrderAreKeptAndLineBreaksDropped) {
  StoredRequest r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"B", "1"}, {"A", "2"}, {"B", "3"}, {"Evil", "x\r\nInjected: 1"}, {"Ba\nd", "v"}};
  EXPECT_EQ(deliveryRequest(r, kId, 1),
            "POST / HTTP/1.1\r\nB: 1\r\nA: 2\r\nB: 3\r\nX-Scalegate-Job-Id: " + kId +
                "\r\nX-Scalegate-Attempt: 1\r\nContent-Length: 0\r\n\r\n");
}

// Feeds `wire` to a capture in pieces of `piece` bytes.
ResponseCapture captured(std::string_view wire, size_t piece, uint64_t max_body = 1 << 20,
                         bool head = false) {
  ResponseCapture capture(max_body, head);
  for (size_t i = 0; i < wire.size(); i += piece) capture.append(wire.substr(i, piece));
  return capture;
}

TEST(ResponseCapture, ContentLengthInOneBytePieces) {
  const std::string wire =
      "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Dup: a\r\nx-dup: b\r\n"
      "Content-Length: 5\r\n\r\nhello";
  for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, wire.size()}) {
    ResponseCapture capture(1 << 20);
    for (size_t i = 0; i < wire.size(); i += piece) {
      EXPECT_FALSE(capture.complete());
      capture.append(std::string_view(wire).substr(i, piece));
    }
    EXPECT_TRUE(capture.complete()) << piece;
    EXPECT_EQ(capture.status(), 201);
    auto result = capture.finish();
    ASSERT_TRUE(result.has_value()) << piece;
    EXPECT_EQ(result->status, 201);
    EXPECT_EQ(result->body, "hello");
    EXPECT_EQ(result->body_size, 5u);
    EXPECT_FALSE(result->body_omitted);
    std::vector<HeaderLine> want = {
        {"Content-Type", "text/plain"}, {"X-Dup", "a"}, {"x-dup", "b"}, {"Content-Length", "5"}};
    EXPECT_EQ(result->headers, want);
    EXPECT_FALSE(capture.finish().has_value());  // given once
  }
}

TEST(ResponseCapture, StatusIsZeroUntilTheHeadIsParsed) {
  ResponseCapture capture(100);
  capture.append("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
  EXPECT_EQ(capture.status(), 0);
  capture.append("\r\n");
  EXPECT_EQ(capture.status(), 200);
  EXPECT_FALSE(capture.complete());
  capture.append("ok");
  EXPECT_TRUE(capture.complete());
}

TEST(ResponseCapture, ChunkedWithExtensionsAndTrailers) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value;x=\"q\"\r\nhello\r\n"
      "1\r\n \r\n"
      "5 ;ext\r\nworld\r\n"
      "0;last=1\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n";
  for (size_t piece : {size_t{1}, size_t{3}, wire.size()}) {
    auto capture = captured(wire, piece);
    EXPECT_TRUE(capture.complete()) << piece;
    auto result = capture.finish();
    ASSERT_TRUE(result.has_value()) << piece;
    EXPECT_EQ(result->body, "hello world");
    EXPECT_EQ(result->body_size, 11u);
    ASSERT_EQ(result->headers.size(), 1u);  // trailers are not headers
    EXPECT_EQ(result->headers[0].name, "Transfer-Encoding");
  }
}

TEST(ResponseCapture, ChunkedCutShortGivesNothing) {
  auto capture = captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 1);
  EXPECT_FALSE(capture.complete());
  EXPECT_EQ(capture.status(), 200);
  EXPECT_FALSE(capture.finish().has_value());
}

TEST(ResponseCapture, BadChunkFramingFails) {
  auto capture = captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1);
  EXPECT_TRUE(capture.failed());
  EXPECT_FALSE(capture.finish().has_value());
}

TEST(ResponseCapture, InterimHeadsAreSkipped) {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (size_t piece : {size_t{1}, size_t{5}, wire.size()}) {
    auto capture = captured(wire, piece);
    EXPECT_TRUE(capture.complete()) << piece;
    EXPECT_EQ(capture.status(), 200);
    auto result = capture.finish();
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->body, "ok");
    std::vector<HeaderLine> want = {{"Content-Length", "2"}};
    EXPECT_EQ(result->headers, want);
  }
}

TEST(ResponseCapture, OnlyAnInterimHeadIsNothing) {
  auto capture = captured("HTTP/1.1 100 Continue\r\n\r\n", 1);
  EXPECT_EQ(capture.status(), 0);
  EXPECT_FALSE(capture.finish().has_value());
}

TEST(ResponseCapture, SwitchingProtocolsFails) {
  auto capture = captured("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 4);
  EXPECT_TRUE(capture.failed());
  EXPECT_FALSE(capture.finish().has_value());
}

TEST(ResponseCapture, ContentLengthCutShortGivesNothing) {
  auto capture = captured("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 1);
  EXPECT_FALSE(capture.complete());
  EXPECT_FALSE(capture.finish().has_value());
}

TEST(ResponseCapture, NoHeadOrPartHeadGivesNothing) {
  EXPECT_FALSE(captured("", 1).finish().has_value());
  EXPECT_FALSE(captured("HTTP/1.1 200 OK\r\nContent-Le", 1).finish().has_value());
}

TEST(ResponseCapture, MalformedHeadFails) {
  auto capture = captured("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 1);
  EXPECT_TRUE(capture.failed());
  EXPECT_FALSE(capture.finish().has_value());
  EXPECT_TRUE(captured("garbage\r\n\r\n", 3).failed());
}

TEST(ResponseCapture, OversizedHeadFails) {
  std::string wire = "HTTP/1.1 200 OK\r\n";
  while (wire.size() < ResponseCapture::kMaxHeadSize + 100)
    wire += "X-Filler: 0123456789abcdef\r\n";
  wire += "\r\n";
  EXPECT_TRUE(captured(wire, 4096).failed());
  EXPECT_TRUE(captured(wire, wire.size()).failed());
}

TEST(ResponseCapture, HeadResponseWithContentLengthHasNoBody) {
  auto capture = captured("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 1, 1 << 20, true);
  EXPECT_TRUE(capture.complete());
  auto result = capture.finish();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "");
  EXPECT_EQ(result->body_size, 0u);
  std::vector<HeaderLine> want = {{"Content-Length", "1234"}};
  EXPECT_EQ(result->headers, want);
}

TEST(ResponseCapture, NoBodyStatuses) {
  auto capture = captured("HTTP/1.1 204 No Content\r\n\r\n", 1);
  EXPECT_TRUE(capture.complete());
  auto result = capture.finish();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 204);
}

TEST(ResponseCapture, BodyUntilTheEndOfTheStream) {
  auto capture = captured("HTTP/1.0 200 OK\r\n\r\nstreamed body", 2);
  EXPECT_FALSE(capture.complete());
  auto result = capture.finish();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->body, "streamed body");
  EXPECT_EQ(result->body_size, 13u);
}

TEST(ResponseCapture, OversizedBodyIsOmittedWithItsSize) {
  std::string body(10000, 'x');
  const std::string wire = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 10000\r\n\r\n" + body;
  auto capture = captured(wire, 333, 4096);
  EXPECT_TRUE(capture.complete());
  auto result = capture.finish();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 502);
  EXPECT_TRUE(result->body_omitted);
  EXPECT_EQ(result->body, "");
  EXPECT_EQ(result->body_size, 10000u);

  // Exactly max_body is kept; chunked counts decoded bytes.
  auto exact = captured(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n",
      1, 7);
  auto kept = exact.finish();
  ASSERT_TRUE(kept.has_value());
  EXPECT_FALSE(kept->body_omitted);
  EXPECT_EQ(kept->body, "abcdefg");
  auto over = captured(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n",
      1, 6);
  auto omitted = over.finish();
  ASSERT_TRUE(omitted.has_value());
  EXPECT_TRUE(omitted->body_omitted);
  EXPECT_EQ(omitted->body, "");
  EXPECT_EQ(omitted->body_size, 7u);
}

TEST(ResponseCapture, BytesAfterTheResponseAreIgnored) {
  auto capture =
      captured("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 X\r\n\r\n", 1);
  auto result = capture.finish();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "ok");
}

}  // namespace
}  // namespace sg::queue
