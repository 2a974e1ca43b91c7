#pragma once
// Completions posted to one worker's loop from any thread: the third way a paused phase is
// resumed (after a timer and a socket event). The waiter takes a ticket (expect), gives it
// to whatever will finish the work (another worker's fetch, a client library's callback
// thread), and is called back on its own loop thread when post() names the ticket. A waiter
// that gives up first (timeout, client gone) forgets its ticket; a later post is dropped.
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/event_loop.h"

namespace sg::proxy {

class CompletionWaiter {
 public:
  virtual void onCompletion(uint64_t value) = 0;

 protected:
  ~CompletionWaiter() = default;
};

class Completions {
 public:
  explicit Completions(net::EventLoop& loop) : loop_(loop) {}
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;

  // Loop thread only.
  uint64_t expect(CompletionWaiter* waiter);
  void forget(uint64_t ticket) { waiters_.erase(ticket); }
  size_t waiting() const { return waiters_.size(); }
  // Runs the waiters of every completion posted so far (call from the loop's wake handler).
  void deliver();

  // Any thread: completes `ticket` with `value` and wakes the loop.
  void post(uint64_t ticket, uint64_t value);

 private:
  net::EventLoop& loop_;
  std::unordered_map<uint64_t, CompletionWaiter*> waiters_;
  uint64_t next_ticket_ = 1;
  std::mutex mutex_;
  std::vector<std::pair<uint64_t, uint64_t>> posted_;  // guarded by mutex_
  std::vector<std::pair<uint64_t, uint64_t>> delivering_;
};

}  // namespace sg::proxy
