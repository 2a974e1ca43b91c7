#include "net/coalescer.h"

#include <algorithm>

namespace sg::net {

namespace {
constexpr int kConcurrentEvents = 2;  // fewer in one wait: a single sequential stream
}

void Coalescer::afterBlockingWait(int events) {
  bool churn = events_since_open_ < kQuietEvents;
  events_since_open_ += static_cast<uint64_t>(std::max(events, 0));
  if (churn || wait_.count() <= 0 || events < kConcurrentEvents) return;
  active_ = true;
  thin_polls_ = 0;
}

void Coalescer::afterSleepPoll(int events) {
  sleeps_.store(sleeps_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  bool churn = events_since_open_ < kQuietEvents;
  events_since_open_ += static_cast<uint64_t>(std::max(events, 0));
  if (churn) {
    active_ = false;
    thin_polls_ = 0;
    return;
  }
  if (events >= kConcurrentEvents) {
    thin_polls_ = 0;
    return;
  }
  if (++thin_polls_ >= kMaxThinPolls) active_ = false;
}

}  // namespace sg::net
