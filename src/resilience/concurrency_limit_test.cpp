#include "resilience/concurrency_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sg::resilience {
namespace {

TEST(ConcurrencyLimit, CapsAndCountsOverflows) {
  ConcurrencyLimit limit(2);
  EXPECT_TRUE(limit.tryAcquire());
  EXPECT_TRUE(limit.tryAcquire());
  EXPECT_EQ(limit.current(), 2u);
  EXPECT_FALSE(limit.tryAcquire());
  EXPECT_FALSE(limit.tryAcquire());
  EXPECT_EQ(limit.current(), 2u);  // a refusal takes nothing
  EXPECT_EQ(limit.overflows(), 2u);
  limit.release();
  EXPECT_EQ(limit.current(), 1u);
  EXPECT_TRUE(limit.tryAcquire());
  EXPECT_EQ(limit.overflows(), 2u);
}

TEST(ConcurrencyLimit, ZeroMeansNoCapButStillCounts) {
  ConcurrencyLimit limit(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limit.tryAcquire());
  EXPECT_EQ(limit.current(), 1000u);
  EXPECT_EQ(limit.overflows(), 0u);
  limit.release();
  EXPECT_EQ(limit.current(), 999u);
}

TEST(ConcurrencyLimit, ReleaseWithoutAcquireDoesNotWrap) {
  ConcurrencyLimit limit(1);
  limit.release();
  EXPECT_EQ(limit.current(), 0u);
  EXPECT_TRUE(limit.tryAcquire());
  EXPECT_FALSE(limit.tryAcquire());
}

TEST(ConcurrencyLimit, LeaseReleasesOnDestructionAndMove) {
  ConcurrencyLimit limit(1);
  {
    LimitLease lease(limit);
    EXPECT_TRUE(lease.held());
    LimitLease refused(limit);
    EXPECT_FALSE(refused.held());
    LimitLease moved(std::move(lease));
    EXPECT_FALSE(lease.held());  // NOLINT(bugprone-use-after-move): checking the moved-from
    EXPECT_TRUE(moved.held());
    EXPECT_EQ(limit.current(), 1u);
  }
  EXPECT_EQ(limit.current(), 0u);
  EXPECT_EQ(limit.overflows(), 1u);
  LimitLease a(limit);
  LimitLease b;
  b = std::move(a);
  EXPECT_EQ(limit.current(), 1u);
  b.reset();
  EXPECT_EQ(limit.current(), 0u);
}

// Threads race for a cap of 3: the cap is never exceeded, and acquires + overflows add up.
TEST(ConcurrencyLimit, NeverExceedsCapUnderContention) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 20000;
  ConcurrencyLimit limit(3);
  std::atomic<uint32_t> peak{0};
  std::atomic<uint64_t> acquired{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        if (!limit.tryAcquire()) continue;
        acquired.fetch_add(1, std::memory_order_relaxed);
        uint32_t now = limit.current();
        uint32_t seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        limit.release();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(peak.load(), 3u);
  EXPECT_EQ(limit.current(), 0u);
  EXPECT_EQ(acquired.load() + limit.overflows(), uint64_t{kThreads} * kRounds);
}

}  // namespace
}  // namespace sg::resilience
