#include "lb/round_robin.h"

namespace sg::lb {

namespace {

uint32_t advance(uint32_t position, uint32_t size) noexcept {
  return position + 1 == size ? 0 : position + 1;
}

}  // namespace

RoundRobinBalancer::RoundRobinBalancer(const BalancerOptions& options,
                                       std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)),
      rotation_(options.rotation != nullptr ? options.rotation : &own_),
      credit_(selector().size(), 0) {}

// Relaxed order is enough: the cursor publishes no other data, and the compare-and-swap alone
// makes concurrent picks take successive positions.
int RoundRobinBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  const std::span<const uint32_t> group = selector().group(candidates.tier());
  std::atomic<uint32_t>& cursor = rotation_->tiers[static_cast<size_t>(candidates.tier())].next;
  uint32_t start = cursor.load(std::memory_order_relaxed);
  Turn turn = scan(candidates, group, start);
  // On failure `start` becomes the position another worker left: choose again from there.
  while (!cursor.compare_exchange_weak(start, turn.next, std::memory_order_relaxed)) {
    turn = scan(candidates, group, start);
  }
  if (turn.ramped) charge(candidates, group, start, turn);
  return turn.server;
}

RoundRobinBalancer::Turn RoundRobinBalancer::scan(const Candidates& candidates,
                                                  std::span<const uint32_t> group,
                                                  uint32_t start) const noexcept {
  const auto size = static_cast<uint32_t>(group.size());
  uint32_t position = start < size ? start : 0;
  Turn fallback;  // first candidate passed over for slow start; taken after a full turn
  for (uint32_t tried = 0; tried < size; ++tried) {
    const uint32_t server = group[position];
    position = advance(position, size);
    if (!candidates.contains(server)) continue;
    const uint32_t ramp = candidates.ramp(server);
    if (ramp < kFullRamp) {
      fallback.ramped = true;
      if (credit_[server] + ramp < kFullRamp) {
        if (fallback.server < 0) {
          fallback.server = static_cast<int>(server);
          fallback.next = position;
        }
        continue;
      }
    }
    return Turn{static_cast<int>(server), position, tried + 1, true, fallback.ramped};
  }
  fallback.steps = size;
  return fallback;
}

// What scan() only looked at: every ramping candidate visited earns its ramp, and the one
// taken on its turn spends a whole pick.
void RoundRobinBalancer::charge(const Candidates& candidates, std::span<const uint32_t> group,
                                uint32_t start, const Turn& turn) noexcept {
  const auto size = static_cast<uint32_t>(group.size());
  uint32_t position = start < size ? start : 0;
  for (uint32_t step = 0; step < turn.steps; ++step) {
    const uint32_t server = group[position];
    position = advance(position, size);
    if (candidates.contains(server) && candidates.ramp(server) < kFullRamp)
      credit_[server] += candidates.ramp(server);
  }
  const auto chosen = static_cast<uint32_t>(turn.server);
  if (turn.taken && candidates.ramp(chosen) < kFullRamp) credit_[chosen] -= kFullRamp;
}

}  // namespace sg::lb
