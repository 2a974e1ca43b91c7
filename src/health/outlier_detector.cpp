#include "health/outlier_detector.h"

#include <algorithm>

namespace sg::health {

// Semantics (Envoy outlier detection, without split local-origin errors):
//  * A status >= 500 increments consecutive_5xx; a status in 1..499 resets it. Status 0 (no
//    response: connect failure, reset, timeout) counts as a 5xx too, as Envoy maps these
//    local-origin failures to 503 and 504.
//  * Status 0, 502, 503 and 504 increment consecutive_gateway; any other status resets it.
//  * A rule whose threshold is 0 is disabled.
//  * When a counter is at or above its threshold the server is ejected if the ejection keeps
//    the ejected share within max_ejection_percent: (ejected + 1) * 100 / servers <= max%
//    (Envoy's rule, so 2 servers at 60% allow one ejection, and a lone server is ejected only
//    at 100%). always_eject_one_host allows the first ejection whatever the percentage. A
//    refused ejection leaves the counter where it is, so the next failure tries again once
//    there is room.
//  * An ejection lasts min(base_ejection_time x multiplier, max_ejection_time); the multiplier
//    grows by one per ejection while multiplier x base < max + base (so it saturates just past
//    the cap, as in Envoy). The ejection resets both counters. Results for a server that is
//    currently ejected are ignored (they come from requests that were in flight): they
//    neither count nor eject it again.
//  * tick() decreases the multiplier by one for every server back in rotation for at least
//    one full interval (since its re-admission, with no ejection in between).
// Concurrency: counters are relaxed atomics (a success only writes when the counter is not
// already 0, so healthy traffic does not bounce the cache line between workers). Ejection
// decisions are serialised by a try-lock that is never waited on, so a server is ejected
// at most once per episode and the percentage limit holds under concurrent failures.

namespace {

bool isGatewayFailure(int status) {
  return status == 0 || status == 502 || status == 503 || status == 504;
}

void resetCounter(std::atomic<uint32_t>& counter) {
  if (counter.load(std::memory_order_relaxed) != 0) counter.store(0, std::memory_order_relaxed);
}

// Increments the counter; returns true when a threshold (non-zero) is reached.
bool countFailure(std::atomic<uint32_t>& counter, uint32_t threshold) {
  uint32_t value = counter.fetch_add(1, std::memory_order_relaxed) + 1;
  return threshold != 0 && value >= threshold;
}

}  // namespace

OutlierDetector::OutlierDetector(const config::OutlierDetectionConfig& config, size_t servers)
    : config_(config), servers_(servers), state_(std::make_unique<ServerState[]>(servers)) {}

bool OutlierDetector::recordResult(size_t server, int status, int64_t now_ms) {
  if (server >= servers_) return false;
  ServerState& state = state_[server];
  if (state.ejected_until.load(std::memory_order_acquire) > now_ms) return false;
  bool reached = false;
  if (status >= 500 || status == 0) {
    reached |= countFailure(state.consecutive_5xx, config_.consecutive_5xx);
  } else {
    resetCounter(state.consecutive_5xx);
  }
  if (isGatewayFailure(status)) {
    reached |= countFailure(state.consecutive_gateway, config_.consecutive_gateway_failure);
  } else {
    resetCounter(state.consecutive_gateway);
  }
  return reached && tryEject(server, now_ms);
}

bool OutlierDetector::isEjected(size_t server, int64_t now_ms) const {
  if (server >= servers_) return false;
  return state_[server].ejected_until.load(std::memory_order_acquire) > now_ms;
}

void OutlierDetector::forget(size_t server) {
  if (server >= servers_) return;
  ServerState& state = state_[server];
  state.consecutive_5xx.store(0, std::memory_order_relaxed);
  state.consecutive_gateway.store(0, std::memory_order_relaxed);
  state.ejected_until.store(0, std::memory_order_release);
  state.times_ejected.store(0, std::memory_order_relaxed);
}

OutlierDetector::Carry OutlierDetector::carryOut(size_t server) const {
  if (server >= servers_) return {};
  const ServerState& state = state_[server];
  return {state.consecutive_5xx.load(std::memory_order_relaxed),
          state.consecutive_gateway.load(std::memory_order_relaxed),
          state.ejected_until.load(std::memory_order_acquire),
          state.times_ejected.load(std::memory_order_relaxed)};
}

void OutlierDetector::carryIn(size_t server, const Carry& carry) {
  if (server >= servers_) return;
  ServerState& state = state_[server];
  state.consecutive_5xx.store(carry.consecutive_5xx, std::memory_order_relaxed);
  state.consecutive_gateway.store(carry.consecutive_gateway, std::memory_order_relaxed);
  state.times_ejected.store(carry.times_ejected, std::memory_order_relaxed);
  state.ejected_until.store(carry.ejected_until, std::memory_order_release);
}

uint32_t OutlierDetector::timesEjected(size_t server) const {
  if (server >= servers_) return 0;
  return state_[server].times_ejected.load(std::memory_order_relaxed);
}

uint64_t OutlierDetector::ejectionsTotal() const {
  return ejections_.load(std::memory_order_relaxed);
}

void OutlierDetector::tick(int64_t now_ms) {
  const int64_t interval = config_.interval.count();
  for (size_t i = 0; i < servers_; ++i) {
    ServerState& state = state_[i];
    uint32_t times = state.times_ejected.load(std::memory_order_relaxed);
    // ejected_until is the moment of re-admission once it has passed.
    while (times > 0 && now_ms - state.ejected_until.load(std::memory_order_acquire) >= interval) {
      if (state.times_ejected.compare_exchange_weak(times, times - 1, std::memory_order_relaxed)) {
        break;
      }
    }
  }
}

bool OutlierDetector::tryEject(size_t server, int64_t now_ms) {
  if (ejecting_.exchange(true, std::memory_order_acquire)) return false;
  ServerState& state = state_[server];
  bool ejected = false;
  if (state.ejected_until.load(std::memory_order_relaxed) <= now_ms && ejectionAllowed(now_ms)) {
    const int64_t base = config_.base_ejection_time.count();
    const int64_t cap = config_.max_ejection_time.count();
    uint32_t times = state.times_ejected.load(std::memory_order_relaxed);
    uint32_t next = times;
    do {  // a CAS: tick() may be decrementing it on the maintenance thread
      next = static_cast<int64_t>(times) * base < cap + base ? times + 1 : times;
    } while (!state.times_ejected.compare_exchange_weak(times, next, std::memory_order_relaxed));
    times = next;
    const int64_t duration = std::min(base * static_cast<int64_t>(times), cap);
    state.consecutive_5xx.store(0, std::memory_order_relaxed);
    state.consecutive_gateway.store(0, std::memory_order_relaxed);
    state.ejected_until.store(now_ms + duration, std::memory_order_release);
    ejections_.fetch_add(1, std::memory_order_relaxed);
    ejected = true;
  }
  ejecting_.store(false, std::memory_order_release);
  return ejected;
}

size_t OutlierDetector::ejectedCount(int64_t now_ms) const {
  size_t count = 0;
  for (size_t i = 0; i < servers_; ++i) {
    if (state_[i].ejected_until.load(std::memory_order_acquire) > now_ms) ++count;
  }
  return count;
}

bool OutlierDetector::ejectionAllowed(int64_t now_ms) const {
  if (servers_ == 0) return false;
  const uint64_t ejected = ejectedCount(now_ms);
  if (ejected == 0 && config_.always_eject_one_host) return true;
  // Exact integer form of (ejected + 1) * 100 / servers <= max_ejection_percent.
  return (ejected + 1) * 100 <= uint64_t{config_.max_ejection_percent} * servers_;
}

}  // namespace sg::health
