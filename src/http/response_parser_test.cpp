// Response head parser tests: status line, RFC 9112 6.3 body length, keep-alive, upgrade.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/parser.h"

namespace sg::http {
namespace {

// Owns a heap copy of the input so the head's views stay valid however the test built it.
struct Parsed {
  std::shared_ptr<const std::string> input;
  ParseStatus status = ParseStatus::kError;
  ParseError error = ParseError::kNone;
  ResponseHead head;
};

Parsed parse(std::string_view in, bool head_request = false, ParseLimits limits = {}) {
  Parsed p;
  p.input = std::make_shared<const std::string>(in);
  p.status = parseResponseHead(*p.input, limits, head_request, &p.head, &p.error);
  return p;
}

TEST(ResponseParser, StatusLineShapes) {
  struct Case {
    std::string line;
    int status;
    std::string reason;
    int minor;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK", 200, "OK", 1},
      {"HTTP/1.0 404 Not Found", 404, "Not Found", 0},
      {"HTTP/1.1 200", 200, "", 1},
      {"HTTP/1.1 200 ", 200, "", 1},
      {"HTTP/1.1 503 Service\tUnavailable \xe2\x9c\x93", 503, "Service\tUnavailable \xe2\x9c\x93",
       1},
      {"HTTP/1.1 599 x", 599, "x", 1},
      {"HTTP/1.1 100 Continue", 100, "Continue", 1},
  };
  for (const Case& c : cases) {
    const std::string in = c.line + "\r\nContent-Length: 0\r\n\r\n";
    const Parsed p = parse(in);
    ASSERT_EQ(p.status, ParseStatus::kComplete) << c.line << " " << errorName(p.error);
    EXPECT_EQ(p.head.status, c.status);
    EXPECT_EQ(p.head.reason, c.reason);
    EXPECT_EQ(p.head.version_minor, c.minor);
    EXPECT_EQ(p.head.head_length, in.size());
    ASSERT_EQ(p.head.headers.size(), 1u);
    EXPECT_EQ(p.head.headers[0].kind, HeaderKind::kContentLength);
  }
}

TEST(ResponseParser, Rejections) {
  struct Case {
    std::string in;
    ParseError error;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 20 OK\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1 2000 OK\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1 099 Low\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1 600 High\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1  200 OK\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1 abc OK\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", ParseError::kBadStatusLine},
      {"http/1.1 200 OK\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/1.1.1 200 OK\r\n\r\n", ParseError::kBadStatusLine},
      {"ICY 200 OK\r\n\r\n", ParseError::kBadStatusLine},
      {"\r\nHTTP/1.1 200 OK\r\n\r\n", ParseError::kBadStatusLine},
      {"HTTP/2.0 200 OK\r\n\r\n", ParseError::kUnsupportedVersion},
      {"HTTP/1.1 200 OK\n\r\n", ParseError::kBareLineFeed},
      {"HTTP/1.1 200 O\rK\r\n\r\n", ParseError::kBareLineFeed},
      {"HTTP/1.1 200 OK\r\nA: 1\r\n b\r\n\r\n", ParseError::kObsFold},
      {"HTTP/1.1 200 OK\r\nA : 1\r\n\r\n", ParseError::kBadHeaderName},
      {"HTTP/1.1 200 OK\r\nA: \x7f\r\n\r\n", ParseError::kBadHeaderValue},
      {"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", ParseError::kBadContentLength},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       ParseError::kConflictingContentLength},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", ParseError::kConflictingContentLength},
      // Invalid Content-Length is an error even where it does not decide the framing.
      {"HTTP/1.1 204 No Content\r\nContent-Length: -1\r\n\r\n", ParseError::kBadContentLength},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1x\r\n\r\n",
       ParseError::kBadContentLength},
  };
  for (const Case& c : cases) {
    const Parsed p = parse(c.in);
    EXPECT_EQ(p.status, ParseStatus::kError) << testing::PrintToString(c.in);
    EXPECT_EQ(errorName(p.error), errorName(c.error)) << testing::PrintToString(c.in);
  }
}

TEST(ResponseParser, BodyLengthPerRfc9112Section6_3) {
  struct Case {
    std::string status_line;
    bool head_request;
    std::string headers;
    BodyKind body;
    uint64_t content_length;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK", false, "Content-Length: 10\r\n", BodyKind::kContentLength, 10, true},
      {"HTTP/1.1 200 OK", false, "Content-Length: 0\r\n", BodyKind::kNone, 0, true},
      {"HTTP/1.1 200 OK", false, "Content-Length: 3, 3\r\n", BodyKind::kContentLength, 3, true},
      {"HTTP/1.1 200 OK", false, "", BodyKind::kUntilClose, 0, false},
      {"HTTP/1.1 200 OK", false, "Transfer-Encoding: chunked\r\n", BodyKind::kChunked, 0, true},
      {"HTTP/1.1 200 OK", false, "Transfer-Encoding: Chunked\r\n", BodyKind::kChunked, 0, true},
      // TE + CL: TE wins, CL ignored, connection not reused.
      {"HTTP/1.1 200 OK", false, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
       BodyKind::kChunked, 0, false},
      {"HTTP/1.1 204 No Content", false, "", BodyKind::kNone, 0, true},
      {"HTTP/1.1 204 No Content", false, "Transfer-Encoding: chunked\r\n", BodyKind::kNone, 0,
       true},
      {"HTTP/1.1 304 Not Modified", false, "Content-Length: 100\r\n", BodyKind::kNone, 0, true},
      {"HTTP/1.1 200 OK", true, "Content-Length: 100\r\n", BodyKind::kNone, 0, true},
      {"HTTP/1.1 200 OK", true, "Transfer-Encoding: chunked\r\n", BodyKind::kNone, 0, true},
      {"HTTP/1.1 200 OK", true, "", BodyKind::kNone, 0, true},
      {"HTTP/1.1 100 Continue", false, "", BodyKind::kNone, 0, true},
      {"HTTP/1.1 103 Early Hints", false, "Link: </a.css>\r\n", BodyKind::kNone, 0, true},
      {"HTTP/1.1 200 OK", false, "Content-Length: 5\r\nConnection: close\r\n",
       BodyKind::kContentLength, 5, false},
      {"HTTP/1.0 200 OK", false, "Content-Length: 5\r\n", BodyKind::kContentLength, 5, false},
      {"HTTP/1.0 200 OK", false, "Content-Length: 5\r\nConnection: Keep-Alive\r\n",
       BodyKind::kContentLength, 5, true},
      {"HTTP/1.0 200 OK", false, "", BodyKind::kUntilClose, 0, false},
      {"HTTP/1.0 200 OK", false, "Connection: keep-alive\r\n", BodyKind::kUntilClose, 0, false},
  };
  for (const Case& c : cases) {
    const std::string in = c.status_line + "\r\n" + c.headers + "\r\n";
    const Parsed p = parse(in, c.head_request);
    ASSERT_EQ(p.status, ParseStatus::kComplete) << in << errorName(p.error);
    EXPECT_EQ(p.head.body, c.body) << in << "HEAD=" << c.head_request;
    EXPECT_EQ(p.head.content_length, c.content_length) << in;
    EXPECT_EQ(p.head.keep_alive, c.keep_alive) << in;
    const bool te_and_cl = c.headers.find("Transfer-Encoding") != std::string::npos &&
                           c.headers.find("Content-Length") != std::string::npos;
    EXPECT_EQ(p.head.content_length_ignored, te_and_cl) << in;
  }
}

// The gateway drops Transfer-Encoding and frames the body itself, so a coding other than
// chunked would reach the client applied but undeclared: such responses are refused (502).
TEST(ResponseParser, TransferEncodingOtherThanExactlyChunkedIsRefused) {
  const std::vector<std::string> cases = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
      // HTTP/1.0 has no Transfer-Encoding (RFC 9112 6.1).
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      // Refused whatever the status: the field would still be dropped undeclared.
      "HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
  };
  for (const std::string& in : cases) {
    const Parsed p = parse(in);
    EXPECT_EQ(p.status, ParseStatus::kError) << testing::PrintToString(in);
    EXPECT_EQ(errorName(p.error), errorName(ParseError::kBadTransferEncoding))
        << testing::PrintToString(in);
  }
  EXPECT_EQ(parse(cases[0], /*head_request=*/true).status, ParseStatus::kError);
}

// One Content-Length value however the upstream wrote it, also where it does not frame the body.
TEST(ResponseParser, DeclaredContentLengthIsTheOneValue) {
  struct Case {
    std::string in;
    bool head_request;
    bool has;
    uint64_t declared;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", false, true, 3},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\n", false, true, 3},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, true, 0},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10, 10\r\n\r\n", true, true, 10},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 07\r\n\r\n", false, true, 7},
      {"HTTP/1.1 200 OK\r\n\r\n", false, false, 0},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", false, false,
       0},
  };
  for (const Case& c : cases) {
    const Parsed p = parse(c.in, c.head_request);
    ASSERT_EQ(p.status, ParseStatus::kComplete) << c.in << errorName(p.error);
    EXPECT_EQ(p.head.has_content_length, c.has) << c.in;
    EXPECT_EQ(p.head.declared_length, c.declared) << c.in;
  }
}

TEST(ResponseParser, SwitchingProtocolsUpgrade) {
  Parsed p = parse(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_TRUE(p.head.upgrade);
  EXPECT_EQ(p.head.body, BodyKind::kNone);
  EXPECT_TRUE(p.head.connection_tokens.empty());
  p = parse("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.upgrade);  // no Upgrade header naming the protocol
  p = parse("HTTP/1.1 200 OK\r\nConnection: x-a, X-B\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.upgrade);
  ASSERT_EQ(p.head.connection_tokens.size(), 2u);
  EXPECT_EQ(p.head.connection_tokens[1], "X-B");
}

TEST(ResponseParser, InterimThenFinalResponseInOneBuffer) {
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final_head = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n";
  const std::string buf = interim + final_head + "ok";
  Parsed p = parse(buf);
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.status, 100);
  EXPECT_EQ(p.head.head_length, interim.size());
  p = parse(std::string_view(buf).substr(p.head.head_length));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.status, 201);
  EXPECT_EQ(p.head.body, BodyKind::kContentLength);
  EXPECT_EQ(interim.size() + p.head.head_length + p.head.content_length, buf.size());
}

TEST(ResponseParser, EveryPrefixIsIncomplete) {
  const std::string in =
      "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
      "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
  for (size_t len = 0; len < in.size(); ++len) {
    const Parsed p = parse(std::string_view(in).substr(0, len));
    ASSERT_EQ(p.status, ParseStatus::kIncomplete) << len;
  }
  const Parsed p = parse(in + "1\r\n");
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.head_length, in.size());
  EXPECT_EQ(p.head.body, BodyKind::kChunked);
}

TEST(ResponseParser, Limits) {
  ParseLimits limits;
  limits.max_headers = 2;
  Parsed p = parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", false, limits);
  EXPECT_EQ(p.error, ParseError::kTooManyHeaders);
  limits = {};
  limits.max_head_size = 32;
  p = parse("HTTP/1.1 200 OK\r\nServer: a-long-server-name\r\n\r\n", false, limits);
  EXPECT_EQ(p.error, ParseError::kHeadTooLarge);
  p = parse("HTTP/1.1 200 OK\r\nServer: a-lo", false, limits);
  EXPECT_EQ(p.status, ParseStatus::kIncomplete);
}

}  // namespace
}  // namespace sg::http
