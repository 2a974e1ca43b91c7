// Request head parser tests: valid shapes, keep-alive logic, every rejection rule, limits and
// incremental arrival. Response heads are in response_parser_test.cpp.
#include "http/parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace sg::http {
namespace {

using namespace std::string_literals;

// Owns a heap copy of the input so the head's views stay valid however the test built it.
struct Parsed {
  std::shared_ptr<const std::string> input;
  ParseStatus status = ParseStatus::kError;
  ParseError error = ParseError::kNone;
  RequestHead head;
};

Parsed parse(std::string_view in, ParseLimits limits = {}) {
  Parsed p;
  p.input = std::make_shared<const std::string>(in);
  p.status = parseRequestHead(*p.input, limits, &p.head, &p.error);
  return p;
}

bool inside(std::string_view outer, std::string_view v) {
  return v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size();
}

std::string withHost(std::string_view first_line, std::string_view extra = "") {
  return std::string(first_line) + "\r\nHost: h\r\n" + std::string(extra) + "\r\n";
}

TEST(RequestParser, GetWithSeveralHeadersGivesExactViews) {
  const std::string in =
      "GET /index.html?a=1&b=2 HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "User-Agent:  curl/8.0 \t\r\n"
      "Accept: */*\r\n"
      "X-Empty:\r\n"
      "X-Request-Id: abc-123\r\n"
      "\r\n";
  const Parsed p = parse(in);
  ASSERT_EQ(p.status, ParseStatus::kComplete) << errorName(p.error);
  EXPECT_EQ(p.error, ParseError::kNone);
  const RequestHead& h = p.head;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/index.html?a=1&b=2");
  EXPECT_EQ(h.path, "/index.html");
  EXPECT_EQ(h.query, "a=1&b=2");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_EQ(h.host, "example.com");
  EXPECT_EQ(h.body, BodyKind::kNone);
  EXPECT_EQ(h.content_length, 0u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_FALSE(h.upgrade);
  EXPECT_EQ(h.head_length, in.size());
  ASSERT_EQ(h.headers.size(), 5u);
  const std::vector<std::pair<std::string, std::string>> want = {{"Host", "example.com"},
                                                                 {"User-Agent", "curl/8.0"},
                                                                 {"Accept", "*/*"},
                                                                 {"X-Empty", ""},
                                                                 {"X-Request-Id", "abc-123"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(h.headers[i].name, want[i].first);
    EXPECT_EQ(h.headers[i].value, want[i].second);
    EXPECT_TRUE(inside(*p.input, h.headers[i].name));
    EXPECT_TRUE(inside(*p.input, h.headers[i].value));
  }
  EXPECT_EQ(h.headers[0].kind, HeaderKind::kHost);
  EXPECT_EQ(h.headers[1].kind, HeaderKind::kOther);
  EXPECT_EQ(h.headers[4].kind, HeaderKind::kXRequestId);
  EXPECT_TRUE(inside(*p.input, h.method));
  EXPECT_TRUE(inside(*p.input, h.target));
  EXPECT_TRUE(inside(*p.input, h.host));
}

TEST(RequestParser, ClassifiesKnownHeadersCaseInsensitively) {
  const std::vector<std::pair<std::string, HeaderKind>> cases = {
      {"host", HeaderKind::kHost},
      {"HOST", HeaderKind::kHost},
      {"Content-Length", HeaderKind::kContentLength},
      {"transfer-ENCODING", HeaderKind::kTransferEncoding},
      {"Connection", HeaderKind::kConnection},
      {"Keep-Alive", HeaderKind::kKeepAlive},
      {"Proxy-Connection", HeaderKind::kProxyConnection},
      {"TE", HeaderKind::kTE},
      {"Trailer", HeaderKind::kTrailer},
      {"Upgrade", HeaderKind::kUpgrade},
      {"Expect", HeaderKind::kExpect},
      {"X-Forwarded-For", HeaderKind::kXForwardedFor},
      {"x-forwarded-proto", HeaderKind::kXForwardedProto},
      {"X-Forwarded-Host", HeaderKind::kXForwardedHost},
      {"Forwarded", HeaderKind::kForwarded},
      {"forwarded", HeaderKind::kForwarded},
      {"Forwarder", HeaderKind::kOther},
      {"X-Request-ID", HeaderKind::kXRequestId},
      {"Hosts", HeaderKind::kOther},
      {"Hos", HeaderKind::kOther},
      {"Content-Lengths", HeaderKind::kOther},
      {"Content_Length", HeaderKind::kOther},
      {"Tf", HeaderKind::kOther},
      {"Connectiom", HeaderKind::kOther},
      {"X-Forwarded-Prot", HeaderKind::kOther},
  };
  for (const auto& [name, kind] : cases) {
    std::string value = "x";
    if (kind == HeaderKind::kContentLength) value = "0";
    if (kind == HeaderKind::kTransferEncoding) value = "chunked";
    // A Host test line is the only Host field; others come after "Host: h".
    std::string in =
        kind == HeaderKind::kHost ? "GET / HTTP/1.1\r\n" : "GET / HTTP/1.1\r\nHost: h\r\n";
    in.append(name).append(": ").append(kind == HeaderKind::kHost ? "h" : value).append("\r\n\r\n");
    const Parsed p = parse(in);
    ASSERT_EQ(p.status, ParseStatus::kComplete) << name << " " << errorName(p.error);
    EXPECT_EQ(p.head.headers.back().kind, kind) << name;
  }
}

TEST(RequestParser, TrimsOwsAndAcceptsObsText) {
  const std::string in =
      "GET / HTTP/1.1\r\nHost:\texample.com \r\nX-A: \t a  b \t\r\nX-B: caf\xc3\xa9\xff\r\n\r\n";
  const Parsed p = parse(in);
  ASSERT_EQ(p.status, ParseStatus::kComplete) << errorName(p.error);
  EXPECT_EQ(p.head.host, "example.com");
  EXPECT_EQ(p.head.headers[1].value, "a  b");
  EXPECT_EQ(p.head.headers[2].value, "caf\xc3\xa9\xff");
}

TEST(RequestParser, PipelinedRequestsParseAtHeadLengthPlusBody) {
  const std::string first = "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  const std::string second = "GET /next HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string third = "DELETE /x?y HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n";
  const std::string buf = first + "hello" + second + third;
  Parsed p = parse(buf);
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.head_length, first.size());
  EXPECT_EQ(p.head.body, BodyKind::kContentLength);
  EXPECT_EQ(p.head.content_length, 5u);
  size_t offset = p.head.head_length + p.head.content_length;
  EXPECT_EQ(std::string_view(buf).substr(p.head.head_length, 5), "hello");

  p = parse(std::string_view(buf).substr(offset));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.path, "/next");
  EXPECT_EQ(p.head.host, "b");
  EXPECT_EQ(p.head.head_length, second.size());
  offset += p.head.head_length;

  p = parse(std::string_view(buf).substr(offset));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.method, "DELETE");
  EXPECT_EQ(p.head.query, "y");
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_EQ(offset + p.head.head_length, buf.size());
}

TEST(RequestParser, AbsoluteFormTakesHostFromAuthority) {
  struct Case {
    std::string target, host, path, query;
  };
  const std::vector<Case> cases = {
      {"http://example.com/a/b?c=d", "example.com", "/a/b", "c=d"},
      {"http://example.com:8080/", "example.com:8080", "/", ""},
      {"HTTPS://[::1]:443/x", "[::1]:443", "/x", ""},
      {"http://example.com", "example.com", "/", ""},
      {"http://example.com?q", "example.com", "/", "q"},
  };
  for (const Case& c : cases) {
    // The authority wins over a Host header (RFC 9112 3.2.2); no Host header is needed.
    for (const std::string& extra : {std::string(), std::string("Host: other\r\n")}) {
      const std::string in = "GET " + c.target + " HTTP/1.1\r\n" + extra + "\r\n";
      const Parsed p = parse(in);
      ASSERT_EQ(p.status, ParseStatus::kComplete) << c.target << " " << errorName(p.error);
      EXPECT_EQ(p.head.target, c.target);
      EXPECT_EQ(p.head.host, c.host);
      EXPECT_EQ(p.head.path, c.path);
      EXPECT_EQ(p.head.query, c.query);
    }
  }
}

TEST(RequestParser, AbsoluteFormRejections) {
  for (const char* target : {"http://", "http:///path", "ftp://example.com/", "example.com:443",
                             "http://user@example.com/", "http://exa{mple.com/", "//host/x"}) {
    const Parsed p = parse(withHost(std::string("GET ") + target + " HTTP/1.1"));
    if (std::string_view(target).substr(0, 2) == "//") {
      // "//host/x" is an origin-form path (starts with '/'), not an authority.
      EXPECT_EQ(p.status, ParseStatus::kComplete) << target;
      continue;
    }
    EXPECT_EQ(p.status, ParseStatus::kError) << target;
    EXPECT_EQ(p.error, ParseError::kBadTarget) << target;
  }
}

TEST(RequestParser, AsteriskFormOnlyWithOptions) {
  Parsed p = parse(withHost("OPTIONS * HTTP/1.1"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.target, "*");
  EXPECT_EQ(p.head.path, "*");
  EXPECT_EQ(p.head.query, "");
  for (const char* line : {"GET * HTTP/1.1", "OPTIONS *x HTTP/1.1", "options * HTTP/1.1"}) {
    p = parse(withHost(line));
    EXPECT_EQ(p.status, ParseStatus::kError) << line;
    EXPECT_EQ(p.error, ParseError::kBadTarget) << line;
  }
}

TEST(RequestParser, KeepAliveFollowsVersionAndConnectionTokens) {
  struct Case {
    const char* version;
    const char* connection;  // nullptr: no Connection header
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1", nullptr, true},
      {"HTTP/1.1", "close", false},
      {"HTTP/1.1", "CLOSE", false},
      {"HTTP/1.1", "keep-alive", true},
      {"HTTP/1.1", "keep-alive, close", false},
      {"HTTP/1.1", "x-foo ,Close", false},
      {"HTTP/1.0", nullptr, false},
      {"HTTP/1.0", "keep-alive", true},
      {"HTTP/1.0", "Keep-Alive", true},
      {"HTTP/1.0", "foo, keep-alive", true},
      {"HTTP/1.0", "keep-alive, close", false},
      {"HTTP/1.0", "close", false},
      {"HTTP/1.0", "keep-alive-ish", false},
  };
  for (const Case& c : cases) {
    std::string in = std::string("GET / ") + c.version + "\r\nHost: h\r\n";
    if (c.connection != nullptr) in += std::string("Connection: ") + c.connection + "\r\n";
    in += "\r\n";
    const Parsed p = parse(in);
    ASSERT_EQ(p.status, ParseStatus::kComplete) << in;
    EXPECT_EQ(p.head.keep_alive, c.keep_alive) << in;
    EXPECT_EQ(p.head.version_minor, c.version[7] - '0');
  }
}

TEST(RequestParser, ProxyConnectionIsIgnoredForSemantics) {
  const Parsed p = parse(withHost("GET / HTTP/1.0", "Proxy-Connection: keep-alive\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_EQ(p.head.headers.back().kind, HeaderKind::kProxyConnection);
}

TEST(RequestParser, ConnectionTokensAndUpgrade) {
  Parsed p = parse(withHost("GET /ws HTTP/1.1",
                            "Connection: Upgrade, X-Hop\r\nUpgrade: websocket\r\n"
                            "Connection: ,te , close\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_TRUE(p.head.upgrade);
  EXPECT_FALSE(p.head.keep_alive);
  ASSERT_EQ(p.head.connection_tokens.size(), 2u);
  EXPECT_EQ(p.head.connection_tokens[0], "X-Hop");
  EXPECT_EQ(p.head.connection_tokens[1], "te");

  // Upgrade header without the connection token, and the token without the header.
  p = parse(withHost("GET / HTTP/1.1", "Upgrade: websocket\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.upgrade);
  p = parse(withHost("GET / HTTP/1.1", "Connection: upgrade\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.upgrade);
  EXPECT_TRUE(p.head.connection_tokens.empty());
  // HTTP/1.0: Upgrade is ignored (RFC 9110 7.8).
  p = parse(withHost("GET / HTTP/1.0", "Connection: upgrade\r\nUpgrade: websocket\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.upgrade);
}

// An empty Upgrade field lists no protocol, so it asks for no upgrade (llhttp agrees; found by
// request_differential_fuzz). A field that lists one anywhere still does.
TEST(RequestParser, EmptyUpgradeFieldRequestsNoUpgrade) {
  Parsed p = parse(withHost("GET / HTTP/1.1", "Connection: upgrade\r\nUpgrade: \t\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.upgrade);
  p = parse(withHost("GET / HTTP/1.1", "Connection: upgrade\r\nUpgrade:\r\nUpgrade: ws\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_TRUE(p.head.upgrade);
}

TEST(RequestParser, ExpectContinueOnlyForHttp11) {
  Parsed p = parse(withHost("PUT / HTTP/1.1", "Expect: 100-Continue\r\nContent-Length: 3\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_TRUE(p.head.expect_continue);
  p = parse(withHost("PUT / HTTP/1.0", "Expect: 100-continue\r\nContent-Length: 3\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.expect_continue);
  p = parse(withHost("PUT / HTTP/1.1", "Expect: 200-ok\r\n"));
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_FALSE(p.head.expect_continue);
}

TEST(RequestParser, BodyKinds) {
  struct Case {
    const char* headers;
    BodyKind body;
    uint64_t content_length;
  };
  const std::vector<Case> cases = {
      {"", BodyKind::kNone, 0},
      {"Content-Length: 5\r\n", BodyKind::kContentLength, 5},
      {"Content-Length: 0\r\n", BodyKind::kNone, 0},  // documented: CL 0 is kNone
      {"Content-Length: 007\r\n", BodyKind::kContentLength, 7},
      {"Content-Length: 5, 5\r\n", BodyKind::kContentLength, 5},
      {"Content-Length: 5 ,5,  5\r\n", BodyKind::kContentLength, 5},
      {"Content-Length: 42\r\nContent-Length: 42\r\n", BodyKind::kContentLength, 42},
      {"Content-Length: 9223372036854775807\r\n", BodyKind::kContentLength, 9223372036854775807ULL},
      {"Transfer-Encoding: chunked\r\n", BodyKind::kChunked, 0},
      {"Transfer-Encoding: CHUNKED \r\n", BodyKind::kChunked, 0},
      {"transfer-encoding:\tChunked\r\n", BodyKind::kChunked, 0},
  };
  for (const Case& c : cases) {
    const Parsed p = parse(withHost("POST / HTTP/1.1", c.headers));
    ASSERT_EQ(p.status, ParseStatus::kComplete) << c.headers << errorName(p.error);
    EXPECT_EQ(p.head.body, c.body) << c.headers;
    EXPECT_EQ(p.head.content_length, c.content_length) << c.headers;
  }
}

TEST(RequestParser, HostRules) {
  Parsed p = parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.host, "");
  p = parse("GET / HTTP/1.1\r\nHost:\r\n\r\n");  // empty Host is allowed (RFC 9110 7.2)
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.host, "");
  p = parse("GET / HTTP/1.1\r\nhost: [::1]:8080\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.host, "[::1]:8080");
}

TEST(RequestParser, LeadingEmptyLinesAreSkippedAndCounted) {
  const std::string in = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  const Parsed p = parse(in);
  ASSERT_EQ(p.status, ParseStatus::kComplete);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.head_length, in.size());
  EXPECT_EQ(parse("\r\n").status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse("\r\n\r").status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse("\n").error, ParseError::kBareLineFeed);
  EXPECT_EQ(parse("\r\n\rG").error, ParseError::kBareLineFeed);
}

TEST(RequestParser, ReusesHeadAndKeepsVectorCapacity) {
  RequestHead head;
  ParseError error = ParseError::kNone;
  const std::string big =
      withHost("GET /a HTTP/1.1", "Connection: a, b, c\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\n");
  ASSERT_EQ(parseRequestHead(big, {}, &head, &error), ParseStatus::kComplete);
  const Header* headers_data = head.headers.data();
  const size_t capacity = head.headers.capacity();
  const std::string small = "GET /b HTTP/1.0\r\n\r\n";
  ASSERT_EQ(parseRequestHead(small, {}, &head, &error), ParseStatus::kComplete);
  EXPECT_EQ(head.headers.size(), 0u);
  EXPECT_TRUE(head.connection_tokens.empty());
  EXPECT_EQ(head.host, "");
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parseRequestHead(big, {}, &head, &error), ParseStatus::kComplete);
  EXPECT_EQ(head.headers.data(), headers_data);
  EXPECT_EQ(head.headers.capacity(), capacity);
  EXPECT_EQ(head.connection_tokens.size(), 3u);
}

// ---- incremental arrival -------------------------------------------------------------------

TEST(RequestParser, EveryPrefixOfAValidRequestIsIncomplete) {
  const std::vector<std::string> requests = {
      "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "\r\nPOST /p?q HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n"
      "Connection: keep-alive, x\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\r\n",
      "GET http://a.b/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "OPTIONS * HTTP/1.0\r\n\r\n",
  };
  for (const std::string& in : requests) {
    for (size_t len = 0; len < in.size(); ++len) {
      const Parsed p = parse(std::string_view(in).substr(0, len));
      ASSERT_EQ(p.status, ParseStatus::kIncomplete) << "len " << len << " of " << in;
      EXPECT_EQ(p.error, ParseError::kNone);
    }
    const Parsed full = parse(in + "GARBAGE");
    ASSERT_EQ(full.status, ParseStatus::kComplete) << in;
    EXPECT_EQ(full.head.head_length, in.size());
  }
}

// ---- limits --------------------------------------------------------------------------------

TEST(RequestParser, HeadSizeLimit) {
  const std::string in = withHost("GET / HTTP/1.1", "X-Pad: " + std::string(100, 'a') + "\r\n");
  ParseLimits limits;
  limits.max_head_size = static_cast<uint32_t>(in.size());
  EXPECT_EQ(parse(in, limits).status, ParseStatus::kComplete);  // exactly at the limit
  limits.max_head_size = static_cast<uint32_t>(in.size() - 1);
  Parsed p = parse(in, limits);  // complete, but one byte too long
  EXPECT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(p.error, ParseError::kHeadTooLarge);
  EXPECT_EQ(statusFor(p.error), 431);
  // Incomplete and already at the limit: no point waiting.
  p = parse(std::string_view(in).substr(0, limits.max_head_size), limits);
  EXPECT_EQ(p.error, ParseError::kHeadTooLarge);
  p = parse(std::string_view(in).substr(0, limits.max_head_size - 1), limits);
  EXPECT_EQ(p.status, ParseStatus::kIncomplete);
  // An endless stream of empty lines is bounded too.
  limits.max_head_size = 64;
  std::string crlfs;
  for (int i = 0; i < 40; ++i) crlfs += "\r\n";
  EXPECT_EQ(parse(crlfs, limits).error, ParseError::kHeadTooLarge);
}

TEST(RequestParser, HeaderCountLimit) {
  ParseLimits limits;
  limits.max_headers = 4;
  const std::string four = withHost("GET / HTTP/1.1", "A: 1\r\nB: 2\r\nC: 3\r\n");
  EXPECT_EQ(parse(four, limits).status, ParseStatus::kComplete);
  const Parsed p = parse(withHost("GET / HTTP/1.1", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), limits);
  EXPECT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(p.error, ParseError::kTooManyHeaders);
  EXPECT_EQ(statusFor(p.error), 431);
}

// ---- rejections ----------------------------------------------------------------------------

struct Rejection {
  std::string input;
  ParseError error;
  int status;
};

void PrintTo(  // NOLINT(readability-identifier-naming): gtest hook
    const Rejection& r, std::ostream* os) {
  *os << testing::PrintToString(r.input);
}

class RequestRejection : public testing::TestWithParam<Rejection> {};

TEST_P(RequestRejection, IsRejectedWithItsError) {
  const Rejection& r = GetParam();
  const Parsed p = parse(r.input);
  EXPECT_EQ(p.status, ParseStatus::kError);
  EXPECT_EQ(errorName(p.error), errorName(r.error));
  EXPECT_EQ(statusFor(p.error), r.status);
}

std::string req(std::string_view headers) {
  return "POST / HTTP/1.1\r\nHost: h\r\n" + std::string(headers) + "\r\n";
}

const Rejection kRejections[] = {
    // request line
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"GET /\r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"GET\r\nHost: h\r\n\r\n", ParseError::kBadRequestLine, 400},
    {"G(ET / HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadMethod, 400},
    {"G\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadMethod, 400},
    {"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadTarget, 400},
    {"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadTarget, 400},
    {"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBadTarget, 400},
    {"GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s, ParseError::kBadTarget, 400},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", ParseError::kBadVersion, 400},
    {"GET / HTTP/1\r\nHost: h\r\n\r\n", ParseError::kBadVersion, 400},
    {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", ParseError::kBadVersion, 400},
    {"GET / HTTP/11\r\nHost: h\r\n\r\n", ParseError::kBadVersion, 400},
    {"GET / HTTP/1.x\r\nHost: h\r\n\r\n", ParseError::kBadVersion, 400},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", ParseError::kUnsupportedVersion, 505},
    {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", ParseError::kUnsupportedVersion, 505},
    {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", ParseError::kUnsupportedVersion, 505},
    // line endings
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET / HTTP/1.1\r\nHost: h\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n", ParseError::kBareLineFeed, 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n\r\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET / HTTP/1.1\r\nX: a\rb\r\nHost: h\r\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET / HTTP/1.1\r\nX\r: a\r\nHost: h\r\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET / HTTP/1.1\r\n\rX: a\r\nHost: h\r\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", ParseError::kBareLineFeed, 400},
    {"GET\r / HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::kBareLineFeed, 400},
    // field lines
    {req("X-A : 1\r\n"), ParseError::kBadHeaderName, 400},
    {req("X-A\t: 1\r\n"), ParseError::kBadHeaderName, 400},
    {req(": 1\r\n"), ParseError::kBadHeaderName, 400},
    {req("X(A): 1\r\n"), ParseError::kBadHeaderName, 400},
    {req("NoColon\r\n"), ParseError::kBadHeaderName, 400},
    {req("X-\xc3\xa9: 1\r\n"), ParseError::kBadHeaderName, 400},
    {req("X-A: a\0b\r\n"s), ParseError::kBadHeaderValue, 400},
    {req("X-A: a\x01\r\n"), ParseError::kBadHeaderValue, 400},
    {req("X-A: a\x7f\r\n"), ParseError::kBadHeaderValue, 400},
    {req("X-A: \x1b[31m\r\n"), ParseError::kBadHeaderValue, 400},
    {req("X-A: 1\r\n folded\r\n"), ParseError::kObsFold, 400},
    {req("X-A: 1\r\n\tfolded\r\n"), ParseError::kObsFold, 400},
    {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", ParseError::kObsFold, 400},
    // Host
    {"GET / HTTP/1.1\r\n\r\n", ParseError::kMissingHost, 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", ParseError::kMissingHost, 400},
    {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", ParseError::kMissingHost, 400},
    {"GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ParseError::kMissingHost, 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ParseError::kBadHeaderValue, 400},
    {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ParseError::kBadHeaderValue, 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ParseError::kBadHeaderValue, 400},
    {"GET http://a/ HTTP/1.1\r\nHost: a/b\r\n\r\n", ParseError::kBadHeaderValue, 400},
    // Content-Length
    {req("Content-Length: \r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: abc\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: +5\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: -1\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: 0x10\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: 5 5\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: 5,\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: ,5\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: 1.0\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: 9223372036854775808\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: 99999999999999999999999\r\n"), ParseError::kBadContentLength, 400},
    {req("Content-Length: 5, 6\r\n"), ParseError::kConflictingContentLength, 400},
    {req("Content-Length: 5\r\nContent-Length: 6\r\n"), ParseError::kConflictingContentLength, 400},
    {req("Content-Length: 5\r\ncontent-length: 5, 05, 6\r\n"),
     ParseError::kConflictingContentLength, 400},
    // Transfer-Encoding
    {req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::kContentLengthAndTransferEncoding, 400},
    {req("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"),
     ParseError::kContentLengthAndTransferEncoding, 400},
    {req("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"),
     ParseError::kContentLengthAndTransferEncoding, 400},
    {req("Transfer-Encoding: gzip\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: gzip, chunked\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: chunked, chunked\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: identity\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding:\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: chunked,\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n"), ParseError::kBadTransferEncoding,
     400},
    {req("Transfer-Encoding: chunkedx\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: \"chunked\"\r\n"), ParseError::kBadTransferEncoding, 400},
    {req("Transfer-Encoding: chunked;q=1\r\n"), ParseError::kBadTransferEncoding, 400},
    {"POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
     ParseError::kBadTransferEncoding, 400},
};

INSTANTIATE_TEST_SUITE_P(Rules, RequestRejection, testing::ValuesIn(kRejections));

// A prefix of a rejected request is either incomplete or fails on a bare CR/LF it contains:
// only line-ending errors are reported before the whole head is there (no false alarms).
TEST(RequestParser, PrefixesOfRejectedRequestsNeverDisagree) {
  for (const Rejection& r : kRejections) {
    for (size_t len = 0; len < r.input.size(); ++len) {
      const Parsed p = parse(std::string_view(r.input).substr(0, len));
      if (p.status == ParseStatus::kIncomplete) continue;
      ASSERT_EQ(p.status, ParseStatus::kError) << testing::PrintToString(r.input) << " " << len;
      EXPECT_EQ(p.error, ParseError::kBareLineFeed) << testing::PrintToString(r.input);
    }
  }
}

// A bad byte at each offset of a long value or target exercises the word-at-a-time scanners.
TEST(RequestParser, BadByteAtEveryOffsetOfValueAndTarget) {
  const std::string filler(40, 'v');
  struct Bad {
    char byte;
    ParseError in_value;
    ParseError in_target;
  };
  const std::vector<Bad> bads = {
      {'\0', ParseError::kBadHeaderValue, ParseError::kBadTarget},
      {'\x1f', ParseError::kBadHeaderValue, ParseError::kBadTarget},
      {'\x7f', ParseError::kBadHeaderValue, ParseError::kBadTarget},
      {'\r', ParseError::kBareLineFeed, ParseError::kBareLineFeed},
      {'\n', ParseError::kBareLineFeed, ParseError::kBareLineFeed},
  };
  for (size_t i = 1; i + 1 < filler.size(); ++i) {  // not first/last: OWS there is trimmed
    for (const Bad& bad : bads) {
      std::string value = filler;
      value[i] = bad.byte;
      Parsed p = parse(withHost("GET / HTTP/1.1", "X-V: " + value + "\r\n"));
      EXPECT_EQ(p.error, bad.in_value) << i << " " << int(bad.byte);
      p = parse(withHost("GET /" + value + " HTTP/1.1"));
      EXPECT_EQ(p.error, bad.in_target) << i << " " << int(bad.byte);
    }
    for (const char good : {'\t', ' ', '\x80', '\xff', '~', '!'}) {
      std::string value = filler;
      value[i] = good;
      const Parsed p = parse(withHost("GET / HTTP/1.1", "X-V: " + value + "\r\n"));
      ASSERT_EQ(p.status, ParseStatus::kComplete) << i << " " << int(good);
      EXPECT_EQ(p.head.headers.back().value, value);
    }
    std::string target = filler;
    target[i] = '\x80';
    EXPECT_EQ(parse(withHost("GET /" + target + " HTTP/1.1")).error, ParseError::kBadTarget);
    target[i] = '~';
    EXPECT_EQ(parse(withHost("GET /" + target + " HTTP/1.1")).status, ParseStatus::kComplete);
  }
}

TEST(RequestParser, StatusAndNameForEveryError) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(ParseError::kBadStatusLine); ++i) {
    const auto e = static_cast<ParseError>(i);
    const std::string_view name = errorName(e);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_NE(name, "unknown");
    for (const char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    const int status = statusFor(e);
    if (e == ParseError::kNone) {
      EXPECT_EQ(status, 0);
    } else if (e == ParseError::kHeadTooLarge || e == ParseError::kTooManyHeaders) {
      EXPECT_EQ(status, 431) << name;
    } else if (e == ParseError::kUnsupportedVersion) {
      EXPECT_EQ(status, 505);
    } else {
      EXPECT_EQ(status, 400) << name;
    }
  }
  EXPECT_EQ(errorName(ParseError::kObsFold), "obs_fold");
  EXPECT_EQ(errorName(ParseError::kContentLengthAndTransferEncoding),
            "content_length_and_transfer_encoding");
}

}  // namespace
}  // namespace sg::http
