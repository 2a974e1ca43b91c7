#include "net/coalescer.h"

#include <algorithm>

namespace sg::net {

namespace {
constexpr int kConcurrentEvents = 2;  // fewer in one wait: a single sequential stream
}

// Whether a client connection opened within the kQuietEvents events before this wait's.
bool Coalescer::countEvents(int events) {
  bool churn = events_since_open_ < kQuietEvents;
  events_since_open_ += static_cast<uint64_t>(std::max(events, 0));
  return churn;
}

void Coalescer::afterBlockingWait(int events) {
  if (countEvents(events) || wait_.count() <= 0 || events < kConcurrentEvents) return;
  active_ = true;
  thin_polls_ = 0;
}

void Coalescer::afterSleepPoll(int events) {
  sleeps_.store(sleeps_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (countEvents(events)) {
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
