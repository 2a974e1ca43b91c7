#include "lb/least_conn.h"

#include "lb/weighted_round_robin.h"

namespace sg::lb {

LeastConnBalancer::LeastConnBalancer(const BalancerOptions& options,
                                     std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)),
      current_(selector().size(), 0),
      tied_(selector().size(), 0) {}

int LeastConnBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  const std::span<const uint32_t> list = candidates.list();
  const std::span<const uint32_t> in_flight = context.in_flight;
  // Loads are compared as fractions in_flight / weight; products stay below 2^63 since
  // in_flight < 2^32 and effective weights <= kMaxWeight x kFullRamp < 2^30.
  uint32_t best = list.front();
  uint64_t best_load = loadOf(in_flight, best);
  uint64_t best_weight = candidates.weight(best);
  uint32_t tied = 0;
  for (uint32_t server : list) {
    const uint64_t load = loadOf(in_flight, server);
    const uint64_t weight = candidates.weight(server);
    const uint64_t lhs = load * best_weight;
    const uint64_t rhs = best_load * weight;
    if (lhs < rhs) {
      best = server;
      best_load = load;
      best_weight = weight;
      tied = 0;
    }
    if (lhs <= rhs) tied_[tied++] = server;  // lhs == rhs, or the new best itself
  }
  if (tied == 1) return static_cast<int>(best);
  const std::span<const uint32_t> ties(tied_.data(), tied);
  return static_cast<int>(WeightedRoundRobinBalancer::smoothPick(candidates, ties, current_));
}

}  // namespace sg::lb
