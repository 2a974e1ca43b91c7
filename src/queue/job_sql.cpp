#include "queue/job_sql.h"

#include <sqlite3.h>

#include <algorithm>
#include <cassert>
#include <utility>
#include <vector>

namespace sg::queue {

std::string metaSql() {
  return "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID";
}

std::string schemaSql() {
  // seq is the id's row number: appended in order, so an insert touches the last pages of the
  // table, whatever the depth. AUTOINCREMENT: a number is never given out twice, even after
  // the newest jobs were deleted. secret is the id's random part (16 bytes), not indexed.
  return R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  secret BLOB NOT NULL,
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
  dead_reason TEXT NOT NULL DEFAULT '',
  upstream BLOB NOT NULL DEFAULT x'',
  group_seq INTEGER NOT NULL DEFAULT 0);
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

std::string migrationFrom2Sql() {
  return "ALTER TABLE jobs ADD COLUMN upstream BLOB NOT NULL DEFAULT x'';"
         "ALTER TABLE jobs ADD COLUMN group_seq INTEGER NOT NULL DEFAULT 0;"
         "UPDATE meta SET value = '3' WHERE key = 'schema_version';";
}

std::string fanoutIndexSql() {
  // A group's members by their head's row number; single jobs (0) stay out of the index.
  return "CREATE INDEX IF NOT EXISTS jobs_group ON jobs(group_seq) WHERE group_seq > 0";
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

namespace {

void sameSecretSql(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  auto blob = [](sqlite3_value* v) -> std::string_view {
    if (sqlite3_value_type(v) != SQLITE_BLOB) return {};
    const void* data = sqlite3_value_blob(v);
    int size = sqlite3_value_bytes(v);
    if (data == nullptr || size <= 0) return {};
    return {static_cast<const char*>(data), static_cast<size_t>(size)};
  };
  std::string_view a = blob(argv[0]);
  std::string_view b = blob(argv[1]);
  sqlite3_result_int(ctx, a.size() == kJobSecretBytes && sameSecret(a, b) ? 1 : 0);
}

}  // namespace

Status defineSqlFunctions(Database& db) {
  return db.defineFunction("same_secret", 2, sameSecretSql);
}

void bindJobKey(Statement& stmt, const JobKey& key) {
  stmt.bindInt(":seq", key.seq);
  stmt.bindBlob(":secret", std::string_view(reinterpret_cast<const char*>(key.secret.data()),
                                            key.secret.size()));
}

std::optional<std::string> storedJobId(const Statement& row, int seq_column, int secret_column) {
  int64_t seq = row.columnInt(seq_column);
  std::string bytes = row.columnBlob(secret_column);
  if (seq <= 0 || seq > kMaxJobSeq || bytes.size() != kJobSecretBytes) return std::nullopt;
  JobSecret secret{};
  std::copy(bytes.begin(), bytes.end(), secret.begin());
  return formatJobId(seq, secret);
}

const char* const kJobColumns =
    "seq, secret, queue, state, attempts, created_ms, updated_ms, next_attempt_ms, started_ms, "
    "method, "
    "target, req_headers, req_body, idem_key, last_error, result_status, result_headers, "
    "result_body, result_omitted, result_size, dead_reason, upstream, group_seq";

std::optional<Job> readJob(const Statement& row) {
  Job job;
  auto id = storedJobId(row, 0, 1);
  if (!id) return std::nullopt;
  job.id = std::move(*id);
  job.queue = row.columnBlob(2);
  int64_t state = row.columnInt(3);
  if (state < 0 || state >= kJobStateCount) return std::nullopt;
  job.state = static_cast<JobState>(state);
  job.attempts = static_cast<uint32_t>(row.columnInt(4));
  job.created_ms = row.columnInt(5);
  job.updated_ms = row.columnInt(6);
  job.next_attempt_ms = row.columnInt(7);
  job.started_ms = row.columnInt(8);
  job.request.method = row.columnBlob(9);
  job.request.target = row.columnBlob(10);
  auto headers = decodeHeaders(row.columnBlob(11));
  if (!headers) return std::nullopt;
  job.request.headers = std::move(*headers);
  job.request.body = row.columnBlob(12);
  if (!row.columnIsNull(13)) job.idempotency_key = row.columnBlob(13);
  job.last_error = row.columnBlob(14);
  if (!row.columnIsNull(15)) {
    JobResult result;
    result.status = static_cast<int>(row.columnInt(15));
    auto result_headers = decodeHeaders(row.columnBlob(16));
    if (!result_headers) return std::nullopt;
    result.headers = std::move(*result_headers);
    result.body = row.columnBlob(17);
    result.body_omitted = row.columnInt(18) != 0;
    result.body_size = static_cast<uint64_t>(row.columnInt(19));
    job.result = std::move(result);
  }
  job.dead_reason = row.columnBlob(20);
  job.upstream = row.columnBlob(21);
  job.group_seq = row.columnInt(22);
  return job;
}

namespace {

std::string select(std::string_view where) {
  return std::string("SELECT ") + kJobColumns + " FROM jobs WHERE " + std::string(where);
}

// Ready jobs in delivery order; `also` narrows them (attempts, method and target).
std::string readySql(std::string_view columns, std::string_view also, std::string_view limit) {
  return "SELECT " + std::string(columns) + " FROM jobs INDEXED BY jobs_ready WHERE state IN " +
         stateList(JobEvent::kClaim) + " AND next_attempt_ms <= :now" + std::string(also) +
         " ORDER BY next_attempt_ms, seq LIMIT " + std::string(limit);
}

std::string claimSql() {
  std::string ready =
      readySql("seq", " AND attempts BETWEEN :min_attempts AND :max_attempts", ":max");
  return transitionSql(JobEvent::kClaim, Rows::kByKey, "attempts = attempts + 1, started_ms = :now",
                       "seq IN (" + ready + ")", kJobColumns);
}

// A batch: the oldest ready first attempt and up to :max - 1 more first attempts of its method,
// target and upstream (a batch is one request to one upstream).
std::string claimBatchSql() {
  std::string head = readySql("method, target, upstream", " AND attempts = 0", "1");
  std::string ready =
      readySql("seq", " AND attempts = 0 AND (method, target, upstream) = (" + head + ")", ":max");
  return transitionSql(JobEvent::kClaim, Rows::kByKey, "attempts = attempts + 1, started_ms = :now",
                       "seq IN (" + ready + ")", kJobColumns);
}

// The delivery being settled must be the current one: same attempt, still running.
constexpr std::string_view kThisDelivery =
    "seq = :seq AND same_secret(secret, :secret) AND attempts = :attempt";
// One job by its public id: the row by number, then its random part (constant time).
constexpr std::string_view kById = "seq = :seq AND same_secret(secret, :secret)";

using SqlList = std::vector<std::pair<Statement*, std::string>>;

std::string stateNumber(JobState state) { return std::to_string(static_cast<int>(state)); }

// Transactions, and what the writer runs for each enqueued job.
SqlList acceptSql(Statements* s) {
  return {
      {&s->begin, "BEGIN IMMEDIATE"},
      {&s->commit, "COMMIT"},
      {&s->rollback, "ROLLBACK"},
      {&s->insert,
       "INSERT INTO jobs(secret, queue, state, attempts, created_ms, updated_ms, next_attempt_ms, "
       "method, target, req_headers, req_body, idem_key, upstream, group_seq) VALUES (:secret, "
       ":queue, " +
           stateNumber(JobState::kQueued) +
           ", 0, :now, :now, :now, :method, :target, :headers, :body, :key, :upstream, :group)"},
      {&s->set_group, "UPDATE jobs SET group_seq = :seq WHERE seq = :seq"},
      {&s->find_idem, "SELECT seq, secret, created_ms FROM jobs WHERE idem_key = :key"},
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
  // Every end of a delivery writes the result columns: the answer of the delivery that ended
  // last (NULL status: it got none).
  const std::string result_columns =
      "result_status = :status, result_headers = :headers, result_body = :body, "
      "result_omitted = :omitted, result_size = :size, ";
  return {
      {&s->claim, claimSql()},
      {&s->claim_batch, claimBatchSql()},
      {&s->complete, transitionSql(JobEvent::kComplete, Rows::kByKey,
                                   result_columns + "last_error = ''", kThisDelivery)},
      {&s->retry,
       transitionSql(JobEvent::kRetry, Rows::kByKey,
                     result_columns + "last_error = :error, next_attempt_ms = :at", kThisDelivery)},
      {&s->fail, transitionSql(JobEvent::kFail, Rows::kByKey,
                               result_columns + "last_error = :error", kThisDelivery)},
      {&s->kill,
       transitionSql(JobEvent::kKill, Rows::kByKey,
                     result_columns + "last_error = :error, dead_reason = :reason", kThisDelivery)},
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
      {&s->get, select(kById)},
      {&s->result, select(kById)},
      {&s->state_of, "SELECT state, attempts FROM jobs WHERE " + std::string(kById)},
      {&s->group_members, select("group_seq = :seq ORDER BY seq")},
      {&s->cancel,
       transitionSql(JobEvent::kCancel, Rows::kByKey, "last_error = 'cancelled'", kById)},
      {&s->list_dead, select("state = " + dead + " ORDER BY updated_ms, seq LIMIT :limit")},
      {&s->replay_one,
       transitionSql(JobEvent::kReplay, Rows::kByKey,
                     "attempts = 0, next_attempt_ms = :now, started_ms = 0, dead_reason = ''",
                     kById)},
      {&s->replay_all,
       transitionSql(JobEvent::kReplay, Rows::kByState,
                     "attempts = 0, next_attempt_ms = :now, started_ms = 0, dead_reason = ''", {})},
      {&s->discard_one, "DELETE FROM jobs WHERE +state = " + dead + " AND " + std::string(kById)},
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
