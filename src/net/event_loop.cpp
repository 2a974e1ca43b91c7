#include "net/event_loop.h"

#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <stdexcept>
#include <utility>

#include "net/spawn_guard.h"

namespace sg::net {

MonoMillis monotonicMillis() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<MonoMillis>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

class EventLoop::WakeHandler final : public EventHandler {
 public:
  explicit WakeHandler(EventLoop* loop) : loop_(loop) {}
  void onEvents(uint32_t /*events*/) override { loop_->drainWake(); }

 private:
  EventLoop* loop_;
};

namespace {
constexpr int kMaxEventsPerWait = 256;
}

EventLoop::EventLoop() : events_(kMaxEventsPerWait) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error("epoll/eventfd creation failed");
  static_assert(sizeof(void*) <= sizeof(epoll_data_t));
  waker_ = std::make_unique<WakeHandler>(this);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = static_cast<EventHandler*>(waker_.get());
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  timers_.setNow(monotonicMillis());
}

EventLoop::~EventLoop() {
  for (auto* object : graveyard_) delete object;
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool EventLoop::add(int fd, EventHandler* handler) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = handler;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::forgetPending(EventHandler* handler) {
  for (int i = dispatch_next_; i < dispatch_count_; ++i) {
    if (events_[i].data.ptr == handler) events_[i].data.ptr = nullptr;
  }
}

void EventLoop::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void EventLoop::drainWake() {
  uint64_t value = 0;
  [[maybe_unused]] ssize_t n = read(wake_fd_, &value, sizeof(value));
  if (on_wake_) on_wake_();
}

void EventLoop::run() {
  if (coalescer_.wait().count() > 0) {
    // The default timer slack (50 us) would double a 50 us sleep.
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  }
  running_ = true;
  while (running_) dispatch(waitForEvents());
}

int EventLoop::poll(int timeout_ms) {
  return epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
}

int EventLoop::waitForEvents() {
  if (!coalescer_.sleepBeforePoll()) {
    int n = poll(timers_.nextTimeoutMs());
    coalescer_.afterBlockingWait(n);
    return n;
  }
  int n = poll(0);  // events that came while the last batch ran need no sleep
  if (n != 0) return n;
  auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(coalescer_.wait()).count();
  timespec sleep{static_cast<time_t>(wait / 1'000'000'000),
                 static_cast<long>(wait % 1'000'000'000)};
  nanosleep(&sleep, nullptr);
  n = poll(0);
  coalescer_.afterSleepPoll(n);
  return n;
}

int EventLoop::runOnce(int max_wait_ms) {
  const int timer_wait = timers_.nextTimeoutMs();
  const int n = poll(timer_wait < 0 ? max_wait_ms : std::min(max_wait_ms, timer_wait));
  dispatch(n);
  return std::max(n, 0);
}

void EventLoop::dispatch(int n) {
  timers_.setNow(monotonicMillis());
  dispatch_count_ = n;
  for (dispatch_next_ = 0; dispatch_next_ < n;) {
    const epoll_event& event = events_[dispatch_next_++];
    if (event.data.ptr != nullptr)
      static_cast<EventHandler*>(event.data.ptr)->onEvents(event.events);
  }
  dispatch_count_ = 0;
  timers_.expire();
  runBatchEnd();
  // Handlers may dispose of objects while others dispose more; swap until quiet. While a
  // process is being spawned, a closed socket may still report events (spawn_guard.h): the
  // objects wait for a later batch.
  while (!graveyard_.empty() && !spawnInFlight()) {
    std::vector<Disposable*> dead;
    dead.swap(graveyard_);
    for (auto* object : dead) delete object;
  }
}

void EventLoop::unschedule(BatchEndHandler* handler) {
  std::erase(batch_end_, handler);
  if (batch_running_ != nullptr)
    std::replace(batch_running_->begin(), batch_running_->end(), handler,
                 static_cast<BatchEndHandler*>(nullptr));
}

// Handlers may schedule more (a reply handled at batch end sends a command): run until quiet.
void EventLoop::runBatchEnd() {
  while (!batch_end_.empty()) {
    std::vector<BatchEndHandler*> due;
    due.swap(batch_end_);
    batch_running_ = &due;
    for (BatchEndHandler*& handler : due) {
      if (BatchEndHandler* due_handler = std::exchange(handler, nullptr)) due_handler->onBatchEnd();
    }
    batch_running_ = nullptr;
  }
}

}  // namespace sg::net
