#pragma once
// ip_hash and hash: map-based hashing (HAProxy's map-based hash-type), cheap and not
// consistent. Each tier's servers are laid end to end by configured weight; the key hash
// modulo the tier's total weight lands on one server. A server that cannot take the key
// (not a candidate, over the bounded-load limit, or refusing it while slow-starting) makes
// the key rehash deterministically (up to kMaxRehash times, then a scan of the candidates).
// Mapping over the whole tier rather than over the candidates keeps every key whose server
// is up where it was when another server goes down.
// Without a key (has_hash false): weighted random.
#include <array>
#include <cstdint>
#include <vector>

#include "lb/candidates.h"
#include "lb/rng.h"

namespace sg::lb {

class HashBalancer final : public BalancerBase {
 public:
  HashBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

 private:
  static constexpr int kMaxRehash = 32;
  void onWeightsChanged() override { build(); }
  void build();

  // ends[k]: total configured weight of the tier's first k + 1 servers.
  std::array<std::vector<uint64_t>, 2> ends_;
  Rng rng_;
};

}  // namespace sg::lb
