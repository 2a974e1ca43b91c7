// Seeded distributions of the random algorithms (counts, not timings).
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "lb/test_support.h"

namespace sg::lb {
namespace {

using testing::counts;
using testing::make;
using testing::weights;

constexpr int kPicks = 100'000;

BalancerOptions seeded(uint64_t seed) {
  BalancerOptions options;
  options.seed = seed;
  return options;
}

TEST(Random, WeightedThreeToOneWithinFivePercent) {
  auto balancer = make(Algorithm::kRandom, weights({3, 1}), seeded(1));
  const std::vector<uint8_t> healthy = {1, 1};
  const std::vector<int> seen = counts(*balancer, {.healthy = healthy}, 2, kPicks);
  EXPECT_NEAR(seen[0], kPicks * 0.75, kPicks * 0.75 * 0.05);
  EXPECT_NEAR(seen[1], kPicks * 0.25, kPicks * 0.25 * 0.05);
}

TEST(Random, EqualWeightsAreUniform) {
  auto balancer = make(Algorithm::kRandom, testing::equalServers(8), seeded(2));
  const std::vector<uint8_t> healthy(8, 1);
  for (int count : counts(*balancer, {.healthy = healthy}, 8, kPicks)) {
    EXPECT_NEAR(count, kPicks / 8.0, kPicks / 8.0 * 0.05);
  }
}

TEST(Random, SkipsUnhealthyAndKeepsWeights) {
  auto balancer = make(Algorithm::kRandom, weights({1, 5, 2, 1}), seeded(3));
  const std::vector<uint8_t> healthy = {1, 0, 1, 1};
  const std::vector<int> seen = counts(*balancer, {.healthy = healthy}, 4, kPicks);
  EXPECT_EQ(seen[1], 0);
  EXPECT_NEAR(seen[2], kPicks / 2.0, kPicks / 2.0 * 0.05);
}

TEST(Random, SameSeedSameSequenceOtherSeedOtherSequence) {
  const std::vector<uint8_t> healthy(8, 1);
  auto sequence = [&](uint64_t seed) {
    auto balancer = make(Algorithm::kRandom, testing::equalServers(8), seeded(seed));
    return testing::picks(*balancer, healthy, 64);
  };
  EXPECT_EQ(sequence(7), sequence(7));
  EXPECT_NE(sequence(7), sequence(8));
}

TEST(LeastRequest, SkewsLoadAwayFromABusyServer) {
  auto balancer = make(Algorithm::kLeastRequest, testing::equalServers(8), seeded(4));
  const std::vector<uint8_t> healthy(8, 1);
  std::vector<uint32_t> in_flight(8, 0);
  in_flight[0] = 50;
  const std::vector<int> seen =
      counts(*balancer, {.healthy = healthy, .in_flight = in_flight}, 8, kPicks);
  EXPECT_LT(seen[0], kPicks * 0.05);
  for (size_t i = 1; i < 8; ++i) EXPECT_NEAR(seen[i], kPicks / 7.0, kPicks / 7.0 * 0.05);
}

TEST(LeastRequest, BalancesAccumulatingLoadByWeight) {
  auto balancer = make(Algorithm::kLeastRequest, weights({3, 1, 1, 1}), seeded(5));
  const std::vector<uint8_t> healthy(4, 1);
  std::vector<uint32_t> in_flight(4, 0);
  for (int i = 0; i < 6000; ++i) {
    ++in_flight.at(balancer->pick({.healthy = healthy, .in_flight = in_flight}));
  }
  // Two choices keep loads close to weight-proportional: 3000, 1000, 1000, 1000.
  EXPECT_NEAR(in_flight[0], 3000, 150);
  for (size_t i = 1; i < 4; ++i) EXPECT_NEAR(in_flight[i], 1000, 100);
}

TEST(LeastRequest, NeverPicksTheSameServerTwiceInADraw) {
  // With two servers, the less loaded one always wins: both are drawn every time.
  auto balancer = make(Algorithm::kLeastRequest, weights({1, 1}), seeded(6));
  const std::vector<uint8_t> healthy = {1, 1};
  const std::vector<uint32_t> in_flight = {1, 0};
  const std::vector<int> seen =
      counts(*balancer, {.healthy = healthy, .in_flight = in_flight}, 2, 1000);
  EXPECT_EQ(seen[1], 1000);
}

TEST(LeastRequest, SingleCandidateIsReturned) {
  auto balancer = make(Algorithm::kLeastRequest, weights({1, 1, 1}), seeded(7));
  const std::vector<uint8_t> healthy = {1, 1, 1};
  const std::vector<uint8_t> excluded = {1, 0, 1};
  const std::vector<uint32_t> in_flight = {0, 100, 0};
  const std::vector<int> seen =
      counts(*balancer, {.healthy = healthy, .excluded = excluded, .in_flight = in_flight}, 3, 100);
  EXPECT_EQ(seen[1], 100);
}

// Hash algorithms without a key pick at weighted random.
class WithoutKey : public ::testing::TestWithParam<Algorithm> {};

TEST_P(WithoutKey, PicksAtWeightedRandom) {
  auto balancer = make(GetParam(), weights({3, 1}), seeded(8));
  const std::vector<uint8_t> healthy = {1, 1};
  const std::vector<int> seen = counts(*balancer, {.healthy = healthy, .hash = 12345}, 2, kPicks);
  EXPECT_NEAR(seen[0], kPicks * 0.75, kPicks * 0.75 * 0.05);
}

INSTANTIATE_TEST_SUITE_P(Lb, WithoutKey,
                         ::testing::Values(Algorithm::kIpHash, Algorithm::kHash,
                                           Algorithm::kRingHash, Algorithm::kMaglev));

}  // namespace
}  // namespace sg::lb
