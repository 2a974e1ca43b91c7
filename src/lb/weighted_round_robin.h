#pragma once
// nginx's smooth weighted round robin. On each pick, every candidate's current weight grows
// by its effective weight; the candidate with the largest current weight (ties: lowest
// index) is chosen and its current weight drops by the total weight of the candidates.
// Weights 5,1,1 give a a b a c a a, repeating. Servers that are not candidates keep their
// current weight untouched, as in nginx, so the sequence stays smooth when health changes.
// Slow start lowers the effective weight, so the share follows the ramp exactly.
#include <cstdint>
#include <vector>

#include "lb/candidates.h"

namespace sg::lb {

class WeightedRoundRobinBalancer final : public BalancerBase {
 public:
  WeightedRoundRobinBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

  // The smooth weighted round robin step over `servers` (all of them candidates), shared
  // with least_conn's tie breaking. `current` is indexed by server.
  static uint32_t smoothPick(const Candidates& candidates, std::span<const uint32_t> servers,
                             std::vector<int64_t>& current) noexcept;

 private:
  std::vector<int64_t> current_;  // per server
};

}  // namespace sg::lb
