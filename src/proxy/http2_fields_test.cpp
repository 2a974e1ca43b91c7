#include "proxy/http2_fields.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "http/parser.h"

namespace sg::proxy {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string requestHead(const Fields& fields, bool end_stream, bool* chunked = nullptr) {
  Http2RequestHead head;
  for (const auto& [name, value] : fields) head.add(name, value);
  std::string out;
  head.finish(end_stream, &out);
  if (chunked != nullptr) *chunked = head.chunked();
  return out;
}

using Verdict = Http2HeaderListLimit::Verdict;

TEST(Http2HeaderListLimitTest, FieldsCountNameValueAnd32UpToTheLimit) {
  Http2HeaderListLimit limit(100);
  limit.startBlock();
  EXPECT_EQ(limit.add(4, 14), Verdict::kWithin);   // 50
  EXPECT_EQ(limit.add(4, 14), Verdict::kWithin);   // 100: at the limit is within
  EXPECT_EQ(limit.add(0, 0), Verdict::kTooLarge);  // 132
}

TEST(Http2HeaderListLimitTest, BlockPastTheLimitIsRefusedOnceThenItsFieldsDropped) {
  Http2HeaderListLimit limit(1000);
  limit.startBlock();
  EXPECT_EQ(limit.add(6, 1200), Verdict::kTooLarge);
  EXPECT_EQ(limit.add(1, 1), Verdict::kDropped);
  EXPECT_EQ(limit.add(6, 1000), Verdict::kDropped);  // 2272 of the 4000 abuse bound
}

TEST(Http2HeaderListLimitTest, BlockPastFourTimesTheLimitIsAbuse) {
  Http2HeaderListLimit limit(1000);
  limit.startBlock();
  EXPECT_EQ(limit.add(0, 3968), Verdict::kTooLarge);  // exactly 4000: refused, not abuse
  EXPECT_EQ(limit.add(0, 0), Verdict::kAbusive);
  EXPECT_EQ(limit.add(0, 0), Verdict::kAbusive);  // stays so for the rest of the block
  // One huge field (an HPACK bomb's single entry) is abuse at once.
  limit.startBlock();
  EXPECT_EQ(limit.add(6, 1'000'000), Verdict::kAbusive);
}

TEST(Http2HeaderListLimitTest, EachBlockStartsAfresh) {
  Http2HeaderListLimit limit(100);
  limit.startBlock();
  EXPECT_EQ(limit.add(0, 200), Verdict::kTooLarge);
  limit.startBlock();
  EXPECT_EQ(limit.add(0, 60), Verdict::kWithin);
  limit.startBlock();
  EXPECT_EQ(limit.add(0, 500), Verdict::kAbusive);
  limit.startBlock();
  EXPECT_EQ(limit.add(0, 68), Verdict::kWithin);
}

TEST(Http2RequestHeadTest, PseudoHeadersMakeTheRequestLineAndHost) {
  bool chunked = true;
  EXPECT_EQ(
      requestHead({{":method", "GET"},
                   {":scheme", "https"},
                   {":authority", "example.com"},
                   {":path", "/a?b=1"},
                   {"accept", "*/*"},
                   {"user-agent", "h2load"}},
                  true, &chunked),
      "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\naccept: */*\r\nuser-agent: h2load\r\n\r\n");
  EXPECT_FALSE(chunked);
}

TEST(Http2RequestHeadTest, ClearedHeadKeepsNothingOfTheLastRequest) {
  Http2RequestHead head;
  for (const auto& [name, value] : Fields{{":method", "POST"},
                                          {":authority", "a.test"},
                                          {":path", "/first"},
                                          {"x-first", "1"},
                                          {"cookie", "a=1"}}) {
    head.add(name, value);
  }
  std::string first;
  head.finish(false, &first);
  EXPECT_TRUE(head.chunked());
  head.clear();
  EXPECT_FALSE(head.chunked());
  EXPECT_EQ(head.method(), "");
  head.add(":method", "GET");
  head.add(":path", "/second");
  std::string second;
  head.finish(true, &second);
  EXPECT_EQ(second, "GET /second HTTP/1.1\r\n\r\n");
  EXPECT_FALSE(head.chunked());
}

TEST(Http2RequestHeadTest, AuthorityWinsOverHostAndHostStaysWithoutIt) {
  EXPECT_EQ(
      requestHead(
          {{":method", "GET"}, {":authority", "a.example"}, {":path", "/"}, {"host", "b.example"}},
          true),
      "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
  EXPECT_EQ(requestHead({{":method", "GET"}, {":path", "/"}, {"host", "b.example"}}, true),
            "GET / HTTP/1.1\r\nhost: b.example\r\n\r\n");
}

TEST(Http2RequestHeadTest, CookiesJoinAndTeIsDropped) {
  EXPECT_EQ(requestHead({{":method", "GET"},
                         {":path", "/"},
                         {"cookie", "a=1"},
                         {"te", "trailers"},
                         {"cookie", "b=2"},
                         {"x-one", "1"}},
                        true),
            "GET / HTTP/1.1\r\nx-one: 1\r\nCookie: a=1; b=2\r\n\r\n");
}

TEST(Http2RequestHeadTest, BodyWithoutContentLengthIsChunked) {
  bool chunked = false;
  EXPECT_EQ(requestHead({{":method", "POST"}, {":path", "/up"}}, false, &chunked),
            "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(chunked);
  EXPECT_EQ(requestHead({{":method", "POST"}, {":path", "/up"}, {"content-length", "5"}}, false,
                        &chunked),
            "POST /up HTTP/1.1\r\ncontent-length: 5\r\n\r\n");
  EXPECT_FALSE(chunked);
}

TEST(Http2RequestHeadTest, AppendsAfterWhatTheBufferHolds) {
  Http2RequestHead head;
  head.add(":method", "HEAD");
  head.add(":path", "/x");
  std::string out = "kept";
  head.finish(true, &out);
  EXPECT_EQ(out, "keptHEAD /x HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.method(), "HEAD");
}

struct Converted {
  Fields fields;
  std::vector<uint8_t> flags;
};

// Names, values and flags of the fields nghttp2 would send.
Converted converted(const std::vector<nghttp2_nv>& nva) {
  Converted out;
  for (const nghttp2_nv& nv : nva) {
    out.fields.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                            std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    out.flags.push_back(nv.flags);
  }
  return out;
}

Converted responseFields(std::string text) {
  http::ResponseHead head;
  http::ParseError error = http::ParseError::kNone;
  EXPECT_EQ(http::parseResponseHead(text, {}, false, &head, &error), http::ParseStatus::kComplete)
      << http::errorName(error);
  char status[4];
  std::vector<nghttp2_nv> nva;
  http2ResponseFields(head, text, status, &nva);
  return converted(nva);
}

TEST(Http2ResponseFieldsTest, StatusFirstAndNamesLowerCase) {
  Converted c = responseFields(
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
      "X-Custom-Thing: Mixed Case Value\r\n\r\n");
  EXPECT_EQ(c.fields, (Fields{{":status", "404"},
                              {"content-type", "text/plain"},
                              {"content-length", "3"},
                              {"x-custom-thing", "Mixed Case Value"}}));
}

TEST(Http2ResponseFieldsTest, NamesOfEveryLengthHaveOnlyTheirLettersLowerCased) {
  // Every token character (RFC 9110 5.6.2), upper-case letters among them, at each length
  // from 1 to 40 and so at each position of an 8-byte block.
  const std::string tchars =
      "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (size_t length = 1; length <= 40; ++length) {
    std::string name;
    for (size_t i = 0; i < length; ++i) name += tchars[(length * 7 + i * 13) % tchars.size()];
    std::string expected = name;
    for (char& c : expected) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    Converted c = responseFields("HTTP/1.1 200 OK\r\n" + name + ": v\r\n\r\n");
    ASSERT_EQ(c.fields.size(), 2u) << name;
    EXPECT_EQ(c.fields[1].first, expected) << name;
  }
}

TEST(Http2ResponseFieldsTest, ConnectionSpecificFieldsAndConnectionTokensAreDropped) {
  Converted c = responseFields(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
      "x-hop: 1\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nTE: trailers\r\n"
      "Proxy-Connection: close\r\nServer: origin\r\n\r\n");
  EXPECT_EQ(c.fields, (Fields{{":status", "200"}, {"server", "origin"}}));
}

TEST(Http2ResponseFieldsTest, IgnoredContentLengthIsDropped) {
  Converted c =
      responseFields("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(c.fields, (Fields{{":status", "200"}}));
}

TEST(Http2ResponseFieldsTest, RequestIdIsNeverIndexed) {
  Converted c = responseFields(
      "HTTP/1.1 204 No Content\r\nDate: Fri, 04 Dec 2026 15:50:57 GMT\r\n"
      "X-Request-Id: b0cb8fb0-1e7d-44cf-a3db-dad23d56cfc6\r\n\r\n");
  ASSERT_EQ(c.fields.size(), 3u);
  EXPECT_EQ(c.fields[0], (std::pair<std::string, std::string>{":status", "204"}));
  EXPECT_EQ(c.fields[2].first, "x-request-id");
  constexpr uint8_t kNoCopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
  EXPECT_EQ(c.flags[0], kNoCopy);
  EXPECT_EQ(c.flags[1], kNoCopy);
  EXPECT_EQ(c.flags[2], kNoCopy | NGHTTP2_NV_FLAG_NO_INDEX);
}

// Http2ResponseHead: the head given as fields gives nghttp2 what parsing the same head written
// as text gives it, and the body framing the parser would read.

Converted fieldsOf(Http2ResponseHead& head) {
  std::vector<nghttp2_nv> nva;
  head.nghttp2Fields(&nva);
  return converted(nva);
}

// The head of `text` given as fields, one line at a time (as the head writer does).
Http2ResponseHead givenAsFields(std::string_view text) {
  Http2ResponseHead head;
  const size_t status_end = text.find("\r\n");
  head.start(std::stoi(std::string(text.substr(9, 3))));
  head.addLines(text.substr(status_end + 2));
  return head;
}

TEST(Http2ResponseHeadTest, FieldsAreThoseOfTheSameHeadParsedFromText) {
  for (std::string text : {
           std::string("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\n"
                       "Content-Length: 20\r\nX-Request-Id: abc\r\nX-Frame-Options: DENY\r\n\r\n"),
           std::string("HTTP/1.1 404 Not Found\r\nX-Custom-Thing:   Mixed Case Value  \r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: timeout=5\r\n"
                       "Transfer-Encoding: chunked\r\nUpgrade: h2c\r\nTE: trailers\r\n"
                       "Proxy-Connection: close\r\nSET-COOKIE: a=1\r\n\r\n"),
           std::string("HTTP/1.1 204 No Content\r\nX-Request-Id: b0cb8fb0\r\n\r\n"),
       }) {
    Http2ResponseHead head = givenAsFields(text);
    Converted given = fieldsOf(head);
    Converted parsed = responseFields(text);
    EXPECT_EQ(given.fields, parsed.fields) << text;
    EXPECT_EQ(given.flags, parsed.flags) << text;
  }
}

TEST(Http2ResponseHeadTest, BodyFramingIsWhatTheParserReads) {
  struct Case {
    std::string text;
    bool request_is_head;
  };
  for (const Case& c : std::vector<Case>{
           {"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false},
           {"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true},
           {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
           {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */5\r\n"
            "Content-Length: 0\r\n\r\n",
            false},
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false},
           {"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false},
           {"HTTP/1.1 204 No Content\r\n\r\n", false},
           {"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", false},
           {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false},
       }) {
    Http2ResponseHead head = givenAsFields(c.text);
    http::ResponseHead parsed;
    http::ParseError error = http::ParseError::kNone;
    ASSERT_EQ(http::parseResponseHead(c.text, {}, c.request_is_head, &parsed, &error),
              http::ParseStatus::kComplete)
        << c.text;
    EXPECT_EQ(head.body(c.request_is_head), parsed.body) << c.text;
    if (parsed.body == http::BodyKind::kContentLength) {
      EXPECT_EQ(head.contentLength(), parsed.content_length) << c.text;
    }
    EXPECT_FALSE(head.broken()) << c.text;
  }
}

TEST(Http2ResponseHeadTest, ChunkedFramingIsSetApartAndItsFieldNeverSent) {
  Http2ResponseHead head;
  head.start(200);
  head.add("Content-Type", "text/html");
  head.setChunked();
  EXPECT_EQ(head.body(false), http::BodyKind::kChunked);
  EXPECT_EQ(fieldsOf(head).fields, (Fields{{":status", "200"}, {"content-type", "text/html"}}));
}

TEST(Http2ResponseHeadTest, LengthTheParserWouldRefuseBreaksTheHead) {
  for (std::string_view length : {"", "12a", "-1", "1 2", "99999999999999999999"}) {
    Http2ResponseHead head;
    head.start(200);
    head.add("Content-Length", length);
    EXPECT_TRUE(head.broken()) << length;
  }
  Http2ResponseHead twice;  // two different lengths: which is the body's?
  twice.start(200);
  twice.add("Content-Length", "3");
  twice.add("content-length", "4");
  EXPECT_TRUE(twice.broken());
  Http2ResponseHead same;  // the same value twice is one length (RFC 9110 8.6)
  same.start(200);
  same.add("Content-Length", "3");
  same.add("content-length", "3");
  EXPECT_FALSE(same.broken());
  EXPECT_EQ(same.contentLength(), 3u);
}

TEST(Http2ResponseHeadTest, StatusOutsideTheRangeBreaksTheHead) {
  for (int status : {0, 99, 600, 1000}) {
    Http2ResponseHead head;
    head.start(status);
    EXPECT_TRUE(head.broken()) << status;
  }
  Http2ResponseHead ok;
  ok.start(599);
  EXPECT_FALSE(ok.broken());
}

TEST(Http2ResponseHeadTest, StartedOverKeepsNothingOfTheLastHead) {
  Http2ResponseHead head;
  head.start(200);
  head.add("X-Long-Name-For-Growing-The-Buffer", std::string(3000, 'v'));
  head.add("Content-Length", "5");
  head.setChunked();
  head.start(404);
  head.addLower("server", "scalegate");
  EXPECT_EQ(head.body(false), http::BodyKind::kUntilClose);
  EXPECT_FALSE(head.broken());
  EXPECT_EQ(fieldsOf(head).fields, (Fields{{":status", "404"}, {"server", "scalegate"}}));
}

TEST(Http2ResponseHeadTest, GatewayLinesWithoutAColonAreSkipped) {
  Http2ResponseHead head;
  head.start(200);
  head.addLines("X-A: 1\r\nnot a field\r\n: empty name\r\nX-B:2\r\n");
  EXPECT_EQ(fieldsOf(head).fields, (Fields{{":status", "200"}, {"x-a", "1"}, {"x-b", "2"}}));
}

}  // namespace
}  // namespace sg::proxy
