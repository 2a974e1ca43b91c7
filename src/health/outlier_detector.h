#pragma once
// Outlier detection for one upstream, shared by every worker (Envoy semantics):
// `consecutive_5xx` 5xx responses (or failures without a response), or
// `consecutive_gateway_failure` gateway failures (502/503/504 or no response), eject a server
// for base_ejection_time × its ejection multiplier (at most max_ejection_time), unless the
// ejection would take more than max_ejection_percent of the upstream out of rotation.
// Lock-free: workers only touch atomics. Times are passed in (injected clock).
#include <atomic>
#include <cstdint>
#include <memory>

#include "config/config.h"

namespace sg::health {

class OutlierDetector {
 public:
  OutlierDetector(const config::OutlierDetectionConfig& config, size_t servers);

  // A response from `server`: its status, or 0 for a gateway failure without a response
  // (connect failure, reset, timeout). Returns true when this call ejected the server.
  bool recordResult(size_t server, int status, int64_t now_ms);
  bool isEjected(size_t server, int64_t now_ms) const;
  uint32_t timesEjected(size_t server) const;
  uint64_t ejectionsTotal() const;
  // Called every `interval` (by worker 0): a server back in rotation for at least one full
  // interval has its ejection multiplier decreased by one, as Envoy does, so old ejections
  // are forgotten.
  void tick(int64_t now_ms);
  // A run-time server slot got a new server: the previous one's record does not carry over.
  void forget(size_t server);

  // One server's record, as a successor process takes it over on reload.
  struct Carry {
    uint32_t consecutive_5xx = 0;
    uint32_t consecutive_gateway = 0;
    int64_t ejected_until = 0;  // monotonic, machine-wide
    uint32_t times_ejected = 0;
  };
  Carry carryOut(size_t server) const;
  // Before any request uses the server.
  void carryIn(size_t server, const Carry& carry);

 private:
  struct alignas(64) ServerState {
    std::atomic<uint32_t> consecutive_5xx{0};
    std::atomic<uint32_t> consecutive_gateway{0};
    std::atomic<int64_t> ejected_until{0};
    std::atomic<uint32_t> times_ejected{0};
  };
  bool tryEject(size_t server, int64_t now_ms);
  size_t ejectedCount(int64_t now_ms) const;
  bool ejectionAllowed(int64_t now_ms) const;

  config::OutlierDetectionConfig config_;
  size_t servers_;
  std::unique_ptr<ServerState[]> state_;
  std::atomic<uint64_t> ejections_{0};
  // Try-lock around the (rare) ejection decision so concurrent ejections of different
  // servers cannot together exceed max_ejection_percent. Never waited on: a thread that
  // finds it taken gives up, and the server's next failure tries again.
  std::atomic<bool> ejecting_{false};
};

}  // namespace sg::health
