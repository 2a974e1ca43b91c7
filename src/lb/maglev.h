#pragma once
// maglev: Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016), one lookup table
// of kTableSize (prime) entries per tier. Each server walks its own permutation of the
// table (offset = h1(key) % M, skip = h2(key) % (M - 1) + 1) and claims the next free
// entry on each of its turns; weights set the turns as in Envoy (a server of weight w takes
// a turn in w / max_weight of the rounds), so shares follow weights and equal weights get
// equal shares within one entry. Lookup: table[hash % M]; a server that cannot take the
// key (not a candidate, over the bounded-load limit, or refusing the key while
// slow-starting) passes it to the next entries, at most kMaxWalk of them, after which
// Candidates::fallback decides. Slow start as in ring_hash (per-key admission).
// Without a key (has_hash false): weighted random. Memory: 4 x 65537 bytes per tier used.
#include <array>
#include <cstdint>
#include <vector>

#include "lb/candidates.h"
#include "lb/rng.h"

namespace sg::lb {

class MaglevBalancer final : public BalancerBase {
 public:
  static constexpr uint32_t kTableSize = 65537;
  static constexpr uint32_t kMaxWalk = 4096;

  MaglevBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  int pick(const PickContext& context) noexcept override;

 private:
  void onWeightsChanged() override { build(); }
  void build();
  std::vector<uint32_t> buildTable(Tier tier) const;

  std::array<std::vector<uint32_t>, 2> tables_;  // server index per entry; empty: no servers
  Rng rng_;
};

}  // namespace sg::lb
