#include "lb/weighted_random.h"

#include "lb/sorted_search.h"

namespace sg::lb {

uint32_t drawOne(const Candidates& candidates, Rng& rng) noexcept {
  const std::span<const uint32_t> list = candidates.list();
  if (list.size() == 1) return list.front();
  if (candidates.uniform()) return list[rng.below(list.size())];
  const uint64_t point = rng.below(candidates.totalWeight());
  return list[lowerBound(candidates.ends(), point + 1)];  // first running total > point
}

std::pair<uint32_t, uint32_t> drawTwo(const Candidates& candidates, Rng& rng) noexcept {
  const std::span<const uint32_t> list = candidates.list();
  if (candidates.uniform()) {
    const uint64_t first = rng.below(list.size());
    uint64_t second = rng.below(list.size() - 1);
    second += second >= first ? 1 : 0;
    return {list[first], list[second]};
  }
  const std::span<const uint64_t> ends = candidates.ends();
  const size_t first = lowerBound(ends, rng.below(candidates.totalWeight()) + 1);
  const uint64_t begin = first == 0 ? 0 : ends[first - 1];
  const uint64_t weight = ends[first] - begin;
  // A point on the line with the first one's stretch cut out.
  uint64_t point = rng.below(candidates.totalWeight() - weight);
  point += point >= begin ? weight : 0;
  return {list[first], list[lowerBound(ends, point + 1)]};
}

RandomBalancer::RandomBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)), rng_(options.seed) {}

int RandomBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  return static_cast<int>(drawOne(candidates, rng_));
}

}  // namespace sg::lb
