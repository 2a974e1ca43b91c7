// The worker thread outlives the Workers of one configuration: tasks posted to it run on its
// own thread, in order, also those posted before it started; stop() ends its loop.
#include "proxy/worker_thread.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sg::proxy {
namespace {

struct Recorder {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int> order;
  std::vector<std::thread::id> threads;

  void record(int value) {
    std::lock_guard lock(mutex);
    order.push_back(value);
    threads.push_back(std::this_thread::get_id());
    changed.notify_all();
  }
  bool waitFor(size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return order.size() >= count; });
  }
};

TEST(WorkerThreadTest, TasksPostedBeforeAndAfterStartRunInOrderOnTheLoopThread) {
  Recorder recorder;
  WorkerThread thread(3);
  EXPECT_EQ(thread.index(), 3u);
  EXPECT_FALSE(thread.started());
  thread.post([&] { recorder.record(1); });
  thread.start();
  EXPECT_TRUE(thread.started());
  thread.post([&] { recorder.record(2); });
  // A task may post another: it runs in a later turn, after those already queued.
  thread.post([&] { thread.post([&] { recorder.record(4); }); });
  thread.post([&] { recorder.record(3); });
  ASSERT_TRUE(recorder.waitFor(4));
  EXPECT_EQ(recorder.order, (std::vector<int>{1, 2, 3, 4}));
  for (auto id : recorder.threads) EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_EQ(recorder.threads.front(), recorder.threads.back());
  thread.stop();
  thread.join();
  EXPECT_FALSE(thread.started());
}

TEST(WorkerThreadTest, DestroyingAStartedThreadStopsIt) {
  Recorder recorder;
  {
    WorkerThread thread(0);
    thread.start();
    thread.post([&] { recorder.record(1); });
    ASSERT_TRUE(recorder.waitFor(1));
  }  // joined here: a hang fails the test by its timeout
  EXPECT_EQ(recorder.order.size(), 1u);
}

}  // namespace
}  // namespace sg::proxy
