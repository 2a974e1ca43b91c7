#pragma once
// One epoll event loop per worker thread. Hand-written instead of Boost.Asio on purpose:
// Asio's reactor makes a speculative read before every wait (an extra EAGAIN syscall per
// read) and posts completions through its scheduler queue; on a proxy whose kernel share
// is already two thirds of its CPU per request, those costs decide the benchmark. Here
// sockets are registered once, edge-triggered, and a short read means "drained".
#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "net/coalescer.h"
#include "net/timer.h"

namespace sg::net {

class EventHandler {
 public:
  virtual void onEvents(uint32_t events) = 0;

 protected:
  ~EventHandler() = default;
};

// Called once at the end of the event batch in which it was scheduled (after every event
// and timer of the batch): lets a connection gather what many handlers wrote into one write.
class BatchEndHandler {
 public:
  virtual void onBatchEnd() = 0;

 protected:
  ~BatchEndHandler() = default;
};

// Objects closed during an event batch may still be referenced by later events of the
// same batch; they are handed here and destroyed after the batch.
class Disposable {
 public:
  virtual ~Disposable() = default;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers fd edge-triggered for input, output, hang-up and errors.
  bool add(int fd, EventHandler* handler);
  void remove(int fd);
  // A handler removed to be handed to another thread's loop: events of the batch being
  // dispatched that are still due for it are dropped (they would run it on this thread).
  void forgetPending(EventHandler* handler);

  // Runs until stop(); each iteration waits, dispatches, expires timers, disposes.
  void run();
  void stop() { running_ = false; }
  // One turn of run(), waiting at most `max_wait_ms` for events (0: only what is ready now),
  // or less when a timer is due sooner; for a caller that drives the loop itself (the HTTP/2
  // fuzzer). Returns the number of events dispatched.
  int runOnce(int max_wait_ms);
  // Thread-safe: makes the loop call `on_wake` soon (used for cross-thread messages).
  void wake();
  void setWakeHandler(std::function<void()> on_wake) { on_wake_ = std::move(on_wake); }

  void dispose(Disposable* object) { graveyard_.push_back(object); }
  // Schedules handler->onBatchEnd() for the end of this batch (call at most once per batch
  // per handler; a handler that goes away first must unschedule()).
  void atBatchEnd(BatchEndHandler* handler) { batch_end_.push_back(handler); }
  void unschedule(BatchEndHandler* handler);

  // Call before run(); see net/coalescer.h. Off (zero) by default.
  void setCoalescing(std::chrono::microseconds wait) { coalescer_.setWait(wait); }
  uint64_t coalescedPolls() const { return coalescer_.sleeps(); }
  void setClientConnections(size_t connections) { coalescer_.setConnections(connections); }
  void noteConnectionOpened() { coalescer_.connectionOpened(); }

  MonoMillis now() const { return timers_.now(); }
  TimerQueue& timers() { return timers_; }

 private:
  void dispatch(int events);  // handles `events` polled events, then timers, batch end, disposal
  int waitForEvents();
  int poll(int timeout_ms);
  void drainWake();
  void runBatchEnd();

  class WakeHandler;
  std::unique_ptr<WakeHandler> waker_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool running_ = false;
  std::function<void()> on_wake_;
  TimerQueue timers_;
  Coalescer coalescer_;
  std::vector<Disposable*> graveyard_;
  std::vector<BatchEndHandler*> batch_end_;
  std::vector<BatchEndHandler*>* batch_running_ = nullptr;  // the batch-end list being run
  std::vector<epoll_event> events_;
  int dispatch_next_ = 0;   // the next event of the batch being dispatched
  int dispatch_count_ = 0;  // that batch's size (0 between batches)
};

MonoMillis monotonicMillis();

}  // namespace sg::net
