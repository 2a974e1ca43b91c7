// Many threads enqueueing at once share transactions: every job is stored and acknowledged,
// with far fewer commits (fsyncs) than jobs.
#include <chrono>
#include <cstdio>
#include <thread>

#include "queue/queue_test_support.h"

namespace sg::queue {
namespace {

using testing::FakeClock;
using testing::openOrDie;
using testing::optionsFor;
using testing::requestJob;
using testing::TempDir;

TEST(GroupCommit, TenThousandJobsFromManyThreadsInFewTransactions) {
  TempDir dir;
  FakeClock clock;
  StoreOptions options = optionsFor(dir, clock);
  options.max_batch = 256;
  options.max_wait = std::chrono::milliseconds(1);
  auto store = openOrDie(options);
  ASSERT_TRUE(store);

  constexpr int kThreads = 8;
  constexpr int kPerThread = 1250;
  constexpr int kTotal = kThreads * kPerThread;
  std::atomic<int> succeeded{0};
  std::atomic<int> failed{0};
  std::atomic<int> answered{0};
  std::mutex ids_mutex;
  std::vector<std::string> ids;
  ids.reserve(kTotal);

  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        store->enqueue(
            requestJob("{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}"),
            [&](const EnqueueOutcome& outcome) {
              if (outcome.ok()) {
                std::lock_guard lock(ids_mutex);
                ids.push_back(outcome.id);
                ++succeeded;
              } else {
                ++failed;
              }
              ++answered;
            });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (answered.load() < kTotal && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  EXPECT_EQ(succeeded.load(), kTotal);
  EXPECT_EQ(failed.load(), 0);
  CommitStats stats = store->commitStats();
  EXPECT_EQ(stats.jobs, static_cast<uint64_t>(kTotal));
  EXPECT_LT(stats.transactions, static_cast<uint64_t>(kTotal / 10));
  EXPECT_LE(stats.largest_batch, options.max_batch);
  std::printf(
      "group commit: %d durable enqueues in %.3f s (%.0f/s), %llu transactions, "
      "largest batch %llu\n",
      kTotal, seconds, kTotal / seconds, static_cast<unsigned long long>(stats.transactions),
      static_cast<unsigned long long>(stats.largest_batch));

  store.reset();  // close, then check everything from a fresh open
  auto reopened = openOrDie(options);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->counts(clock.now()).depth(), static_cast<uint64_t>(kTotal));
  std::lock_guard lock(ids_mutex);
  for (size_t i = 0; i < ids.size(); i += 97) EXPECT_TRUE(reopened->get(ids[i]).ok()) << ids[i];
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

TEST(GroupCommit, DispatcherCallsInterleaveWithEnqueues) {
  TempDir dir;
  FakeClock clock;
  auto store = openOrDie(optionsFor(dir, clock));
  ASSERT_TRUE(store);
  constexpr int kJobs = 2000;
  std::atomic<int> answered{0};
  std::thread producer([&] {
    for (int i = 0; i < kJobs; ++i) {
      store->enqueue(requestJob("p"), [&](const EnqueueOutcome& o) {
        EXPECT_TRUE(o.ok());
        ++answered;
      });
    }
  });
  int delivered = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (delivered < kJobs && std::chrono::steady_clock::now() < deadline) {
    auto claimed = store->claimReady(clock.now(), 64);
    ASSERT_TRUE(claimed.ok()) << claimed.error().message;
    for (const Job& job : claimed.value()) {
      ASSERT_TRUE(store->complete(job.id, job.attempts, JobResult{200, {}, "ok"}).ok());
      ++delivered;
    }
    (void)store->counts(clock.now());
  }
  producer.join();
  EXPECT_EQ(delivered, kJobs);
  EXPECT_EQ(store->counts(clock.now()).by_state[static_cast<int>(JobState::kSucceeded)],
            static_cast<uint64_t>(kJobs));
}

}  // namespace
}  // namespace sg::queue
