#include "proxy/request_key.h"

#include <gtest/gtest.h>

#include <string>

#include "http/parser.h"

namespace sg::proxy {
namespace {

std::vector<net::Cidr> networks(std::initializer_list<const char*> texts) {
  std::vector<net::Cidr> out;
  std::string error;
  for (const char* text : texts) out.push_back(*net::Cidr::parse(text, &error));
  return out;
}

// The client address for a request carrying `forwarded` header lines, from `peer`.
std::string clientFor(const std::string& peer, const std::vector<std::string>& forwarded,
                      const std::vector<net::Cidr>& trusted) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (const auto& value : forwarded) raw += "X-Forwarded-For: " + value + "\r\n";
  raw += "\r\n";
  http::RequestHead head;
  http::ParseError error = http::ParseError::kNone;
  EXPECT_EQ(http::parseRequestHead(raw, {}, &head, &error), http::ParseStatus::kComplete);
  return std::string(clientAddress(head, peer, trusted));
}

TEST(ClientAddress, PeerWhenNothingIsTrusted) {
  EXPECT_EQ(clientFor("10.0.0.5", {"1.2.3.4"}, {}), "10.0.0.5");
}

TEST(ClientAddress, PeerWhenThePeerIsNotTrusted) {
  EXPECT_EQ(clientFor("192.0.2.9", {"1.2.3.4"}, networks({"10.0.0.0/8"})), "192.0.2.9");
}

TEST(ClientAddress, RightmostUntrustedEntry) {
  auto trusted = networks({"10.0.0.0/8", "127.0.0.1"});
  // A client can write anything on the left; only what trusted proxies appended counts.
  EXPECT_EQ(clientFor("127.0.0.1", {"6.6.6.6, 1.2.3.4, 10.1.1.1"}, trusted), "1.2.3.4");
  EXPECT_EQ(clientFor("127.0.0.1", {"6.6.6.6", "1.2.3.4 ,10.1.1.1"}, trusted), "1.2.3.4");
  EXPECT_EQ(clientFor("127.0.0.1", {"1.2.3.4"}, trusted), "1.2.3.4");
}

TEST(ClientAddress, AllTrustedGivesTheLeftmost) {
  EXPECT_EQ(clientFor("127.0.0.1", {"10.0.0.1, 10.0.0.2"}, networks({"10.0.0.0/8", "127.0.0.1"})),
            "10.0.0.1");
}

TEST(ClientAddress, GarbageStopsTheWalk) {
  auto trusted = networks({"10.0.0.0/8", "127.0.0.1"});
  EXPECT_EQ(clientFor("127.0.0.1", {"1.2.3.4, unknown, 10.9.9.9"}, trusted), "10.9.9.9");
  EXPECT_EQ(clientFor("127.0.0.1", {"1.2.3.4,"}, trusted), "127.0.0.1");
  EXPECT_EQ(clientFor("127.0.0.1", {"1.2.3.4:80"}, trusted), "127.0.0.1");
}

TEST(ClientAddress, NoHeaderGivesThePeer) {
  EXPECT_EQ(clientFor("127.0.0.1", {}, networks({"127.0.0.1"})), "127.0.0.1");
}

TEST(ClientAddress, IPv6Entries) {
  EXPECT_EQ(clientFor("::1", {"2001:db8::7"}, networks({"::1"})), "2001:db8::7");
}

http::RequestHead headWith(const std::string& raw, std::string* storage) {
  *storage = "GET / HTTP/1.1\r\nHost: a\r\n" + raw + "\r\n";
  http::RequestHead head;
  http::ParseError error = http::ParseError::kNone;
  EXPECT_EQ(http::parseRequestHead(*storage, {}, &head, &error), http::ParseStatus::kComplete);
  return head;
}

TEST(FieldValue, OneLineIsAViewIntoTheHead) {
  std::string raw;
  auto head = headWith("X-K: one\r\n", &raw);
  std::string joined;
  auto value = fieldValue(head, "x-k", &joined);
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, "one");
  EXPECT_TRUE(joined.empty());
  EXPECT_EQ(headerLines(head, "X-K"), 1u);
  EXPECT_FALSE(fieldValue(head, "x-other", &joined).has_value());
  EXPECT_EQ(headerLines(head, "x-other"), 0u);
}

TEST(FieldValue, SeveralLinesAreJoined) {
  std::string raw;
  auto head = headWith("X-K: one\r\nX-Other: z\r\nx-k: two\r\nX-K: three\r\n", &raw);
  std::string joined;
  EXPECT_EQ(fieldValue(head, "X-K", &joined), "one, two, three");
  EXPECT_EQ(headerLines(head, "x-k"), 3u);
}

TEST(HashSource, HeaderKeyUsesTheWholeFieldValue) {
  std::string raw;
  auto head = headWith("X-User: a\r\nX-User: b\r\n", &raw);
  config::HashOn hash_on;
  hash_on.source = config::HashOn::Source::kHeader;
  hash_on.name = "x-user";
  std::string joined;
  EXPECT_EQ(hashSource(head, hash_on, "10.0.0.1", &joined), "a, b");
}

}  // namespace
}  // namespace sg::proxy
