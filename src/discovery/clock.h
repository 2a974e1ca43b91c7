#pragma once
// The registry's time source. Wall-clock milliseconds (not monotonic): heartbeat times are
// shared through Redis between gateway instances, so they must mean the same on every host.
// Injected, so eviction is tested without sleeping.
#include <chrono>
#include <cstdint>

namespace sg::discovery {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t nowMs() const = 0;  // milliseconds since the Unix epoch
};

class SystemClock final : public Clock {
 public:
  int64_t nowMs() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace sg::discovery
