#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/address.h"
#include "net/buffer.h"
#include "net/timer.h"

namespace sg::net {
namespace {

TEST(AddressTest, ParsesIpv4Ipv6AndLocalhost) {
  std::string error;
  auto v4 = Address::parse("127.0.0.1:8080", &error);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->toString(), "127.0.0.1:8080");
  auto v6 = Address::parse("[::1]:9", &error);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->toString(), "[::1]:9");
  EXPECT_EQ(v6->port(), 9);
  auto local = Address::parse("localhost:80", &error);
  ASSERT_TRUE(local);
  EXPECT_EQ(local->hostString(), "127.0.0.1");
}

TEST(AddressTest, RejectsBadText) {
  for (const char* text : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "1.2.3:80", "::1:80",
                           "[::1]80", "example.com:80", "127.0.0.1:8a"}) {
    std::string error;
    EXPECT_FALSE(Address::parse(text, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

struct Recorder : TimerHandler {
  std::vector<int>* fired;
  int id;
  Timer timer{this};
  Recorder(std::vector<int>* f, int i) : fired(f), id(i) {}
  void onTimer(Timer*) override { fired->push_back(id); }
};

TEST(TimerQueueTest, FiresInDeadlineOrderAcrossDurations) {
  TimerQueue queue;
  queue.setNow(1000);
  std::vector<int> fired;
  Recorder a(&fired, 1), b(&fired, 2), c(&fired, 3);
  queue.arm(a.timer, 300);
  queue.arm(b.timer, 100);
  queue.arm(c.timer, 300);
  EXPECT_EQ(queue.nextTimeoutMs(), 100);
  queue.setNow(1100);
  queue.expire();
  EXPECT_EQ(fired, (std::vector<int>{2}));
  queue.setNow(1299);
  queue.expire();
  EXPECT_EQ(fired.size(), 1u);
  queue.setNow(1300);
  queue.expire();
  EXPECT_EQ(fired, (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(queue.nextTimeoutMs(), -1);
}

TEST(TimerQueueTest, RearmAndCancel) {
  TimerQueue queue;
  std::vector<int> fired;
  Recorder a(&fired, 1), b(&fired, 2);
  queue.arm(a.timer, 50);
  queue.arm(b.timer, 50);
  queue.setNow(40);
  queue.arm(a.timer, 50);  // moves behind b
  b.timer.cancel();
  EXPECT_FALSE(b.timer.armed());
  queue.setNow(60);
  queue.expire();
  EXPECT_TRUE(fired.empty());
  queue.setNow(90);
  queue.expire();
  EXPECT_EQ(fired, (std::vector<int>{1}));
}

TEST(BufferTest, ConsumeCompactGrowErase) {
  Buffer buffer(8);
  std::memcpy(buffer.writePtr(), "abcdef", 6);
  buffer.commit(6);
  buffer.consume(4);
  EXPECT_EQ(buffer.view(), "ef");
  EXPECT_GE(buffer.reserve(6, 8), 6u);  // compacts within capacity
  EXPECT_EQ(buffer.capacity(), 8u);
  EXPECT_EQ(buffer.view(), "ef");
  EXPECT_GE(buffer.reserve(10, 64), 10u);  // grows
  EXPECT_EQ(buffer.view(), "ef");
  std::memcpy(buffer.writePtr(), "ghij", 4);
  buffer.commit(4);
  buffer.erase(1, 2);
  EXPECT_EQ(buffer.view(), "ehij");
  buffer.consume(4);
  EXPECT_TRUE(buffer.empty());
}

}  // namespace
}  // namespace sg::net

namespace sg::net {
namespace {

// A handler that arms a timer of a duration the queue has not seen, while timers fire.
struct Chain : TimerHandler {
  TimerQueue* queue;
  Timer next_timer{this};
  Timer first{this};
  int fired = 0;
  explicit Chain(TimerQueue* q) : queue(q) {}
  void onTimer(Timer* timer) override {
    ++fired;
    if (timer == &first) {
      for (int d = 1; d <= 64; ++d) queue->arm(next_timer, d);  // 64 new durations
    }
  }
};

TEST(TimerQueueTest, HandlerMayArmNewDurationsWhileExpiring) {
  TimerQueue queue;
  Chain chain(&queue);
  queue.arm(chain.first, 10);
  queue.setNow(10);
  queue.expire();
  EXPECT_EQ(chain.fired, 1);
  queue.setNow(74);
  queue.expire();
  EXPECT_EQ(chain.fired, 2);
}

}  // namespace
}  // namespace sg::net
