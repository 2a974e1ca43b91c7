#pragma once
// Least connections: the candidate with the fewest requests in flight per unit of weight
// (in_flight[a] x w[b] < in_flight[b] x w[a]). Ties are broken as nginx does, by smooth
// weighted round robin among the tied servers, so equal-load servers of equal weight
// rotate in index order and, with no load information, weights are still honoured.
// Slow start lowers the effective weight: a ramping server looks proportionally busier.
#include <cstdint>
#include <vector>

#include "lb/candidates.h"

namespace sg::lb {

class LeastConnBalancer final : public BalancerBase {
 public:
  LeastConnBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

 private:
  std::vector<int64_t> current_;  // per server: smooth round robin state for ties
  std::vector<uint32_t> tied_;    // scratch, capacity = server count
};

}  // namespace sg::lb
