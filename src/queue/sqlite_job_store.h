#pragma once
// The embedded durable job store of one async queue: a SQLite file in WAL mode.
//
// Enqueue (the accept path) is asynchronous and group-committed: worker threads hand jobs
// to enqueue(), one writer thread commits everything that arrived in ONE transaction (one
// fsync for up to max_batch jobs), then calls each job's callback. A callback with success
// means the job is on disk: only then may the gateway answer 202.
//
// Every other call (dispatcher and admin) is synchronous: it runs on the caller's thread
// under the same lock the writer holds while it commits, so it waits at most for one batch.
// A call that changes jobs commits its own transaction (an fsync): call them from a thread
// that may block for a few milliseconds, not from an event loop.
//
// Thread safety: every public member may be called from any thread at any time, until the
// store is destroyed. Callbacks run on the writer thread with no store lock held; they may
// call back into the store, but must not block for long (post the outcome to your loop).
//
// Delivery is at least once: a job found `running` at open (the gateway died mid-delivery)
// is queued again with its attempt counted, and a delivery that outlives the visibility
// timeout is retried (stalled()). Not so when the file's lock was handed over (file_lock.h):
// the process that passed it still settles its deliveries, and if it dies first, stalled()
// retries them. complete() and fail() take the attempt number the claim
// gave, so a late answer from a superseded delivery cannot settle the job.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "queue/file_lock.h"
#include "queue/job_store.h"

namespace sg::queue {

class Database;
struct Statements;

class SqliteJobStore final : public JobStore {
 public:
  // Opens or creates the file, checks it, requeues jobs left running, starts the writer.
  static Result<std::unique_ptr<SqliteJobStore>> open(StoreOptions options);
  // Commits whatever is pending, then stops the writer and closes the file.
  ~SqliteJobStore() override;
  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  // Jobs that were `running` when the file was opened, now queued again.
  uint64_t recoveredAtOpen() const override { return recovered_; }
  // The file's lock (file_lock.h): its descriptor passes to a successor process.
  const FileLock& lock() const { return lock_; }
  // An in-process reload keeps the file open: the new configuration's limits (max_length,
  // overflow, result_ttl, max_result_size, attempts) apply from the next call on.
  void setLimits(const StoreOptions& options);

  // Stores job.request and job.idempotency_key; every other field is the store's (a new id,
  // the queue, state and times). The id is made at the insert (its row number), so the
  // callback is where it is known. `done` runs once: on the writer thread after the commit, or
  // on this thread at once if the store is closing or no id could be made. If the commit
  // fails, every job of that batch gets the storage error and none of them is stored.
  void enqueue(Job job, EnqueueCallback done) override;

  // Dispatcher side. claimReady marks up to `max` ready jobs (next_attempt <= now, oldest
  // first) running, with started = now and attempts + 1, and returns them.
  Result<std::vector<Job>> claimReady(int64_t now_ms, size_t max,
                                      ClaimAttempts which = ClaimAttempts::kAny);
  Status complete(std::string_view id, uint32_t attempt, JobResult result);
  // The dispatcher's round in ONE transaction (one fsync however many jobs it touches):
  // settles the deliveries that ended, as complete() and fail() do, then claims up to `max`
  // ready jobs per claim as claimReady() does. A settlement that does not apply (a superseded
  // attempt, an unknown id) gets its error in `settled` and leaves the others be; a storage error
  // rolls the whole round back (those jobs stay running until stalled() retries them).
  Result<DispatchRound> settleAndClaim(std::span<Settlement> ended, int64_t now_ms,
                                       std::span<const ClaimRequest> claims) override;
  // `result`, when given, is the upstream's answer that made the delivery fail (a 4xx, a 503):
  // it is stored as complete() stores one (same max_result_size rule), so the job's result
  // shows it. The result columns always hold the answer of the delivery that ended last: a
  // fail without one (connect refused, timeout) clears an earlier attempt's, as last_error is
  // replaced too. This holds for every FailNext kind, kRetry included.
  Status fail(std::string_view id, uint32_t attempt, std::string_view error, FailNext next,
              const JobResult* result = nullptr);
  // Queued jobs waiting longer than message_ttl go dead; returns how many.
  Result<uint64_t> expire(int64_t now_ms, int64_t message_ttl_ms) override;
  // Running jobs started before now - visibility_timeout are retried at once (or go dead
  // on their max_attempts-th attempt); returns how many.
  Result<uint64_t> stalled(int64_t now_ms, int64_t visibility_timeout_ms) override;
  // Deletes succeeded and failed jobs that ended more than result_ttl ago.
  Result<uint64_t> purgeResults(int64_t now_ms) override;

  // Admin and status.
  Result<Job> get(std::string_view id) override;
  Result<std::vector<Job>> group(std::string_view head_id) override;
  Result<std::optional<JobResult>> result(std::string_view id) override;
  Status cancel(std::string_view id) override;               // queued -> failed ("cancelled")
  Result<std::vector<Job>> listDead(size_t limit) override;  // oldest death first
  Result<uint64_t> replayDead(std::span<const std::string> ids) override;  // -> queued, attempts 0
  Result<uint64_t> replayAllDead() override;
  Result<uint64_t> discardDead(std::span<const std::string> ids) override;
  Result<uint64_t> discardAllDead() override;

  // Lock-free snapshot for metrics, as of the last committed transaction.
  QueueCounts counts(int64_t now_ms) const override;
  CommitStats commitStats() const;
  const StoreOptions& options() const { return options_; }

 private:
  struct Pending {
    Job job;
    JobSecret secret;  // drawn on the caller's thread: getrandom stays off the writer
    std::vector<JobSecret> member_secrets;  // a fan-out's members after the head
    EnqueueCallback done;
  };

  explicit SqliteJobStore(StoreOptions options);
  Status setUp();
  Status createSchema();
  Status recover();
  int64_t now() const;
  void writerLoop();
  bool takeBatch(std::vector<Pending>& batch);
  void commitBatch(std::vector<Pending>& batch, std::vector<EnqueueOutcome>& outcomes);
  Status insertBatch(std::vector<Pending>& batch, std::vector<EnqueueOutcome>& outcomes);
  Status insertOne(Pending& pending, int64_t now, uint64_t& depth, EnqueueOutcome& outcome);
  Result<bool> findIdempotent(const std::string& key, int64_t now, EnqueueOutcome& outcome);
  Result<bool> dropOldest(int64_t now);
  Status insertGroup(Pending& pending, int64_t now, uint64_t& depth, EnqueueOutcome& outcome);
  Result<std::string> insertJob(const Job& job, const JobSecret& secret, int64_t now,
                                std::string_view upstream, int64_t group_seq, bool with_key);
  Result<uint64_t> depthInTransaction();
  // Runs `body` in one write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error).
  template <class F>
  auto inTransaction(std::string_view what, F&& body) -> decltype(body());
  Status settleOne(Settlement& settlement);
  Result<Status> settleInTransaction(Settlement& settlement);
  Status claimInTransaction(int64_t now_ms, ClaimRequest claim, std::vector<Job>& jobs);
  Result<uint64_t> moveDead(std::span<const std::string> ids, bool all, bool replay);
  Status refreshCounts();
  Status missingOrWrongState(std::string_view id, const JobKey& key, std::string_view operation);

  StoreOptions options_;
  FileLock lock_;  // before db_: released only once the file is closed
  std::unique_ptr<Database> db_;
  std::unique_ptr<Statements> sql_;
  uint64_t recovered_ = 0;

  // db_mutex_ guards db_ and sql_ (the connection is used by one thread at a time).
  std::mutex db_mutex_;

  // queue_mutex_ guards pending_ and stopping_: the hand-off to the writer.
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  std::thread writer_;

  std::atomic<uint64_t> counts_[kJobStateCount] = {};
  std::atomic<int64_t> oldest_queued_ms_{0};
  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> batched_jobs_{0};
  std::atomic<uint64_t> largest_batch_{0};
};

}  // namespace sg::queue
