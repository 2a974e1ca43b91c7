#pragma once
// The job store of an async queue with `store: redis`: the top-level store's Redis (one node
// or a cluster), shared by every gateway instance. docs/async-routes.md has the key layout.
//
// Jobs wait in Redis Streams read through one consumer group, so each delivery is pending
// for exactly one instance (its consumer) until it is settled. A delivery whose instance died
// is taken over after the visibility timeout by any instance (XAUTOCLAIM in stalled()).
// Every change of a job is one Lua script: atomic on Redis, and all of a queue's keys share
// one hash tag ({queue}), so a cluster keeps them on one node.
//
// Two connections with blocking I/O (hiredis): the writer thread's, which pipelines every
// pending enqueue in one round trip (Redis's appendfsync always then costs one fsync per
// batch), and the callers' (dispatcher, admin), used under a lock. A lost connection fails the
// call (ErrorKind::kStorage, retry_later) and the next call connects again, at most every
// reconnect interval: with Redis gone new jobs get 503 and delivery resumes when it is back.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "queue/job_store.h"
#include "queue/redis_link.h"

namespace sg::queue {

struct RedisStoreOptions {
  config::StoreConfig server;  // type kRedis or kRedisCluster
  // Per command: Redis answers in microseconds, but an fsync (appendfsync always) on a busy
  // disk takes longer than the shared store's 25 ms default.
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds reconnect_interval{250};
  std::string consumer;  // this instance's consumer name; empty: host-pid-random
};

class RedisJobStore final : public JobStore {
 public:
  // Starts the writer. Never fails because Redis is unreachable: the queue starts, answers
  // 503 until Redis is there, and the error is logged. Fails on bad options only.
  static Result<std::unique_ptr<RedisJobStore>> open(StoreOptions options, RedisStoreOptions redis);
  ~RedisJobStore() override;
  RedisJobStore(const RedisJobStore&) = delete;
  RedisJobStore& operator=(const RedisJobStore&) = delete;

  void enqueue(Job job, EnqueueCallback done) override;
  // Each settlement and each claim is one script, all of a round pipelined in one round trip.
  // Unlike SQLite's one transaction, a storage error mid-round may leave some settled: the
  // round reports the error, and jobs it could not settle stay running until stalled().
  Result<DispatchRound> settleAndClaim(std::span<Settlement> ended, int64_t now_ms,
                                       std::span<const ClaimRequest> claims) override;
  Result<uint64_t> expire(int64_t now_ms, int64_t message_ttl_ms) override;
  // Also refreshes counts() and takes over deliveries of dead instances (XAUTOCLAIM).
  Result<uint64_t> stalled(int64_t now_ms, int64_t visibility_timeout_ms) override;
  Result<uint64_t> purgeResults(int64_t now_ms) override;

  Result<Job> get(std::string_view id) override;
  Result<std::vector<Job>> group(std::string_view head_id) override;
  Result<std::optional<JobResult>> result(std::string_view id) override;
  Status cancel(std::string_view id) override;
  Result<std::vector<Job>> listDead(size_t limit) override;
  Result<uint64_t> replayDead(std::span<const std::string> ids) override;
  Result<uint64_t> replayAllDead() override;
  Result<uint64_t> discardDead(std::span<const std::string> ids) override;
  Result<uint64_t> discardAllDead() override;

  QueueCounts counts(int64_t now_ms) const override;
  // Reads the queue's counts from Redis now (counts() returns them until the next refresh).
  Status refreshCounts(int64_t now_ms);
  const std::string& consumer() const { return consumer_; }

 private:
  struct Pending {
    Job job;
    std::vector<JobSecret> secrets;  // one per member (one for a single job); [0]: the head's
    EnqueueCallback done;
  };

  RedisJobStore(StoreOptions options, RedisStoreOptions redis);
  int64_t now() const;
  std::string key(std::string_view suffix) const;
  void writerLoop();
  void commitBatch(std::vector<Pending>& batch);
  EnqueueOutcome enqueueOutcome(const redisReply* reply, const JobSecret& secret);
  std::string settleCommand(Settlement& settlement, const std::string& now_text);
  std::string countsCommand() const;
  std::string jobFieldsCommand(int64_t seq) const;
  void storeCounts(const redisReply* reply);
  Result<ReplyPtr> runOne(std::string command);
  Result<uint64_t> repeatScript(const LuaScript& script, std::span<const std::string_view> args,
                                std::string_view what);
  Result<uint64_t> moveDead(std::span<const std::string> ids, bool all, bool replay);

  StoreOptions options_;
  RedisStoreOptions redis_;
  std::string consumer_;
  std::string prefix_;  // sg:q:{name}:

  std::mutex link_mutex_;  // guards link_
  std::unique_ptr<RedisLink> link_;
  std::unique_ptr<RedisLink> writer_link_;  // the writer thread's own

  std::mutex queue_mutex_;  // guards pending_ and stopping_
  std::condition_variable queue_cv_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  std::thread writer_;

  std::atomic<uint64_t> counts_[kJobStateCount] = {};
  std::atomic<int64_t> oldest_queued_ms_{0};
};

}  // namespace sg::queue
