#include "lb/balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace sg::lb {
namespace {

using config::BalanceAlgorithm;

// Picks `count` times with the given usability and spells the result with one letter per
// server ('a' = index 0); '-' when nothing was picked.
std::string picks(Balancer& balancer, const std::vector<uint8_t>& usable, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    const int index = balancer.pick(PickContext{usable});
    out += index < 0 ? '-' : static_cast<char>('a' + index);
  }
  return out;
}

std::vector<ServerSpec> weights(std::initializer_list<uint32_t> list) {
  std::vector<ServerSpec> servers;
  for (uint32_t w : list) servers.push_back(ServerSpec{w, false});
  return servers;
}

TEST(RoundRobin, RotatesInIndexOrderIgnoringWeights) {
  auto balancer = makeBalancer(BalanceAlgorithm::kRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "abcabca");
}

TEST(RoundRobin, SkipsUnusableServerKeepingRotationFair) {
  auto balancer = makeBalancer(BalanceAlgorithm::kRoundRobin, weights({1, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 0, 1}, 6), "acacac");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 3), "abc");
  EXPECT_EQ(picks(*balancer, {0, 1, 1}, 4), "bcbc");
}

TEST(RoundRobin, ContinuesFromWhereItLeftOffWhenUsabilityChanges) {
  auto balancer = makeBalancer(BalanceAlgorithm::kRoundRobin, weights({1, 1, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 2), "ab");
  EXPECT_EQ(picks(*balancer, {1, 0, 0, 1}, 3), "dad");
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 4), "abcd");
}

TEST(RoundRobin, BackupsOnlyWhenNoPrimaryIsUsable) {
  std::vector<ServerSpec> servers = {{1, false}, {1, true}, {1, true}, {1, false}};
  auto balancer = makeBalancer(BalanceAlgorithm::kRoundRobin, servers);
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 4), "adad");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 0}, 4), "bcbc");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 1}, 2), "dd");
  EXPECT_EQ(picks(*balancer, {0, 0, 1, 0}, 2), "cc");
}

TEST(RoundRobin, MinusOneWhenNothingIsUsable) {
  std::vector<ServerSpec> servers = {{1, false}, {1, true}};
  auto balancer = makeBalancer(BalanceAlgorithm::kRoundRobin, servers);
  EXPECT_EQ(picks(*balancer, {0, 0}, 2), "--");
  EXPECT_EQ(picks(*balancer, {}, 1), "-");  // short usable span: missing = unusable
  EXPECT_EQ(picks(*balancer, {1}, 2), "aa");
  auto empty = makeBalancer(BalanceAlgorithm::kRoundRobin, {});
  EXPECT_EQ(picks(*empty, {}, 2), "--");
}

TEST(WeightedRoundRobin, SmoothSequenceForWeights511) {
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 14), "aabacaaaabacaa");
}

TEST(WeightedRoundRobin, Weights21GiveExactlyTwoToOne) {
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, weights({2, 1}));
  std::array<int, 2> counts{};
  const std::vector<uint8_t> usable = {1, 1};
  for (int i = 0; i < 300; ++i) ++counts.at(balancer->pick(PickContext{usable}));
  EXPECT_EQ(counts[0], 200);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(picks(*balancer, usable, 6), "abaaba");
}

TEST(WeightedRoundRobin, EqualWeightsAlternateInIndexOrder) {
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, weights({3, 3, 3}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 6), "abcabc");
}

TEST(WeightedRoundRobin, UnusableServerIsSkippedAndSequenceStaysSmooth) {
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, weights({5, 1, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "aabacaa");
  // Full cycle done (all current weights 0): without c it is 5:1 smooth.
  EXPECT_EQ(picks(*balancer, {1, 1, 0}, 6), "aaabaa");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 7), "aabacaa");
}

TEST(WeightedRoundRobin, UsabilityChangeMidCycleStaysSmooth) {
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, weights({5, 1, 1}));
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

TEST(WeightedRoundRobin, BackupsOnlyWhenNoPrimaryIsUsable) {
  std::vector<ServerSpec> servers = {{3, false}, {2, true}, {1, true}, {1, false}};
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, servers);
  EXPECT_EQ(picks(*balancer, {1, 1, 1, 1}, 8), "aadaaada");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 0}, 6), "bcbbcb");
  EXPECT_EQ(picks(*balancer, {0, 1, 1, 1}, 2), "dd");
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 0}, 2), "--");
}

TEST(WeightedRoundRobin, ZeroWeightCountsAsOne) {
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, weights({0, 1}));
  EXPECT_EQ(picks(*balancer, {1, 1}, 4), "abab");
}

TEST(WeightedRoundRobin, MinusOneWhenNothingIsUsable) {
  auto balancer = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, weights({1, 2}));
  EXPECT_EQ(picks(*balancer, {0, 0}, 3), "---");
  auto empty = makeBalancer(BalanceAlgorithm::kWeightedRoundRobin, {});
  EXPECT_EQ(picks(*empty, {}, 1), "-");
}

}  // namespace
}  // namespace sg::lb
