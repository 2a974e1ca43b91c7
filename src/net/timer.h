#pragma once
// Timeouts with O(1) arm and cancel. All timers of one duration are armed in time order,
// so a FIFO list per distinct duration is already sorted: arming appends, cancelling
// unlinks, expiry pops from the heads. The number of distinct durations is small (they
// come from the config), so finding the next deadline scans only a few list heads.
// Callers must keep the set of durations small (quantize computed delays).
#include <cstdint>
#include <vector>

namespace sg::net {

using MonoMillis = int64_t;

class Timer;

class TimerHandler {
 public:
  virtual void onTimer(Timer* timer) = 0;

 protected:
  ~TimerHandler() = default;
};

class Timer {
 public:
  explicit Timer(TimerHandler* handler) : handler_(handler) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const { return list_ != nullptr; }
  void cancel();
  MonoMillis deadline() const { return deadline_; }

 private:
  friend class TimerQueue;
  struct List;
  TimerHandler* handler_;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  List* list_ = nullptr;
  MonoMillis deadline_ = 0;
};

struct Timer::List {
  int64_t duration = 0;
  Timer* head = nullptr;
  Timer* tail = nullptr;
};

class TimerQueue {
 public:
  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // (Re)arms `timer` to fire `duration_ms` from now(). duration <= 0 cancels it.
  void arm(Timer& timer, int64_t duration_ms);
  // Fires every timer whose deadline is <= now(). A fired timer is disarmed first, so
  // its handler may re-arm it.
  void expire();
  // Milliseconds until the earliest deadline, or -1 when nothing is armed.
  int nextTimeoutMs() const;

  MonoMillis now() const { return now_; }
  void setNow(MonoMillis now) { now_ = now; }

 private:
  std::vector<Timer::List*> lists_;
  MonoMillis now_ = 0;
};

}  // namespace sg::net
