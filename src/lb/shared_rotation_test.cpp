// round_robin with a SharedRotation: the balancers of several workers follow one rotation.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lb/balancer.h"
#include "lb/test_support.h"

namespace sg::lb {
namespace {

using testing::make;
using testing::picks;
using testing::weights;

BalancerOptions sharing(SharedRotation* rotation, int64_t slow_start_ms = 0) {
  BalancerOptions options;
  options.rotation = rotation;
  options.slow_start_ms = slow_start_ms;
  return options;
}

// One pick from each balancer in turn, `rounds` times, spelt as in testing::picks.
std::string alternate(const std::vector<Balancer*>& balancers, const std::vector<uint8_t>& healthy,
                      int rounds, int64_t now_ms = 0) {
  std::string out;
  for (int round = 0; round < rounds; ++round) {
    for (Balancer* balancer : balancers) out += picks(*balancer, healthy, 1, {}, now_ms);
  }
  return out;
}

TEST(SharedRotation, TwoWorkersFollowOneRotation) {
  SharedRotation rotation;
  auto first = make(Algorithm::kRoundRobin, weights({1, 1, 1}), sharing(&rotation));
  auto second = make(Algorithm::kRoundRobin, weights({1, 1, 1}), sharing(&rotation));
  EXPECT_EQ(alternate({first.get(), second.get()}, {1, 1, 1}, 3), "abcabc");
  // However the requests fall on the workers.
  const std::string from_first = picks(*first, {1, 1, 1}, 2);
  EXPECT_EQ(from_first + picks(*second, {1, 1, 1}, 4), "abcabc");
}

TEST(SharedRotation, WithoutOneEachBalancerKeepsItsOwn) {
  auto first = make(Algorithm::kRoundRobin, weights({1, 1, 1}));
  auto second = make(Algorithm::kRoundRobin, weights({1, 1, 1}));
  EXPECT_EQ(alternate({first.get(), second.get()}, {1, 1, 1}, 3), "aabbcc");
}

TEST(SharedRotation, SkippingAServerStaysFair) {
  SharedRotation rotation;
  auto first = make(Algorithm::kRoundRobin, weights({1, 1, 1}), sharing(&rotation));
  auto second = make(Algorithm::kRoundRobin, weights({1, 1, 1}), sharing(&rotation));
  EXPECT_EQ(alternate({first.get(), second.get()}, {1, 0, 1}, 3), "acacac");
  EXPECT_EQ(alternate({first.get(), second.get()}, {1, 1, 1}, 3), "abcabc");
}

TEST(SharedRotation, BackupsHaveTheirOwnCursor) {
  SharedRotation rotation;
  const std::vector<ServerSpec> servers = {{1, false}, {1, true}, {1, true}, {1, false}};
  auto first = make(Algorithm::kRoundRobin, servers, sharing(&rotation));
  auto second = make(Algorithm::kRoundRobin, servers, sharing(&rotation));
  EXPECT_EQ(alternate({first.get(), second.get()}, {1, 1, 1, 1}, 1), "ad");
  EXPECT_EQ(alternate({first.get(), second.get()}, {0, 1, 1, 0}, 2), "bcbc");
  EXPECT_EQ(alternate({first.get(), second.get()}, {1, 1, 1, 1}, 1), "ad");
}

// Credits are per balancer: each worker gives a ramping server its share of its own turns.
TEST(SharedRotation, SlowStartShareHoldsPerWorker) {
  SharedRotation rotation;
  auto first = make(Algorithm::kRoundRobin, weights({1, 1, 1}), sharing(&rotation, 10'000));
  auto second = make(Algorithm::kRoundRobin, weights({1, 1, 1}), sharing(&rotation, 10'000));
  alternate({first.get(), second.get()}, {1, 1, 0}, 1, 0);
  const std::string ramping = alternate({first.get(), second.get()}, {1, 1, 1}, 210, 0);
  const auto c = std::count(ramping.begin(), ramping.end(), 'c');
  EXPECT_NEAR(static_cast<double>(c), 20.0, 3.0);  // 10% of the turns that reach c
  const std::string done = alternate({first.get(), second.get()}, {1, 1, 1}, 150, 10'000);
  EXPECT_EQ(std::count(done.begin(), done.end(), 'c'), 100);
}

// Whatever the interleaving, each compare-and-swap moves the cursor one position from where
// the choice was made, so concurrent picks over healthy servers split exactly evenly.
TEST(SharedRotation, ConcurrentPicksSplitExactly) {
  SharedRotation rotation;
  constexpr int kThreads = 4;
  constexpr int kPicksPerThread = 30'000;
  std::vector<std::atomic<int>> counts(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto balancer = make(Algorithm::kRoundRobin, weights({1, 1, 1}), sharing(&rotation));
      const std::vector<uint8_t> healthy = {1, 1, 1};
      for (int i = 0; i < kPicksPerThread; ++i) {
        const int server = balancer->pick(PickContext{.healthy = healthy});
        counts[static_cast<size_t>(server)].fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& count : counts) EXPECT_EQ(count.load(), kThreads * kPicksPerThread / 3);
}

}  // namespace
}  // namespace sg::lb
