#pragma once
// Helpers shared by the lb tests.
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "lb/balancer.h"

namespace sg::lb::testing {

inline constexpr Algorithm kAllAlgorithms[] = {
    Algorithm::kRoundRobin, Algorithm::kWeightedRoundRobin,
    Algorithm::kLeastConn,  Algorithm::kLeastRequest,
    Algorithm::kRandom,     Algorithm::kIpHash,
    Algorithm::kHash,       Algorithm::kRingHash,
    Algorithm::kMaglev,
};

inline const char* algorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kRoundRobin:
      return "round_robin";
    case Algorithm::kWeightedRoundRobin:
      return "weighted_round_robin";
    case Algorithm::kLeastConn:
      return "least_conn";
    case Algorithm::kLeastRequest:
      return "least_request";
    case Algorithm::kRandom:
      return "random";
    case Algorithm::kIpHash:
      return "ip_hash";
    case Algorithm::kHash:
      return "hash";
    case Algorithm::kRingHash:
      return "ring_hash";
    case Algorithm::kMaglev:
      return "maglev";
  }
  return "?";
}

inline std::string serverKey(size_t index) { return "10.0.0." + std::to_string(index) + ":8080"; }

// Primaries with the given weights, keyed "10.0.0.<index>:8080".
inline std::vector<ServerSpec> weights(std::initializer_list<uint32_t> list) {
  std::vector<ServerSpec> servers;
  for (uint32_t weight : list)
    servers.push_back(ServerSpec{weight, false, serverKey(servers.size())});
  return servers;
}

inline std::vector<ServerSpec> equalServers(size_t count) {
  std::vector<ServerSpec> servers;
  for (size_t i = 0; i < count; ++i) servers.push_back(ServerSpec{1, false, serverKey(i)});
  return servers;
}

inline std::unique_ptr<Balancer> make(Algorithm algorithm, std::vector<ServerSpec> servers,
                                      BalancerOptions options = {}) {
  options.algorithm = algorithm;
  return makeBalancer(options, std::move(servers));
}

// Picks `count` times and spells the result with one letter per server ('a' = index 0);
// '-' when nothing was picked.
inline std::string picks(Balancer& balancer, const std::vector<uint8_t>& healthy, int count,
                         const std::vector<uint8_t>& excluded = {}, int64_t now_ms = 0) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    const int index =
        balancer.pick(PickContext{.healthy = healthy, .excluded = excluded, .now_ms = now_ms});
    out += index < 0 ? '-' : static_cast<char>('a' + index);
  }
  return out;
}

// How many of `count` picks went to each of `servers` servers.
inline std::vector<int> counts(Balancer& balancer, const PickContext& context, size_t servers,
                               int count) {
  std::vector<int> out(servers, 0);
  for (int i = 0; i < count; ++i) {
    const int index = balancer.pick(context);
    if (index >= 0) ++out.at(static_cast<size_t>(index));
  }
  return out;
}

}  // namespace sg::lb::testing
