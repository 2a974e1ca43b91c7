#include "net/coalescer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "net/event_loop.h"

namespace sg::net {
namespace {

using std::chrono::microseconds;

constexpr size_t kBusy = 64;  // client connections

TEST(CoalescerTest, OffByDefaultAndWhenTheWaitIsZero) {
  Coalescer off;
  off.setConnections(kBusy);
  off.afterBlockingWait(50);
  EXPECT_FALSE(off.sleepBeforePoll());
  Coalescer zero(microseconds(0));
  zero.setConnections(kBusy);
  zero.afterBlockingWait(50);
  EXPECT_FALSE(zero.sleepBeforePoll());
}

TEST(CoalescerTest, ALoneSequentialStreamNeverSleeps) {
  Coalescer coalescer(microseconds(50));
  coalescer.setConnections(kBusy);
  for (int i = 0; i < 1000; ++i) {
    coalescer.afterBlockingWait(i % 2);  // one event, or a timeout
    EXPECT_FALSE(coalescer.sleepBeforePoll());
  }
  EXPECT_EQ(coalescer.sleeps(), 0u);
}

TEST(CoalescerTest, FewConnectionsNeverSleep) {
  Coalescer coalescer(microseconds(50));
  coalescer.setConnections(Coalescer::kMinConnections - 1);
  coalescer.afterBlockingWait(10);
  EXPECT_FALSE(coalescer.sleepBeforePoll());
  coalescer.setConnections(Coalescer::kMinConnections);
  EXPECT_TRUE(coalescer.sleepBeforePoll());
  // The load falling away stops the sleeps at once.
  coalescer.setConnections(3);
  EXPECT_FALSE(coalescer.sleepBeforePoll());
}

TEST(CoalescerTest, ConcurrentEventsTurnItOnAndBusyPollsKeepItOn) {
  Coalescer coalescer(microseconds(50));
  coalescer.setConnections(kBusy);
  coalescer.afterBlockingWait(2);
  ASSERT_TRUE(coalescer.sleepBeforePoll());
  // Thin polls short of the limit, each run broken by a busy poll, never turn it off.
  for (int round = 0; round < 100; ++round) {
    for (int thin = 0; thin < Coalescer::kMaxThinPolls - 1; ++thin) {
      coalescer.afterSleepPoll(thin % 2);
      ASSERT_TRUE(coalescer.sleepBeforePoll());
    }
    coalescer.afterSleepPoll(3);
    ASSERT_TRUE(coalescer.sleepBeforePoll());
  }
  EXPECT_EQ(coalescer.sleeps(), 100u * Coalescer::kMaxThinPolls);
}

TEST(CoalescerTest, ThinPollsInARowTurnItOffUntilTheNextConcurrentWait) {
  Coalescer coalescer(microseconds(50));
  coalescer.setConnections(kBusy);
  coalescer.afterBlockingWait(7);
  for (int thin = 1; thin < Coalescer::kMaxThinPolls; ++thin) {
    coalescer.afterSleepPoll(1);
    ASSERT_TRUE(coalescer.sleepBeforePoll()) << thin;
  }
  coalescer.afterSleepPoll(0);
  EXPECT_FALSE(coalescer.sleepBeforePoll());
  coalescer.afterBlockingWait(1);
  EXPECT_FALSE(coalescer.sleepBeforePoll());
  coalescer.afterBlockingWait(2);
  EXPECT_TRUE(coalescer.sleepBeforePoll());
  // A fresh start: the earlier thin polls no longer count.
  for (int thin = 1; thin < Coalescer::kMaxThinPolls; ++thin) coalescer.afterSleepPoll(0);
  EXPECT_TRUE(coalescer.sleepBeforePoll());
}

TEST(CoalescerTest, AConnectionOpeningKeepsItOffForAWhileAndTurnsItOff) {
  Coalescer coalescer(microseconds(50));
  coalescer.setConnections(kBusy);
  coalescer.connectionOpened();
  // Busy waits, but too few events since the open: still blocking.
  uint64_t seen = 0;
  while (seen + 10 < Coalescer::kQuietEvents) {
    coalescer.afterBlockingWait(10);
    seen += 10;
    ASSERT_FALSE(coalescer.sleepBeforePoll()) << seen;
  }
  coalescer.afterBlockingWait(10);  // this wait began kQuietEvents - 10 or more events after
  coalescer.afterBlockingWait(10);
  ASSERT_TRUE(coalescer.sleepBeforePoll());
  coalescer.afterSleepPoll(10);
  ASSERT_TRUE(coalescer.sleepBeforePoll());
  coalescer.connectionOpened();
  coalescer.afterSleepPoll(10);  // busy, but a connection came: back to blocking
  EXPECT_FALSE(coalescer.sleepBeforePoll());
  EXPECT_EQ(coalescer.sleeps(), 2u);
}

TEST(CoalescerTest, ConnectionChurnNeverSleeps) {
  // A connection per transaction: an open every five events, in busy batches.
  Coalescer coalescer(microseconds(50));
  coalescer.setConnections(kBusy);
  for (int i = 0; i < 1000; ++i) {
    if (i % 5 == 0) coalescer.connectionOpened();
    coalescer.afterBlockingWait(3);
    ASSERT_FALSE(coalescer.sleepBeforePoll()) << i;
  }
  EXPECT_EQ(coalescer.sleeps(), 0u);
}

TEST(CoalescerTest, SetWaitResetsTheState) {
  Coalescer coalescer(microseconds(50));
  coalescer.setConnections(kBusy);
  coalescer.afterBlockingWait(9);
  ASSERT_TRUE(coalescer.sleepBeforePoll());
  coalescer.setWait(microseconds(0));
  EXPECT_FALSE(coalescer.sleepBeforePoll());
  EXPECT_EQ(coalescer.wait(), microseconds(0));
}

// The loop itself, coalescing: every byte written to two sockets at once is read, a timer
// still fires on time, and the concurrent writes made the loop sleep-and-poll.

struct Reader : EventHandler {
  int fd = -1;
  std::atomic<int>* total = nullptr;
  void onEvents(uint32_t /*events*/) override {
    char buf[256];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) total->fetch_add(static_cast<int>(n));
  }
};

struct StopWhenDone : TimerHandler {
  EventLoop* loop = nullptr;
  std::atomic<int>* total = nullptr;
  int expected = 0;
  Timer timer{this};
  int checks = 0;
  void onTimer(Timer* /*timer*/) override {
    ++checks;
    if (total->load() == expected || checks > 5000) return loop->stop();
    loop->timers().arm(timer, 1);
  }
};

TEST(EventLoopCoalescingTest, ConcurrentWritesAreAllReadAndTimersStillFire) {
  EventLoop loop;
  loop.setCoalescing(std::chrono::microseconds(50));
  loop.setClientConnections(Coalescer::kMinConnections);
  int pairs[2][2];
  std::atomic<int> total{0};
  Reader readers[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pairs[i]), 0);
    readers[i].fd = pairs[i][0];
    readers[i].total = &total;
    ASSERT_TRUE(loop.add(pairs[i][0], &readers[i]));
  }
  constexpr int kRounds = 300;
  StopWhenDone stopper;
  stopper.loop = &loop;
  stopper.total = &total;
  stopper.expected = 2 * kRounds;
  loop.timers().arm(stopper.timer, 1);
  std::thread writer([&] {
    for (int round = 0; round < kRounds; ++round) {
      for (auto& pair : pairs) ASSERT_EQ(write(pair[1], "x", 1), 1);
      usleep(200);
    }
  });
  loop.run();
  writer.join();
  EXPECT_EQ(total.load(), 2 * kRounds);
  EXPECT_LE(stopper.checks, 5000);
  EXPECT_GT(loop.coalescedPolls(), 0u);
  for (auto& pair : pairs) {
    close(pair[0]);
    close(pair[1]);
  }
}

}  // namespace
}  // namespace sg::net
