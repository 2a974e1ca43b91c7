#include "proxy/cache_warm.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace sg::proxy {
namespace {

WarmTarget parse(std::string_view url) {
  std::string error;
  auto target = parseWarmUrl(url, "127.0.0.1:8080", &error);
  EXPECT_TRUE(target.has_value()) << url << ": " << error;
  return target.value_or(WarmTarget{});
}

bool refused(std::string_view url) {
  std::string error;
  bool bad = !parseWarmUrl(url, "127.0.0.1:8080", &error).has_value();
  EXPECT_TRUE(!bad || !error.empty());
  return bad;
}

TEST(CacheWarm, PathsUseTheListenersAddress) {
  auto target = parse("/a/b?x=1&y=2");
  EXPECT_EQ(target.host, "127.0.0.1:8080");
  EXPECT_EQ(target.target, "/a/b?x=1&y=2");
  EXPECT_EQ(parse("/a#fragment").target, "/a");  // as a client: the fragment is not sent
}

TEST(CacheWarm, AbsoluteUrlsGiveTheHost) {
  auto target = parse("http://Example.com:81/p?q=1");
  EXPECT_EQ(target.host, "Example.com:81");
  EXPECT_EQ(target.target, "/p?q=1");
  EXPECT_EQ(parse("HTTP://example.com").target, "/");
  EXPECT_EQ(parse("http://example.com?x=1").target, "/?x=1");
  EXPECT_EQ(parse("http://[::1]:80/v6").host, "[::1]:80");
}

TEST(CacheWarm, RefusesWhatCannotBeARequestHead) {
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused("relative/path"));
  EXPECT_TRUE(refused("https://example.com/a"));  // the gateway speaks HTTP/1.1 to itself
  EXPECT_TRUE(refused("http:///a"));
  EXPECT_TRUE(refused("http://user@example.com/a"));
  EXPECT_TRUE(refused("/a b"));
  EXPECT_TRUE(refused("/a\r\nX-Injected: 1"));
  EXPECT_TRUE(refused(std::string_view("/a\0b", 4)));
}

TEST(CacheWarm, BuildsAGetHead) {
  EXPECT_EQ(warmRequestHead({"h:1", "/x?y"}), "GET /x?y HTTP/1.1\r\nHost: h:1\r\n\r\n");
}

TEST(CacheWarm, ReadsAFileSkippingCommentsAndBlankLines) {
  char path[] = "/tmp/cache_warm_testXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "# warm list\n/a\n\n   \n  /b?x=1  \r\n  # indented comment\nnot a url\n/c";
  }
  std::vector<WarmFileLine> lines;
  std::string error;
  ASSERT_TRUE(readWarmFile(path, &lines, &error)) << error;
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].number, 2u);
  EXPECT_EQ(lines[0].text, "/a");
  EXPECT_EQ(lines[1].number, 5u);
  EXPECT_EQ(lines[1].text, "/b?x=1");
  EXPECT_EQ(lines[2].number, 7u);
  EXPECT_EQ(lines[2].text, "not a url");
  EXPECT_EQ(lines[3].text, "/c");  // no final newline
  std::remove(path);
}

TEST(CacheWarm, SaysWhyAFileCannotBeRead) {
  std::vector<WarmFileLine> lines;
  std::string error;
  EXPECT_FALSE(readWarmFile("/nonexistent/warm.txt", &lines, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_TRUE(lines.empty());
}

}  // namespace
}  // namespace sg::proxy
