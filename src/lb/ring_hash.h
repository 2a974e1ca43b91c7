#pragma once
// ring_hash: a ketama-style consistent hashing ring per tier. A server gets ring_size x
// weight points, point i at hashKey(key + "-" + i); points are sorted, and a request key
// goes to the first point at or after its hash (wrapping), walking clockwise past servers
// that cannot take it (not a candidate, over the bounded-load limit, or refusing the key
// while slow-starting). Adding or removing one of N servers moves about 1/N of the keys.
// A ring holds at most kMaxPoints points (weights are scaled down to fit, one point at
// least per server); a bucket index over the hash's top bits makes lookups O(1) on average. Without
// a key (has_hash false): weighted random.
//
// Slow start: by deterministic per-key admission (Candidates::admits): a ramping server
// keeps the share of its keys equal to its ramp and passes the rest clockwise; a key it
// admits stays with it as the ramp grows. Walks are bounded by kMaxWalk points, after which
// Candidates::fallback decides.
#include <array>
#include <cstdint>
#include <vector>

#include "lb/candidates.h"
#include "lb/rng.h"

namespace sg::lb {

class RingHashBalancer final : public BalancerBase {
 public:
  static constexpr uint64_t kMaxPoints = uint64_t{1} << 20;
  static constexpr uint32_t kMaxWalk = 4096;

  RingHashBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

 private:
  struct Ring {
    std::vector<uint64_t> points;   // ascending
    std::vector<uint32_t> servers;  // servers[k] owns points[k]
    // Index over the top bits of the hash, so that a lookup scans a couple of points instead
    // of binary-searching them all: the points of bucket b (hashes starting with b) are
    // points[starts[b]] .. points[starts[b + 1] - 1].
    std::vector<uint32_t> starts;
    int shift = 63;

    size_t lowerBound(uint64_t hash) const noexcept;
  };
  static void index(Ring& ring);
  void onWeightsChanged() override { build(); }
  void build();
  Ring buildRing(Tier tier) const;

  uint32_t ring_size_;
  std::array<Ring, 2> rings_;
  Rng rng_;
};

}  // namespace sg::lb
