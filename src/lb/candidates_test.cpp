// The rules shared by every algorithm: panic mode, backups, retries (excluded servers) and
// slow start. Round robin makes the candidate sets visible as exact sequences.
#include "lb/candidates.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "lb/test_support.h"

namespace sg::lb {
namespace {

using testing::make;
using testing::picks;
using testing::weights;

std::vector<ServerSpec> primariesAndBackups(int primaries, int backups) {
  std::vector<ServerSpec> servers;
  for (int i = 0; i < primaries + backups; ++i) {
    servers.push_back(ServerSpec{1, i >= primaries, testing::serverKey(servers.size())});
  }
  return servers;
}

BalancerOptions panicAt(uint32_t threshold) {
  BalancerOptions options;
  options.panic_threshold = threshold;
  return options;
}

TEST(Panic, HealthyPrimariesAtThresholdAreTheCandidates) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 0));  // threshold 50
  EXPECT_EQ(picks(*balancer, {1, 0, 1, 0}, 4), "acac");
  EXPECT_FALSE(balancer->lastPickPanicked());
  EXPECT_EQ(balancer->panicPicks(), 0u);
}

TEST(Panic, BelowThresholdEveryPrimaryIsACandidate) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 0));
  EXPECT_EQ(picks(*balancer, {0, 1, 0, 0}, 4), "abcd");
  EXPECT_TRUE(balancer->lastPickPanicked());
  EXPECT_EQ(balancer->panicPicks(), 4u);
  EXPECT_EQ(picks(*balancer, {1, 1, 0, 0}, 2), "ab");  // back to 50%: rule 1
  EXPECT_FALSE(balancer->lastPickPanicked());
  EXPECT_EQ(balancer->panicPicks(), 4u);
}

// A healthy backup means there is healthy capacity: no panic. The few healthy primaries keep
// the traffic (backups serve only when no primary can).
TEST(Panic, HealthyBackupPreventsPanicAndHealthyPrimariesKeepTraffic) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 1));
  EXPECT_EQ(picks(*balancer, {1, 0, 0, 0, 1}, 4), "aaaa");
  EXPECT_FALSE(balancer->lastPickPanicked());
}

TEST(Panic, SomeHealthyPrimaryBelowThresholdWithoutBackupsPanics) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 0));
  EXPECT_EQ(picks(*balancer, {1, 0, 0, 0}, 4), "abcd");
  EXPECT_TRUE(balancer->lastPickPanicked());
}

// Servers the operator removed are never picked, even in panic, and do not count toward
// the threshold: one healthy server of the two left in service is 50%, not 25%.
TEST(Panic, RemovedServersNeverPickedNorCounted) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 0));
  std::vector<uint8_t> healthy = {1, 0, 0, 0};
  std::vector<uint8_t> removed = {0, 0, 1, 1};
  std::string seen;
  for (int i = 0; i < 4; ++i) {
    PickContext context;
    context.healthy = healthy;
    context.removed = removed;
    seen.push_back(static_cast<char>('a' + balancer->pick(context)));
  }
  EXPECT_EQ(seen, "aaaa");
  EXPECT_FALSE(balancer->lastPickPanicked());
  std::vector<uint8_t> all_removed = {1, 1, 1, 1};
  PickContext none;
  none.healthy = healthy;
  none.removed = all_removed;
  EXPECT_EQ(balancer->pick(none), -1);
}

TEST(Panic, BackupsWhenNoPrimaryIsHealthy) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(3, 2));
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 1, 1}, 4), "dede");
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 0, 1}, 2), "ee");
  EXPECT_FALSE(balancer->lastPickPanicked());
}

TEST(Panic, NothingHealthyPanicsOverPrimaries) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(3, 2));
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 0, 0}, 4), "abca");
  EXPECT_TRUE(balancer->lastPickPanicked());
}

TEST(Panic, WithoutPrimariesPanicsOverBackups) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(0, 2));
  EXPECT_EQ(picks(*balancer, {0, 0}, 3), "aba");
  EXPECT_TRUE(balancer->lastPickPanicked());
  EXPECT_EQ(picks(*balancer, {0, 1}, 2), "bb");
  EXPECT_FALSE(balancer->lastPickPanicked());
}

TEST(Panic, ThresholdZeroDisablesPanic) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 0), panicAt(0));
  EXPECT_EQ(picks(*balancer, {0, 0, 1, 0}, 3), "ccc");
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 0}, 3), "---");
  EXPECT_EQ(balancer->panicPicks(), 0u);
}

TEST(Panic, ThresholdHundredPanicsOnAnyUnhealthyPrimary) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(3, 0), panicAt(100));
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 3), "abc");
  EXPECT_EQ(balancer->panicPicks(), 0u);
  EXPECT_EQ(picks(*balancer, {1, 1, 0}, 3), "abc");
  EXPECT_EQ(balancer->panicPicks(), 3u);
}

TEST(Excluded, ExhaustedRulesFallThroughToTheNext) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 1));
  const std::vector<uint8_t> healthy = {1, 1, 0, 0, 1};
  EXPECT_EQ(picks(*balancer, healthy, 2, {1, 0, 0, 0, 0}), "bb");
  // Rule 1's servers all tried: healthy backups.
  EXPECT_EQ(picks(*balancer, healthy, 2, {1, 1, 0, 0, 0}), "ee");
  EXPECT_FALSE(balancer->lastPickPanicked());
  // Backups tried too: panic over the primaries not tried yet.
  EXPECT_EQ(picks(*balancer, healthy, 2, {1, 1, 0, 0, 1}), "cd");
  EXPECT_TRUE(balancer->lastPickPanicked());
  EXPECT_EQ(picks(*balancer, healthy, 2, {1, 1, 1, 1, 1}), "--");
  EXPECT_FALSE(balancer->lastPickPanicked());
}

TEST(Excluded, NeverPickedInPanicMode) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(4, 0));
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 0}, 4, {0, 1, 0, 1}), "acac");
  EXPECT_EQ(picks(*balancer, {0, 0, 0, 0}, 1, {1, 1, 1, 1}), "-");
}

TEST(Excluded, WithoutPanicAllTriedGivesMinusOne) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(2, 1), panicAt(0));
  EXPECT_EQ(picks(*balancer, {1, 1, 0}, 2, {1, 1, 0}), "--");
  EXPECT_EQ(picks(*balancer, {1, 1, 1}, 2, {1, 1, 0}), "cc");
}

TEST(Excluded, ShortSpansMeanNotExcludedAndUnhealthy) {
  auto balancer = make(Algorithm::kRoundRobin, primariesAndBackups(3, 0), panicAt(0));
  EXPECT_EQ(picks(*balancer, {1, 1}, 4, {1}), "bbbb");
}

// Slow start.

BalancerOptions slowStart(int64_t ms) {
  BalancerOptions options;
  options.slow_start_ms = ms;
  return options;
}

int countOf(const std::string& sequence, char server) {
  return static_cast<int>(std::count(sequence.begin(), sequence.end(), server));
}

TEST(SlowStart, ServersHealthyFromTheStartDoNotSlowStart) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({1, 1}), slowStart(10'000));
  EXPECT_EQ(picks(*balancer, {1, 1}, 4, {}, 0), "abab");
}

TEST(SlowStart, WeightedRoundRobinShareFollowsTheRamp) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({1, 1}), slowStart(10'000));
  EXPECT_EQ(picks(*balancer, {1, 0}, 2, {}, 0), "aa");
  // Back at t=1000: 10% floor, so b weighs 0.1 against a's 1.
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1100, {}, 1000), 'b'), 100, 2);
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1100, {}, 2000), 'b'), 100, 2);    // still 10%
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1500, {}, 6000), 'b'), 500, 2);    // 50%
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1800, {}, 9000), 'b'), 800, 2);    // 80%
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1000, {}, 11'000), 'b'), 500, 2);  // done
}

TEST(SlowStart, ExcludedFlipsDoNotSlowStart) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({1, 1}), slowStart(10'000));
  EXPECT_EQ(picks(*balancer, {1, 1}, 3, {0, 1}, 0), "aaa");
  EXPECT_EQ(countOf(picks(*balancer, {1, 1}, 100, {}, 0), 'b'), 50);
}

TEST(SlowStart, RampRestartsAfterAnotherOutage) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({1, 1}), slowStart(10'000));
  picks(*balancer, {1, 0}, 1, {}, 0);
  picks(*balancer, {1, 1}, 1, {}, 0);                                           // back at t=0
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1500, {}, 5000), 'b'), 500, 2);  // 50%
  picks(*balancer, {1, 0}, 1, {}, 6000);    // down again mid-ramp
  picks(*balancer, {1, 1}, 1, {}, 12'000);  // back at t=12000: the ramp starts over
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1100, {}, 13'000), 'b'), 100, 2);
  EXPECT_NEAR(countOf(picks(*balancer, {1, 1}, 1500, {}, 17'000), 'b'), 500, 2);
}

TEST(SlowStart, OffWhenZero) {
  auto balancer = make(Algorithm::kWeightedRoundRobin, weights({1, 1}));
  picks(*balancer, {1, 0}, 1, {}, 0);
  EXPECT_EQ(countOf(picks(*balancer, {1, 1}, 100, {}, 1), 'b'), 50);
}

TEST(SlowStart, RoundRobinTakesARampingServersTurnByCredit) {
  auto balancer = make(Algorithm::kRoundRobin, weights({1, 1, 1}), slowStart(10'000));
  picks(*balancer, {1, 1, 0}, 1, {}, 0);
  const std::string ramping = picks(*balancer, {1, 1, 1}, 210, {}, 0);  // 10%: 1 turn in 10
  EXPECT_NEAR(countOf(ramping, 'c'), 10, 1);
  EXPECT_NEAR(countOf(ramping, 'a'), 100, 1);
  const std::string done = picks(*balancer, {1, 1, 1}, 300, {}, 10'000);
  EXPECT_EQ(countOf(done, 'c'), 100);
}

TEST(SlowStart, RandomShareGrowsWithTheRamp) {
  BalancerOptions options = slowStart(10'000);
  options.seed = 42;
  auto balancer = make(Algorithm::kRandom, weights({1, 1}), options);
  picks(*balancer, {1, 0}, 1, {}, 0);
  const double at10 = countOf(picks(*balancer, {1, 1}, 20'000, {}, 0), 'b') / 20'000.0;
  const double at50 = countOf(picks(*balancer, {1, 1}, 20'000, {}, 5000), 'b') / 20'000.0;
  const double at100 = countOf(picks(*balancer, {1, 1}, 20'000, {}, 10'000), 'b') / 20'000.0;
  EXPECT_NEAR(at10, 0.1 / 1.1, 0.01);
  EXPECT_NEAR(at50, 0.5 / 1.5, 0.01);
  EXPECT_NEAR(at100, 0.5, 0.01);
}

TEST(SlowStart, LeastConnTreatsARampingServerAsBusier) {
  auto balancer = make(Algorithm::kLeastConn, weights({1, 1}), slowStart(10'000));
  const std::vector<uint8_t> down = {1, 0};
  const std::vector<uint8_t> up = {1, 1};
  balancer->pick({.healthy = down, .now_ms = 0});
  balancer->pick({.healthy = up, .now_ms = 0});  // b is back at t=0
  std::vector<uint32_t> in_flight = {0, 0};
  for (int i = 0; i < 550; ++i) {
    ++in_flight.at(balancer->pick({.healthy = up, .in_flight = in_flight, .now_ms = 5000}));
  }
  EXPECT_NEAR(in_flight[1], 550.0 / 3, 2);  // weight 0.5 against 1
}

// Hash algorithms slow-start by admitting a growing, stable share of keys.
class HashSlowStart : public ::testing::TestWithParam<Algorithm> {};

TEST_P(HashSlowStart, RampingServerAdmitsAGrowingStableShareOfItsKeys) {
  auto balancer = make(GetParam(), testing::equalServers(5), slowStart(10'000));
  constexpr int kKeys = 20'000;
  auto assign = [&](const std::vector<uint8_t>& healthy, int64_t now_ms) {
    std::vector<int> out;
    for (int key = 0; key < kKeys; ++key) {
      out.push_back(balancer->pick({.healthy = healthy,
                                    .hash = hashKey("k" + std::to_string(key)),
                                    .has_hash = true,
                                    .now_ms = now_ms}));
    }
    return out;
  };
  const std::vector<uint8_t> all = {1, 1, 1, 1, 1};
  const std::vector<int> full = assign(all, 0);
  assign({1, 1, 1, 1, 0}, 0);
  const std::vector<int> at10 = assign(all, 1000);
  const std::vector<int> at50 = assign(all, 6000);
  const std::vector<int> done = assign(all, 11'000);
  EXPECT_EQ(done, full);
  const auto owned = static_cast<double>(std::count(full.begin(), full.end(), 4));
  EXPECT_NEAR(std::count(at10.begin(), at10.end(), 4) / owned, 0.1, 0.03);
  EXPECT_NEAR(std::count(at50.begin(), at50.end(), 4) / owned, 0.5, 0.03);
  for (int key = 0; key < kKeys; ++key) {
    const auto k = static_cast<size_t>(key);
    if (full[k] != 4) {
      EXPECT_EQ(at10[k], full[k]) << key;  // others' keys never move
    }
    if (at10[k] == 4) {
      EXPECT_EQ(at50[k], 4) << key;  // admitted keys stay
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Lb, HashSlowStart,
                         ::testing::Values(Algorithm::kHash, Algorithm::kRingHash,
                                           Algorithm::kMaglev));

}  // namespace
}  // namespace sg::lb
