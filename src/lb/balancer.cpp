#include "lb/balancer.h"

#include <utility>

#include "lb/hash_balancer.h"
#include "lb/least_conn.h"
#include "lb/least_request.h"
#include "lb/maglev.h"
#include "lb/ring_hash.h"
#include "lb/round_robin.h"
#include "lb/weighted_random.h"
#include "lb/weighted_round_robin.h"

namespace sg::lb {

std::unique_ptr<Balancer> makeBalancer(const BalancerOptions& options,
                                       std::vector<ServerSpec> servers) {
  switch (options.algorithm) {
    case Algorithm::kRoundRobin:
      break;
    case Algorithm::kWeightedRoundRobin:
      return std::make_unique<WeightedRoundRobinBalancer>(options, std::move(servers));
    case Algorithm::kLeastConn:
      return std::make_unique<LeastConnBalancer>(options, std::move(servers));
    case Algorithm::kLeastRequest:
      return std::make_unique<LeastRequestBalancer>(options, std::move(servers));
    case Algorithm::kRandom:
      return std::make_unique<RandomBalancer>(options, std::move(servers));
    case Algorithm::kIpHash:
    case Algorithm::kHash:
      return std::make_unique<HashBalancer>(options, std::move(servers));
    case Algorithm::kRingHash:
      return std::make_unique<RingHashBalancer>(options, std::move(servers));
    case Algorithm::kMaglev:
      return std::make_unique<MaglevBalancer>(options, std::move(servers));
  }
  return std::make_unique<RoundRobinBalancer>(options, std::move(servers));
}

}  // namespace sg::lb
