#include "queue/job_sql.h"

#include <sqlite3.h>

#include <cassert>
#include <utility>
#include <vector>

namespace sg::queue {

std::string schemaSql() {
  return R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 5),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  method BLOB NOT NULL,
  target BLOB NOT NULL,
  req_headers BLOB NOT NULL,
  req_body BLOB NOT NULL,
  idem_key BLOB,
  last_error TEXT NOT NULL DEFAULT '',
  result_status INTEGER,
  result_headers BLOB,
  result_body BLOB,
  result_omitted INTEGER NOT NULL DEFAULT 0,
  result_size INTEGER NOT NULL DEFAULT 0,
  dead_reason TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(idem_key) WHERE idem_key IS NOT NULL;
-- updated_ms is when the job entered its state: queued since, started, ended, died.
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, updated_ms);
-- Ready jobs in delivery order, for claims (the WHERE matches the claim's exactly).
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(next_attempt_ms) WHERE state IN (0,2);
CREATE TABLE IF NOT EXISTS counts(state INTEGER PRIMARY KEY, n INTEGER NOT NULL);
INSERT OR IGNORE INTO counts(state, n) VALUES (0,0),(1,0),(2,0),(3,0),(4,0),(5,0);
CREATE TRIGGER IF NOT EXISTS jobs_counted_in AFTER INSERT ON jobs BEGIN
  UPDATE counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER IF NOT EXISTS jobs_counted_out AFTER DELETE ON jobs BEGIN
  UPDATE counts SET n = n - 1 WHERE state = OLD.state;
END;
CREATE TRIGGER IF NOT EXISTS jobs_counted_move AFTER UPDATE OF state ON jobs
WHEN OLD.state <> NEW.state BEGIN
  UPDATE counts SET n = n - 1 WHERE state = OLD.state;
  UPDATE counts SET n = n + 1 WHERE state = NEW.state;
END;
)sql";
}

std::string stateList(JobEvent event) {
  std::string list = "(";
  for (JobState s : statesFor(event)) {
    if (list.size() > 1) list += ',';
    list += std::to_string(static_cast<int>(s));
  }
  return list + ")";
}

std::string transitionSql(JobEvent event, Rows rows, std::string_view set, std::string_view where,
                          std::string_view returning) {
  auto from = statesFor(event);
  assert(!from.empty());
  JobState to = *nextState(from.front(), event);
  // One target per event (job_test checks the table), so one SET state fits every source.
  for ([[maybe_unused]] JobState s : from) assert(nextState(s, event) == to);
  std::string sql =
      "UPDATE jobs SET state = " + std::to_string(static_cast<int>(to)) + ", updated_ms = :now";
  if (!set.empty()) sql.append(", ").append(set);
  sql += rows == Rows::kByKey ? " WHERE +state IN " : " WHERE state IN ";
  sql += stateList(event);
  if (!where.empty()) sql.append(" AND (").append(where).append(")");
  if (!returning.empty()) sql.append(" RETURNING ").append(returning);
  return sql;
}

const char* const kJobColumns =
    "id, queue, state, attempts, created_ms, updated_ms, next_attempt_ms, started_ms, method, "
    "target, req_headers, req_body, idem_key, last_error, result_status, result_headers, "
    "result_body, result_omitted, result_size, dead_reason";

std::optional<Job> readJob(const Statement& row) {
  Job job;
  job.id = row.columnBlob(0);
  job.queue = row.columnBlob(1);
  int64_t state = row.columnInt(2);
  if (state < 0 || state >= kJobStateCount) return std::nullopt;
  job.state = static_cast<JobState>(state);
  job.attempts = static_cast<uint32_t>(row.columnInt(3));
  job.created_ms = row.columnInt(4);
  job.updated_ms = row.columnInt(5);
  job.next_attempt_ms = row.columnInt(6);
  job.started_ms = row.columnInt(7);
  job.request.method = row.columnBlob(8);
  job.request.target = row.columnBlob(9);
  auto headers = decodeHeaders(row.columnBlob(10));
  if (!headers) return std::nullopt;
  job.request.headers = std::move(*headers);
  job.request.body = row.columnBlob(11);
  if (!row.columnIsNull(12)) job.idempotency_key = row.columnBlob(12);
  job.last_error = row.columnBlob(13);
  if (!row.columnIsNull(14)) {
    JobResult result;
    result.status = static_cast<int>(row.columnInt(14));
    auto result_headers = decodeHeaders(row.columnBlob(15));
    if (!result_headers) return std::nullopt;
    result.headers = std::move(*result_headers);
    result.body = row.columnBlob(16);
    result.body_omitted = row.columnInt(17) != 0;
    result.body_size = static_cast<uint64_t>(row.columnInt(18));
    job.result = std::move(result);
  }
  job.dead_reason = row.columnBlob(19);
  return job;
}

namespace {

std::string select(std::string_view where) {
  return std::string("SELECT ") + kJobColumns + " FROM jobs WHERE " + std::string(where);
}

std::string claimSql() {
  std::string ready = "SELECT seq FROM jobs INDEXED BY jobs_ready WHERE state IN " +
                      stateList(JobEvent::kClaim) +
                      " AND next_attempt_ms <= :now ORDER BY next_attempt_ms, seq LIMIT :max";
  return transitionSql(JobEvent::kClaim, Rows::kByKey, "attempts = attempts + 1, started_ms = :now",
                       "seq IN (" + ready + ")", kJobColumns);
}

// The delivery being settled must be the current one: same attempt, still running.
constexpr std::string_view kThisDelivery = "id = :id AND attempts = :attempt";

using SqlList = std::vector<std::pair<Statement*, std::string>>;

std::string stateNumber(JobState state) { return std::to_string(static_cast<int>(state)); }

// Transactions, and what the writer runs for each enqueued job.
SqlList acceptSql(Statements* s) {
  return {
      {&s->begin, "BEGIN IMMEDIATE"},
      {&s->commit, "COMMIT"},
      {&s->rollback, "ROLLBACK"},
      {&s->insert,
       "INSERT INTO jobs(id, queue, state, attempts, created_ms, updated_ms, next_attempt_ms, "
       "method, target, req_headers, req_body, idem_key) VALUES (:id, :queue, " +
           stateNumber(JobState::kQueued) +
           ", 0, :now, :now, :now, :method, :target, :headers, :body, :key)"},
      {&s->find_idem, "SELECT seq, id, created_ms FROM jobs WHERE idem_key = :key"},
      {&s->clear_idem, "UPDATE jobs SET idem_key = NULL WHERE seq = :seq"},
      {&s->depth, "SELECT COALESCE(SUM(n), 0) FROM counts WHERE state IN (0,2)"},
      {&s->drop_oldest,
       transitionSql(JobEvent::kDropOldest, Rows::kByKey,
                     "dead_reason = 'dropped: the queue was full (overflow: drop_oldest)'",
                     "seq = (SELECT seq FROM jobs WHERE state IN " +
                         stateList(JobEvent::kDropOldest) + " ORDER BY updated_ms, seq LIMIT 1)")},
      {&s->counts, "SELECT state, n FROM counts"},
      {&s->oldest_queued, "SELECT MIN(updated_ms) FROM jobs WHERE state = 0"},
  };
}

// The dispatcher's: claims, the end of a delivery, and the periodic sweeps.
SqlList deliverySql(Statements* s) {
  const std::string ended =
      "(" + stateNumber(JobState::kSucceeded) + "," + stateNumber(JobState::kFailed) + ")";
  return {
      {&s->claim, claimSql()},
      {&s->complete,
       transitionSql(JobEvent::kComplete, Rows::kByKey,
                     "result_status = :status, result_headers = :headers, result_body = :body, "
                     "result_omitted = :omitted, result_size = :size, last_error = ''",
                     kThisDelivery)},
      {&s->retry, transitionSql(JobEvent::kRetry, Rows::kByKey,
                                "last_error = :error, next_attempt_ms = :at", kThisDelivery)},
      {&s->fail,
       transitionSql(JobEvent::kFail, Rows::kByKey, "last_error = :error", kThisDelivery)},
      {&s->kill, transitionSql(JobEvent::kKill, Rows::kByKey,
                               "last_error = :error, dead_reason = :reason", kThisDelivery)},
      {&s->expire, transitionSql(JobEvent::kExpire, Rows::kByState,
                                 "dead_reason = 'expired: not started within message_ttl'",
                                 "updated_ms < :cutoff")},
      {&s->stall, transitionSql(JobEvent::kStall, Rows::kByState,
                                "next_attempt_ms = :now, last_error = 'stalled: the delivery ran "
                                "longer than the visibility timeout'",
                                "started_ms < :cutoff AND (:max = 0 OR attempts < :max)")},
      {&s->stall_dead,
       transitionSql(JobEvent::kStallDead, Rows::kByState,
                     "last_error = 'stalled: the delivery ran longer than the visibility timeout', "
                     "dead_reason = 'stalled on its last attempt'",
                     "started_ms < :cutoff AND :max > 0 AND attempts >= :max")},
      {&s->recover, transitionSql(JobEvent::kRecover, Rows::kByState,
                                  "next_attempt_ms = :now, last_error = 'interrupted: the gateway "
                                  "stopped during the delivery'",
                                  {})},
      {&s->purge, "DELETE FROM jobs WHERE state IN " + ended + " AND updated_ms < :cutoff"},
  };
}

// Status and dead-letter administration.
SqlList adminSql(Statements* s) {
  const std::string dead = stateNumber(JobState::kDead);
  return {
      {&s->get, select("id = :id")},
      {&s->result, select("id = :id")},
      {&s->state_of, "SELECT state, attempts FROM jobs WHERE id = :id"},
      {&s->cancel,
       transitionSql(JobEvent::kCancel, Rows::kByKey, "last_error = 'cancelled'", "id = :id")},
      {&s->list_dead, select("state = " + dead + " ORDER BY updated_ms, seq LIMIT :limit")},
      {&s->replay_one,
       transitionSql(JobEvent::kReplay, Rows::kByKey,
                     "attempts = 0, next_attempt_ms = :now, started_ms = 0, dead_reason = ''",
                     "id = :id")},
      {&s->replay_all,
       transitionSql(JobEvent::kReplay, Rows::kByState,
                     "attempts = 0, next_attempt_ms = :now, started_ms = 0, dead_reason = ''", {})},
      {&s->discard_one, "DELETE FROM jobs WHERE +state = " + dead + " AND id = :id"},
      {&s->discard_all, "DELETE FROM jobs WHERE state = " + dead},
  };
}

}  // namespace

Result<std::unique_ptr<Statements>> prepareStatements(Database& db) {
  auto s = std::make_unique<Statements>();
  for (const SqlList& list : {acceptSql(s.get()), deliverySql(s.get()), adminSql(s.get())}) {
    for (const auto& [stmt, sql] : list) {
      auto prepared = db.prepare(sql);
      if (!prepared.ok()) return prepared.error();
      *stmt = std::move(prepared.value());
    }
  }
  return s;
}

}  // namespace sg::queue
