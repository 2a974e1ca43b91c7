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

}  // namespace
}  // namespace sg::proxy
