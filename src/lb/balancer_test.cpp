// Exact sequences of the deterministic algorithms (round robin, weighted round robin,
// least_conn), setWeight, and what every algorithm must honour.
#include "lb/balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "lb/test_support.h"

namespace sg::lb {
namespace {

using testing::make;
using testing::picks;
using testing::weights;

BalancerOptions noPanic() {
  BalancerOptions options;
  options.panic_threshold = 0;
  return options;
}

TEST(RoundRobin, RotatesInIndexOrderIgnoringWeights) {
  auto balancer = make(Algorithm::kRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "abcabca");
}

TEST(RoundRobin, SkipsUnusableServerKeepingRotationFair) {
  auto balancer = make(Algorithm::kRoundRobin, weights({1, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 0, 1}, 6), "acacac");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 3), "abc");
  EXPECT_EQ(picks(*balancer, {0, 1, 1}, 4), "bcbc");
}

TEST(RoundRobin, ContinuesFromWhereItLeftOffWhenUsabilityChanges) {
  auto balancer = make(Algorithm::kRoundRobin, weights({1, 1, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 2), "ab");
  EXPECT_EQ(picks(*balancer, {1, 0, 0, 1}, 3), "dad");
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 4), "abcd");
}

TEST(RoundRobin, ExcludedServersAreSkipped) {
  auto balancer = make(Algorithm::kRoundRobin, weights({1, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 4, {0, 1, 0}), "acac");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 2, {1, 1, 0}), "cc");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 3), "abc");
}

TEST(RoundRobin, BackupsOnlyWhenNoPrimaryIsUsable) {
  std::vector<ServerSpec> servers = {{1, false}, {1, true}, {1, true}, {1, false}};
  auto balancer = make(Algorithm::kRoundRobin, servers);
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 4), "adad");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 0}, 4), "bcbc");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 1}, 2), "dd");
  EXPECT_EQ(picks(*balancer, {0, 0, 1, 0}, 2), "cc");
}

TEST(RoundRobin, MinusOneWhenNothingIsUsable) {
  std::vector<ServerSpec> servers = {{1, false}, {1, true}};
  auto balancer = make(Algorithm::kRoundRobin, servers, noPanic());
  EXPECT_EQ(picks(*balancer, {0, 0}, 2), "--");
  EXPECT_EQ(picks(*balancer, {}, 1), "-");  // short healthy span: missing = unhealthy
  EXPECT_EQ(picks(*balancer, {1}, 2), "aa");
  auto empty = make(Algorithm::kRoundRobin, {});
  EXPECT_EQ(picks(*empty, {}, 2), "--");
}

TEST(WeightedRoundRobin, SmoothSequenceForWeights511) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 14), "aabacaaaabacaa");
}

TEST(WeightedRoundRobin, Weights21GiveExactlyTwoToOne) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({2, 1}));
  std::array<int, 2> counts{};
  const std::vector<uint8_t> healthy = {1, 1};
  for (int i = 0; i < 300; ++i) ++counts.at(balancer->pick(PickContext{.healthy = healthy}));
  EXPECT_EQ(counts[0], 200);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(picks(*balancer, healthy, 6), "abaaba");
}

TEST(WeightedRoundRobin, EqualWeightsAlternateInIndexOrder) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({3, 3, 3}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 6), "abcabc");
}

TEST(WeightedRoundRobin, UnusableServerIsSkippedAndSequenceStaysSmooth) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "aabacaa");
  // Full cycle done (all current weights 0): without c it is 5:1 smooth.
  EXPECT_EQ(picks(*balancer, {1, 1, 0}, 6), "aaabaa");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "aabacaa");
}

TEST(WeightedRoundRobin, UsabilityChangeMidCycleStaysSmooth) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 3), "aab");
  EXPECT_EQ(picks(*balancer, {1, 1, 0}, 6), "aaaaab");
  // c returns with the current weight it kept while unusable (nginx behaviour); the
  // 5:1:1 ratio then holds exactly in every following cycle of 7 picks.
  const std::string after = picks(*balancer, {1, 1, 1}, 21);
  EXPECT_EQ(after, "acaaaabacaaaabacaaaab");
  for (size_t cycle = 0; cycle < after.size(); cycle += 7) {
    const std::string window = after.substr(cycle, 7);
    EXPECT_EQ(std::count(window.begin(), window.end(), 'a'), 5);
    EXPECT_EQ(std::count(window.begin(), window.end(), 'b'), 1);
    EXPECT_EQ(std::count(window.begin(), window.end(), 'c'), 1);
  }
}

TEST(WeightedRoundRobin, ExcludedServerKeepsItsCurrentWeight) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 3), "aab");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 6, {0, 0, 1}), "aaaaab");  // as unhealthy c above
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "acaaaab");
}

TEST(WeightedRoundRobin, BackupsOnlyWhenNoPrimaryIsUsable) {
  std::vector<ServerSpec> servers = {{3, false}, {2, true}, {1, true}, {1, false}};
  auto balancer = make(Algorithm::kWeightedRoundRobin, servers, noPanic());
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 8), "aadaaada");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 0}, 6), "bcbbcb");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 1}, 2), "dd");
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 0}, 2), "--");
}

TEST(WeightedRoundRobin, ZeroWeightCountsAsOne) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({0, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1}, 4), "abab");
}

TEST(WeightedRoundRobin, MinusOneWhenNothingIsUsable) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({1, 2}), noPanic());
  EXPECT_EQ(picks(*balancer, {0, 0}, 3), "---");
  auto empty = make(Algorithm::kWeightedRoundRobin, {});
  EXPECT_EQ(picks(*empty, {}, 1), "-");
}

TEST(WeightedRoundRobin, SetWeightTakesEffect) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1}, 4), "abab");
  balancer->setWeight(1, 3);
  EXPECT_EQ(picks(*balancer, {1, 1}, 8), "babbbabb");
  balancer->setWeight(7, 9);  // out of range: ignored
  balancer->setWeight(1, 0);  // 0 counts as 1
  const std::string after = picks(*balancer, {1, 1}, 20);
  EXPECT_EQ(std::count(after.begin(), after.end(), 'a'), 10);
}

TEST(LeastConn, PicksFewestInFlightPerWeight) {
  auto balancer = make(Algorithm::kLeastConn, weights({1, 1, 2}));
  const std::vector<uint8_t> healthy = {1, 1, 1};
  std::vector<uint32_t> in_flight = {3, 1, 4};  // 3/1, 1/1, 4/2 → b
  EXPECT_EQ(balancer->pick({.healthy = healthy, .in_flight = in_flight}), 1);
  in_flight = {3, 3, 4};  // 3, 3, 2 → c
  EXPECT_EQ(balancer->pick({.healthy = healthy, .in_flight = in_flight}), 2);
  in_flight = {0, 3, 4};  // a, although c weighs more
  EXPECT_EQ(balancer->pick({.healthy = healthy, .in_flight = in_flight}), 0);
  const std::vector<uint8_t> excluded = {1, 0, 0};  // a tried: 3 vs 2 → c
  EXPECT_EQ(balancer->pick({.healthy = healthy, .excluded = excluded, .in_flight = in_flight}), 2);
}

TEST(LeastConn, EqualLoadsRotateInIndexOrder) {
  auto balancer = make(Algorithm::kLeastConn, weights({1, 1, 1, 1}));
  const std::vector<uint8_t> healthy = {1, 1, 1, 1};
  std::vector<uint32_t> in_flight = {2, 2, 2, 2};
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out += static_cast<char>('a' + balancer->pick({.healthy = healthy, .in_flight = in_flight}));
  }
  EXPECT_EQ(out, "abcdabcd");
  in_flight = {5, 1, 5, 1};  // only b and d tie at the minimum
  out.clear();
  for (int i = 0; i < 4; ++i) {
    out += static_cast<char>('a' + balancer->pick({.healthy = healthy, .in_flight = in_flight}));
  }
  EXPECT_EQ(out, "bdbd");
}

TEST(LeastConn, FollowsLoadAsItAccumulates) {
  auto balancer = make(Algorithm::kLeastConn, weights({3, 1}));
  const std::vector<uint8_t> healthy = {1, 1};
  std::vector<uint32_t> in_flight = {0, 0};
  for (int i = 0; i < 400; ++i) {
    ++in_flight.at(balancer->pick({.healthy = healthy, .in_flight = in_flight}));
  }
  EXPECT_EQ(in_flight[0], 300u);
  EXPECT_EQ(in_flight[1], 100u);
}

TEST(LeastConn, WithoutLoadInformationTiesFollowWeights) {
  auto balancer = make(Algorithm::kLeastConn, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "aabacaa");  // smooth round robin among ties
}

TEST(LeastConn, SetWeightTakesEffect) {
  auto balancer = make(Algorithm::kLeastConn, weights({1, 1}));
  const std::vector<uint8_t> healthy = {1, 1};
  const std::vector<uint32_t> in_flight = {4, 2};
  EXPECT_EQ(balancer->pick({.healthy = healthy, .in_flight = in_flight}), 1);
  balancer->setWeight(0, 4);  // 4/4 < 2/1
  EXPECT_EQ(balancer->pick({.healthy = healthy, .in_flight = in_flight}), 0);
}

// Properties every algorithm must have.
class EveryAlgorithm : public ::testing::TestWithParam<Algorithm> {};

TEST_P(EveryAlgorithm, NoServersGivesMinusOne) {
  auto balancer = make(GetParam(), {});
  EXPECT_EQ(balancer->pick({}), -1);
  EXPECT_EQ(balancer->pick({.has_hash = true}), -1);
}

TEST_P(EveryAlgorithm, PicksOnlyHealthyNotExcludedServers) {
  auto balancer = make(GetParam(), weights({1, 2, 3, 1, 1}));
  const std::vector<uint8_t> healthy = {1, 0, 1, 1, 1};
  const std::vector<uint8_t> excluded = {0, 0, 0, 1, 0};
  const std::vector<uint32_t> in_flight = {3, 0, 1, 0, 2};
  for (uint64_t key = 0; key < 2000; ++key) {
    const int index = balancer->pick({.healthy = healthy,
                                      .excluded = excluded,
                                      .in_flight = in_flight,
                                      .hash = hashKey(std::to_string(key)),
                                      .has_hash = key % 2 == 0});
    ASSERT_TRUE(index == 0 || index == 2 || index == 4) << index;
    EXPECT_FALSE(balancer->lastPickPanicked());
  }
  EXPECT_EQ(balancer->panicPicks(), 0u);
}

TEST_P(EveryAlgorithm, OnlyCandidateIsPickedAndEveryoneExcludedGivesMinusOne) {
  auto balancer = make(GetParam(), testing::equalServers(8));
  const std::vector<uint8_t> healthy(8, 1);
  std::vector<uint8_t> excluded(8, 1);
  excluded[5] = 0;
  for (uint64_t key = 0; key < 200; ++key) {
    EXPECT_EQ(balancer->pick({.healthy = healthy,
                              .excluded = excluded,
                              .hash = hashKey(std::to_string(key)),
                              .has_hash = true}),
              5);
  }
  excluded[5] = 1;
  EXPECT_EQ(balancer->pick({.healthy = healthy, .excluded = excluded, .hash = 7, .has_hash = true}),
            -1);
}

TEST_P(EveryAlgorithm, EveryServerGetsTrafficAsLoadAccumulates) {
  auto balancer = make(GetParam(), weights({1, 2, 1, 3}));
  const std::vector<uint8_t> healthy(4, 1);
  std::vector<uint32_t> in_flight(4, 0);
  for (uint64_t key = 0; key < 4000; ++key) {
    ++in_flight.at(balancer->pick({.healthy = healthy,
                                   .in_flight = in_flight,
                                   .hash = hashKey(std::to_string(key)),
                                   .has_hash = true}));
  }
  for (uint32_t count : in_flight) EXPECT_GT(count, 400u);
}

std::string algorithmTestName(const ::testing::TestParamInfo<Algorithm>& info) {
  std::string name = testing::algorithmName(info.param);
  name.erase(std::remove(name.begin(), name.end(), '_'), name.end());
  return name;
}

INSTANTIATE_TEST_SUITE_P(Lb, EveryAlgorithm, ::testing::ValuesIn(testing::kAllAlgorithms),
                         algorithmTestName);

}  // namespace
}  // namespace sg::lb
