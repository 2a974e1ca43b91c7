#pragma once
// Envoy-style concurrency cap (max_connections, max_pending, max_requests, max_retries):
// one atomic counter with a maximum, shared by every worker. tryAcquire() fails at the cap
// and counts an overflow; a maximum of 0 means no cap (it always succeeds but still counts,
// so /metrics shows the gauge either way).
#include <atomic>
#include <cstdint>

namespace sg::resilience {

class ConcurrencyLimit {
 public:
  explicit ConcurrencyLimit(uint32_t max = 0) : max_(max) {}
  ConcurrencyLimit(const ConcurrencyLimit&) = delete;
  ConcurrencyLimit& operator=(const ConcurrencyLimit&) = delete;

  // Takes one unit; false (and one overflow counted) when `max` are already taken.
  bool tryAcquire();
  // Gives one unit back. A release without a matching acquire is ignored rather than
  // wrapping the counter (which would refuse everything from then on).
  void release();

  uint32_t current() const { return current_.load(std::memory_order_relaxed); }
  uint32_t max() const { return max_; }  // 0 = no cap
  uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }

 private:
  const uint32_t max_;
  std::atomic<uint32_t> current_{0};
  std::atomic<uint64_t> overflows_{0};
};

// Holds one unit of a ConcurrencyLimit and releases it when destroyed (move-only).
class LimitLease {
 public:
  LimitLease() = default;
  // Acquires from `limit`; check held() to see whether it succeeded.
  explicit LimitLease(ConcurrencyLimit& limit) : limit_(limit.tryAcquire() ? &limit : nullptr) {}
  LimitLease(LimitLease&& other) noexcept : limit_(other.limit_) { other.limit_ = nullptr; }
  LimitLease& operator=(LimitLease&& other) noexcept;
  LimitLease(const LimitLease&) = delete;
  LimitLease& operator=(const LimitLease&) = delete;
  ~LimitLease() { reset(); }

  bool held() const { return limit_ != nullptr; }
  void reset();

 private:
  ConcurrencyLimit* limit_ = nullptr;
};

}  // namespace sg::resilience
