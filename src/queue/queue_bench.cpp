// Durable enqueues per second through group commit: N producer threads enqueue 5,000 jobs
// each (64-byte body, two headers) and an iteration ends when every callback has said the
// job is on disk (WAL, synchronous=FULL, a real file under $TMPDIR). The deep variants
// enqueue 100,000 jobs first (untimed): the figure should not depend on how many wait.
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "queue/sqlite_job_store.h"

namespace sg::queue {
namespace {

// `producers` threads enqueue `each` jobs; returns when every callback has run.
void enqueueAll(SqliteJobStore& store, const Job& job, int producers, int64_t each,
                std::atomic<int64_t>& errors) {
  const int64_t target = producers * each;
  if (target == 0) return;
  std::atomic<int64_t> done{0};
  std::vector<std::thread> threads;
  threads.reserve(producers);
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      for (int64_t i = 0; i < each; ++i) {
        store.enqueue(job, [&](const EnqueueOutcome& o) {
          if (!o.ok()) ++errors;
          if (++done == target) done.notify_all();
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  // Sleep rather than spin: on 2 cores a spinning waiter takes the writer's CPU.
  for (int64_t seen = done.load(); seen < target; seen = done.load()) done.wait(seen);
}

void BM_DurableEnqueue(benchmark::State& state) {
  std::string dir = (std::filesystem::temp_directory_path() / "sg-queue-bench-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  StoreOptions options;
  options.path = dir + "/bench.db";
  options.queue = "bench";
  options.max_batch = 256;
  options.max_wait = std::chrono::microseconds(state.range(1));
  options.check_at_open = false;
  auto opened = SqliteJobStore::open(options);
  if (!opened.ok()) {
    state.SkipWithError(opened.error().message.c_str());
    return;
  }
  auto store = std::move(opened.value());
  const int producers = static_cast<int>(state.range(0));
  Job job;
  job.request.method = "POST";
  job.request.target = "/api/orders";
  job.request.headers = {{"Content-Type", "application/json"}, {"Content-Length", "64"}};
  job.request.body = std::string(64, 'x');

  std::atomic<int64_t> errors{0};
  // A deep queue first (untimed). Ids used to be random keys of a unique index, and with
  // 100,000 jobs each 256-job commit rewrote ~220 scattered index pages; row-number ids
  // append instead, so this should cost no more than an empty queue.
  enqueueAll(*store, job, 2, state.range(2) / 2, errors);
  for (auto _ : state) {
    constexpr int64_t kPerProducer = 5000;
    enqueueAll(*store, job, producers, kPerProducer, errors);
    state.SetItemsProcessed(state.items_processed() + producers * kPerProducer);
  }
  CommitStats stats = store->commitStats();
  state.counters["jobs_per_txn"] =
      stats.transactions ? static_cast<double>(stats.jobs) / stats.transactions : 0;
  state.counters["errors"] = static_cast<double>(errors.load());
  store.reset();
  std::filesystem::remove_all(dir);
}
// {producer threads, max_wait in µs, jobs already queued}
BENCHMARK(BM_DurableEnqueue)
    ->Args({2, 0, 0})
    ->Args({2, 1000, 0})
    ->Args({8, 1000, 0})
    ->Args({2, 0, 100000})
    ->Args({2, 1000, 100000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace
}  // namespace sg::queue
