#include "net/timer.h"

#include <algorithm>

namespace sg::net {

void Timer::cancel() {
  if (list_ == nullptr) return;
  if (prev_ != nullptr)
    prev_->next_ = next_;
  else
    list_->head = next_;
  if (next_ != nullptr)
    next_->prev_ = prev_;
  else
    list_->tail = prev_;
  prev_ = next_ = nullptr;
  list_ = nullptr;
}

TimerQueue::TimerQueue() = default;

TimerQueue::~TimerQueue() {
  for (auto* list : lists_) {
    while (list->head != nullptr) list->head->cancel();
    delete list;
  }
}

void TimerQueue::arm(Timer& timer, int64_t duration_ms) {
  timer.cancel();
  if (duration_ms <= 0) return;
  Timer::List* list = nullptr;
  for (auto* candidate : lists_) {
    if (candidate->duration == duration_ms) {
      list = candidate;
      break;
    }
  }
  if (list == nullptr) {
    list = new Timer::List{duration_ms, nullptr, nullptr};
    lists_.push_back(list);
  }
  timer.deadline_ = now_ + duration_ms;
  timer.list_ = list;
  timer.prev_ = list->tail;
  timer.next_ = nullptr;
  if (list->tail != nullptr)
    list->tail->next_ = &timer;
  else
    list->head = &timer;
  list->tail = &timer;
}

void TimerQueue::expire() {
  // By index: a handler may arm a timer of a new duration, which appends to lists_.
  for (size_t i = 0; i < lists_.size(); ++i) {
    Timer::List* list = lists_[i];
    while (list->head != nullptr && list->head->deadline_ <= now_) {
      Timer* timer = list->head;
      timer->cancel();
      timer->handler_->onTimer(timer);
    }
  }
}

int TimerQueue::nextTimeoutMs() const {
  int64_t best = -1;
  for (const auto* list : lists_) {
    if (list->head == nullptr) continue;
    int64_t wait = std::max<int64_t>(0, list->head->deadline_ - now_);
    if (best < 0 || wait < best) best = wait;
  }
  return best < 0 ? -1 : static_cast<int>(std::min<int64_t>(best, 60'000));
}

}  // namespace sg::net
