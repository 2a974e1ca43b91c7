#include "lb/maglev.h"

#include <algorithm>

#include "lb/hash.h"
#include "lb/weighted_random.h"

namespace sg::lb {

namespace {

constexpr uint64_t kOffsetSeed = 0x6d61676c65762d31ULL;
constexpr uint64_t kSkipSeed = 0x6d61676c65762d32ULL;
constexpr uint32_t kEmpty = UINT32_MAX;

struct Builder {
  uint32_t server;
  uint64_t offset;
  uint64_t skip;
  uint64_t weight;
  uint64_t next = 0;    // position in the server's permutation
  uint64_t target = 0;  // rounds x weight needed for the next turn

  uint64_t entry() const noexcept { return (offset + skip * next) % MaglevBalancer::kTableSize; }
};

}  // namespace

MaglevBalancer::MaglevBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers)
    : BalancerBase(options, std::move(servers)), rng_(options.seed) {
  build();
}

void MaglevBalancer::build() {
  tables_[0] = buildTable(Tier::kPrimary);
  tables_[1] = buildTable(Tier::kBackup);
}

std::vector<uint32_t> MaglevBalancer::buildTable(Tier tier) const {
  const std::span<const uint32_t> group = selector().group(tier);
  if (group.empty()) return {};
  std::vector<Builder> builders;
  uint64_t max_weight = 0;
  for (uint32_t server : group) {
    const std::string& key = selector().key(server);
    const uint64_t weight = selector().configuredWeight(server);
    builders.push_back(Builder{server, hashBytes(key, kOffsetSeed) % kTableSize,
                               hashBytes(key, kSkipSeed) % (kTableSize - 1) + 1, weight});
    max_weight = std::max(max_weight, weight);
  }
  std::vector<uint32_t> table(kTableSize, kEmpty);
  uint32_t filled = 0;
  for (uint64_t round = 1; filled < kTableSize; ++round) {
    for (Builder& builder : builders) {
      if (filled == kTableSize) break;
      if (round * builder.weight < builder.target) continue;  // not this server's turn yet
      builder.target += max_weight;
      uint64_t entry = builder.entry();
      while (table[entry] != kEmpty) {
        ++builder.next;
        entry = builder.entry();
      }
      table[entry] = builder.server;
      ++builder.next;
      ++filled;
    }
  }
  return table;
}

int MaglevBalancer::pick(const PickContext& context) noexcept {
  const Candidates& candidates = select(context);
  if (candidates.empty()) return -1;
  if (!context.has_hash) return static_cast<int>(drawOne(candidates, rng_));
  const std::vector<uint32_t>& table = tables_[static_cast<size_t>(candidates.tier())];
  auto at = static_cast<uint32_t>(context.hash % kTableSize);
  for (uint32_t step = 0; step < kMaxWalk; ++step) {
    const uint32_t server = table[at];
    if (candidates.accepts(server, context.hash, context.in_flight))
      return static_cast<int>(server);
    at = at + 1 == kTableSize ? 0 : at + 1;
  }
  return static_cast<int>(candidates.fallback(context.hash, context.in_flight));
}

}  // namespace sg::lb
