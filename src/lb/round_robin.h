#pragma once
// Plain round robin (weights ignored): rotates over the candidates of a tier in index
// order. Each tier has a cursor, which moves past the chosen server, so skipping a server
// keeps the rotation fair (a, b, c with b down gives a c a c). The cursor is the upstream's
// SharedRotation when one is given (every worker then follows one rotation; it is advanced
// by compare-and-swap from the position the choice was made from), else the balancer's own.
// Slow start: a ramping server's turn is taken only when its credit (growing by its ramp
// per turn) reaches a whole pick, so at 10% it is chosen on one turn in ten. Credits are
// per balancer (per worker) and charged only once a choice is committed.
#include <span>
#include <vector>

#include "lb/candidates.h"

namespace sg::lb {

class RoundRobinBalancer final : public BalancerBase {
 public:
  RoundRobinBalancer(const BalancerOptions& options, std::vector<ServerSpec> servers);
  RoundRobinBalancer(const RoundRobinBalancer&) = delete;
  RoundRobinBalancer& operator=(const RoundRobinBalancer&) = delete;
  int pick(const PickContext& context) noexcept override;

 private:
  // One choice made from a cursor position, before it is committed.
  struct Turn {
    int server = -1;
    uint32_t next = 0;    // the cursor after it
    uint32_t steps = 0;   // group positions visited
    bool taken = false;   // chosen on its turn (false: the fallback after a full turn)
    bool ramped = false;  // a slow-starting server was visited: credits change
  };
  Turn scan(const Candidates& candidates, std::span<const uint32_t> group,
            uint32_t start) const noexcept;
  void charge(const Candidates& candidates, std::span<const uint32_t> group, uint32_t start,
              const Turn& turn) noexcept;

  SharedRotation own_;
  SharedRotation* rotation_;
  std::vector<uint32_t> credit_;  // per server, slow start only
};

}  // namespace sg::lb
