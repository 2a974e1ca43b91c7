#pragma once
// A test-and-test-and-set lock for critical sections of a few dozen nanoseconds (one key's
// check). Waiters spin on a plain load (no cache-line ping-pong), then yield so that a
// preempted holder can run when threads outnumber cores.
#include <atomic>
#include <thread>

namespace sg::ratelimit {

class SpinLock {
 public:
  void lock() noexcept {
    int spins = 0;
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < kSpinsBeforeYield) {
          pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static constexpr int kSpinsBeforeYield = 64;

  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<bool> locked_{false};
};

}  // namespace sg::ratelimit
