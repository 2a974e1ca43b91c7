#include "net/cidr.h"

#include <gtest/gtest.h>

namespace sg::net {
namespace {

bool inside(const char* network, const char* address) {
  std::string error;
  auto cidr = Cidr::parse(network, &error);
  EXPECT_TRUE(cidr) << network << ": " << error;
  auto ip = IpAddress::parse(address);
  EXPECT_TRUE(ip) << address;
  return cidr && ip && cidr->contains(*ip);
}

TEST(IpAddress, ParsesBothFamiliesAndUnmapsV4InV6) {
  auto v4 = IpAddress::parse("192.0.2.1");
  ASSERT_TRUE(v4);
  EXPECT_FALSE(v4->v6);
  auto mapped = IpAddress::parse("::ffff:192.0.2.1");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(*mapped, *v4);
  auto v6 = IpAddress::parse("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->v6);
}

TEST(IpAddress, RejectsJunk) {
  for (const char* text :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::g", "1.2.3.4:80", " 1.2.3.4", "localhost"}) {
    EXPECT_FALSE(IpAddress::parse(text)) << text;
  }
  EXPECT_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0x", 9)));
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')));
}

TEST(Cidr, MatchesByPrefix) {
  EXPECT_TRUE(inside("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(inside("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(inside("192.168.4.0/22", "192.168.7.255"));
  EXPECT_FALSE(inside("192.168.4.0/22", "192.168.8.0"));
  EXPECT_TRUE(inside("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(inside("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(inside("0.0.0.0/0", "203.0.113.9"));
  EXPECT_TRUE(inside("fd00::/8", "fd12:3456::1"));
  EXPECT_FALSE(inside("fd00::/8", "fe80::1"));
  EXPECT_TRUE(inside("::1", "::1"));
  EXPECT_TRUE(inside("10.0.0.0/8", "::ffff:10.1.2.3"));
  EXPECT_FALSE(inside("::/0", "10.1.2.3"));  // families never match each other
}

TEST(Cidr, ReportsBadNetworks) {
  std::string error;
  EXPECT_FALSE(Cidr::parse("10.0.0.1/8", &error));
  EXPECT_NE(error.find("10.0.0.0/8"), std::string::npos) << error;
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33", &error));
  EXPECT_NE(error.find("0 to 32"), std::string::npos) << error;
  EXPECT_FALSE(Cidr::parse("10.0.0.0/", &error));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/8x", &error));
  EXPECT_FALSE(Cidr::parse("fd00::/129", &error));
  EXPECT_FALSE(Cidr::parse("example.com/8", &error));
  EXPECT_EQ(error, "not an IP address");
}

TEST(Cidr, PrintsCanonically) {
  std::string error;
  EXPECT_EQ(Cidr::parse("fd00:0::/8", &error)->toString(), "fd00::/8");
  EXPECT_EQ(Cidr::parse("127.0.0.1", &error)->toString(), "127.0.0.1/32");
}

}  // namespace
}  // namespace sg::net
