#include "lb/ring_hash.h"

#include <algorithm>
#include <string>
#include <utility>

#include "lb/hash.h"
#include "lb/weighted_random.h"

namespace sg::lb {

RingHashBalancer::RingHashBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)),
      ring_size_(std::max<uint32_t>(1, options.ring_size)),
      rng_(options.seed) {
  build();
}

void RingHashBalancer::build() {
  rings_[0] = buildRing(Tier::kPrimary);
  rings_[1] = buildRing(Tier::kBackup);
}

RingHashBalancer::Ring RingHashBalancer::buildRing(Tier tier) const {
  const std::span<const uint32_t> group = selector().group(tier);
  uint64_t wanted = 0;
  for (uint32_t server : group)
    wanted += uint64_t{ring_size_} * selector().configuredWeight(server);
  std::vector<std::pair<uint64_t, uint32_t>> entries;
  entries.reserve(std::min(wanted, kMaxPoints) + group.size());
  std::string name;
  for (uint32_t server : group) {
    uint64_t count = uint64_t{ring_size_} * selector().configuredWeight(server);
    if (wanted > kMaxPoints) count = std::max<uint64_t>(1, count * kMaxPoints / wanted);
    const std::string& key = selector().key(server);
    for (uint64_t i = 0; i < count; ++i) {
      name.assign(key).append("-").append(std::to_string(i));
      entries.emplace_back(hashKey(name), server);
    }
  }
  std::sort(entries.begin(), entries.end());  // equal points: lowest server index first
  Ring ring;
  ring.points.reserve(entries.size());
  ring.servers.reserve(entries.size());
  for (const auto& [point, server] : entries) {
    ring.points.push_back(point);
    ring.servers.push_back(server);
  }
  index(ring);
  return ring;
}

void RingHashBalancer::index(Ring& ring) {
  int bits = 1;  // about two points per bucket
  while (bits < 32 && (uint64_t{1} << bits) < ring.points.size() / 2) ++bits;
  ring.shift = 64 - bits;
  const size_t buckets = size_t{1} << bits;
  ring.starts.assign(buckets + 1, 0);
  size_t at = 0;
  for (size_t bucket = 0; bucket < buckets; ++bucket) {
    while (at < ring.points.size() && (ring.points[at] >> ring.shift) < bucket) ++at;
    ring.starts[bucket] = static_cast<uint32_t>(at);
  }
  ring.starts[buckets] = static_cast<uint32_t>(ring.points.size());
}

size_t RingHashBalancer::Ring::lowerBound(uint64_t hash) const noexcept {
  const size_t bucket = hash >> shift;
  size_t at = starts[bucket];
  const size_t end = starts[bucket + 1];
  while (at < end && points[at] < hash) ++at;
  return at;
}

int RingHashBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  if (!context.has_hash) return static_cast<int>(drawOne(candidates, rng_));
  const Ring& ring = rings_[static_cast<size_t>(candidates.tier())];
  const size_t size = ring.points.size();
  size_t at = ring.lowerBound(context.hash);
  const size_t walk = std::min<size_t>(size, kMaxWalk);
  for (size_t step = 0; step < walk; ++step, ++at) {
    if (at >= size) at = 0;
    const uint32_t server = ring.servers[at];
    if (candidates.accepts(server, context.hash, context.in_flight))
      return static_cast<int>(server);
  }
  return static_cast<int>(candidates.fallback(context.hash, context.in_flight));
}

}  // namespace sg::lb
