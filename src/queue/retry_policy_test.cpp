#include "queue/retry_policy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace sg::queue {
namespace {

using Backoff = config::QueueConfig::Backoff;
using std::chrono::milliseconds;
constexpr uint64_t kMaxRandom = std::numeric_limits<uint64_t>::max();

DeliveryOutcome status(int code) { return {code, DeliveryFailure::kNone}; }
DeliveryOutcome failure(DeliveryFailure f) { return {0, f}; }

TEST(ClassifyDelivery, TwoAndThreeHundredsSucceed) {
  config::RetryOn on;
  for (int code : {200, 201, 204, 299, 301, 304, 399}) {
    EXPECT_EQ(classifyDelivery(status(code), on, 1, 3), DeliveryVerdict::kSucceeded) << code;
  }
  // Success even on the last attempt, and even when the list names the status.
  on.statuses = {200};
  EXPECT_EQ(classifyDelivery(status(200), on, 3, 3), DeliveryVerdict::kSucceeded);
}

TEST(ClassifyDelivery, UnlistedStatusIsFinal) {
  config::RetryOn on;
  on.gateway_error = true;
  on.statuses = {429};
  EXPECT_EQ(classifyDelivery(status(404), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(status(400), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(status(500), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(status(501), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(status(101), on, 1, 3), DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, ServerErrorCoversEvery5xx) {
  config::RetryOn on;
  on.server_error = true;
  for (int code : {500, 501, 502, 503, 504, 599}) {
    EXPECT_EQ(classifyDelivery(status(code), on, 1, 3), DeliveryVerdict::kRetry) << code;
  }
  EXPECT_EQ(classifyDelivery(status(499), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(status(429), on, 1, 3), DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, GatewayErrorIsOnly502To504) {
  config::RetryOn on;
  on.gateway_error = true;
  for (int code : {502, 503, 504}) {
    EXPECT_EQ(classifyDelivery(status(code), on, 1, 3), DeliveryVerdict::kRetry) << code;
  }
  EXPECT_EQ(classifyDelivery(status(500), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(status(505), on, 1, 3), DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, ListedStatusesAreExact) {
  config::RetryOn on;
  on.statuses = {409, 429};
  EXPECT_EQ(classifyDelivery(status(429), on, 1, 3), DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(status(409), on, 2, 3), DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(status(428), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(status(503), on, 1, 3), DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, ConnectFailureCoversRefusedAndFailed) {
  config::RetryOn on;
  on.connect_failure = true;
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kConnectRefused), on, 1, 3),
            DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kConnectFailed), on, 1, 3),
            DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kReset), on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kTimeout), on, 1, 3),
            DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, RefusedIsOnlyRefused) {
  config::RetryOn on;
  on.refused = true;
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kConnectRefused), on, 1, 3),
            DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kConnectFailed), on, 1, 3),
            DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, ResetAndNoResponseAtAll) {
  config::RetryOn on;
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kNone), on, 1, 3), DeliveryVerdict::kFailed);
  on.reset = true;
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kReset), on, 1, 3), DeliveryVerdict::kRetry);
  // Status 0 without a failure kind: no response at all, the same as a reset.
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kNone), on, 1, 3), DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kTimeout), on, 1, 3),
            DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, Timeout) {
  config::RetryOn on;
  on.timeout = true;
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kTimeout), on, 1, 3),
            DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kConnectRefused), on, 1, 3),
            DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, NothingNamedMeansNoRetry) {
  config::RetryOn on;
  for (auto f : {DeliveryFailure::kConnectRefused, DeliveryFailure::kConnectFailed,
                 DeliveryFailure::kReset, DeliveryFailure::kTimeout}) {
    EXPECT_EQ(classifyDelivery(failure(f), on, 1, 3), DeliveryVerdict::kFailed);
  }
  EXPECT_EQ(classifyDelivery(status(503), on, 1, 3), DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, AttemptsExhaustedGoDead) {
  config::RetryOn on;
  on.server_error = true;
  on.timeout = true;
  EXPECT_EQ(classifyDelivery(status(503), on, 1, 3), DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(status(503), on, 2, 3), DeliveryVerdict::kRetry);
  EXPECT_EQ(classifyDelivery(status(503), on, 3, 3), DeliveryVerdict::kDead);
  EXPECT_EQ(classifyDelivery(status(503), on, 4, 3), DeliveryVerdict::kDead);
  EXPECT_EQ(classifyDelivery(failure(DeliveryFailure::kTimeout), on, 3, 3), DeliveryVerdict::kDead);
  // attempts: 1 means no retry at all.
  EXPECT_EQ(classifyDelivery(status(503), on, 1, 1), DeliveryVerdict::kDead);
  // A final answer on the last attempt is still failed, not dead.
  EXPECT_EQ(classifyDelivery(status(404), on, 3, 3), DeliveryVerdict::kFailed);
}

TEST(ClassifyDelivery, StatusDecidesOverFailure) {
  config::RetryOn on;
  on.timeout = true;
  EXPECT_EQ(classifyDelivery({404, DeliveryFailure::kTimeout}, on, 1, 3), DeliveryVerdict::kFailed);
  EXPECT_EQ(classifyDelivery({200, DeliveryFailure::kReset}, on, 1, 3),
            DeliveryVerdict::kSucceeded);
}

Backoff backoff(Backoff::Type type, int64_t delay, int64_t max, Backoff::Jitter jitter) {
  Backoff b;
  b.type = type;
  b.delay = milliseconds(delay);
  b.max = milliseconds(max);
  b.jitter = jitter;
  return b;
}

TEST(BackoffDelay, ExponentialDoublesUpToTheCap) {
  auto b = backoff(Backoff::Type::kExponential, 2000, 300000, Backoff::Jitter::kNone);
  EXPECT_EQ(backoffDelayMs(b, 1, 0), 2000);
  EXPECT_EQ(backoffDelayMs(b, 2, 0), 4000);
  EXPECT_EQ(backoffDelayMs(b, 3, 0), 8000);
  EXPECT_EQ(backoffDelayMs(b, 7, 0), 128000);
  EXPECT_EQ(backoffDelayMs(b, 8, 0), 256000);
  EXPECT_EQ(backoffDelayMs(b, 9, 0), 300000);
  EXPECT_EQ(backoffDelayMs(b, 0, 0), 2000);  // 0 counts as the first attempt
}

TEST(BackoffDelay, ExponentialNeverOverflows) {
  auto b = backoff(Backoff::Type::kExponential, 2000, 300000, Backoff::Jitter::kNone);
  for (uint32_t attempt : {30u, 52u, 53u, 62u, 63u, 64u, 65u, 100u, 1000u, 4000000000u}) {
    EXPECT_EQ(backoffDelayMs(b, attempt, 0), 300000) << attempt;
  }
  // A cap near the top of int64 and a delay that overflows the shift on its own.
  const int64_t huge = std::numeric_limits<int64_t>::max();
  auto wide = backoff(Backoff::Type::kExponential, huge / 3, huge, Backoff::Jitter::kNone);
  EXPECT_EQ(backoffDelayMs(wide, 1, 0), huge / 3);
  EXPECT_EQ(backoffDelayMs(wide, 2, 0), huge / 3 * 2);
  EXPECT_EQ(backoffDelayMs(wide, 3, 0), huge);
  EXPECT_EQ(backoffDelayMs(wide, 1000, 0), huge);
  auto one = backoff(Backoff::Type::kExponential, 1, huge, Backoff::Jitter::kNone);
  EXPECT_EQ(backoffDelayMs(one, 63, 0), int64_t{1} << 62);
  EXPECT_EQ(backoffDelayMs(one, 64, 0), huge);
  EXPECT_EQ(backoffDelayMs(wide, 1000, kMaxRandom), huge);  // jitter on the saturated value
}

TEST(BackoffDelay, FixedIsTheDelayCapped) {
  auto b = backoff(Backoff::Type::kFixed, 1500, 300000, Backoff::Jitter::kNone);
  EXPECT_EQ(backoffDelayMs(b, 1, 0), 1500);
  EXPECT_EQ(backoffDelayMs(b, 10, 0), 1500);
  EXPECT_EQ(backoffDelayMs(b, 1000, 0), 1500);
  auto capped = backoff(Backoff::Type::kFixed, 10000, 4000, Backoff::Jitter::kNone);
  EXPECT_EQ(backoffDelayMs(capped, 1, 0), 4000);
  auto exp_capped = backoff(Backoff::Type::kExponential, 10000, 4000, Backoff::Jitter::kNone);
  EXPECT_EQ(backoffDelayMs(exp_capped, 1, 0), 4000);
}

TEST(BackoffDelay, FullJitterStaysInBounds) {
  auto b = backoff(Backoff::Type::kExponential, 2000, 300000, Backoff::Jitter::kFull);
  EXPECT_EQ(backoffDelayMs(b, 1, 0), 0);
  EXPECT_EQ(backoffDelayMs(b, 1, kMaxRandom), 2000);
  EXPECT_EQ(backoffDelayMs(b, 3, kMaxRandom), 8000);
  EXPECT_EQ(backoffDelayMs(b, 1000, 0), 0);
  EXPECT_EQ(backoffDelayMs(b, 1000, kMaxRandom), 300000);
  EXPECT_EQ(backoffDelayMs(b, 1, uint64_t{1} << 63), 1000);  // the middle
  uint64_t r = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 1000; ++i) {
    r = r * 6364136223846793005u + 1442695040888963407u;
    int64_t d = backoffDelayMs(b, 2, r);
    EXPECT_GE(d, 0);
    EXPECT_LE(d, 4000);
  }
  auto fixed = backoff(Backoff::Type::kFixed, 500, 300000, Backoff::Jitter::kFull);
  EXPECT_EQ(backoffDelayMs(fixed, 5, 0), 0);
  EXPECT_EQ(backoffDelayMs(fixed, 5, kMaxRandom), 500);
}

TEST(BackoffDelay, ZeroAndNegativeDelays) {
  auto zero = backoff(Backoff::Type::kExponential, 0, 300000, Backoff::Jitter::kFull);
  EXPECT_EQ(backoffDelayMs(zero, 1000, kMaxRandom), 0);
  auto negative = backoff(Backoff::Type::kFixed, -5, 300000, Backoff::Jitter::kNone);
  EXPECT_EQ(backoffDelayMs(negative, 1, 0), 0);
}

TEST(DescribeOutcome, ShortTexts) {
  EXPECT_EQ(describeOutcome(status(503)), "status 503");
  EXPECT_EQ(describeOutcome(status(404)), "status 404");
  EXPECT_EQ(describeOutcome(failure(DeliveryFailure::kConnectRefused)), "connect refused");
  EXPECT_EQ(describeOutcome(failure(DeliveryFailure::kConnectFailed)), "connect failed");
  EXPECT_EQ(describeOutcome(failure(DeliveryFailure::kTimeout)), "timeout");
  EXPECT_EQ(describeOutcome(failure(DeliveryFailure::kReset)),
            "connection closed before a response");
  EXPECT_EQ(describeOutcome(failure(DeliveryFailure::kNone)), "no response");
}

}  // namespace
}  // namespace sg::queue
