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
  EXPECT_EQ(policy, R"("test";q=10;w=1)");
  EXPECT_EQ(state, R"("test";r=7;t=1)");  // 2 left now, 5 more within the second
}

// 10/s with a burst of 1 is 10 requests per second, not 1: the policy says so, and the state
// counts against it.
TEST(Headers, SubSecondQuotaAdvertisesWhatTheClientHasPerWindow) {
  for (Algorithm algorithm : {Algorithm::kTokenBucket, Algorithm::kGcra}) {
    RateLimiter limiter(testing::limitConfig(algorithm, 10, 1000, 1));
    std::string policy;
    std::string state;
    const Decision first = limiter.check("k", 0);
    appendPolicy(&policy, "p", first);
    appendState(&state, "p", first);
    EXPECT_EQ(policy, R"("p";q=10;w=1)");
    EXPECT_EQ(state, R"("p";r=0;t=1)");  // the one token is spent: the next must wait
    // Paced at the rate, every request passes: 10 in the advertised second.
    int passed = 1;
    for (int64_t t = 100'000; t < 1'000'000; t += 100'000) passed += limiter.check("k", t).allowed;
    EXPECT_EQ(passed, 10);
  }
  RateLimiter burst(testing::limitConfig(Algorithm::kTokenBucket, 100, 1000, 50));
  const Decision fresh = burst.check("k", 0);
  std::string policy;
  std::string state;
  appendPolicy(&policy, "b", fresh);
  appendState(&state, "b", fresh);
  EXPECT_EQ(policy, R"("b";q=100;w=1)");
  EXPECT_EQ(state, R"("b";r=99;t=1)");  // one of the 100 used
  RateLimiter window(testing::limitConfig(Algorithm::kSlidingWindow, 10, 200, 0));
  policy.clear();
  state.clear();
  const Decision sliding = window.check("k", 0);
  appendPolicy(&policy, "w", sliding);
  appendState(&state, "w", sliding);
  EXPECT_EQ(policy, R"("w";q=50;w=1)");
  EXPECT_EQ(state, R"("w";r=49;t=1)");
}

}  // namespace
}  // namespace sg::ratelimit
