#pragma once
// Weighted random choice among the candidates (effective weights, so slow start applies),
// used by random, by least_request's two choices and by the hash algorithms when a request
// has no key. O(1) when all candidates weigh the same, else one pass over the candidates.
#include <cstdint>
#include <utility>
#include <vector>

#include "lb/candidates.h"
#include "lb/rng.h"

namespace sg::lb {

// One candidate, with probability weight / total. Requires !candidates.empty().
uint32_t drawOne(const Candidates& candidates, Rng& rng) noexcept;
// Two distinct candidates: the first as drawOne, the second likewise among the others.
// Requires at least two candidates.
std::pair<uint32_t, uint32_t> drawTwo(const Candidates& candidates, Rng& rng) noexcept;

class RandomBalancer final : public BalancerBase {
 public:
  RandomBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

 private:
  Rng rng_;
};

}  // namespace sg::lb
