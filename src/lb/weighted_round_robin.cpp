#include "lb/weighted_round_robin.h"

namespace sg::lb {

WeightedRoundRobinBalancer::WeightedRoundRobinBalancer(const BalancerOptions& options,
                                                       std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)), current_(selector().size(), 0) {}

int WeightedRoundRobinBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  return static_cast<int>(smoothPick(candidates, candidates.list(), current_));
}

uint32_t WeightedRoundRobinBalancer::smoothPick(const Candidates& candidates,
                                                std::span<const uint32_t> servers,
                                                std::vector<int64_t>& current) noexcept {
  // Written so that the compiler can use conditional moves: which server is best is data
  // dependent and would mispredict as a branch on every pick.
  uint32_t best = servers.front();
  int64_t best_current = 0;
  int64_t total = 0;
  bool first = true;
  for (uint32_t server : servers) {
    const auto weight = static_cast<int64_t>(candidates.weight(server));
    const int64_t now = current[server] + weight;
    current[server] = now;
    total += weight;
    const bool better = first || now > best_current;  // ties: lowest index
    best = better ? server : best;
    best_current = better ? now : best_current;
    first = false;
  }
  current[best] -= total;
  return best;
}

}  // namespace sg::lb
