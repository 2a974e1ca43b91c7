#pragma once
// Event coalescing under concurrent load: whether the loop's next wait blocks in
// epoll_wait or sleeps a few microseconds and then polls.
//
// Why: a thread blocked in epoll_wait is woken by whichever process makes one of its
// sockets ready, and that process pays for the wake-up inside its send: the scheduler's
// wake-up path and, when this thread's CPU went idle, an inter-processor interrupt (a VM
// exit on virtual machines, about 5 us measured here). Under load that cost lands on the
// clients and the upstreams, once per event. A loop that sleeps instead of waiting is not
// on the socket's wait queue, so those senders only append to the ready list, and the loop
// collects everything that arrived during the sleep in one batch.
//
// The price is latency: an event waits up to the sleep. That only pays with many clients,
// whose queued work keeps everyone busy while the loop sleeps; with two clients in a
// closed loop every microsecond of latency is lost throughput (measured: half the
// requests per second with a 50 us sleep).
//
// When: with at least kMinConnections client connections open on the worker, a blocking
// wait that returns two or more events turns coalescing on, unless a client connection
// opened within the last kQuietEvents events (churn, below). It stays on while the
// polls after each sleep keep finding two or more events; kMaxThinPolls polls in a row with
// fewer turn it off again, so slow upstreams do not keep the loop waking for nothing.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sg::net {

class Coalescer {
 public:
  static constexpr int kMaxThinPolls = 4;
  static constexpr size_t kMinConnections = 16;
  // Events handled since the last client connection opened before coalescing may start.
  // A connection per PostgreSQL transaction is about five events and one per HTTP request
  // about three, so churn keeps it off; a keep-alive load with the odd new client leaves it
  // off for a few batches only.
  static constexpr uint64_t kQuietEvents = 64;

  // wait: the sleep before each poll; zero turns coalescing off.
  explicit Coalescer(std::chrono::microseconds wait = std::chrono::microseconds::zero())
      : wait_(wait) {}

  // Call before the loop runs.
  void setWait(std::chrono::microseconds wait) {
    wait_ = wait;
    active_ = false;
  }
  std::chrono::microseconds wait() const { return wait_; }
  // True: sleep wait() and poll; false: block in epoll_wait until an event or a timer.
  bool sleepBeforePoll() const { return active_ && connections_ >= kMinConnections; }
  // Client connections open on the loop's worker.
  void setConnections(size_t connections) { connections_ = connections; }
  // A client connection opened. Connections that come and go are mostly handshakes, whose
  // every round trip would wait out a sleep (a connection per PostgreSQL transaction lost a
  // fifth of its rate), so an open turns coalescing off and keeps it off until
  // kQuietEvents events have passed without another.
  void connectionOpened() { events_since_open_ = 0; }

  // What the last blocking wait returned.
  void afterBlockingWait(int events);
  // What the poll after a sleep returned.
  void afterSleepPoll(int events);

  // Sleeps so far; written by the loop's thread only, readable from any (for /metrics).
  uint64_t sleeps() const { return sleeps_.load(std::memory_order_relaxed); }

 private:
  bool countEvents(int events);

  std::chrono::microseconds wait_;
  bool active_ = false;
  int thin_polls_ = 0;
  size_t connections_ = 0;
  uint64_t events_since_open_ = kQuietEvents;
  std::atomic<uint64_t> sleeps_{0};
};

}  // namespace sg::net
