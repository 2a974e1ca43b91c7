#include "health/passive_health.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sg::health {
namespace {

constexpr int64_t kTimeout = 10'000;

TEST(PassiveHealth, StartsUp) {
  PassiveHealth h(3, kTimeout);
  EXPECT_TRUE(h.isUp(0));
  EXPECT_TRUE(h.isUp(123456));
  EXPECT_EQ(h.failuresInWindow(), 0u);
  EXPECT_EQ(h.timesMarkedDown(), 0u);
}

TEST(PassiveHealth, MaxFailsWithinWindowMarksDownForFailTimeout) {
  PassiveHealth h(3, kTimeout);
  h.recordFailure(1000);
  h.recordFailure(2000);
  EXPECT_TRUE(h.isUp(2000));
  EXPECT_EQ(h.failuresInWindow(), 2u);
  h.recordFailure(3000);
  EXPECT_FALSE(h.isUp(3000));
  EXPECT_EQ(h.downUntil(), 13000);
  EXPECT_FALSE(h.isUp(12999));
  EXPECT_TRUE(h.isUp(13000));
  EXPECT_EQ(h.timesMarkedDown(), 1u);
}

TEST(PassiveHealth, MaxFailsOneMarksDownOnFirstFailure) {
  PassiveHealth h(1, kTimeout);
  h.recordFailure(500);
  EXPECT_FALSE(h.isUp(500));
  EXPECT_EQ(h.downUntil(), 10500);
  EXPECT_EQ(h.timesMarkedDown(), 1u);
}

TEST(PassiveHealth, FailuresSpreadOverMoreThanTheWindowDoNotMarkDown) {
  PassiveHealth h(3, kTimeout);
  h.recordFailure(0);
  h.recordFailure(5000);
  // Window [0, 10000) is over: this failure opens a new window and counts as 1.
  h.recordFailure(10000);
  EXPECT_EQ(h.failuresInWindow(), 1u);
  h.recordFailure(15000);
  EXPECT_TRUE(h.isUp(15000));
  h.recordFailure(19999);  // third failure inside [10000, 20000)
  EXPECT_FALSE(h.isUp(19999));
  EXPECT_EQ(h.timesMarkedDown(), 1u);
}

TEST(PassiveHealth, SuccessResetsCountButNotDownUntil) {
  PassiveHealth h(2, kTimeout);
  h.recordFailure(0);
  h.recordSuccess();
  EXPECT_EQ(h.failuresInWindow(), 0u);
  h.recordFailure(1);
  EXPECT_TRUE(h.isUp(1));  // count restarted at 1
  h.recordFailure(2);
  EXPECT_FALSE(h.isUp(2));
  h.recordSuccess();  // e.g. a request that was already in flight
  EXPECT_EQ(h.failuresInWindow(), 0u);
  EXPECT_FALSE(h.isUp(3));
  EXPECT_EQ(h.downUntil(), 10002);
}

// nginx keeps fails >= max_fails until a success: after the down period the server is up
// again, but its first failure marks it down again at once.
TEST(PassiveHealth, FirstFailureAfterDownPeriodMarksDownAgainLikeNginx) {
  PassiveHealth h(3, kTimeout);
  h.recordFailure(0);
  h.recordFailure(1);
  h.recordFailure(2);
  EXPECT_FALSE(h.isUp(5000));
  EXPECT_TRUE(h.isUp(10002));
  EXPECT_EQ(h.failuresInWindow(), 3u);  // time alone does not clear the count
  h.recordFailure(30000);               // long after both the window and the down period
  EXPECT_FALSE(h.isUp(30000));
  EXPECT_EQ(h.downUntil(), 40000);
  EXPECT_EQ(h.timesMarkedDown(), 2u);
}

TEST(PassiveHealth, SuccessAfterDownPeriodRestartsCountingFromOne) {
  PassiveHealth h(3, kTimeout);
  for (int i = 0; i < 3; ++i) h.recordFailure(i);
  h.recordSuccess();
  h.recordFailure(20000);
  EXPECT_EQ(h.failuresInWindow(), 1u);
  EXPECT_TRUE(h.isUp(20000));
  h.recordFailure(20001);
  EXPECT_TRUE(h.isUp(20001));
  h.recordFailure(20002);
  EXPECT_FALSE(h.isUp(20002));
  EXPECT_EQ(h.timesMarkedDown(), 2u);
}

TEST(PassiveHealth, FailureWhileDownExtendsWithoutCountingAnotherMarkDown) {
  PassiveHealth h(1, kTimeout);
  h.recordFailure(0);
  h.recordFailure(4000);  // in-flight request failing while down
  EXPECT_EQ(h.downUntil(), 14000);
  EXPECT_FALSE(h.isUp(13999));
  EXPECT_EQ(h.timesMarkedDown(), 1u);
}

TEST(PassiveHealth, MaxFailsZeroDisablesMarking) {
  PassiveHealth h(0, kTimeout);
  for (int i = 0; i < 100; ++i) h.recordFailure(i);
  EXPECT_TRUE(h.isUp(100));
  EXPECT_EQ(h.timesMarkedDown(), 0u);
  EXPECT_EQ(h.failuresInWindow(), 0u);
}

TEST(PassiveHealth, ZeroFailTimeoutNeverMarksDown) {
  PassiveHealth h(1, 0);
  h.recordFailure(7);
  EXPECT_TRUE(h.isUp(7));
  EXPECT_EQ(h.timesMarkedDown(), 0u);
}

TEST(PassiveHealth, ConcurrentFailuresMarkDownOnceAndNeverCorrupt) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10'000;
  PassiveHealth h(5, kTimeout);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < kPerThread; ++i) {
        h.recordFailure(100);
        if (i % 7 == 0) h.recordSuccess();
        (void)h.isUp(100);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(h.isUp(100));
  EXPECT_EQ(h.downUntil(), 100 + kTimeout);
  EXPECT_EQ(h.timesMarkedDown(), 1u);  // every failure happened at the same instant
  EXPECT_LE(h.failuresInWindow(), static_cast<uint64_t>(kThreads) * kPerThread);
}

}  // namespace
}  // namespace sg::health
