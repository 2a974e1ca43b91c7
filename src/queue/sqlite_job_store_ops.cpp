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

Result<std::vector<Job>> SqliteJobStore::claimReady(int64_t now_ms, size_t max) {
  std::lock_guard lock(db_mutex_);
  return inTransaction("claiming jobs", [&]() -> Result<std::vector<Job>> {
    std::vector<Job> jobs;
    StatementUse stmt(sql_->claim);
    stmt->bindInt(":now", now_ms);
    stmt->bindInt(":max", static_cast<int64_t>(max));
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) {
      auto job = readJob(*stmt);
      if (!job) return malformed(*db_);
      jobs.push_back(std::move(*job));
    }
    if (rc != SQLITE_DONE) return db_->error("claiming jobs", rc);
    // RETURNING gives rows in no promised order; deliver oldest first.
    std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
      return a.next_attempt_ms != b.next_attempt_ms ? a.next_attempt_ms < b.next_attempt_ms
                                                    : a.created_ms < b.created_ms;
    });
    return jobs;
  });
}

namespace {

// A result as stored: a body over max_result_size is not kept (a cut-off body would look
// complete). A result that already says its body was omitted (ResponseCapture) stays so.
JobResult storable(JobResult result, uint64_t max_result_size) {
  if (!result.body_omitted && result.body.size() > max_result_size) {
    result.body_size = result.body.size();
    result.body_omitted = true;
  } else if (!result.body_omitted) {
    result.body_size = result.body.size();
  }
  if (result.body_omitted) result.body.clear();
  return result;
}

}  // namespace

Status SqliteJobStore::complete(std::string_view id, uint32_t attempt, JobResult result) {
  JobResult stored = storable(std::move(result), options_.max_result_size);
  return settle(id, attempt, JobEvent::kComplete, &stored, {}, 0);
}

Status SqliteJobStore::fail(std::string_view id, uint32_t attempt, std::string_view error,
                            FailNext next, const JobResult* result) {
  std::optional<JobResult> stored;
  if (result != nullptr) stored = storable(*result, options_.max_result_size);
  const JobResult* kept = stored ? &*stored : nullptr;
  switch (next.kind) {
    case FailNext::Kind::kRetry:
      return settle(id, attempt, JobEvent::kRetry, kept, error, next.retry_at_ms);
    case FailNext::Kind::kFail:
      return settle(id, attempt, JobEvent::kFail, kept, error, 0);
    case FailNext::Kind::kDead:
      return settle(id, attempt, JobEvent::kKill, kept, error, 0);
  }
  return StoreError{ErrorKind::kInvalid, "unknown FailNext kind"};
}

// The end of one delivery: the job must still be running that attempt.
Status SqliteJobStore::settle(std::string_view id, uint32_t attempt, JobEvent event,
                              const JobResult* result, std::string_view error,
                              int64_t retry_at_ms) {
  auto key = parseJobId(id);
  if (!key) return notFound(id);
  std::lock_guard lock(db_mutex_);
  Statement* stmt = event == JobEvent::kComplete ? &sql_->complete
                    : event == JobEvent::kRetry  ? &sql_->retry
                    : event == JobEvent::kFail   ? &sql_->fail
                                                 : &sql_->kill;
  auto changed = inTransaction("settling a job", [&]() -> Result<uint64_t> {
    StatementUse use(*stmt);
    use->bindInt(":now", now());
    bindJobKey(*use, *key);
    use->bindInt(":attempt", attempt);
    // Every settle writes the result columns; a NULL status reads back as no result.
    if (result != nullptr) {
      use->bindInt(":status", result->status);
      use->bindBlob(":headers", encodeHeaders(result->headers));
      use->bindBlob(":body", result->body);
      use->bindInt(":omitted", result->body_omitted ? 1 : 0);
      use->bindInt(":size", static_cast<int64_t>(result->body_size));
    } else {
      use->bindNull(":status");
      use->bindNull(":headers");
      use->bindNull(":body");
      use->bindInt(":omitted", 0);
      use->bindInt(":size", 0);
    }
    if (event != JobEvent::kComplete) use->bindText(":error", error);
    if (event == JobEvent::kRetry) use->bindInt(":at", retry_at_ms);
    if (event == JobEvent::kKill) use->bindText(":reason", "attempts exhausted");
    return run(*db_, *stmt, "settling a job");
  });
  if (!changed.ok()) return changed.error();
  if (changed.value() == 0)
    return missingOrWrongState(id, *key, "settle attempt " + std::to_string(attempt));
  return okStatus();
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
