#include "net/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace sg::net {
namespace {

struct CountingHandler : EventHandler {
  std::vector<uint32_t> events;
  void onEvents(uint32_t e) override { events.push_back(e); }
};

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
  ~Pipe() {
    close(fds[0]);
    close(fds[1]);
  }
};

TEST(EventLoopRunOnceTest, DispatchesOnlyWhatIsReadyAndReturnsAtOnce) {
  EventLoop loop;
  Pipe pipe;
  CountingHandler reader;
  ASSERT_TRUE(loop.add(pipe.fds[0], &reader));
  EXPECT_EQ(loop.runOnce(0), 0);  // nothing to read: no event, and no wait
  EXPECT_TRUE(reader.events.empty());

  ASSERT_EQ(write(pipe.fds[1], "x", 1), 1);
  EXPECT_EQ(loop.runOnce(0), 1);
  ASSERT_EQ(reader.events.size(), 1u);
  EXPECT_TRUE(reader.events[0] & EPOLLIN);
  EXPECT_EQ(loop.runOnce(0), 0);  // edge-triggered: reported once
  EXPECT_EQ(reader.events.size(), 1u);
  loop.remove(pipe.fds[0]);
}

struct BatchEnd : BatchEndHandler {
  int runs = 0;
  void onBatchEnd() override { ++runs; }
};

struct Tracked : Disposable {
  bool* destroyed;
  explicit Tracked(bool* flag) : destroyed(flag) {}
  ~Tracked() override { *destroyed = true; }
};

TEST(EventLoopRunOnceTest, RunsBatchEndHandlersAndFreesDisposedObjects) {
  EventLoop loop;
  BatchEnd handler;
  bool destroyed = false;
  loop.atBatchEnd(&handler);
  loop.dispose(new Tracked(&destroyed));
  EXPECT_EQ(loop.runOnce(0), 0);
  EXPECT_EQ(handler.runs, 1);
  EXPECT_TRUE(destroyed);
  loop.runOnce(0);
  EXPECT_EQ(handler.runs, 1);  // scheduled for one batch only
}

struct Fired : TimerHandler {
  int count = 0;
  void onTimer(Timer* /*timer*/) override { ++count; }
};

TEST(EventLoopRunOnceTest, FiresDueTimersAndWaitsNoLongerThanTheNextOne) {
  EventLoop loop;
  Fired handler;
  Timer soon(&handler);
  Timer later(&handler);
  loop.timers().arm(later, 60'000);
  loop.runOnce(0);
  EXPECT_EQ(handler.count, 0);  // not due
  loop.timers().arm(soon, 1);
  // A long limit: the wait ends when `soon` is due (else this would sit for ten minutes).
  for (int turn = 0; turn < 100 && handler.count == 0; ++turn) loop.runOnce(600'000);
  EXPECT_EQ(handler.count, 1);
  EXPECT_TRUE(later.armed());
}

}  // namespace
}  // namespace sg::net
