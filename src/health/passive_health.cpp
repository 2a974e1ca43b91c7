#include "health/passive_health.h"

namespace sg::health {

// Semantics (nginx max_fails / fail_timeout):
//  * The failure window is half-open, [window_start, window_start + fail_timeout). It opens
//    at the first failure after a clean state (count 0, e.g. after a success) or, while the
//    server has not reached max_fails, at the first failure after the previous window
//    expired; that failure counts as 1.
//  * Reaching max_fails failures marks the server down for [now, now + fail_timeout);
//    timesMarkedDown() counts up -> down transitions only. A failure arriving while the
//    server is already down (a request that was in flight) pushes down_until forward, as
//    nginx does by moving `checked` to now.
//  * Chosen behaviour after the down period (matches nginx, which keeps fails >= max_fails
//    until a success): isUp() is true again once now >= down_until, but the count is NOT
//    reset by the passing of time, so the first failure after the down period marks the
//    server down again immediately. Only recordSuccess() resets the count; a success never
//    clears down_until (the server stays down until the period ends).
//  * max_fails == 0 disables passive health: failures are not counted, the server is
//    always up.
// Concurrency: every field is an independent relaxed atomic. Concurrent failures may race
// on a window reset (a failure can be lost) or on the down transition (both threads see
// "was up" but the compare-exchange lets only one of them count the transition); the state
// is never corrupted and nothing blocks.

PassiveHealth::PassiveHealth(uint32_t max_fails, int64_t fail_timeout_ms)
    : max_fails_(max_fails), fail_timeout_ms_(fail_timeout_ms < 0 ? 0 : fail_timeout_ms) {}

void PassiveHealth::reset() {
  fails_.store(0, std::memory_order_relaxed);
  window_start_.store(0, std::memory_order_relaxed);
  down_until_.store(0, std::memory_order_relaxed);
}

bool PassiveHealth::isUp(MonoMillis now) const {
  return now >= down_until_.load(std::memory_order_relaxed);
}

void PassiveHealth::recordFailure(MonoMillis now) {
  if (max_fails_ == 0) return;
  uint64_t fails = fails_.load(std::memory_order_relaxed);
  uint64_t count = 0;
  const bool below_limit = fails < max_fails_;
  const bool window_over =
      fails == 0 || now - window_start_.load(std::memory_order_relaxed) >= fail_timeout_ms_;
  if (below_limit && window_over &&
      fails_.compare_exchange_strong(fails, 1, std::memory_order_relaxed)) {
    window_start_.store(now, std::memory_order_relaxed);
    count = 1;
  } else {
    count = fails_.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  if (count < max_fails_ || fail_timeout_ms_ == 0) return;  // zero timeout: never down

  const MonoMillis until = now + fail_timeout_ms_;
  MonoMillis current = down_until_.load(std::memory_order_relaxed);
  while (current < until) {
    if (down_until_.compare_exchange_weak(current, until, std::memory_order_relaxed)) {
      if (current <= now) marked_down_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

void PassiveHealth::recordSuccess() {
  // Successes are the common case and every worker reports them: read first so that a
  // healthy server's cache line is not written (and bounced between cores) per request.
  if (fails_.load(std::memory_order_relaxed) != 0) fails_.store(0, std::memory_order_relaxed);
}

PassiveHealth::Carry PassiveHealth::carryOut() const {
  return {fails_.load(std::memory_order_relaxed), window_start_.load(std::memory_order_relaxed),
          down_until_.load(std::memory_order_relaxed)};
}

void PassiveHealth::carryIn(const Carry& carry) {
  fails_.store(carry.fails, std::memory_order_relaxed);
  window_start_.store(carry.window_start, std::memory_order_relaxed);
  down_until_.store(carry.down_until, std::memory_order_relaxed);
}

uint64_t PassiveHealth::failuresInWindow() const { return fails_.load(std::memory_order_relaxed); }

}  // namespace sg::health
