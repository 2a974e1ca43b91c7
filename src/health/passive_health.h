#pragma once
// Passive health of one upstream server, shared by every worker (nginx max_fails /
// fail_timeout semantics): max_fails failures within fail_timeout mark the server down for
// fail_timeout; a success clears the count. Lock-free: workers only touch atomics.
// Times are monotonic milliseconds passed in by the caller, so tests inject the clock.
#include <atomic>
#include <cstdint>

namespace sg::health {

using MonoMillis = int64_t;  // milliseconds on the steady clock

class PassiveHealth {
 public:
  PassiveHealth(uint32_t max_fails, int64_t fail_timeout_ms);

  bool isUp(MonoMillis now) const;
  void recordFailure(MonoMillis now);
  void recordSuccess();
  // A run-time server slot got a new server: its failures start from nothing.
  void reset();

  // Failures counted since the current window opened; only a success (or a new window
  // opening below max_fails) resets it, so after a down period it stays >= max_fails.
  uint64_t failuresInWindow() const;
  MonoMillis downUntil() const { return down_until_.load(std::memory_order_relaxed); }

  // What a successor process takes over on reload (monotonic times are machine-wide).
  struct Carry {
    uint64_t fails = 0;
    MonoMillis window_start = 0;
    MonoMillis down_until = 0;
  };
  Carry carryOut() const;
  // Before any request uses this server.
  void carryIn(const Carry& carry);
  uint64_t timesMarkedDown() const { return marked_down_.load(std::memory_order_relaxed); }

 private:
  const uint32_t max_fails_;
  const int64_t fail_timeout_ms_;
  std::atomic<uint64_t> fails_{0};
  std::atomic<MonoMillis> window_start_{0};
  std::atomic<MonoMillis> down_until_{0};
  std::atomic<uint64_t> marked_down_{0};
};

}  // namespace sg::health
