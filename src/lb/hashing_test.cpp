// hashKey, and the hash algorithms: stickiness, weights, disruption when servers come and
// go (printed for maglev), and bounded loads.
#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "lb/rng.h"
#include "lb/sorted_search.h"
#include "lb/test_support.h"

namespace sg::lb {
namespace {

using testing::make;
using testing::weights;

constexpr int kKeys = 100'000;

std::vector<uint64_t> keyHashes(int count) {
  std::vector<uint64_t> hashes;
  for (int i = 0; i < count; ++i) hashes.push_back(hashKey("user-" + std::to_string(i)));
  return hashes;
}

// Server key chosen for each request key hash.
std::vector<std::string> assign(Balancer& balancer, const std::vector<ServerSpec>& servers,
                                const std::vector<uint8_t>& healthy,
                                const std::vector<uint64_t>& hashes) {
  std::vector<std::string> out;
  out.reserve(hashes.size());
  for (uint64_t hash : hashes) {
    const int index = balancer.pick({.healthy = healthy, .hash = hash, .has_hash = true});
    out.push_back(index < 0 ? "-" : servers.at(static_cast<size_t>(index)).key);
  }
  return out;
}

std::vector<std::string> assignAllHealthy(Algorithm algorithm,
                                          const std::vector<ServerSpec>& servers,
                                          const std::vector<uint64_t>& hashes) {
  auto balancer = make(algorithm, servers);
  return assign(*balancer, servers, std::vector<uint8_t>(servers.size(), 1), hashes);
}

double movedShare(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  int moved = 0;
  for (size_t i = 0; i < before.size(); ++i) moved += before[i] != after[i] ? 1 : 0;
  return static_cast<double>(moved) / static_cast<double>(before.size());
}

std::map<std::string, double> shares(const std::vector<std::string>& assignment) {
  std::map<std::string, double> out;
  for (const auto& server : assignment) out[server] += 1.0 / static_cast<double>(assignment.size());
  return out;
}

TEST(HashKey, StableAndDistinct) {
  EXPECT_EQ(hashKey("127.0.0.1"), hashKey(std::string("127.0.0.1")));
  EXPECT_NE(hashKey("127.0.0.1"), hashKey("127.0.0.2"));
  EXPECT_NE(hashKey(""), hashKey(std::string_view("\0", 1)));
  // Fixed forever: gateway instances and versions must agree on key placement.
  EXPECT_EQ(hashKey("127.0.0.1"), 0xdab07810a51b2d12ULL);
  std::unordered_set<uint64_t> seen;
  for (uint64_t hash : keyHashes(kKeys)) seen.insert(hash);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kKeys));
}

TEST(HashKey, AvalanchesEveryInputBitToHalfTheOutputBits) {
  Rng rng(99);
  std::vector<int> flips(64, 0);
  int trials = 0;
  long total_flipped = 0;
  for (int round = 0; round < 400; ++round) {
    std::string key(1 + rng.below(24), '\0');
    for (char& c : key) c = static_cast<char>(rng.next());
    const uint64_t base = hashKey(key);
    for (size_t bit = 0; bit < key.size() * 8; ++bit) {
      std::string flipped = key;
      flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
      const uint64_t diff = base ^ hashKey(flipped);
      total_flipped += static_cast<long>(std::bitset<64>(diff).count());
      for (int out = 0; out < 64; ++out)
        flips[static_cast<size_t>(out)] += static_cast<int>((diff >> out) & 1);
      ++trials;
    }
  }
  EXPECT_NEAR(static_cast<double>(total_flipped) / trials, 32.0, 0.5);
  for (int count : flips) EXPECT_NEAR(static_cast<double>(count) / trials, 0.5, 0.03);
}

TEST(Hash, SameKeySameServerAndWeightsSetShares) {
  const auto servers = weights({3, 1, 1, 1});
  const auto hashes = keyHashes(kKeys);
  auto balancer = make(Algorithm::kHash, servers);
  const std::vector<uint8_t> healthy(4, 1);
  const auto first = assign(*balancer, servers, healthy, hashes);
  EXPECT_EQ(assign(*balancer, servers, healthy, hashes), first);
  const auto share = shares(first);
  EXPECT_NEAR(share.at(servers[0].key), 0.5, 0.5 * 0.05);
  EXPECT_NEAR(share.at(servers[1].key), 1.0 / 6, 1.0 / 6 * 0.05);
  balancer->setWeight(0, 1);
  EXPECT_NEAR(shares(assign(*balancer, servers, healthy, hashes)).at(servers[0].key), 0.25,
              0.25 * 0.05);
}

TEST(Hash, ADownServersKeysMoveAndNoOthers) {
  const auto servers = testing::equalServers(5);
  const auto hashes = keyHashes(kKeys);
  auto balancer = make(Algorithm::kIpHash, servers);
  const auto before = assign(*balancer, servers, {1, 1, 1, 1, 1}, hashes);
  const auto after = assign(*balancer, servers, {1, 1, 0, 1, 1}, hashes);
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] != servers[2].key) {
      ASSERT_EQ(after[i], before[i]);
    }
  }
  EXPECT_NEAR(movedShare(before, after), 0.2, 0.2 * 0.05);
  const auto share = shares(after);
  for (size_t s : {0, 1, 3, 4}) EXPECT_NEAR(share.at(servers[s].key), 0.25, 0.25 * 0.05);
}

std::vector<ServerSpec> without(std::vector<ServerSpec> servers, size_t index) {
  servers.erase(servers.begin() + static_cast<std::ptrdiff_t>(index));
  return servers;
}

class RingRemap : public ::testing::TestWithParam<int> {};

TEST_P(RingRemap, RemovingOrAddingOneOfNMovesAboutOneNth) {
  const auto n = static_cast<size_t>(GetParam());
  const double nd = GetParam();
  const auto servers = testing::equalServers(n);
  const auto hashes = keyHashes(kKeys);
  const auto before = assignAllHealthy(Algorithm::kRingHash, servers, hashes);
  // Removed (ring rebuilt without it): only its keys move.
  const auto removed = assignAllHealthy(Algorithm::kRingHash, without(servers, 2), hashes);
  const double removed_share = movedShare(before, removed);
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] != servers[2].key) {
      ASSERT_EQ(removed[i], before[i]);
    }
  }
  // Added: only keys the new server takes move.
  auto grown = servers;
  grown.push_back(ServerSpec{1, false, "10.0.1.99:8080"});
  const auto added = assignAllHealthy(Algorithm::kRingHash, grown, hashes);
  const double added_share = movedShare(before, added);
  for (size_t i = 0; i < before.size(); ++i) {
    if (added[i] != grown.back().key) {
      ASSERT_EQ(added[i], before[i]);
    }
  }
  // Marked unhealthy (ring kept, walk skips it): the same keys as removing it.
  auto balancer = make(Algorithm::kRingHash, servers);
  std::vector<uint8_t> healthy(n, 1);
  healthy[2] = 0;
  EXPECT_EQ(assign(*balancer, servers, healthy, hashes), removed);
  std::printf(
      "ring_hash N=%zu: remove one moves %.2f%% (1/N = %.2f%%), add one moves %.2f%% "
      "(1/(N+1) = %.2f%%)\n",
      n, removed_share * 100, 100.0 / nd, added_share * 100, 100.0 / (nd + 1));
  EXPECT_NEAR(removed_share, 1.0 / nd, 0.25 / nd);
  EXPECT_NEAR(added_share, 1.0 / (nd + 1), 0.25 / (nd + 1));
}

INSTANTIATE_TEST_SUITE_P(Lb, RingRemap, ::testing::Values(5, 10));

TEST(SortedSearch, LowerBoundMatchesTheStandardOne) {
  Rng rng(3);
  for (size_t size : {0, 1, 2, 3, 7, 8, 100, 1000}) {
    std::vector<uint64_t> sorted(size);
    for (auto& value : sorted) value = rng.below(500);
    std::sort(sorted.begin(), sorted.end());
    for (uint64_t key = 0; key < 510; ++key) {
      const auto expected = std::lower_bound(sorted.begin(), sorted.end(), key) - sorted.begin();
      ASSERT_EQ(lowerBound(sorted, key), static_cast<size_t>(expected)) << size << ' ' << key;
    }
  }
}

TEST(RingHash, PlacesKeysOnTheFirstPointClockwise) {
  BalancerOptions options;
  options.ring_size = 10;
  const auto servers = weights({1, 2, 3});
  std::vector<std::pair<uint64_t, size_t>> ring;  // the ketama ring, computed independently
  for (size_t s = 0; s < servers.size(); ++s) {
    for (uint32_t i = 0; i < 10 * servers[s].weight; ++i) {
      ring.emplace_back(hashKey(servers[s].key + "-" + std::to_string(i)), s);
    }
  }
  std::sort(ring.begin(), ring.end());
  auto balancer = make(Algorithm::kRingHash, servers, options);
  const std::vector<uint8_t> healthy(3, 1);
  for (uint64_t hash : keyHashes(10'000)) {
    auto at = std::lower_bound(ring.begin(), ring.end(), std::make_pair(hash, size_t{0}));
    if (at == ring.end()) at = ring.begin();
    ASSERT_EQ(balancer->pick({.healthy = healthy, .hash = hash, .has_hash = true}),
              static_cast<int>(at->second));
  }
}

TEST(RingHash, WeightsAndSetWeight) {
  const auto servers = testing::equalServers(4);
  const auto hashes = keyHashes(kKeys);
  auto balancer = make(Algorithm::kRingHash, servers);
  const std::vector<uint8_t> healthy(4, 1);
  EXPECT_NEAR(shares(assign(*balancer, servers, healthy, hashes)).at(servers[0].key), 0.25, 0.05);
  balancer->setWeight(0, 4);
  EXPECT_NEAR(shares(assign(*balancer, servers, healthy, hashes)).at(servers[0].key), 4.0 / 7,
              0.05);
}

TEST(RingHash, RingSizeAndEmptyKeysStillWork) {
  BalancerOptions options;
  options.ring_size = 1;
  std::vector<ServerSpec> servers = {{1, false, ""}, {1, false, ""}};  // keys "#0", "#1"
  auto balancer = make(Algorithm::kRingHash, servers, options);
  const std::vector<uint8_t> healthy = {1, 1};
  std::vector<int> seen(2, 0);
  for (uint64_t hash : keyHashes(1000)) {
    ++seen.at(balancer->pick({.healthy = healthy, .hash = hash, .has_hash = true}));
  }
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
}

class MaglevDisruption : public ::testing::TestWithParam<int> {};

TEST_P(MaglevDisruption, EqualSharesAndBoundedDisruption) {
  const auto n = static_cast<size_t>(GetParam());
  const double nd = GetParam();
  const auto servers = testing::equalServers(n);
  const auto hashes = keyHashes(kKeys);
  const auto before = assignAllHealthy(Algorithm::kMaglev, servers, hashes);
  const auto share = shares(before);
  std::cout << "maglev N=" << n << " shares:";
  for (const auto& server : servers) {
    std::cout << ' ' << server.key << '=' << share.at(server.key) * 100 << '%';
    EXPECT_NEAR(share.at(server.key), 1.0 / nd, 0.1 / n);
  }
  std::cout << '\n';
  const auto rebuilt = assignAllHealthy(Algorithm::kMaglev, without(servers, 2), hashes);
  auto balancer = make(Algorithm::kMaglev, servers);
  std::vector<uint8_t> healthy(n, 1);
  healthy[2] = 0;
  const auto skipped = assign(*balancer, servers, healthy, hashes);
  const double rebuilt_moved = movedShare(before, rebuilt);
  const double skipped_moved = movedShare(before, skipped);
  std::cout << "maglev N=" << n << " remove one server: table rebuilt moves " << rebuilt_moved * 100
            << "%, marked unhealthy (walk) moves " << skipped_moved * 100
            << "% (1/N = " << 100.0 / nd << "%, bound 2/N = " << 200.0 / nd << "%)\n";
  EXPECT_LE(rebuilt_moved, 2.0 / nd);
  EXPECT_LE(skipped_moved, 2.0 / nd);
  EXPECT_GE(rebuilt_moved, share.at(servers[2].key) - 1e-9);  // its own keys must move
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] != servers[2].key) {
      ASSERT_EQ(skipped[i], before[i]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Lb, MaglevDisruption, ::testing::Values(5, 10));

TEST(Maglev, WeightsAndSetWeight) {
  const auto servers = weights({2, 1, 1});
  const auto hashes = keyHashes(kKeys);
  auto balancer = make(Algorithm::kMaglev, servers);
  const std::vector<uint8_t> healthy(3, 1);
  auto share = shares(assign(*balancer, servers, healthy, hashes));
  EXPECT_NEAR(share.at(servers[0].key), 0.5, 0.5 * 0.1);
  EXPECT_NEAR(share.at(servers[1].key), 0.25, 0.25 * 0.1);
  balancer->setWeight(0, 1);
  share = shares(assign(*balancer, servers, healthy, hashes));
  EXPECT_NEAR(share.at(servers[0].key), 1.0 / 3, 1.0 / 3 * 0.1);
}

// Bounded loads: with every pick adding one request in flight to the chosen server (none
// completing), no server may ever exceed ceil(factor x average).
class BoundedLoads : public ::testing::TestWithParam<Algorithm> {};

TEST_P(BoundedLoads, NoServerExceedsFactorTimesAverageUnderASkewedKeyMix) {
  constexpr size_t kServers = 8;
  constexpr uint64_t kFactor = 125;
  BalancerOptions options;
  options.hash_balance_factor = kFactor;
  auto balancer = make(GetParam(), testing::equalServers(kServers), options);
  const std::vector<uint8_t> healthy(kServers, 1);
  std::vector<uint32_t> in_flight(kServers, 0);
  Rng rng(5);
  const uint64_t hot = hashKey("hot-key");
  uint64_t total = 0;
  std::vector<int> hot_servers(kServers, 0);
  for (int i = 0; i < 20'000; ++i) {
    const bool is_hot = rng.below(2) == 0;  // half the requests carry the same key
    const uint64_t hash = is_hot ? hot : hashKey("key-" + std::to_string(rng.below(1000)));
    const int index = balancer->pick(
        {.healthy = healthy, .in_flight = in_flight, .hash = hash, .has_hash = true});
    ASSERT_GE(index, 0);
    ++in_flight[static_cast<size_t>(index)];
    ++total;
    const uint64_t limit = (kFactor * total + 100 * kServers - 1) / (100 * kServers);
    const uint32_t busiest = *std::max_element(in_flight.begin(), in_flight.end());
    ASSERT_LE(busiest, limit) << "after " << total << " picks";
    hot_servers[static_cast<size_t>(index)] += is_hot ? 1 : 0;
  }
  // Without the bound the hot key's server alone would hold over half of all requests.
  EXPECT_GT(std::count_if(hot_servers.begin(), hot_servers.end(), [](int n) { return n > 0; }), 4);
}

TEST_P(BoundedLoads, OffWhenZeroSoTheHotKeyStaysPut) {
  auto balancer = make(GetParam(), testing::equalServers(8));
  const std::vector<uint8_t> healthy(8, 1);
  std::vector<uint32_t> in_flight(8, 0);
  const uint64_t hot = hashKey("hot-key");
  const int first = balancer->pick({.healthy = healthy, .hash = hot, .has_hash = true});
  for (int i = 0; i < 100; ++i) {
    ++in_flight.at(static_cast<size_t>(first));
    EXPECT_EQ(
        balancer->pick({.healthy = healthy, .in_flight = in_flight, .hash = hot, .has_hash = true}),
        first);
  }
}

TEST_P(BoundedLoads, CountsOnlyCandidates) {
  BalancerOptions options;
  options.hash_balance_factor = 150;
  auto balancer = make(GetParam(), testing::equalServers(4), options);
  const std::vector<uint8_t> healthy = {1, 1, 0, 0};
  const std::vector<uint32_t> in_flight = {4, 0, 100, 100};  // L = 4 over n = 2: limit 4
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(balancer->pick({.healthy = healthy,
                              .in_flight = in_flight,
                              .hash = hashKey("x" + std::to_string(i)),
                              .has_hash = true}),
              1);
  }
}

INSTANTIATE_TEST_SUITE_P(Lb, BoundedLoads,
                         ::testing::Values(Algorithm::kIpHash, Algorithm::kHash,
                                           Algorithm::kRingHash, Algorithm::kMaglev));

}  // namespace
}  // namespace sg::lb
