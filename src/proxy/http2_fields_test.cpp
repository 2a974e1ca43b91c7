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

Converted responseFields(std::string text) {
  http::ResponseHead head;
  http::ParseError error = http::ParseError::kNone;
  EXPECT_EQ(http::parseResponseHead(text, {}, false, &head, &error), http::ParseStatus::kComplete)
      << http::errorName(error);
  char status[4];
  std::vector<nghttp2_nv> nva;
  http2ResponseFields(head, text, status, &nva);
  Converted out;
  for (const nghttp2_nv& nv : nva) {
    out.fields.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                            std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    out.flags.push_back(nv.flags);
  }
  return out;
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

}  // namespace
}  // namespace sg::proxy
