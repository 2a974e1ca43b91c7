#include "lb/hash_balancer.h"

#include "lb/hash.h"
#include "lb/sorted_search.h"
#include "lb/weighted_random.h"

namespace sg::lb {

HashBalancer::HashBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)), rng_(options.seed) {
  build();
}

void HashBalancer::build() {
  for (Tier tier : {Tier::kPrimary, Tier::kBackup}) {
    auto& ends = ends_[static_cast<size_t>(tier)];
    ends.clear();
    uint64_t total = 0;
    for (uint32_t server : selector().group(tier)) {
      total += selector().configuredWeight(server);
      ends.push_back(total);
    }
  }
}

int HashBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  if (!context.has_hash) return static_cast<int>(drawOne(candidates, rng_));
  const std::span<const uint32_t> group = selector().group(candidates.tier());
  const std::span<const uint64_t> ends = ends_[static_cast<size_t>(candidates.tier())];
  const uint64_t total = ends.back();
  uint64_t hash = context.hash;
  for (int attempt = 0; attempt < kMaxRehash; ++attempt) {
    const uint32_t server = group[lowerBound(ends, hash % total + 1)];
    if (candidates.accepts(server, context.hash, context.in_flight))
      return static_cast<int>(server);
    hash = mix64(hash + 0x9e3779b97f4a7c15ULL);
  }
  return static_cast<int>(candidates.fallback(context.hash, context.in_flight));
}

}  // namespace sg::lb
