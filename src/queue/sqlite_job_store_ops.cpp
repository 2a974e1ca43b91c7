// The dispatcher's and the admin API's calls: synchronous, each under db_mutex_ on the
// caller's thread, each change in its own transaction.
#include <algorithm>

#include "queue/sqlite_job_store_impl.h"

namespace sg::queue {

namespace {

// Runs a statement that returns no rows and reports how many it changed.
Result<uint64_t> run(Database& db, Statement& stmt, std::string_view what) {
  int rc = stmt.step();
  if (rc != SQLITE_DONE) return db.error(what, rc);
  return static_cast<uint64_t>(db.changes());
}

StoreError malformed(const Database& db) {
  return StoreError{ErrorKind::kStorage, db.path() + ": a stored job is malformed"};
}

// A malformed id names no job, the same answer as a well-formed id nobody was given.
StoreError notFound(std::string_view id) {
  return StoreError{ErrorKind::kNotFound, "no job " + std::string(id)};
}

}  // namespace

Result<std::vector<Job>> SqliteJobStore::claimReady(int64_t now_ms, size_t max,
                                                    ClaimAttempts which) {
  std::lock_guard lock(db_mutex_);
  return inTransaction("claiming jobs", [&]() -> Result<std::vector<Job>> {
    std::vector<Job> jobs;
    if (auto s = claimInTransaction(now_ms, {max, which}, jobs); !s.ok()) return s.error();
    return jobs;
  });
}

// Caller holds db_mutex_ inside a write transaction. Appends the claimed jobs to `jobs`.
Status SqliteJobStore::claimInTransaction(int64_t now_ms, ClaimRequest claim,
                                          std::vector<Job>& jobs) {
  if (claim.max == 0) return okStatus();
  const size_t first = jobs.size();
  const bool batch = claim.which == ClaimAttempts::kFirst;
  StatementUse stmt(batch ? sql_->claim_batch : sql_->claim);
  stmt->bindInt(":now", now_ms);
  stmt->bindInt(":max", static_cast<int64_t>(claim.max));
  if (!batch) {
    // attempts counts deliveries started: 0 until the first claim.
    stmt->bindInt(":min_attempts", claim.which == ClaimAttempts::kLater ? 1 : 0);
    stmt->bindInt(":max_attempts", INT64_MAX);
  }
  int rc;
  while ((rc = stmt->step()) == SQLITE_ROW) {
    auto job = readJob(*stmt);
    if (!job) return malformed(*db_);
    jobs.push_back(std::move(*job));
  }
  if (rc != SQLITE_DONE) return db_->error("claiming jobs", rc);
  // RETURNING gives rows in no promised order; deliver oldest first.
  std::sort(jobs.begin() + static_cast<std::ptrdiff_t>(first), jobs.end(),
            [](const Job& a, const Job& b) {
              return a.next_attempt_ms != b.next_attempt_ms ? a.next_attempt_ms < b.next_attempt_ms
                                                            : a.created_ms < b.created_ms;
            });
  return okStatus();
}

namespace {

// Every settle writes the result columns; a NULL status reads back as no result.
void bindResult(Statement& stmt, const JobResult* result) {
  if (result != nullptr) {
    stmt.bindInt(":status", result->status);
    stmt.bindBlob(":headers", encodeHeaders(result->headers));
    stmt.bindBlob(":body", result->body);
    stmt.bindInt(":omitted", result->body_omitted ? 1 : 0);
    stmt.bindInt(":size", static_cast<int64_t>(result->body_size));
  } else {
    stmt.bindNull(":status");
    stmt.bindNull(":headers");
    stmt.bindNull(":body");
    stmt.bindInt(":omitted", 0);
    stmt.bindInt(":size", 0);
  }
}

}  // namespace

Status SqliteJobStore::complete(std::string_view id, uint32_t attempt, JobResult result) {
  Settlement settlement{std::string(id), attempt, std::nullopt, {}, std::move(result)};
  return settleOne(settlement);
}

Status SqliteJobStore::fail(std::string_view id, uint32_t attempt, std::string_view error,
                            FailNext next, const JobResult* result) {
  Settlement settlement{std::string(id), attempt, next, std::string(error), std::nullopt};
  if (result != nullptr) settlement.result = *result;
  return settleOne(settlement);
}

Status SqliteJobStore::settleOne(Settlement& settlement) {
  std::lock_guard lock(db_mutex_);
  auto settled = inTransaction("settling a job",
                               [&]() -> Result<Status> { return settleInTransaction(settlement); });
  if (!settled.ok()) return settled.error();
  return settled.value();
}

Result<DispatchRound> SqliteJobStore::settleAndClaim(std::span<Settlement> ended, int64_t now_ms,
                                                     std::span<const ClaimRequest> claims) {
  std::lock_guard lock(db_mutex_);
  return inTransaction("settling and claiming jobs", [&]() -> Result<DispatchRound> {
    DispatchRound round;
    round.settled.reserve(ended.size());
    for (Settlement& settlement : ended) {
      auto settled = settleInTransaction(settlement);
      if (!settled.ok()) return settled.error();  // storage: the whole round rolls back
      round.settled.push_back(std::move(settled.value()));
    }
    for (const ClaimRequest& claim : claims) {
      if (auto s = claimInTransaction(now_ms, claim, round.claimed); !s.ok()) return s.error();
    }
    return round;
  });
}

// The end of one delivery: the job must still be running that attempt. Caller holds
// db_mutex_ inside a write transaction. The outer Result fails on a storage error (the
// transaction must roll back); the inner Status says whether this settlement applied.
Result<Status> SqliteJobStore::settleInTransaction(Settlement& settlement) {
  auto key = parseJobId(settlement.id);
  if (!key) return Status(notFound(settlement.id));
  const JobEvent event = !settlement.failure                                  ? JobEvent::kComplete
                         : settlement.failure->kind == FailNext::Kind::kRetry ? JobEvent::kRetry
                         : settlement.failure->kind == FailNext::Kind::kFail  ? JobEvent::kFail
                                                                              : JobEvent::kKill;
  Statement* stmt = event == JobEvent::kComplete ? &sql_->complete
                    : event == JobEvent::kRetry  ? &sql_->retry
                    : event == JobEvent::kFail   ? &sql_->fail
                                                 : &sql_->kill;
  if (settlement.result) {
    settlement.result = storableResult(std::move(*settlement.result), options_.max_result_size);
  } else if (event == JobEvent::kComplete) {
    settlement.result = JobResult{};  // a completion always has a result row
  }
  StatementUse use(*stmt);
  use->bindInt(":now", now());
  bindJobKey(*use, *key);
  use->bindInt(":attempt", settlement.attempt);
  bindResult(*use, settlement.result ? &*settlement.result : nullptr);
  if (event != JobEvent::kComplete) use->bindText(":error", settlement.error);
  if (event == JobEvent::kRetry) use->bindInt(":at", settlement.failure->retry_at_ms);
  if (event == JobEvent::kKill) use->bindText(":reason", "attempts exhausted");
  auto changed = run(*db_, *stmt, "settling a job");
  if (!changed.ok()) return changed.error();
  if (changed.value() > 0) return okStatus();
  const std::string operation = "settle attempt " + std::to_string(settlement.attempt);
  Status why = missingOrWrongState(settlement.id, *key, operation);
  if (!why.ok() && why.error().kind == ErrorKind::kStorage) return why.error();
  return why;
}

// Why an update by id changed nothing: no such job, or it is not in a state (or attempt)
// the operation applies to. Caller holds db_mutex_.
Status SqliteJobStore::missingOrWrongState(std::string_view id, const JobKey& key,
                                           std::string_view operation) {
  StatementUse stmt(sql_->state_of);
  bindJobKey(*stmt, key);
  int rc = stmt->step();
  if (rc == SQLITE_DONE) return notFound(id);
  if (rc != SQLITE_ROW) return db_->error("reading a job's state", rc);
  auto state = static_cast<JobState>(stmt->columnInt(0));
  return StoreError{ErrorKind::kWrongState, "job " + std::string(id) + " is " +
                                                std::string(jobStateName(state)) + " (attempt " +
                                                std::to_string(stmt->columnInt(1)) + "): cannot " +
                                                std::string(operation)};
}

Result<uint64_t> SqliteJobStore::expire(int64_t now_ms, int64_t message_ttl_ms) {
  std::lock_guard lock(db_mutex_);
  return inTransaction("expiring jobs", [&] {
    StatementUse stmt(sql_->expire);
    stmt->bindInt(":now", now_ms);
    stmt->bindInt(":cutoff", now_ms - message_ttl_ms);
    return run(*db_, sql_->expire, "expiring jobs");
  });
}

Result<uint64_t> SqliteJobStore::stalled(int64_t now_ms, int64_t visibility_timeout_ms) {
  std::lock_guard lock(db_mutex_);
  return inTransaction("retrying stalled jobs", [&]() -> Result<uint64_t> {
    uint64_t total = 0;
    for (Statement* stmt : {&sql_->stall_dead, &sql_->stall}) {
      StatementUse use(*stmt);
      use->bindInt(":now", now_ms);
      use->bindInt(":cutoff", now_ms - visibility_timeout_ms);
      use->bindInt(":max", options_.max_attempts);
      auto n = run(*db_, *stmt, "retrying stalled jobs");
      if (!n.ok()) return n;
      total += n.value();
    }
    return total;
  });
}

Result<uint64_t> SqliteJobStore::purgeResults(int64_t now_ms) {
  std::lock_guard lock(db_mutex_);
  return inTransaction("purging results", [&] {
    StatementUse stmt(sql_->purge);
    stmt->bindInt(":cutoff", now_ms - options_.result_ttl_ms);
    return run(*db_, sql_->purge, "purging results");
  });
}

Result<Job> SqliteJobStore::get(std::string_view id) {
  auto key = parseJobId(id);
  if (!key) return notFound(id);
  std::lock_guard lock(db_mutex_);
  StatementUse stmt(sql_->get);
  bindJobKey(*stmt, *key);
  int rc = stmt->step();
  if (rc == SQLITE_DONE) return notFound(id);
  if (rc != SQLITE_ROW) return db_->error("reading a job", rc);
  auto job = readJob(*stmt);
  if (!job) return malformed(*db_);
  return std::move(*job);
}

Result<std::vector<Job>> SqliteJobStore::group(std::string_view head_id) {
  auto head = get(head_id);  // the id's random part checked here
  if (!head.ok()) return head.error();
  std::vector<Job> members;
  const int64_t seq = parseJobId(head_id)->seq;
  if (head.value().group_seq != seq) return members;  // heads no group
  std::lock_guard lock(db_mutex_);
  StatementUse stmt(sql_->group_members);
  stmt->bindInt(":seq", seq);
  int rc = SQLITE_ROW;
  while ((rc = stmt->step()) == SQLITE_ROW) {
    auto job = readJob(*stmt);
    if (!job) return malformed(*db_);
    members.push_back(std::move(*job));
  }
  if (rc != SQLITE_DONE) return db_->error("reading a fan-out group", rc);
  return members;
}

Result<std::optional<JobResult>> SqliteJobStore::result(std::string_view id) {
  auto job = get(id);
  if (!job.ok()) return job.error();
  return std::move(job.value().result);
}

Status SqliteJobStore::cancel(std::string_view id) {
  auto key = parseJobId(id);
  if (!key) return notFound(id);
  std::lock_guard lock(db_mutex_);
  auto changed = inTransaction("cancelling a job", [&] {
    StatementUse stmt(sql_->cancel);
    stmt->bindInt(":now", now());
    bindJobKey(*stmt, *key);
    return run(*db_, sql_->cancel, "cancelling a job");
  });
  if (!changed.ok()) return changed.error();
  if (changed.value() == 0)
    return missingOrWrongState(id, *key, "cancel (only a queued job can be)");
  return okStatus();
}

Result<std::vector<Job>> SqliteJobStore::listDead(size_t limit) {
  std::lock_guard lock(db_mutex_);
  StatementUse stmt(sql_->list_dead);
  stmt->bindInt(":limit", static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<Job> jobs;
  int rc;
  while ((rc = stmt->step()) == SQLITE_ROW) {
    auto job = readJob(*stmt);
    if (!job) return malformed(*db_);
    jobs.push_back(std::move(*job));
  }
  if (rc != SQLITE_DONE) return db_->error("listing dead jobs", rc);
  return jobs;
}

// Replays (-> queued, attempts 0) or discards dead jobs, by id or all, in one transaction.
// Ids that are not dead jobs (or not ids at all) are skipped; the count says how many were.
Result<uint64_t> SqliteJobStore::moveDead(std::span<const std::string> ids, bool all, bool replay) {
  std::lock_guard lock(db_mutex_);
  const char* what = replay ? "replaying dead jobs" : "discarding dead jobs";
  return inTransaction(what, [&]() -> Result<uint64_t> {
    int64_t t = now();
    if (all) {
      Statement& stmt = replay ? sql_->replay_all : sql_->discard_all;
      StatementUse use(stmt);
      if (replay) use->bindInt(":now", t);
      return run(*db_, stmt, what);
    }
    uint64_t total = 0;
    Statement& stmt = replay ? sql_->replay_one : sql_->discard_one;
    for (const std::string& id : ids) {
      auto key = parseJobId(id);
      if (!key) continue;
      StatementUse use(stmt);
      if (replay) use->bindInt(":now", t);
      bindJobKey(*use, *key);
      auto n = run(*db_, stmt, what);
      if (!n.ok()) return n;
      total += n.value();
    }
    return total;
  });
}

Result<uint64_t> SqliteJobStore::replayDead(std::span<const std::string> ids) {
  return moveDead(ids, false, true);
}
Result<uint64_t> SqliteJobStore::replayAllDead() { return moveDead({}, true, true); }
Result<uint64_t> SqliteJobStore::discardDead(std::span<const std::string> ids) {
  return moveDead(ids, false, false);
}
Result<uint64_t> SqliteJobStore::discardAllDead() { return moveDead({}, true, false); }

}  // namespace sg::queue
