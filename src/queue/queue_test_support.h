#pragma once
// Shared by the queue tests: a temporary directory, a settable clock, and a synchronous
// enqueue that waits for the writer's callback.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "queue/sqlite_job_store.h"

namespace sg::queue::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-queue-XXXXXX").string();
    char* made = mkdtemp(pattern.data());
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Milliseconds since the epoch, moved by the test.
struct FakeClock {
  std::shared_ptr<std::atomic<int64_t>> ms =
      std::make_shared<std::atomic<int64_t>>(1'700'000'000'000);
  std::function<int64_t()> fn() const {
    return [ms = ms] { return ms->load(); };
  }
  int64_t now() const { return ms->load(); }
  void advance(int64_t by) { ms->fetch_add(by); }
};

inline StoreOptions optionsFor(const TempDir& dir, const FakeClock& clock) {
  StoreOptions o;
  o.path = dir.file("orders.db");
  o.queue = "orders";
  o.max_wait = std::chrono::microseconds(0);
  o.clock = clock.fn();
  return o;
}

inline std::unique_ptr<SqliteJobStore> openOrDie(const StoreOptions& options) {
  auto store = SqliteJobStore::open(options);
  EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
  return store.ok() ? std::move(store.value()) : nullptr;
}

inline Job requestJob(std::string body, std::optional<std::string> key = std::nullopt) {
  Job job;
  job.request.method = "POST";
  job.request.target = "/api/orders";
  job.request.headers = {{"Content-Type", "application/json"}};
  job.request.body = std::move(body);
  job.idempotency_key = std::move(key);
  return job;
}

inline EnqueueOutcome enqueueSync(SqliteJobStore& store, Job job) {
  std::promise<EnqueueOutcome> promise;
  auto future = promise.get_future();
  store.enqueue(std::move(job),
                [&promise](EnqueueOutcome outcome) { promise.set_value(std::move(outcome)); });
  return future.get();
}

}  // namespace sg::queue::testing
