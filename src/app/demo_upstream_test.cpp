#include "app/demo_upstream.h"

#include <gtest/gtest.h>

#include "app/demo_load.h"
#include "http/parser.h"

namespace sg::app {
namespace {

// Parses `text` as a request head (the storage must outlive the returned views).
http::RequestHead parse(const std::string& text) {
  http::RequestHead head;
  http::ParseError error = http::ParseError::kNone;
  EXPECT_EQ(http::parseRequestHead(text, {64 * 1024, 100}, &head, &error),
            http::ParseStatus::kComplete);
  return head;
}

TEST(DemoQueryParameter, FindsNamedValues) {
  EXPECT_EQ(queryParameter("latency=300&fail=20", "fail"), "20");
  EXPECT_EQ(queryParameter("latency=300&fail=20", "latency"), "300");
  EXPECT_EQ(queryParameter("failx=1&fail=2", "fail"), "2");
  EXPECT_EQ(queryParameter("fail", "fail"), "");
  EXPECT_EQ(queryParameter("", "fail"), "");
}

TEST(DemoInstance, KnobsSetByPostApplyToLaterRequests) {
  auto knobs = std::make_shared<DemoKnobs>();
  auto handler = demoInstanceHandler("demo-1", knobs);
  std::string set = "POST /_demo?latency=250&fail=100 HTTP/1.1\r\nHost: x\r\n\r\n";
  auto reply = handler(parse(set), "");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "{\"instance\":\"demo-1\",\"latency_ms\":250,\"fail_percent\":100}\n");
  std::string get = "GET /work HTTP/1.1\r\nHost: x\r\n\r\n";
  reply = handler(parse(get), "");
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(reply.delay_ms, 250);
  std::string health = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(handler(parse(health), "").status, 503);
}

TEST(DemoInstance, QueryOverridesKnobsWithinBounds) {
  auto handler = demoInstanceHandler("demo-2", std::make_shared<DemoKnobs>());
  std::string slow = "GET /x?latency=999999&fail=0 HTTP/1.1\r\nHost: x\r\n\r\n";
  auto reply = handler(parse(slow), "");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.delay_ms, 10'000);
  std::string bad = "GET /x?latency=abc HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(handler(parse(bad), "").delay_ms, 0);
}

TEST(DemoInstance, CachedPathsAreCacheable) {
  auto handler = demoInstanceHandler("demo-3", std::make_shared<DemoKnobs>());
  std::string request = "GET /cached/catalog HTTP/1.1\r\nHost: x\r\n\r\n";
  auto reply = handler(parse(request), "");
  ASSERT_EQ(reply.headers.size(), 2u);
  EXPECT_EQ(reply.headers[1].second, "public, max-age=30");
}

TEST(DemoLoadWave, RisesToItsPeakAndFallsBack) {
  EXPECT_DOUBLE_EQ(DemoLoad::targetRate(0), 20);
  EXPECT_DOUBLE_EQ(DemoLoad::targetRate(150), 300);
  EXPECT_LT(DemoLoad::targetRate(75), DemoLoad::targetRate(120));
  EXPECT_DOUBLE_EQ(DemoLoad::targetRate(300), 20);
}

}  // namespace
}  // namespace sg::app
