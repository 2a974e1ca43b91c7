#pragma once
// Balancing algorithms over one upstream's servers. Each worker owns its own Balancer
// (shared-nothing), so pick() needs no locks. The caller says which servers are usable
// right now (health, retries excluding a server); the balancer applies the algorithm,
// falling back to backup servers only when no primary is usable.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "config/config.h"

namespace sg::lb {

struct ServerSpec {
  uint32_t weight = 1;
  bool backup = false;
};

struct PickContext {
  std::span<const uint8_t> usable;  // usable[i] != 0 when server i may be picked
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Index of the chosen server, or -1 when no server (primary or backup) is usable.
  virtual int pick(const PickContext& context) = 0;
};

std::unique_ptr<Balancer> makeBalancer(config::BalanceAlgorithm algorithm,
                                       std::vector<ServerSpec> servers);

}  // namespace sg::lb
