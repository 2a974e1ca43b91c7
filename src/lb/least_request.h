#pragma once
// Least request by the power of two choices (Mitzenmacher; Envoy's least_request): draw
// two distinct candidates by weighted random and take the one with the lower
// (in_flight + 1) / weight (the first on a tie). With one candidate, that one. O(1) per
// pick for equal weights, so it scales to large fleets while avoiding herding on the single
// least-loaded server. Slow start lowers both the draw chance and the weight in the ratio.
#include <vector>

#include "lb/candidates.h"
#include "lb/rng.h"

namespace sg::lb {

class LeastRequestBalancer final : public BalancerBase {
 public:
  LeastRequestBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

 private:
  Rng rng_;
};

}  // namespace sg::lb
