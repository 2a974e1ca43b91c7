#pragma once
// The autoscaler's clock, injected so tests can drive evaluations at chosen times.
#include <cstdint>

namespace sg::autoscale {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t monotonicMs() const = 0;  // the gateway's monotonic clock (health state)
  virtual int64_t wallMs() const = 0;       // unix time, for the decision log
};

// The gateway's clocks: net::monotonicMillis() and the system clock.
class SystemClock final : public Clock {
 public:
  int64_t monotonicMs() const override;
  int64_t wallMs() const override;
};

}  // namespace sg::autoscale
