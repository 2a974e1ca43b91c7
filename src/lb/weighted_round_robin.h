#pragma once
// nginx's smooth weighted round robin. On each pick, every usable candidate's current
// weight grows by its weight; the candidate with the largest current weight (ties: lowest
// index) is chosen and its current weight drops by the total weight of the usable
// candidates. Weights 5,1,1 give a a b a c a a, repeating. Candidates are the primaries;
// the backups (same algorithm, own state) only when no primary is usable. Unusable
// servers keep their current weight untouched, as in nginx, so the sequence stays smooth
// when usability changes.
#include <cstdint>
#include <vector>

#include "lb/server_groups.h"

namespace sg::lb {

class WeightedRoundRobinBalancer final : public Balancer {
 public:
  explicit WeightedRoundRobinBalancer(const std::vector<ServerSpec>& servers);
  int pick(const PickContext& context) noexcept override;

 private:
  struct Peer {
    uint32_t server;  // index into the server list
    int64_t weight;   // >= 1 (a configured 0 is treated as 1)
    int64_t current = 0;
  };
  static int pickIn(std::vector<Peer>& peers, std::span<const uint8_t> usable) noexcept;

  std::vector<Peer> primaries_;
  std::vector<Peer> backups_;
};

}  // namespace sg::lb
