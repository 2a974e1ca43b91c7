// Every deliberate difference between scalegate's request parser and llhttp in strict mode
// (docs/parser-differences.md), one example each, as what both parsers say about it. The
// differential fuzzer (request_differential_fuzz.cpp) skips these classes; this test keeps the
// list true: if either parser changes its mind, the document and the fuzzer need a look.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/llhttp_reference.h"
#include "http/parser.h"

namespace sg::http {
namespace {

using reference::LlhttpHead;
using Verdict = LlhttpHead::Verdict;

struct Difference {
  std::string name;
  std::string input;
  ParseError scalegate;  // kNone: accepted
  Verdict llhttp;
};

struct Both {
  std::unique_ptr<const std::string> input;  // the views point into it
  ParseStatus status;
  ParseError error;
  RequestHead head;
  LlhttpHead ll;
};

Both parseBoth(const std::string& in) {
  Both b;
  b.input = std::make_unique<const std::string>(in);
  b.error = ParseError::kNone;
  b.status = parseRequestHead(*b.input, ParseLimits{}, &b.head, &b.error);
  b.ll = reference::parseRequestWithLlhttp(*b.input);
  return b;
}

void expectVerdicts(const std::vector<Difference>& cases) {
  for (const Difference& d : cases) {
    const Both b = parseBoth(d.input);
    const ParseStatus want =
        d.scalegate == ParseError::kNone ? ParseStatus::kComplete : ParseStatus::kError;
    EXPECT_EQ(b.status, want) << d.name << ": " << errorName(b.error);
    EXPECT_EQ(errorName(b.error), errorName(d.scalegate)) << d.name;
    EXPECT_EQ(static_cast<int>(b.ll.verdict), static_cast<int>(d.llhttp))
        << d.name << ": llhttp " << b.ll.error_name << " " << b.ll.error_reason;
  }
}

TEST(ParserDifferences, ScalegateRejectsWhatLlhttpAccepts) {
  const std::string host = "Host: h\r\n";
  expectVerdicts({
      {"bare LF before the request line", "\nGET / HTTP/1.1\r\n" + host + "\r\n",
       ParseError::kBareLineFeed, Verdict::kComplete},
      {"bare LF after a version-less request line", "GET http://e\n\n", ParseError::kBareLineFeed,
       Verdict::kComplete},
      {"bare CR before the request line", "\r\n\rGET / HTTP/1.1\r\n" + host + "\r\n",
       ParseError::kBareLineFeed, Verdict::kComplete},
      {"several SP", "POST   / HTTP/1.1\r\n" + host + "\r\n", ParseError::kBadRequestLine,
       Verdict::kComplete},
      {"no version", "GET /\r\n" + host + "\r\n", ParseError::kBadRequestLine, Verdict::kComplete},
      {"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", ParseError::kUnsupportedVersion,
       Verdict::kComplete},
      {"RTSP", "GET / RTSP/1.0\r\n" + host + "\r\n", ParseError::kBadVersion, Verdict::kComplete},
      {"obs-fold", "GET / HTTP/1.1\r\n" + host + "X: a\r\n b\r\n\r\n", ParseError::kObsFold,
       Verdict::kComplete},
      {"empty field name", "GET / HTTP/1.1\r\n" + host + ": x\r\n\r\n", ParseError::kBadHeaderName,
       Verdict::kComplete},
      {"no Host", "GET / HTTP/1.1\r\n\r\n", ParseError::kMissingHost, Verdict::kComplete},
      {"two Host", "GET / HTTP/1.1\r\n" + host + host + "\r\n", ParseError::kMissingHost,
       Verdict::kComplete},
      {"Host with SP", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ParseError::kBadHeaderValue,
       Verdict::kComplete},
      {"other scheme", "GET htpt://x/ HTTP/1.1\r\n" + host + "\r\n", ParseError::kBadTarget,
       Verdict::kComplete},
      {"userinfo", "GET http://u@x/ HTTP/1.1\r\n\r\n", ParseError::kBadTarget, Verdict::kComplete},
      {"GET *", "GET * HTTP/1.1\r\n" + host + "\r\n", ParseError::kBadTarget, Verdict::kComplete},
      {"authority-form CONNECT", "CONNECT h:443 HTTP/1.1\r\n" + host + "\r\n",
       ParseError::kBadTarget, Verdict::kComplete},
      {"gzip, chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n",
       ParseError::kBadTransferEncoding, Verdict::kComplete},
      {"empty Transfer-Encoding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n\r\n",
       ParseError::kBadTransferEncoding, Verdict::kComplete},
      {"Transfer-Encoding in HTTP/1.0",
       "POST / HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n",
       ParseError::kBadTransferEncoding, Verdict::kComplete},
      {"Content-Length of 2^63",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 9223372036854775808\r\n\r\n",
       ParseError::kBadContentLength, Verdict::kComplete},
  });
}

TEST(ParserDifferences, LimitsLlhttpDoesNotHave) {
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 100; ++i) many += "X: 1\r\n";
  std::string large = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(16 * 1024, 'a') + "\r\n";
  expectVerdicts({
      {"101 fields", many + "\r\n", ParseError::kTooManyHeaders, Verdict::kComplete},
      {"head over 16 KiB", large + "\r\n", ParseError::kHeadTooLarge, Verdict::kComplete},
  });
}

TEST(ParserDifferences, ScalegateAcceptsWhatLlhttpRejects) {
  const std::string host = "Host: h\r\n";
  expectVerdicts({
      {"extension method", "POS-T / HTTP/1.1\r\n" + host + "\r\n", ParseError::kNone,
       Verdict::kError},
      {"RTSP method", "PLAY / HTTP/1.1\r\n" + host + "\r\n", ParseError::kNone, Verdict::kError},
      {"PRI", "PRI / HTTP/1.1\r\n" + host + "\r\n", ParseError::kNone, Verdict::kError},
      {"Content-Length list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 3\r\n\r\n",
       ParseError::kNone, Verdict::kError},
      {"repeated Content-Length",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 003\r\n\r\n",
       ParseError::kNone, Verdict::kError},
      {"HTAB after Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\t\r\n\r\n",
       ParseError::kNone, Verdict::kError},
  });
  const Both b = parseBoth("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n");
  EXPECT_EQ(b.head.body, BodyKind::kContentLength);
  EXPECT_EQ(b.head.content_length, 3u);
}

TEST(ParserDifferences, BothAcceptAndReadDifferently) {
  Both b = parseBoth("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: ws\r\n\r\n");
  ASSERT_EQ(b.status, ParseStatus::kComplete);
  ASSERT_EQ(b.ll.verdict, Verdict::kComplete);
  EXPECT_FALSE(b.head.upgrade);
  EXPECT_TRUE(b.ll.upgrade);

  b = parseBoth("GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n");
  ASSERT_EQ(b.status, ParseStatus::kComplete);
  ASSERT_EQ(b.ll.verdict, Verdict::kComplete);
  EXPECT_FALSE(b.head.keep_alive);
  EXPECT_TRUE(b.ll.keep_alive);

  b = parseBoth("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\t,x\r\n\r\n");
  ASSERT_EQ(b.status, ParseStatus::kComplete);
  ASSERT_EQ(b.ll.verdict, Verdict::kComplete);
  EXPECT_FALSE(b.head.keep_alive);
  EXPECT_TRUE(b.ll.keep_alive);

  b = parseBoth("GET / HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n");
  ASSERT_EQ(b.status, ParseStatus::kComplete);
  ASSERT_EQ(b.ll.verdict, Verdict::kComplete);
  EXPECT_TRUE(b.head.keep_alive);
  EXPECT_FALSE(b.ll.keep_alive);

  b = parseBoth("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(b.status, ParseStatus::kComplete);
  ASSERT_EQ(b.ll.verdict, Verdict::kComplete);
  EXPECT_EQ(b.head.method, "CONNECT");
  EXPECT_FALSE(b.head.upgrade);  // the session refuses it (400, close)
  EXPECT_TRUE(b.ll.upgrade);
}

// Where they agree, they agree on everything the proxy uses; and the one difference found to
// be a scalegate bug stays fixed.
TEST(ParserDifferences, AgreeOnOrdinaryHeads) {
  Both b = parseBoth(
      "\r\nPOST /a?b=1 HTTP/1.1\r\nHost: h:80\r\nContent-Length: 5\r\n"
      "Connection: keep-alive\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9 \r\n\r\nhello");
  ASSERT_EQ(b.status, ParseStatus::kComplete);
  ASSERT_EQ(b.ll.verdict, Verdict::kComplete);
  EXPECT_EQ(b.head.head_length, b.ll.head_length);
  EXPECT_EQ(b.head.method, b.ll.method);
  EXPECT_EQ(b.head.target, b.ll.url);
  ASSERT_EQ(b.head.headers.size(), b.ll.headers.size());
  EXPECT_EQ(b.head.content_length, b.ll.content_length);
  EXPECT_EQ(b.head.keep_alive, b.ll.keep_alive);

  b = parseBoth("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade:\t\r\n\r\n");
  ASSERT_EQ(b.status, ParseStatus::kComplete);
  ASSERT_EQ(b.ll.verdict, Verdict::kComplete);
  EXPECT_FALSE(b.head.upgrade);
  EXPECT_FALSE(b.ll.upgrade);
}

}  // namespace
}  // namespace sg::http
