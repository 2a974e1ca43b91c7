#include "lb/least_request.h"

#include "lb/weighted_random.h"

namespace sg::lb {

LeastRequestBalancer::LeastRequestBalancer(const BalancerOptions& options,
                                           std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)), rng_(options.seed) {}

int LeastRequestBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  if (candidates.list().size() == 1) return static_cast<int>(candidates.list().front());
  const auto [a, b] = drawTwo(candidates, rng_);
  // (load_a + 1) / w_a <= (load_b + 1) / w_b, cross-multiplied (below 2^63, see least_conn).
  const uint64_t cost_a = (loadOf(context.in_flight, a) + uint64_t{1}) * candidates.weight(b);
  const uint64_t cost_b = (loadOf(context.in_flight, b) + uint64_t{1}) * candidates.weight(a);
  return static_cast<int>(cost_a <= cost_b ? a : b);
}

}  // namespace sg::lb
