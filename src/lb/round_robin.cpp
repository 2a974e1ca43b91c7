#include "lb/round_robin.h"

namespace sg::lb {

RoundRobinBalancer::RoundRobinBalancer(const BalancerOptions& options,
                                       std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)), credit_(selector().size(), 0) {}

int RoundRobinBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  const std::span<const uint32_t> group = selector().group(candidates.tier());
  const auto size = static_cast<uint32_t>(group.size());
  uint32_t& next = next_[static_cast<size_t>(candidates.tier())];
  uint32_t position = next < size ? next : 0;
  int first = -1;  // first candidate passed over for slow start; taken after a full turn
  uint32_t after_first = 0;
  for (uint32_t tried = 0; tried < size; ++tried) {
    const uint32_t server = group[position];
    position = position + 1 == size ? 0 : position + 1;
    if (!candidates.contains(server)) continue;
    const uint32_t ramp = candidates.ramp(server);
    if (ramp < kFullRamp) {
      credit_[server] += ramp;
      if (credit_[server] < kFullRamp) {
        if (first < 0) {
          first = static_cast<int>(server);
          after_first = position;
        }
        continue;
      }
      credit_[server] -= kFullRamp;
    }
    next = position;
    return static_cast<int>(server);
  }
  next = after_first;
  return first;
}

}  // namespace sg::lb
