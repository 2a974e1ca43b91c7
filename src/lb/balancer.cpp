#include "lb/balancer.h"

#include "lb/round_robin.h"
#include "lb/weighted_round_robin.h"

namespace sg::lb {

std::unique_ptr<Balancer> makeBalancer(config::BalanceAlgorithm algorithm,
                                       std::vector<ServerSpec> servers) {
  switch (algorithm) {
    case config::BalanceAlgorithm::kRoundRobin:
      return std::make_unique<RoundRobinBalancer>(servers);
    case config::BalanceAlgorithm::kWeightedRoundRobin:
      return std::make_unique<WeightedRoundRobinBalancer>(servers);
  }
  return std::make_unique<RoundRobinBalancer>(servers);  // unreachable for valid enum values
}

}  // namespace sg::lb
