// Exactness across worker threads: several threads hammering one key admit exactly what
// one thread would.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

#include "ratelimit/rate_limiter.h"
#include "ratelimit/test_support.h"

namespace sg::ratelimit {
namespace {

using testing::kMs;
using testing::limitConfig;

constexpr int kThreads = 4;

class ThreadsTest : public ::testing::TestWithParam<Algorithm> {};

// Lock-step virtual time: every thread sends 40 requests at each millisecond for 2 s. At one
// instant the order of identical requests cannot matter, so the total must equal a single
// thread's, and for the buckets 50 + one per millisecond after the first.
TEST_P(ThreadsTest, LockStepThreadsAdmitExactlyWhatOneThreadWould) {
  constexpr int64_t kSteps = 2000;
  constexpr int kPerStep = 40;
  const config::RateLimitConfig config = limitConfig(GetParam(), 1000, 1000, 50);
  RateLimiter shared(config);
  std::atomic<uint64_t> admitted{0};
  std::barrier step_barrier(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      uint64_t mine = 0;
      for (int64_t step = 0; step < kSteps; ++step) {
        for (int r = 0; r < kPerStep; ++r) mine += shared.check("global", step * kMs).allowed;
        step_barrier.arrive_and_wait();
      }
      admitted += mine;
    });
  }
  for (std::thread& thread : threads) thread.join();

  RateLimiter alone(config);
  uint64_t expected = 0;
  for (int64_t step = 0; step < kSteps; ++step) {
    for (int r = 0; r < kThreads * kPerStep; ++r)
      expected += alone.check("global", step * kMs).allowed;
  }
  EXPECT_EQ(admitted.load(), expected);
  if (GetParam() != Algorithm::kSlidingWindow) {
    EXPECT_EQ(expected, 50u + (kSteps - 1));
  }
  EXPECT_EQ(shared.stats().allowed, expected);
  EXPECT_EQ(shared.stats().refused, kThreads * kPerStep * kSteps - expected);
}

INSTANTIATE_TEST_SUITE_P(Ratelimit, ThreadsTest, ::testing::ValuesIn(testing::kAllAlgorithms),
                         testing::paramName);

// Free-running: threads take consecutive microsecond timestamps from a shared counter and
// race to the limiter, so requests arrive slightly out of order. Every token that becomes due
// is still taken exactly once: burst + floor(last timestamp x rate).
TEST(FreeRunningThreads, TakeEachTokenExactlyOnce) {
  constexpr int64_t kTimestamps = 400'000;
  for (Algorithm algorithm : testing::kBucketAlgorithms) {
    RateLimiter limiter(limitConfig(algorithm, 1000, 1000, 20));
    std::atomic<int64_t> clock{0};
    std::atomic<uint64_t> admitted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&] {
        uint64_t mine = 0;
        for (int64_t now = clock++; now < kTimestamps; now = clock++) {
          mine += limiter.check("global", now).allowed;
        }
        admitted += mine;
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(admitted.load(), 20u + (kTimestamps - 1) / kMs) << testing::algorithmName(algorithm);
  }
}

}  // namespace
}  // namespace sg::ratelimit
