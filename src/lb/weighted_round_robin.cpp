#include "lb/weighted_round_robin.h"

namespace sg::lb {

WeightedRoundRobinBalancer::WeightedRoundRobinBalancer(const std::vector<ServerSpec>& servers) {
  for (uint32_t i = 0; i < servers.size(); ++i) {
    const int64_t weight = servers[i].weight == 0 ? 1 : servers[i].weight;
    (servers[i].backup ? backups_ : primaries_).push_back(Peer{i, weight});
  }
}

int WeightedRoundRobinBalancer::pick(const PickContext& context) noexcept {
  const int chosen = pickIn(primaries_, context.usable);
  return chosen >= 0 ? chosen : pickIn(backups_, context.usable);
}

int WeightedRoundRobinBalancer::pickIn(std::vector<Peer>& peers,
                                       std::span<const uint8_t> usable) noexcept {
  // Written so that the compiler can use conditional moves: which peer is best is data
  // dependent and would mispredict as a branch on every pick.
  constexpr size_t kNone = static_cast<size_t>(-1);
  size_t best = kNone;
  int64_t best_current = 0;
  int64_t total = 0;
  for (size_t i = 0; i < peers.size(); ++i) {
    Peer& peer = peers[i];
    if (!isUsable(usable, peer.server)) continue;
    peer.current += peer.weight;
    total += peer.weight;
    const bool better = best == kNone || peer.current > best_current;  // ties: lowest index
    best = better ? i : best;
    best_current = better ? peer.current : best_current;
  }
  if (best == kNone) return -1;
  peers[best].current -= total;
  return static_cast<int>(peers[best].server);
}

}  // namespace sg::lb
