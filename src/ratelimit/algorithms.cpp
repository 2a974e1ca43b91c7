#include "ratelimit/algorithms.h"

#include <algorithm>
#include <numeric>

namespace sg::ratelimit {

namespace {

// GCC's 128-bit integer, for products of counts and window lengths.
__extension__ using Uint128 = unsigned __int128;

uint64_t ceilDiv(uint64_t value, uint64_t divisor) {
  return value / divisor + (value % divisor != 0);
}

uint32_t ceilSeconds(uint64_t us) {
  return static_cast<uint32_t>(std::min<uint64_t>(ceilDiv(us, 1'000'000), UINT32_MAX));
}

int64_t floorDiv(int64_t value, int64_t divisor) {
  return value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor);
}

// Refused forever (count 0): try again after one period.
Outcome blocked(const Limits& limits) {
  return {.allowed = false,
          .remaining = 0,
          .reset_us = 0,
          .retry_us = static_cast<int64_t>(limits.period_us)};
}

// State: a = time of the last refill (the latest now seen), b = level in units.
Outcome tokenBucket(const Limits& limits, State& state, int64_t now_us) {
  const int64_t at = std::max(now_us, state.a);
  const uint64_t elapsed = static_cast<uint64_t>(at) - static_cast<uint64_t>(state.a);
  uint64_t level = std::min(state.b, limits.capacity);
  // Clamping elapsed first keeps elapsed x refill below capacity + refill.
  if (elapsed >= static_cast<uint64_t>(limits.fill_us)) {
    level = limits.capacity;
  } else {
    level = std::min(limits.capacity, level + elapsed * limits.refill);
  }
  Outcome outcome;
  if (level >= limits.cost) {
    level -= limits.cost;
    outcome.allowed = true;
  }
  const int64_t skew = at - now_us;
  const auto until_full = static_cast<int64_t>(ceilDiv(limits.capacity - level, limits.refill));
  outcome.remaining = level / limits.cost;
  outcome.reset_us = until_full + skew;
  if (!outcome.allowed) {
    outcome.retry_us = static_cast<int64_t>(ceilDiv(limits.cost - level, limits.refill)) + skew;
  }
  state = {.idle_at = at + until_full, .a = at, .b = level};
  return outcome;
}

// State: TAT = a microseconds + b / C' (b < C'). Deficit = max(TAT - now, 0) in units.
Outcome gcra(const Limits& limits, State& state, int64_t now_us) {
  uint64_t deficit = 0;
  if (state.a > now_us || (state.a == now_us && state.b > 0)) {
    // A TAT beyond now + capacity can only come from another tier's state (a hash
    // collision); clamping keeps the products in range and refuses until it drains.
    const uint64_t ahead_us =
        std::min<uint64_t>(static_cast<uint64_t>(state.a) - static_cast<uint64_t>(now_us),
                           static_cast<uint64_t>(limits.fill_us) + 1);
    deficit = ahead_us * limits.refill + std::min(state.b, limits.refill - 1);
  }
  Outcome outcome;
  if (deficit <= limits.capacity && limits.capacity - deficit >= limits.cost) {
    deficit += limits.cost;
    outcome.allowed = true;
    const auto until_idle = static_cast<int64_t>(ceilDiv(deficit, limits.refill));
    state = {.idle_at = now_us + until_idle,
             .a = now_us + static_cast<int64_t>(deficit / limits.refill),
             .b = deficit % limits.refill};
  }
  outcome.remaining = (limits.capacity - std::min(deficit, limits.capacity)) / limits.cost;
  outcome.reset_us = static_cast<int64_t>(ceilDiv(deficit, limits.refill));
  if (!outcome.allowed) {
    outcome.retry_us =
        static_cast<int64_t>(ceilDiv(deficit + limits.cost - limits.capacity, limits.refill));
  }
  return outcome;
}

// When a refused request could next be admitted: the earliest offset e' into window
// `window_start`'s window at which prev x (P - e') / P + cur + 1 <= C.
int64_t windowRetryAt(const Limits& limits, int64_t window_start, uint64_t prev, uint64_t cur) {
  const uint64_t period = limits.period_us;
  if (cur < limits.count) {  // prev > 0 here, or the request would have been admitted
    const Uint128 room = static_cast<Uint128>(limits.count - cur - 1) * period;
    return window_start + static_cast<int64_t>(period - static_cast<uint64_t>(room / prev));
  }
  // Not before the next window, where this window's count becomes the weighted one.
  const Uint128 room = static_cast<Uint128>(limits.count - 1) * period;
  const auto offset = static_cast<int64_t>(period - static_cast<uint64_t>(room / cur));
  return window_start + static_cast<int64_t>(period) + offset;
}

// State: a = window index (now / P), b = previous window's count << 32 | current's count.
// Only admitted requests are counted, so a client that keeps retrying is not locked out.
Outcome slidingWindow(const Limits& limits, State& state, int64_t now_us) {
  const auto period = static_cast<int64_t>(limits.period_us);
  int64_t window = floorDiv(now_us, period);
  uint64_t prev = state.b >> 32;
  uint64_t cur = state.b & 0xffffffffULL;
  if (window < state.a) {
    window = state.a;  // an earlier clock reading: take the stored window's start
  } else if (window - state.a == 1) {
    prev = cur;
    cur = 0;
  } else if (window != state.a) {
    prev = cur = 0;
  }
  const int64_t window_start = window * period;
  const uint64_t left =
      limits.period_us - static_cast<uint64_t>(std::max<int64_t>(now_us - window_start, 0));
  const Uint128 weighted = static_cast<Uint128>(prev) * left;  // prev's share x P
  Outcome outcome;
  if (cur < limits.count && weighted + static_cast<Uint128>(cur + 1) * limits.period_us <=
                                static_cast<Uint128>(limits.count) * limits.period_us) {
    ++cur;
    outcome.allowed = true;
  }
  const auto prev_share =
      static_cast<uint64_t>((weighted + limits.period_us - 1) / limits.period_us);
  outcome.remaining = limits.count > cur + prev_share ? limits.count - cur - prev_share : 0;
  if (cur > 0) {
    outcome.reset_us = window_start + 2 * period - now_us;
  } else if (prev > 0) {
    outcome.reset_us = window_start + period - now_us;
  }
  if (!outcome.allowed) outcome.retry_us = windowRetryAt(limits, window_start, prev, cur) - now_us;
  state = {.idle_at = now_us + outcome.reset_us, .a = window, .b = prev << 32 | cur};
  return outcome;
}

// Requests the rate grants in `us` microseconds: floor(us x C' / P'), in 128 bits because
// the product can pass 2^64 for absurd but accepted configurations.
__extension__ typedef unsigned __int128 Uint128;
uint64_t grantedIn(const Limits& limits, uint64_t us) {
  const Uint128 granted = Uint128{us} * limits.refill / limits.cost;
  return granted > Uint128{UINT64_MAX} ? UINT64_MAX : static_cast<uint64_t>(granted);
}

}  // namespace

Limits makeLimits(Algorithm algorithm, const config::Rate& rate, uint64_t burst) {
  const bool window = algorithm == Algorithm::kSlidingWindow;
  Limits limits;
  limits.count = std::min(rate.count, window ? kMaxWindowCount : kMaxCount);
  const int64_t period_ms = std::clamp<int64_t>(rate.period.count(), 0, kMaxPeriodUs / 1000);
  limits.period_us = std::max<uint64_t>(static_cast<uint64_t>(period_ms) * 1000, 1);
  if (limits.count == 0) {
    limits.window_seconds = std::max<uint32_t>(ceilSeconds(limits.period_us), 1);
    return limits;
  }
  const uint64_t divisor = std::gcd(limits.count, limits.period_us);
  limits.refill = limits.count / divisor;
  limits.cost = limits.period_us / divisor;
  limits.burst = std::min(burst == 0 ? limits.count : burst, kMaxCount);
  limits.burst = std::min(limits.burst, kMaxCapacityUnits / limits.cost);
  limits.capacity = limits.burst * limits.cost;
  limits.fill_us = static_cast<int64_t>(ceilDiv(limits.capacity, limits.refill));
  const uint64_t base = window ? limits.count : limits.burst;
  const uint64_t window_us = window ? limits.period_us : static_cast<uint64_t>(limits.fill_us);
  limits.window_seconds = std::max<uint32_t>(ceilSeconds(window_us), 1);
  limits.quota = std::max(base, grantedIn(limits, uint64_t{limits.window_seconds} * 1'000'000));
  limits.refilled_in_window = limits.quota - base;
  return limits;
}

State freshState(Algorithm algorithm, const Limits& limits, int64_t now_us) {
  switch (algorithm) {
    case Algorithm::kTokenBucket:
      return {.idle_at = now_us, .a = now_us, .b = limits.capacity};
    case Algorithm::kGcra:
      return {.idle_at = now_us, .a = now_us, .b = 0};
    case Algorithm::kSlidingWindow:
      return {
          .idle_at = now_us, .a = floorDiv(now_us, static_cast<int64_t>(limits.period_us)), .b = 0};
  }
  return {};
}

Outcome apply(Algorithm algorithm, const Limits& limits, State& state, int64_t now_us) {
  if (limits.count == 0) return blocked(limits);
  switch (algorithm) {
    case Algorithm::kTokenBucket:
      return tokenBucket(limits, state, now_us);
    case Algorithm::kGcra:
      return gcra(limits, state, now_us);
    case Algorithm::kSlidingWindow:
      return slidingWindow(limits, state, now_us);
  }
  return blocked(limits);
}

}  // namespace sg::ratelimit
