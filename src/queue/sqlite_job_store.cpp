// Opening, recovery, and the group-committing writer. Dispatcher and admin calls are in
// sqlite_job_store_ops.cpp.
#include "queue/sqlite_job_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>

#include "queue/job_sql.h"
#include "queue/sqlite_job_store_impl.h"

namespace sg::queue {

uint64_t QueueCounts::depth() const {
  return by_state[static_cast<int>(JobState::kQueued)] +
         by_state[static_cast<int>(JobState::kRetrying)];
}
uint64_t QueueCounts::inFlight() const { return by_state[static_cast<int>(JobState::kRunning)]; }
uint64_t QueueCounts::dead() const { return by_state[static_cast<int>(JobState::kDead)]; }

SqliteJobStore::SqliteJobStore(StoreOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::open(StoreOptions options) {
  if (options.path.empty() || options.queue.empty() || options.max_batch == 0) {
    return StoreError{ErrorKind::kInvalid, "queue store: path, queue and max_batch are required"};
  }
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(std::move(options)));
  auto db = Database::open(store->options_.path);
  if (!db.ok()) return db.error();
  store->db_ = std::move(db.value());
  auto lock = FileLock::acquire(store->options_.path, store->options_.handed_locks);
  if (!lock.ok()) return lock.error();
  store->lock_ = std::move(lock.value());
  if (auto set_up = store->setUp(); !set_up.ok()) return set_up.error();
  store->writer_ = std::thread([s = store.get()] { s->writerLoop(); });
  return store;
}

SqliteJobStore::~SqliteJobStore() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void SqliteJobStore::setLimits(const StoreOptions& options) {
  std::lock_guard lock(db_mutex_);  // every reader of these holds it
  options_.max_length = options.max_length;
  options_.overflow = options.overflow;
  options_.result_ttl_ms = options.result_ttl_ms;
  options_.max_result_size = options.max_result_size;
  options_.max_attempts = options.max_attempts;
}

int64_t SqliteJobStore::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// One-row PRAGMA (or query) whose text answer matters.
Result<std::string> queryText(Database& db, std::string_view sql, std::string_view what) {
  auto stmt = db.prepare(sql, what);
  if (!stmt.ok()) return stmt.error();
  int rc = stmt.value().step();
  if (rc == SQLITE_ROW) return stmt.value().columnBlob(0);
  if (rc == SQLITE_DONE) return std::string();
  return db.error(what, rc);
}

// PRAGMA quick_check: "ok", or its first few findings.
Result<std::string> quickCheck(Database& db) {
  auto stmt = db.prepare("PRAGMA quick_check(4)", "checking the file");
  if (!stmt.ok()) return stmt.error();
  std::string findings;
  int rc;
  while ((rc = stmt.value().step()) == SQLITE_ROW) {
    if (!findings.empty()) findings += "; ";
    findings += stmt.value().columnBlob(0);
  }
  if (rc != SQLITE_DONE) return db.error("checking the file", rc);
  std::replace(findings.begin(), findings.end(), '\n', ' ');  // one log line
  return findings;
}

StoreError fileError(const Database& db, const std::string& what) {
  return StoreError{ErrorKind::kStorage, db.path() + ": " + what};
}

}  // namespace

// Configures the connection, checks the file, creates the schema and recovers, in this order
// so that a foreign or damaged file is refused before anything is written to it.
Status SqliteJobStore::setUp() {
  // Normal locking (file_lock.h says who delivers): WAL readers and writers of two processes
  // share the file through its -shm index while one hands over to the other.
  auto mode = queryText(*db_, "PRAGMA journal_mode = WAL", "switching to WAL");
  if (!mode.ok()) return mode.error();
  if (mode.value() != "wal")
    return fileError(*db_, "cannot use WAL (journal mode " + mode.value() + ")");
  // WAL with synchronous=NORMAL fsyncs only at checkpoints: a power loss can take back
  // transactions that were already acknowledged, i.e. jobs already answered 202. FULL fsyncs
  // the WAL at every commit; group commit is what keeps that affordable.
  if (auto s = db_->exec("PRAGMA synchronous = FULL", "setting synchronous=FULL"); !s.ok())
    return s;
  // A deep queue's indexes outgrow SQLite's default 2 MiB page cache.
  std::string cache = "PRAGMA cache_size = -" + std::to_string(options_.cache_kib);
  if (auto s = db_->exec(cache, "setting the page cache size"); !s.ok()) return s;
  if (options_.check_at_open) {
    auto check = quickCheck(*db_);
    if (!check.ok()) return check.error();
    if (check.value() != "ok") return fileError(*db_, "damaged file: " + check.value());
  }
  if (auto s = db_->exec("BEGIN IMMEDIATE", "locking the file"); !s.ok()) return s;
  Status schema = createSchema();
  if (schema.ok() && !lock_.handedOver()) schema = recover();
  if (!schema.ok()) {
    (void)db_->exec("ROLLBACK", "rolling back");
    return schema;
  }
  if (auto s = db_->exec("COMMIT", "committing the schema"); !s.ok()) return s;
  return refreshCounts();
}

Status SqliteJobStore::createSchema() {
  if (auto s = db_->exec(metaSql(), "creating the schema"); !s.ok()) return s;
  auto version = queryText(*db_, "SELECT value FROM meta WHERE key = 'schema_version'",
                           "reading the schema version");
  if (!version.ok()) return version.error();
  const bool from_2 = version.value() == "2";  // gets the fan-out columns below
  if (!version.value().empty() && version.value() != std::to_string(kSchemaVersion) && !from_2) {
    // Checked before the rest of the schema is created: nothing is written to such a file.
    return fileError(*db_, "schema version " + version.value() +
                               " is not supported (this build: " + std::to_string(kSchemaVersion) +
                               "); drain it with the build that made it, or move it aside");
  }
  if (auto s = db_->exec(schemaSql(), "creating the schema"); !s.ok()) return s;
  if (from_2) {
    if (auto s = db_->exec(migrationFrom2Sql(), "adding the fan-out columns"); !s.ok()) return s;
  }
  if (auto s = db_->exec(fanoutIndexSql(), "creating the schema"); !s.ok()) return s;
  if (version.value().empty()) {
    auto insert = db_->prepare(
        "INSERT INTO meta(key, value) VALUES ('schema_version', :version), ('queue', :queue)");
    if (!insert.ok()) return insert.error();
    insert.value().bindText(":version", std::to_string(kSchemaVersion));
    insert.value().bindText(":queue", options_.queue);
    int rc = insert.value().step();
    if (rc != SQLITE_DONE) return db_->error("writing the schema version", rc);
  }
  auto queue = queryText(*db_, "SELECT value FROM meta WHERE key = 'queue'", "reading the queue");
  if (!queue.ok()) return queue.error();
  if (queue.value() != options_.queue) {
    return fileError(*db_, "the file holds queue '" + queue.value() + "', not '" + options_.queue +
                               "' (each queue needs its own path)");
  }
  if (auto s = defineSqlFunctions(*db_); !s.ok()) return s;
  auto prepared = prepareStatements(*db_);
  if (!prepared.ok()) return prepared.error();
  sql_ = std::move(prepared.value());
  return okStatus();
}

// Jobs left running were in flight when the gateway stopped: deliver them again (at least
// once). Only right because this process holds the file's lock alone (file_lock.h). Their attempt
// was counted at the claim and stays counted.
Status SqliteJobStore::recover() {
  StatementUse stmt(sql_->recover);
  stmt->bindInt(":now", now());
  int rc = stmt->step();
  if (rc != SQLITE_DONE) return db_->error("requeueing interrupted jobs", rc);
  recovered_ = static_cast<uint64_t>(db_->changes());
  return okStatus();
}

// Caller holds db_mutex_ (or is open(), before the writer exists).
Status SqliteJobStore::refreshCounts() {
  {
    StatementUse stmt(sql_->counts);
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) {
      int64_t state = stmt->columnInt(0);
      if (state >= 0 && state < kJobStateCount) {
        counts_[state].store(static_cast<uint64_t>(std::max<int64_t>(0, stmt->columnInt(1))),
                             std::memory_order_relaxed);
      }
    }
    if (rc != SQLITE_DONE) return db_->error("reading the counts", rc);
  }
  StatementUse oldest(sql_->oldest_queued);
  int rc = oldest->step();
  if (rc != SQLITE_ROW) return db_->error("reading the oldest queued job", rc);
  oldest_queued_ms_.store(oldest->columnIsNull(0) ? 0 : oldest->columnInt(0),
                          std::memory_order_relaxed);
  return okStatus();
}

QueueCounts SqliteJobStore::counts(int64_t now_ms) const {
  QueueCounts c;
  for (int i = 0; i < kJobStateCount; ++i)
    c.by_state[i] = counts_[i].load(std::memory_order_relaxed);
  int64_t oldest = oldest_queued_ms_.load(std::memory_order_relaxed);
  c.oldest_queued_age_ms = oldest == 0 ? 0 : std::max<int64_t>(0, now_ms - oldest);
  return c;
}

CommitStats SqliteJobStore::commitStats() const {
  return {transactions_.load(std::memory_order_relaxed),
          batched_jobs_.load(std::memory_order_relaxed),
          largest_batch_.load(std::memory_order_relaxed)};
}

// ---- enqueue and the writer -------------------------------------------------------------------

void SqliteJobStore::enqueue(Job job, EnqueueCallback done) {
  // Always a fresh id, never the caller's: its row number comes from the insert, its random
  // part from here.
  auto secret = newJobSecret();
  std::vector<JobSecret> member_secrets;
  for (size_t i = 1; secret && i < job.fanout.size(); ++i) {
    auto member = newJobSecret();
    if (!member) secret.reset();
    if (member) member_secrets.push_back(*member);
  }
  if (!secret) {
    done(EnqueueOutcome{{}, false, StoreError{ErrorKind::kNoRandom, "getrandom failed", true}});
    return;
  }
  job.id.clear();
  bool wake = false;
  {
    std::unique_lock lock(queue_mutex_);
    if (stopping_) {
      lock.unlock();
      done(EnqueueOutcome{{}, false, StoreError{ErrorKind::kClosed, "the queue store is closing"}});
      return;
    }
    pending_.push_back(
        Pending{std::move(job), *secret, std::move(member_secrets), std::move(done)});
    // The writer waits either for a first job or for a full batch; only those wake it.
    wake = pending_.size() == 1 || pending_.size() == options_.max_batch;
  }
  if (wake) queue_cv_.notify_one();
}

// Waits for work and takes up to max_batch jobs; false when stopping with nothing left.
bool SqliteJobStore::takeBatch(std::vector<Pending>& batch) {
  std::unique_lock lock(queue_mutex_);
  queue_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
  if (pending_.empty()) return false;
  if (options_.max_wait.count() > 0 && pending_.size() < options_.max_batch && !stopping_) {
    auto deadline = std::chrono::steady_clock::now() + options_.max_wait;
    queue_cv_.wait_until(lock, deadline,
                         [&] { return stopping_ || pending_.size() >= options_.max_batch; });
  }
  size_t n = std::min(pending_.size(), options_.max_batch);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return true;
}

void SqliteJobStore::writerLoop() {
  std::vector<Pending> batch;
  std::vector<EnqueueOutcome> outcomes;
  batch.reserve(options_.max_batch);
  outcomes.reserve(options_.max_batch);
  while (takeBatch(batch)) {
    commitBatch(batch, outcomes);
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(outcomes[i]));
    batch.clear();
    outcomes.clear();
  }
}

void SqliteJobStore::commitBatch(std::vector<Pending>& batch,
                                 std::vector<EnqueueOutcome>& outcomes) {
  outcomes.resize(batch.size());
  Status status = [&] {
    std::lock_guard lock(db_mutex_);
    return inTransaction("committing enqueued jobs", [&] { return insertBatch(batch, outcomes); });
  }();
  transactions_.fetch_add(1, std::memory_order_relaxed);
  batched_jobs_.fetch_add(batch.size(), std::memory_order_relaxed);
  uint64_t largest = largest_batch_.load(std::memory_order_relaxed);
  while (batch.size() > largest &&
         !largest_batch_.compare_exchange_weak(largest, batch.size(), std::memory_order_relaxed)) {
  }
  if (status.ok()) return;
  // Rolled back: nothing of this batch is stored, whatever each job's own outcome said.
  for (size_t i = 0; i < batch.size(); ++i) {
    outcomes[i] = EnqueueOutcome{{}, false, status.error()};
  }
}

Status SqliteJobStore::insertBatch(std::vector<Pending>& batch,
                                   std::vector<EnqueueOutcome>& outcomes) {
  auto depth = depthInTransaction();
  if (!depth.ok()) return depth.error();
  int64_t t = now();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (auto s = insertOne(batch[i], t, depth.value(), outcomes[i]); !s.ok()) return s;
  }
  return okStatus();
}

Result<uint64_t> SqliteJobStore::depthInTransaction() {
  StatementUse stmt(sql_->depth);
  int rc = stmt->step();
  if (rc != SQLITE_ROW) return db_->error("reading the depth", rc);
  return static_cast<uint64_t>(std::max<int64_t>(0, stmt->columnInt(0)));
}

// One job of a batch: an idempotent duplicate, a refusal (full), or an insert. Returns an
// error only for a storage failure, which fails the whole batch.
Status SqliteJobStore::insertOne(Pending& pending, int64_t now, uint64_t& depth,
                                 EnqueueOutcome& outcome) {
  Job& job = pending.job;
  outcome = EnqueueOutcome{{}, false, std::nullopt};
  if (job.idempotency_key) {
    auto found = findIdempotent(*job.idempotency_key, now, outcome);
    if (!found.ok()) return found.error();
    if (found.value()) return okStatus();
  }
  if (options_.max_length > 0 && depth >= options_.max_length) {
    bool dropped = false;
    if (options_.overflow == Overflow::kDropOldest) {
      auto drop = dropOldest(now);
      if (!drop.ok()) return drop.error();
      dropped = drop.value();
    }
    if (!dropped) {
      outcome.error = StoreError{ErrorKind::kFull,
                                 "queue '" + options_.queue + "' is full (max_length " +
                                     std::to_string(options_.max_length) + ")",
                                 true};
      return okStatus();
    }
    --depth;
  }
  if (!job.fanout.empty()) return insertGroup(pending, now, depth, outcome);
  auto id = insertJob(job, pending.secret, now, {}, 0, true);
  if (!id.ok()) return id.error();
  outcome.id = std::move(id.value());
  ++depth;
  return okStatus();
}

// A fan-out job: a member per target in this transaction, the first the head (its own row
// number is the group's); only the head keeps the idempotency key.
Status SqliteJobStore::insertGroup(Pending& pending, int64_t now, uint64_t& depth,
                                   EnqueueOutcome& outcome) {
  const Job& job = pending.job;
  auto head = insertJob(job, pending.secret, now, job.fanout.front(), 0, true);
  if (!head.ok()) return head.error();
  const int64_t head_seq = parseJobId(head.value())->seq;
  {
    StatementUse set(sql_->set_group);
    set->bindInt(":seq", head_seq);
    int rc = set->step();
    if (rc != SQLITE_DONE) return db_->error("storing a fan-out job", rc);
  }
  for (size_t i = 1; i < job.fanout.size(); ++i) {
    auto member =
        insertJob(job, pending.member_secrets[i - 1], now, job.fanout[i], head_seq, false);
    if (!member.ok()) return member.error();
  }
  outcome.id = std::move(head.value());
  depth += job.fanout.size();
  return okStatus();
}

// True when the key belongs to a job created within result_ttl (outcome names it). An older
// holder gives the key up, so the new job can take it.
Result<bool> SqliteJobStore::findIdempotent(const std::string& key, int64_t now,
                                            EnqueueOutcome& outcome) {
  int64_t holder = 0;
  {
    StatementUse find(sql_->find_idem);
    find->bindBlob(":key", key);
    int rc = find->step();
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return db_->error("looking up an idempotency key", rc);
    if (find->columnInt(2) >= now - options_.result_ttl_ms) {
      auto id = storedJobId(*find, 0, 1);
      if (!id) return StoreError{ErrorKind::kStorage, db_->path() + ": a stored job is malformed"};
      outcome.id = std::move(*id);
      outcome.existing = true;
      return true;
    }
    holder = find->columnInt(0);
  }
  StatementUse clear(sql_->clear_idem);
  clear->bindInt(":seq", holder);
  int rc = clear->step();
  if (rc != SQLITE_DONE) return db_->error("releasing an expired idempotency key", rc);
  return false;
}

// Overflow drop_oldest: the oldest queued job goes to the dead letters. False if there is
// none (everything waiting is retrying), and the new job is refused instead.
Result<bool> SqliteJobStore::dropOldest(int64_t now) {
  StatementUse stmt(sql_->drop_oldest);
  stmt->bindInt(":now", now);
  int rc = stmt->step();
  if (rc != SQLITE_DONE) return db_->error("dropping the oldest job", rc);
  return db_->changes() > 0;
}

// Returns the new job's id.
Result<std::string> SqliteJobStore::insertJob(const Job& job, const JobSecret& secret, int64_t now,
                                              std::string_view upstream, int64_t group_seq,
                                              bool with_key) {
  StatementUse stmt(sql_->insert);
  stmt->bindBlob(":secret",
                 std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  stmt->bindText(":queue", options_.queue);
  stmt->bindInt(":now", now);
  stmt->bindBlob(":method", job.request.method);
  stmt->bindBlob(":target", job.request.target);
  stmt->bindBlob(":headers", encodeHeaders(job.request.headers));
  stmt->bindBlob(":body", job.request.body);
  if (job.idempotency_key && with_key) {
    stmt->bindBlob(":key", *job.idempotency_key);
  } else {
    stmt->bindNull(":key");
  }
  stmt->bindBlob(":upstream", upstream);
  stmt->bindInt(":group", group_seq);
  int rc = stmt->step();
  if (rc != SQLITE_DONE) return db_->error("storing a job", rc);
  int64_t seq = db_->lastInsertRowid();
  // 2^48 jobs: centuries at 50,000 a second, but an id that does not fit must not be handed out.
  if (seq <= 0 || seq > kMaxJobSeq)
    return StoreError{ErrorKind::kStorage, db_->path() + ": job numbers are exhausted"};
  return formatJobId(seq, secret);
}

}  // namespace sg::queue
