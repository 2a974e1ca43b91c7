#include "resilience/concurrency_limit.h"

namespace sg::resilience {

bool ConcurrencyLimit::tryAcquire() {
  if (max_ == 0) {
    current_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // CAS rather than add-then-undo, so the counter never shows more than `max` even
  // briefly and an overflow is counted exactly once per refusal.
  uint32_t value = current_.load(std::memory_order_relaxed);
  do {
    if (value >= max_) {
      overflows_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!current_.compare_exchange_weak(value, value + 1, std::memory_order_relaxed));
  return true;
}

void ConcurrencyLimit::release() {
  uint32_t value = current_.load(std::memory_order_relaxed);
  do {
    if (value == 0) return;
  } while (!current_.compare_exchange_weak(value, value - 1, std::memory_order_relaxed));
}

LimitLease& LimitLease::operator=(LimitLease&& other) noexcept {
  if (this != &other) {
    reset();
    limit_ = other.limit_;
    other.limit_ = nullptr;
  }
  return *this;
}

void LimitLease::reset() {
  if (limit_ != nullptr) limit_->release();
  limit_ = nullptr;
}

}  // namespace sg::resilience
