// The pause contract's cross-thread path: a phase pauses, work finishes on another thread,
// and the phase is resumed on its own loop's thread.
#include "proxy/completions.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "net/event_loop.h"
#include "proxy/phase.h"

namespace sg::proxy {
namespace {

// A phase whose answer is computed on another thread (as a Redis reply would be): it pauses
// with a ticket, and its resume hook runs on the loop thread with the posted value.
class ThreadedPhase final : public CompletionWaiter {
 public:
  ThreadedPhase(Completions& completions, net::EventLoop& loop)
      : completions_(completions), loop_(loop) {}
  ~ThreadedPhase() {
    if (worker_.joinable()) worker_.join();
  }

  Verdict run(uint64_t input) {
    ticket_ = completions_.expect(this);
    worker_ =
        std::thread([this, ticket = ticket_, input] { completions_.post(ticket, input * 2); });
    return Verdict::kPause;
  }
  void onCompletion(uint64_t value) override {
    resumed_on_ = std::this_thread::get_id();
    result_ = value;
    loop_.stop();
  }

  uint64_t ticket_ = 0;
  uint64_t result_ = 0;
  std::thread::id resumed_on_;

 private:
  Completions& completions_;
  net::EventLoop& loop_;
  std::thread worker_;
};

// Bounds the loop's run in a test: stops it after `ms` whatever happens.
class Deadline final : public net::TimerHandler {
 public:
  Deadline(net::EventLoop& loop, int64_t ms) : loop_(loop) { loop.timers().arm(timer_, ms); }
  void onTimer(net::Timer* /*timer*/) override {
    fired = true;
    loop_.stop();
  }
  bool fired = false;

 private:
  net::EventLoop& loop_;
  net::Timer timer_{this};
};

TEST(CompletionsTest, PhaseCompletedOnAnotherThreadResumesOnTheLoopThread) {
  net::EventLoop loop;
  Completions completions(loop);
  loop.setWakeHandler([&] { completions.deliver(); });
  ThreadedPhase phase(completions, loop);
  Deadline deadline(loop, 5000);
  EXPECT_EQ(phase.run(21), Verdict::kPause);
  loop.run();
  EXPECT_FALSE(deadline.fired);
  EXPECT_EQ(phase.result_, 42u);
  EXPECT_EQ(phase.resumed_on_, std::this_thread::get_id());
  EXPECT_EQ(completions.waiting(), 0u);
}

class Recorder final : public CompletionWaiter {
 public:
  void onCompletion(uint64_t value) override { values.push_back(value); }
  std::vector<uint64_t> values;
};

TEST(CompletionsTest, ForgottenTicketIsNotDeliveredAndOthersAre) {
  net::EventLoop loop;
  Completions completions(loop);
  Recorder gave_up;
  Recorder waiting;
  const uint64_t first = completions.expect(&gave_up);
  const uint64_t second = completions.expect(&waiting);
  EXPECT_NE(first, second);
  completions.forget(first);  // e.g. its lock_timeout passed, or the client left
  std::thread poster([&] {
    completions.post(first, 1);
    completions.post(second, 2);
    completions.post(999, 3);  // never handed out
  });
  poster.join();
  completions.deliver();
  EXPECT_TRUE(gave_up.values.empty());
  EXPECT_EQ(waiting.values, std::vector<uint64_t>{2});
  // Delivered once: a second post for the same ticket finds no waiter.
  completions.post(second, 5);
  completions.deliver();
  EXPECT_EQ(waiting.values, std::vector<uint64_t>{2});
}

TEST(CompletionsTest, ManyThreadsPostingWhileTheLoopDelivers) {
  net::EventLoop loop;
  Completions completions(loop);
  constexpr int kWaiters = 400;
  std::vector<Recorder> recorders(kWaiters);
  std::vector<uint64_t> tickets;
  for (auto& recorder : recorders) tickets.push_back(completions.expect(&recorder));
  std::atomic<int> delivered{0};
  loop.setWakeHandler([&] {
    completions.deliver();
    delivered = kWaiters - static_cast<int>(completions.waiting());
    if (delivered == kWaiters) loop.stop();
  });
  std::vector<std::thread> posters;
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&, t] {
      for (int i = t; i < kWaiters; i += 4) completions.post(tickets[static_cast<size_t>(i)], i);
    });
  }
  Deadline deadline(loop, 5000);
  loop.run();
  for (auto& poster : posters) poster.join();
  EXPECT_FALSE(deadline.fired);
  for (int i = 0; i < kWaiters; ++i) {
    EXPECT_EQ(recorders[static_cast<size_t>(i)].values,
              std::vector<uint64_t>{static_cast<uint64_t>(i)});
  }
}

}  // namespace
}  // namespace sg::proxy
