#pragma once
// The three admission algorithms as pure functions over one key's state, in exact integer
// arithmetic (no floating point, so counts never drift).
//
// Fixed point: a rate of C requests per P microseconds is reduced by g = gcd(C, P) to
// C' = C/g and P' = P/g. A bucket's level is counted in units where one request costs P'
// units, refill adds C' units per microsecond and the bucket holds burst x P' units. Every
// quantity is then an integer and no remainder is ever dropped. GCRA stores its theoretical
// arrival time (TAT) as whole microseconds plus a remainder in 1/C' microsecond, so its
// deficit TAT - now is the same unit count: token bucket level == capacity - GCRA deficit,
// which is why the two admit identically.
#include <cstdint>

#include "config/config.h"

namespace sg::ratelimit {

using Algorithm = config::RateLimitConfig::Algorithm;

// Bounds that keep every product below 2^63 (far beyond any sane configuration).
inline constexpr uint64_t kMaxCount = uint64_t{1} << 40;          // requests per period
inline constexpr uint64_t kMaxPeriodUs = uint64_t{1} << 44;       // about 203 days
inline constexpr uint64_t kMaxCapacityUnits = uint64_t{1} << 62;  // burst x P'
inline constexpr uint64_t kMaxWindowCount = 0xfffffffeULL;        // sliding window counters

// One limit (the default rate/burst or one tier), precomputed once.
struct Limits {
  uint64_t count = 0;      // C: requests per period (0 = every request refused)
  uint64_t burst = 0;      // B: bucket size in requests (buckets only)
  uint64_t period_us = 1;  // P
  uint64_t refill = 1;     // C' = C / g: units added per microsecond
  uint64_t cost = 1;       // P' = P / g: units one request takes
  uint64_t capacity = 0;   // B x P' units
  int64_t fill_us = 0;     // ceil(capacity / C'): empty to full
  // RateLimit-Policy: w is the whole seconds it takes to restore the whole quota (ceil of
  // fill_us for buckets, of P for the window, >= 1), and q what the rate grants in w, at
  // least B (buckets) or C (window). When w is rounded up (sub-second and fractional
  // periods) the rate grants more than B or C in it: 10/s with burst 1 is q=10;w=1, not
  // q=1;w=1.
  uint64_t quota = 0;
  uint32_t window_seconds = 1;
  uint64_t refilled_in_window = 0;  // quota - B (or - C): what comes back during w
};

// burst 0 means rate.count. Counts, periods and bursts beyond the k* bounds are clamped.
Limits makeLimits(Algorithm algorithm, const config::Rate& rate, uint64_t burst);

// One key's state; its meaning depends on the algorithm (see algorithms.cpp). idle_at is
// common to all: from then on the state equals an absent key's, so evicting it loses nothing.
struct State {
  int64_t idle_at = 0;
  int64_t a = 0;
  uint64_t b = 0;
};

struct Outcome {
  bool allowed = false;
  uint64_t remaining = 0;  // further requests that would be allowed at `now`
  int64_t reset_us = 0;    // until the state equals an absent key's (quota fully restored)
  int64_t retry_us = 0;    // refused only: until the next request would be allowed (> 0)
};

// The state of a key never seen before (identical to any idle state).
State freshState(Algorithm algorithm, const Limits& limits, int64_t now_us);

// Decides one request at now_us and updates `state` (refused requests consume nothing).
// A now_us earlier than a time already applied to the key (workers read their clocks a
// moment apart) never adds quota: the token bucket takes it as the later time; GCRA and the
// sliding window see the state as it was a moment later (stricter by that skew only).
Outcome apply(Algorithm algorithm, const Limits& limits, State& state, int64_t now_us);

inline bool isIdle(const State& state, int64_t now_us) { return state.idle_at <= now_us; }

}  // namespace sg::ratelimit
