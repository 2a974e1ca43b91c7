#pragma once
// The durable job store of one async queue, apart from where it keeps its jobs: a SQLite file
// (sqlite_job_store.h, the default) or the top-level store's Redis (redis_job_store.h). The
// dispatcher, the job API and the admin API use this interface only.
//
// Thread safety: every member may be called from any thread at any time, until the store is
// destroyed. enqueue() callbacks run on the store's own writer thread with no store lock held.
// Every other call may block on I/O (an fsync, a round trip to Redis): call it from a thread
// that may block for a few milliseconds, never from an event loop.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "queue/job.h"
#include "queue/store_error.h"

namespace sg::queue {

enum class Overflow : uint8_t {
  kReject,      // a full queue refuses new jobs (ErrorKind::kFull)
  kDropOldest,  // the oldest queued job is dead-lettered to make room, in the same
                // transaction; if every waiting job is retrying, the new job is refused
                // (kFull) instead
};

struct StoreOptions {
  std::string path;
  std::string queue;  // the queue's name; a file holds one queue's jobs
  size_t max_batch = 256;
  // How long the writer waits after the first job of a batch for more to arrive. 0 commits
  // what is there at once (jobs that arrive during a commit still share the next one).
  std::chrono::microseconds max_wait{1000};
  // Jobs waiting (queued + retrying) beyond which overflow applies; 0 means no limit.
  uint64_t max_length = 0;
  Overflow overflow = Overflow::kReject;
  int64_t result_ttl_ms =
      int64_t{24} * 3600 * 1000;       // results and idempotency keys are kept this long
  uint64_t max_result_size = 1 << 20;  // bigger result bodies are not kept (JobResult)
  // A delivery that stalls on this attempt is dead-lettered instead of retried; 0: never.
  uint32_t max_attempts = 0;
  // PRAGMA quick_check at open (reads the whole file once; finds corruption at start-up
  // rather than mid-traffic).
  bool check_at_open = true;
  uint32_t cache_kib = 64 * 1024;  // SQLite's page cache for this file
  // SQLite: the descriptors of file locks the process this one replaces passed on (not owned;
  // file_lock.h). The one that is this file's lock is shared instead of taken.
  std::vector<int> handed_locks;
  // Milliseconds since the epoch; called from any thread. Empty: the system clock.
  std::function<int64_t()> clock;
};

struct EnqueueOutcome {
  std::string id;         // the new job's id, or the existing job's (existing == true);
                          // empty when the job was not stored
  bool existing = false;  // the idempotency key matched a job within result_ttl
  std::optional<StoreError> error;
  bool ok() const { return !error.has_value(); }
};
using EnqueueCallback = std::function<void(EnqueueOutcome)>;

// What a failed delivery leads to.
struct FailNext {
  enum class Kind : uint8_t { kRetry, kFail, kDead };
  Kind kind = Kind::kRetry;
  int64_t retry_at_ms = 0;
  static FailNext retryAt(int64_t at_ms) { return {Kind::kRetry, at_ms}; }
  static FailNext failed() { return {Kind::kFail, 0}; }  // not retryable: state failed
  static FailNext dead() { return {Kind::kDead, 0}; }    // attempts exhausted: dead letter
};

// How one delivery ended (settleAndClaim).
struct Settlement {
  std::string id;
  uint32_t attempt = 0;
  std::optional<FailNext> failure;  // empty: the delivery succeeded
  std::string error;                // why it failed (failure only)
  std::optional<JobResult> result;  // the upstream's answer, stored as complete() / fail() do
};

// Which ready jobs a claim takes (oldest first). A batching queue claims a batch apart from
// later attempts (delivered one by one). kFirst: the oldest ready first attempt and more first
// attempts of the same method, target and upstream (one batch).
enum class ClaimAttempts : uint8_t { kAny, kFirst, kLater };
struct ClaimRequest {
  size_t max = 0;
  ClaimAttempts which = ClaimAttempts::kAny;
};

struct DispatchRound {
  std::vector<Status> settled;  // one per settlement, in order
  std::vector<Job> claimed;     // every claim's jobs, claim after claim
};

struct QueueCounts {
  uint64_t by_state[kJobStateCount] = {};
  int64_t oldest_queued_age_ms = 0;  // 0 when nothing is queued
  uint64_t depth() const;            // queued + retrying
  uint64_t inFlight() const;         // running
  uint64_t dead() const;
};

struct CommitStats {
  uint64_t transactions = 0;   // enqueue batches committed (or rolled back)
  uint64_t jobs = 0;           // enqueues those batches carried
  uint64_t largest_batch = 0;  // the most enqueues one transaction carried
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Stores job.request and job.idempotency_key; every other field is the store's (a new id,
  // the queue, state and times). With job.fanout, one member job per target upstream, all or
  // none, the first being the head whose id `done` gets. `done` runs once: on the store's writer
  // thread once the job is durable (or refused), or on the caller's thread at once if the store is
  // closing.
  virtual void enqueue(Job job, EnqueueCallback done) = 0;

  // Dispatcher side: settles the deliveries that ended, then claims up to `max` ready jobs per
  // claim (oldest first), marking them running with started = now and attempts + 1.
  // A settlement that does not apply (a superseded attempt, an unknown id) gets its error in
  // `settled` and leaves the others be.
  virtual Result<DispatchRound> settleAndClaim(std::span<Settlement> ended, int64_t now_ms,
                                               std::span<const ClaimRequest> claims) = 0;
  // Queued jobs waiting longer than message_ttl go dead; returns how many.
  virtual Result<uint64_t> expire(int64_t now_ms, int64_t message_ttl_ms) = 0;
  // Running jobs whose delivery started visibility_timeout ago or more are retried at once
  // (or go dead on their max_attempts-th attempt); returns how many.
  virtual Result<uint64_t> stalled(int64_t now_ms, int64_t visibility_timeout_ms) = 0;
  // Deletes succeeded and failed jobs that ended more than result_ttl ago.
  virtual Result<uint64_t> purgeResults(int64_t now_ms) = 0;

  // Admin and status.
  virtual Result<Job> get(std::string_view id) = 0;
  // The members of the fan-out group `head_id` heads (head first, in row order); empty when
  // the id is a job that heads no group; kNotFound for an unknown id.
  virtual Result<std::vector<Job>> group(std::string_view head_id) = 0;
  virtual Result<std::optional<JobResult>> result(std::string_view id) = 0;
  virtual Status cancel(std::string_view id) = 0;               // queued -> failed ("cancelled")
  virtual Result<std::vector<Job>> listDead(size_t limit) = 0;  // oldest death first
  virtual Result<uint64_t> replayDead(std::span<const std::string> ids) = 0;  // -> queued
  virtual Result<uint64_t> replayAllDead() = 0;
  virtual Result<uint64_t> discardDead(std::span<const std::string> ids) = 0;
  virtual Result<uint64_t> discardAllDead() = 0;

  // A snapshot for metrics without I/O: as of the last commit (SQLite) or the last refresh
  // (Redis: every dispatcher round and every second).
  virtual QueueCounts counts(int64_t now_ms) const = 0;
  // Jobs found running at open and queued again (SQLite: the gateway died mid-delivery).
  virtual uint64_t recoveredAtOpen() const { return 0; }
};

}  // namespace sg::queue
