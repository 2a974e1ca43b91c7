#include "proxy/head_writer.h"

#include <gtest/gtest.h>

#include <string>

#include "http/parser.h"

namespace sg::proxy {
namespace {

// Parses `raw` as a request head and returns the head the gateway would send upstream.
// context.path defaults to the request's own path.
std::string upstreamHead(const std::string& raw, UpstreamRequestContext context = {},
                         bool use_request_path = true) {
  http::RequestHead head;
  http::ParseError error = http::ParseError::kNone;
  auto status = http::parseRequestHead(raw, {}, &head, &error);
  EXPECT_EQ(status, http::ParseStatus::kComplete) << http::errorName(error);
  if (status != http::ParseStatus::kComplete) return "<parse error>";
  if (use_request_path) context.path = head.path;
  if (context.client_ip.empty()) context.client_ip = "10.0.0.9";
  std::string out = "garbage that must be cleared";
  writeUpstreamRequestHead(head, context, &out);
  return out;
}

std::string clientHead(const std::string& raw, const ClientResponseContext& context,
                       bool head_request = false) {
  http::ResponseHead head;
  http::ParseError error = http::ParseError::kNone;
  auto status = http::parseResponseHead(raw, {}, head_request, &head, &error);
  EXPECT_EQ(status, http::ParseStatus::kComplete) << http::errorName(error);
  if (status != http::ParseStatus::kComplete) return "<parse error>";
  std::string out;
  writeClientResponseHead(head, context, &out);
  return out;
}

// ---- request side ----

TEST(UpstreamRequestHead, PlainGet) {
  EXPECT_EQ(upstreamHead("GET /a/b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
            "GET /a/b HTTP/1.1\r\n"
            "Host: example.com\r\n"
            "Accept: */*\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: example.com\r\n"
            "Forwarded: for=10.0.0.9;host=example.com;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, CacheReplacesClientConditionsWithItsOwn) {
  UpstreamRequestContext context;
  context.drop_conditionals = true;
  context.extra_headers = "If-None-Match: \"v2\"\r\n";
  std::string out = upstreamHead(
      "GET /a HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"v1\"\r\n"
      "if-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\nIf-Match: \"m\"\r\n\r\n",
      context);
  EXPECT_EQ(out.find("\"v1\""), std::string::npos) << out;
  EXPECT_EQ(out.find("if-modified-since"), std::string::npos) << out;
  EXPECT_NE(out.find("If-Match: \"m\"\r\n"), std::string::npos)
      << out;  // not the cache's to answer
  EXPECT_NE(out.find("If-None-Match: \"v2\"\r\n\r\n"), std::string::npos) << out;
}

TEST(UpstreamRequestHead, ClientConditionsForwardedWithoutCache) {
  std::string out = upstreamHead("GET /a HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"v1\"\r\n\r\n");
  EXPECT_NE(out.find("If-None-Match: \"v1\"\r\n"), std::string::npos) << out;
}

TEST(StoredResponseHead, StoredLinesThenTheGatewaysOwn) {
  std::vector<http::Header> headers{{"Content-Type", "text/plain"},
                                    {"X-Frame-Options", "SAMEORIGIN"}};
  DefaultHeaders defaults{{"x-frame-options", "X-Frame-Options: DENY\r\n"},
                          {"x-content-type-options", "X-Content-Type-Options: nosniff\r\n"}};
  ClientResponseContext context;
  context.defaults = &defaults;
  context.extra_headers = "X-Cache: HIT\r\nAge: 3\r\nContent-Length: 5\r\n";
  context.request_id = "id-1";
  context.close = true;
  std::string out;
  writeStoredResponseHead(200, "Content-Type: text/plain\r\nX-Frame-Options: SAMEORIGIN\r\n",
                          headers, context, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Frame-Options: SAMEORIGIN\r\n"
            "X-Content-Type-Options: nosniff\r\nX-Cache: HIT\r\nAge: 3\r\nContent-Length: 5\r\n"
            "X-Request-Id: id-1\r\nConnection: close\r\n\r\n");
}

TEST(UpstreamRequestHead, OutputIsClearedFirst) {
  std::string out = upstreamHead("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\n", 0), 0u) << out;
}

TEST(UpstreamRequestHead, QueryStringPreserved) {
  EXPECT_EQ(upstreamHead("GET /search?q=a%20b&x=1 HTTP/1.1\r\nHost: h\r\n\r\n"),
            "GET /search?q=a%20b&x=1 HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, ContextPathReplacesPathButKeepsQuery) {
  UpstreamRequestContext context;
  context.path = "/users/7";  // after strip_prefix
  EXPECT_EQ(upstreamHead("GET /api/users/7?full=1 HTTP/1.1\r\nHost: h\r\n\r\n", context, false),
            "GET /users/7?full=1 HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, HopByHopHeadersDropped) {
  EXPECT_EQ(upstreamHead("GET / HTTP/1.1\r\n"
                         "Host: h\r\n"
                         "Connection: keep-alive\r\n"
                         "Keep-Alive: timeout=5\r\n"
                         "Proxy-Connection: keep-alive\r\n"
                         "TE: trailers\r\n"
                         "Trailer: X-Checksum\r\n"
                         "Upgrade: websocket\r\n"
                         "User-Agent: t\r\n"
                         "\r\n"),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "User-Agent: t\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, HeadersNamedInConnectionDropped) {
  EXPECT_EQ(upstreamHead("GET / HTTP/1.1\r\n"
                         "Host: h\r\n"
                         "Connection: close, X-Hop, x-other-HOP\r\n"
                         "X-Hop: 1\r\n"
                         "X-Other-Hop: 2\r\n"
                         "X-End: 3\r\n"
                         "\r\n"),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-End: 3\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, ExpectDropped) {
  EXPECT_EQ(upstreamHead("POST /up HTTP/1.1\r\n"
                         "Host: h\r\n"
                         "Expect: 100-continue\r\n"
                         "Content-Length: 5\r\n"
                         "\r\n"),
            "POST /up HTTP/1.1\r\n"
            "Host: h\r\n"
            "Content-Length: 5\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, ForwardedForAppendedToExistingValue) {
  EXPECT_EQ(upstreamHead("GET / HTTP/1.1\r\n"
                         "Host: h\r\n"
                         "x-forwarded-for: 192.0.2.1, 198.51.100.2\r\n"
                         "Accept: */*\r\n"
                         "\r\n"),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "Accept: */*\r\n"
            "x-forwarded-for: 192.0.2.1, 198.51.100.2, 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, IncomingForwardedProtoAndHostReplaced) {
  EXPECT_EQ(upstreamHead("GET / HTTP/1.1\r\n"
                         "X-Forwarded-Proto: https\r\n"
                         "Host: real.example\r\n"
                         "X-Forwarded-Host: spoofed.example\r\n"
                         "\r\n"),
            "GET / HTTP/1.1\r\n"
            "Host: real.example\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: real.example\r\n"
            "Forwarded: for=10.0.0.9;host=real.example;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, ForwardedHostKeepsPort) {
  EXPECT_EQ(upstreamHead("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
            "GET / HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: example.com:8080\r\n"
            "Forwarded: for=10.0.0.9;host=\"example.com:8080\";proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, GeneratedRequestIdAddedOnlyWhenGiven) {
  UpstreamRequestContext context;
  context.request_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  EXPECT_EQ(upstreamHead("GET / HTTP/1.1\r\nHost: h\r\n\r\n", context),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "X-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n"
            "\r\n");
  // The client's own id passes through; none is added.
  EXPECT_EQ(upstreamHead("GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\n\r\n"),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Request-Id: abc\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, ChunkedBodyGetsTransferEncodingBack) {
  EXPECT_EQ(upstreamHead("POST /p HTTP/1.1\r\n"
                         "Host: h\r\n"
                         "Transfer-Encoding: chunked\r\n"
                         "Content-Type: text/plain\r\n"
                         "\r\n"),
            "POST /p HTTP/1.1\r\n"
            "Host: h\r\n"
            "Content-Type: text/plain\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, ContentLengthBodyKeepsContentLength) {
  EXPECT_EQ(upstreamHead("PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n"),
            "PUT /p HTTP/1.1\r\n"
            "Host: h\r\n"
            "Content-Length: 12\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, UpgradeKeepsUpgradeAndConnectionUpgrade) {
  EXPECT_EQ(upstreamHead("GET /ws HTTP/1.1\r\n"
                         "Host: h\r\n"
                         "Connection: Upgrade\r\n"
                         "Upgrade: websocket\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "\r\n"),
            "GET /ws HTTP/1.1\r\n"
            "Host: h\r\n"
            "Upgrade: websocket\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "Connection: upgrade\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, Http10UpgradeIsIgnored) {
  EXPECT_EQ(upstreamHead("GET /ws HTTP/1.0\r\n"
                         "Host: h\r\n"
                         "Connection: Upgrade\r\n"
                         "Upgrade: websocket\r\n"
                         "\r\n"),
            "GET /ws HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, Http10WithoutHostGetsFallbackHost) {
  UpstreamRequestContext context;
  context.fallback_host = "127.0.0.1:3001";
  EXPECT_EQ(upstreamHead("GET /old HTTP/1.0\r\nUser-Agent: legacy\r\n\r\n", context),
            "GET /old HTTP/1.1\r\n"
            "Host: 127.0.0.1:3001\r\n"
            "User-Agent: legacy\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "Forwarded: for=10.0.0.9;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, Http10WithHostKeepsIt) {
  UpstreamRequestContext context;
  context.fallback_host = "127.0.0.1:3001";
  EXPECT_EQ(upstreamHead("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", context),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "Forwarded: for=10.0.0.9;host=h;proto=http\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, AbsoluteFormWithoutHostHeaderSendsAuthority) {
  EXPECT_EQ(upstreamHead("GET http://origin.example:8080/x?y=1 HTTP/1.0\r\n\r\n"),
            "GET /x?y=1 HTTP/1.1\r\n"
            "Host: origin.example:8080\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: origin.example:8080\r\n"
            "Forwarded: for=10.0.0.9;host=\"origin.example:8080\";proto=http\r\n"
            "\r\n");
}

// ---- regressions: smuggling and framing cases found in review ----

size_t count(const std::string& text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// "Connection: content-length" makes the writer drop Content-Length while the body is still
// forwarded: the upstream reads the body as a second request (request smuggling).
TEST(UpstreamRequestHead, ConnectionTokenCannotRemoveContentLength) {
  std::string out = upstreamHead(
      "POST / HTTP/1.1\r\nHost: h\r\nConnection: content-length\r\nContent-Length: 30\r\n\r\n");
  EXPECT_EQ(count(out, "Content-Length: 30\r\n"), 1u) << out;
}

// "Connection: host" removes the only Host header; an HTTP/1.1 request without Host follows.
TEST(UpstreamRequestHead, ConnectionTokenCannotRemoveHost) {
  std::string out = upstreamHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: host\r\n\r\n");
  EXPECT_EQ(count(out, "\r\nHost: h\r\n"), 1u) << out;
}

// Absolute-form target: the route was chosen by the target's authority, so the upstream must
// see that authority as Host, not the client's Host header (RFC 9112 3.2.2).
TEST(UpstreamRequestHead, AbsoluteFormAuthorityReplacesHostHeader) {
  std::string out = upstreamHead("GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n");
  EXPECT_EQ(count(out, "\r\nHost: a.example\r\n"), 1u) << out;
  EXPECT_EQ(count(out, "b.example"), 0u) << out;
}

// Two X-Forwarded-For lines: the client address must be appended once, not to each line.
TEST(UpstreamRequestHead, ClientAddressAppendedOnceWithTwoForwardedForLines) {
  std::string out = upstreamHead(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n");
  EXPECT_EQ(count(out, "10.0.0.9\r\n"), 1u) << out;  // the X-Forwarded-For line (not Forwarded)
}

// Several X-Forwarded-For lines are one list: the upstream gets one line, the client last.
TEST(UpstreamRequestHead, ForwardedForLinesMergedIntoOne) {
  std::string out = upstreamHead(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nAccept: */*\r\n"
      "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\nX-Forwarded-For:\r\n\r\n");
  EXPECT_EQ(count(out, "orwarded-For"), 1u) << out;
  EXPECT_NE(out.find("\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9\r\n"),
            std::string::npos)
      << out;
}

// RFC 9110 8.6: a list of equal values or repeated equal fields reach the upstream as one value.
TEST(UpstreamRequestHead, ContentLengthForwardedAsOneNormalisedValue) {
  for (const char* fields :
       {"Content-Length: 3, 3\r\n", "Content-Length: 3\r\ncontent-length: 003\r\n",
        "Content-Length: 003\r\n", "Content-Length: 3,3 , 3\r\n"}) {
    std::string out =
        upstreamHead(std::string("POST /p HTTP/1.1\r\nHost: h\r\n") + fields + "\r\n");
    EXPECT_EQ(count(out, "ontent-Length"), 1u) << out;
    EXPECT_NE(out.find("\r\nContent-Length: 3\r\n"), std::string::npos) << out;
  }
  std::string out = upstreamHead("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 00\r\n\r\n");
  EXPECT_NE(out.find("\r\nContent-Length: 0\r\n"), std::string::npos) << out;
  EXPECT_EQ(count(out, "Content-Length"), 1u) << out;
}

// Forwarded (RFC 7239) follows the trust rules: from an untrusted peer the client's elements
// are dropped (they could name any address); from a trusted proxy they are continued.
TEST(UpstreamRequestHead, ForwardedFromUntrustedPeerIsReplaced) {
  std::string out = upstreamHead(
      "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.2.3.4\r\nforwarded: for=5.6.7.8\r\n\r\n");
  EXPECT_EQ(count(out, "orwarded:"), 1u) << out;
  EXPECT_EQ(count(out, "1.2.3.4"), 0u) << out;
  EXPECT_EQ(count(out, "5.6.7.8"), 0u) << out;
  EXPECT_NE(out.find("\r\nForwarded: for=10.0.0.9;host=h;proto=http\r\n"), std::string::npos)
      << out;
}

TEST(UpstreamRequestHead, ForwardedFromTrustedPeerIsContinued) {
  UpstreamRequestContext context;
  context.trusted_peer = true;
  std::string out = upstreamHead(
      "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.2.3.4;proto=https\r\nAccept: */*\r\n"
      "forwarded: for=\"[2001:db8::7]\", for=5.6.7.8\r\n\r\n",
      context);
  EXPECT_EQ(count(out, "orwarded:"), 1u) << out;
  EXPECT_NE(out.find("\r\nForwarded: for=1.2.3.4;proto=https, for=\"[2001:db8::7]\", "
                     "for=5.6.7.8, for=10.0.0.9;host=h;proto=http\r\n"),
            std::string::npos)
      << out;
}

// RFC 7239 6: an IPv6 address is bracketed and quoted; a host with a port is quoted.
TEST(UpstreamRequestHead, ForwardedElementQuotesWhereTheGrammarNeedsIt) {
  UpstreamRequestContext context;
  context.client_ip = "2001:db8::1";
  std::string out = upstreamHead("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", context);
  EXPECT_NE(out.find("\r\nForwarded: for=\"[2001:db8::1]\";host=\"example.com:8080\";"
                     "proto=http\r\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\r\nX-Forwarded-For: 2001:db8::1\r\n"), std::string::npos) << out;
  out = upstreamHead("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n");
  EXPECT_NE(out.find("\r\nForwarded: for=10.0.0.9;host=\"[::1]:80\";proto=http\r\n"),
            std::string::npos)
      << out;
}

// The same on responses: one normalised Content-Length, also where it does not frame the body.
TEST(ClientResponseHead, ContentLengthForwardedAsOneNormalisedValue) {
  for (const char* fields :
       {"Content-Length: 3, 3\r\n", "Content-Length: 3\r\nContent-Length: 003\r\n"}) {
    std::string out = clientHead(std::string("HTTP/1.1 200 OK\r\n") + fields + "\r\n", {});
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
  }
  std::string out = clientHead("HTTP/1.1 200 OK\r\nContent-Length: 10, 10\r\n\r\n", {},
                               /*head_request=*/true);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  out = clientHead("HTTP/1.1 304 Not Modified\r\nContent-Length: 0010\r\n\r\n", {});
  EXPECT_EQ(out, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
}

// Transfer-Encoding and Content-Length both present: the parser sets content_length_ignored
// ("the proxy must drop Content-Length when forwarding"), but the writer forwards it next to
// Transfer-Encoding: chunked.
TEST(ClientResponseHead, ContentLengthDroppedWhenTransferEncodingDecided) {
  ClientResponseContext context;
  context.chunked = true;
  std::string out = clientHead(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n", context);
  EXPECT_EQ(count(out, "Content-Length"), 0u) << out;
  // And for an HTTP/1.0 client that gets the body dechunked and read until close:
  context.chunked = false;
  context.close = true;
  out = clientHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n",
                   context);
  EXPECT_EQ(count(out, "Content-Length"), 0u) << out;
}

// "Connection: content-length" from the upstream removes the response's only framing header
// while the client connection is kept alive: the client cannot find the end of the body.
TEST(ClientResponseHead, ConnectionTokenCannotRemoveContentLength) {
  std::string out =
      clientHead("HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 10\r\n\r\n", {});
  EXPECT_EQ(count(out, "Content-Length: 10\r\n"), 1u) << out;
}

// ---- response side ----

constexpr const char* kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 5\r\n"
    "\r\n";

TEST(ClientResponseHead, DefaultContext) {
  EXPECT_EQ(clientHead(kResponse, {}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 5\r\n"
            "\r\n");
}

TEST(ClientResponseHead, Chunked) {
  ClientResponseContext context;
  context.chunked = true;
  EXPECT_EQ(clientHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n", context),
            "HTTP/1.1 200 OK\r\n"
            "X-A: 1\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n");
}

TEST(ClientResponseHead, Close) {
  ClientResponseContext context;
  context.close = true;
  EXPECT_EQ(clientHead(kResponse, context),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 5\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(ClientResponseHead, KeepAliveHeader) {
  ClientResponseContext context;
  context.keep_alive_header = true;
  EXPECT_EQ(clientHead(kResponse, context),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 5\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(ClientResponseHead, CloseWinsOverKeepAliveHeader) {
  ClientResponseContext context;
  context.close = true;
  context.keep_alive_header = true;
  EXPECT_EQ(clientHead(kResponse, context),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 5\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(ClientResponseHead, RequestId) {
  ClientResponseContext context;
  context.request_id = "req-1";
  EXPECT_EQ(clientHead(kResponse, context),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 5\r\n"
            "X-Request-Id: req-1\r\n"
            "\r\n");
}

TEST(ClientResponseHead, AllFlagsInOrder) {
  ClientResponseContext context;
  context.chunked = true;
  context.close = true;
  context.request_id = "req-2";
  EXPECT_EQ(clientHead("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", context),
            "HTTP/1.1 201 Created\r\n"
            "X-Request-Id: req-2\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(ClientResponseHead, TunnelKeepsUpgrade) {
  ClientResponseContext context;
  context.tunnel = true;
  context.close = true;  // ignored for a tunnel
  EXPECT_EQ(clientHead("HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n",
                       context),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Connection: upgrade\r\n"
            "\r\n");
}

TEST(ClientResponseHead, UpgradeDroppedWithoutTunnel) {
  EXPECT_EQ(clientHead("HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n", {}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(ClientResponseHead, HopByHopResponseHeadersDropped) {
  EXPECT_EQ(clientHead("HTTP/1.1 200 OK\r\n"
                       "Connection: keep-alive, X-Internal\r\n"
                       "Keep-Alive: timeout=5, max=100\r\n"
                       "Proxy-Connection: keep-alive\r\n"
                       "Trailer: X-Sum\r\n"
                       "X-Internal: secret\r\n"
                       "Content-Length: 2\r\n"
                       "Cache-Control: no-store\r\n"
                       "\r\n",
                       {}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Length: 2\r\n"
            "Cache-Control: no-store\r\n"
            "\r\n");
}

TEST(ClientResponseHead, EmptyReasonGetsStandardPhrase) {
  EXPECT_EQ(clientHead("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", {}),
            "HTTP/1.1 404 Not Found\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(ClientResponseHead, Http10ResponseIsSentAsHttp11) {
  ClientResponseContext context;
  context.close = true;
  EXPECT_EQ(clientHead("HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", context),
            "HTTP/1.1 200 OK\r\n"
            "Server: old\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(ClientResponseHead, AppendsAfterInterimResponse) {
  // 1xx heads are relayed into the same output, followed by the final head.
  http::ResponseHead head;
  http::ParseError error = http::ParseError::kNone;
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  ASSERT_EQ(http::parseResponseHead(interim, {}, false, &head, &error),
            http::ParseStatus::kComplete);
  std::string out;
  writeClientResponseHead(head, {}, &out);
  std::string final_head = "HTTP/1.1 204 No Content\r\n\r\n";
  ASSERT_EQ(http::parseResponseHead(final_head, {}, false, &head, &error),
            http::ParseStatus::kComplete);
  writeClientResponseHead(head, {}, &out);
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
}

TEST(ClientResponseHead, DefaultHeadersOnlyWhenAbsent) {
  DefaultHeaders defaults{{"x-frame-options", "X-Frame-Options: DENY\r\n"},
                          {"x-content-type-options", "X-Content-Type-Options: nosniff\r\n"}};
  ClientResponseContext context;
  context.defaults = &defaults;
  context.extra_headers = "RateLimit: \"api\";r=4;t=1\r\n";
  EXPECT_EQ(
      clientHead("HTTP/1.1 200 OK\r\nx-frame-options: SAMEORIGIN\r\nContent-Length: 0\r\n\r\n",
                 context),
      "HTTP/1.1 200 OK\r\nx-frame-options: SAMEORIGIN\r\nContent-Length: 0\r\n"
      "X-Content-Type-Options: nosniff\r\nRateLimit: \"api\";r=4;t=1\r\n\r\n");
}

TEST(ClientResponseHead, CompressedBodyRewritesLengthEtagAndVary) {
  ClientResponseContext context;
  context.content_encoding = "br";
  context.vary_accept_encoding = true;
  context.chunked = true;
  EXPECT_EQ(
      clientHead("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nETag: \"v1\"\r\nVary: Origin\r\n\r\n",
                 context),
      "HTTP/1.1 200 OK\r\nETag: W/\"v1\"\r\nContent-Encoding: br\r\nVary: Origin, "
      "Accept-Encoding\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  // Already weak, Vary already listing it (any case), or Vary: * stay as they are.
  EXPECT_EQ(
      clientHead(
          "HTTP/1.1 200 OK\r\nEtag: W/\"v1\"\r\nvary: accept-encoding\r\nVary: Cookie\r\n\r\n",
          context),
      "HTTP/1.1 200 OK\r\nEtag: W/\"v1\"\r\nContent-Encoding: br\r\nVary: accept-encoding, "
      "Cookie\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(
      clientHead("HTTP/1.1 200 OK\r\nVary: *\r\n\r\n", context),
      "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nVary: *\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST(ClientResponseHead, IdentityContentEncodingReplaced) {
  ClientResponseContext context;
  context.content_encoding = "gzip";
  EXPECT_EQ(clientHead("HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 9\r\n\r\n",
                       context),
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n");
}

TEST(ClientResponseHead, VaryAddedForUncompressedVariant) {
  ClientResponseContext context;
  context.vary_accept_encoding = true;
  EXPECT_EQ(
      clientHead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: \"v1\"\r\n\r\n", context),
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: \"v1\"\r\nVary: Accept-Encoding\r\n\r\n");
}

// ---- local responses ----

TEST(LocalResponse, NotFoundKeepAlive) {
  std::string out;
  writeLocalResponse({404, false, "", "", nullptr}, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 404 Not Found\r\n"
            "Server: scalegate\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 14\r\n"
            "\r\n"
            "404 Not Found\n");
}

TEST(LocalResponse, BadGatewayCloseWithRequestId) {
  std::string out;
  writeLocalResponse({502, true, "id-7", "", nullptr}, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 502 Bad Gateway\r\n"
            "Server: scalegate\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "X-Request-Id: id-7\r\n"
            "Content-Length: 16\r\n"
            "Connection: close\r\n"
            "\r\n"
            "502 Bad Gateway\n");
}

// Content-Length must equal the body length for every status the gateway generates.
TEST(LocalResponse, ContentLengthMatchesBody) {
  for (int status : {400, 404, 408, 413, 431, 500, 502, 503, 504, 505, 599}) {
    for (bool close : {false, true}) {
      std::string out;
      writeLocalResponse({status, close, "", "", nullptr}, &out);
      http::ResponseHead head;
      http::ParseError error = http::ParseError::kNone;
      ASSERT_EQ(http::parseResponseHead(out, {}, false, &head, &error),
                http::ParseStatus::kComplete)
          << status;
      EXPECT_EQ(head.status, status);
      EXPECT_EQ(head.body, http::BodyKind::kContentLength);
      EXPECT_EQ(head.content_length, out.size() - head.head_length) << out;
      EXPECT_EQ(head.keep_alive, !close) << out;
      EXPECT_EQ(out.substr(head.head_length),
                std::to_string(status) + " " + std::string(reasonPhrase(status)) + "\n");
    }
  }
}

TEST(LocalResponse, DefaultsAndExtraHeaders) {
  DefaultHeaders defaults{{"x-frame-options", "X-Frame-Options: DENY\r\n"}};
  std::string out;
  writeLocalResponse({429, false, "", "Retry-After: 3\r\n", &defaults}, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 429 Too Many Requests\r\n"
            "Server: scalegate\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "X-Frame-Options: DENY\r\n"
            "Retry-After: 3\r\n"
            "Content-Length: 22\r\n"
            "\r\n"
            "429 Too Many Requests\n");
}

TEST(LocalResponse, ReasonPhrases) {
  EXPECT_EQ(reasonPhrase(200), "OK");
  EXPECT_EQ(reasonPhrase(413), "Content Too Large");
  EXPECT_EQ(reasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reasonPhrase(504), "Gateway Timeout");
  EXPECT_EQ(reasonPhrase(799), "Unknown");
}

}  // namespace
}  // namespace sg::proxy
