// RateLimit-Policy / RateLimit header values, byte for byte.
#include "ratelimit/headers.h"

#include <gtest/gtest.h>

#include <string>

#include "ratelimit/test_support.h"

namespace sg::ratelimit {
namespace {

Decision decision(uint64_t limit, uint32_t window, uint64_t remaining, uint32_t reset) {
  Decision d;
  d.limit = limit;
  d.window_seconds = window;
  d.remaining = remaining;
  d.reset_seconds = reset;
  return d;
}

TEST(Headers, OnePolicy) {
  std::string policy;
  std::string state;
  appendPolicy(&policy, "name", decision(100, 60, 42, 17));
  appendState(&state, "name", decision(100, 60, 42, 17));
  EXPECT_EQ(policy, R"("name";q=100;w=60)");
  EXPECT_EQ(state, R"("name";r=42;t=17)");
}

TEST(Headers, SeveralPoliciesAreListMembersJoinedByCommaSpace) {
  std::string policy;
  std::string state;
  appendPolicy(&policy, "public", decision(100, 60, 99, 1));
  appendPolicy(&policy, "/api/users", decision(10, 1, 0, 1));
  appendState(&state, "public", decision(100, 60, 99, 1));
  appendState(&state, "/api/users", decision(10, 1, 0, 1));
  EXPECT_EQ(policy, R"("public";q=100;w=60, "/api/users";q=10;w=1)");
  EXPECT_EQ(state, R"("public";r=99;t=1, "/api/users";r=0;t=1)");
}

TEST(Headers, NameIsAnEscapedSfString) {
  std::string out;
  appendSfString(&out, R"(a"b\c d)");
  EXPECT_EQ(out, R"("a\"b\\c d")");
  out.clear();
  appendSfString(&out, "");
  EXPECT_EQ(out, R"("")");
}

TEST(Headers, BytesOutsidePrintableAsciiBecomeQuestionMarks) {
  std::string out;
  appendSfString(&out, std::string("tab\there\r\n\x7f\x01") + "caf\xc3\xa9~ ");
  EXPECT_EQ(out, R"("tab?here????caf??~ ")");
}

TEST(Headers, IntegersAreClampedToTheSfIntegerRange) {
  std::string out;
  appendPolicy(&out, "big", decision(UINT64_MAX, UINT32_MAX, 0, 0));
  EXPECT_EQ(out, R"("big";q=999999999999999;w=4294967295)");
  out.clear();
  appendState(&out, "big", decision(0, 0, kMaxSfInteger + 1, 0));
  EXPECT_EQ(out, R"("big";r=999999999999999;t=0)");
}

// From a real limiter: 10/s with a burst of 5, after three requests at t=0.
TEST(Headers, FromALimiterDecision) {
  RateLimiter limiter(testing::limitConfig(Algorithm::kTokenBucket, 10, 1000, 5));
  Decision last;
  for (int i = 0; i < 3; ++i) last = limiter.check("198.51.100.7", 0);
  std::string policy;
  std::string state;
  appendPolicy(&policy, limiter.name(), last);
  appendState(&state, limiter.name(), last);
  EXPECT_EQ(policy, R"("test";q=5;w=1)");
  EXPECT_EQ(state, R"("test";r=2;t=1)");
}

}  // namespace
}  // namespace sg::ratelimit
