#pragma once
// Plain round robin (weights ignored): rotates over the candidates of a tier in index
// order. Each tier keeps its own cursor, which moves past the chosen server, so skipping a
// server keeps the rotation fair (a, b, c with b down gives a c a c).
// Slow start: a ramping server's turn is taken only when its credit (growing by its ramp
// per turn) reaches a whole pick, so at 10% it is chosen on one turn in ten.
#include <array>
#include <vector>

#include "lb/candidates.h"

namespace sg::lb {

class RoundRobinBalancer final : public BalancerBase {
 public:
  RoundRobinBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

 private:
  std::array<uint32_t, 2> next_{};  // per tier: position in its group to try first
  std::vector<uint32_t> credit_;    // per server, slow start only
};

}  // namespace sg::lb
