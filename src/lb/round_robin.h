#pragma once
// Plain round robin (weights ignored): rotates over usable primaries in index order; only
// when no primary is usable, rotates over usable backups. Each group keeps its own cursor,
// which moves past the chosen server, so skipping an unusable server keeps the rotation
// fair (a, b, c with b unusable gives a c a c).
#include <vector>

#include "lb/server_groups.h"

namespace sg::lb {

class RoundRobinBalancer final : public Balancer {
 public:
  explicit RoundRobinBalancer(const std::vector<ServerSpec>& servers);
  int pick(const PickContext& context) noexcept override;

 private:
  struct Group {
    std::vector<uint32_t> servers;
    uint32_t next = 0;  // position in `servers` to try first
  };
  static int pickIn(Group& group, std::span<const uint8_t> usable) noexcept;

  Group primaries_;
  Group backups_;
};

}  // namespace sg::lb
