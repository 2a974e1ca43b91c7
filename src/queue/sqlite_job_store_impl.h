#pragma once
// Internal to src/queue/: what both halves of the store's implementation share.
#include <sqlite3.h>

#include "queue/job_sql.h"
#include "queue/sqlite_job_store.h"

namespace sg::queue {

// The caller holds db_mutex_. One write transaction around `body` (which returns a Result):
// committed if it succeeds, rolled back if it or the commit fails. The cached counts are
// refreshed after a commit so metrics see it.
template <class F>
auto SqliteJobStore::inTransaction(std::string_view what, F&& body) -> decltype(body()) {
  {
    StatementUse begin(sql_->begin);
    int rc = begin->step();
    if (rc != SQLITE_DONE) return db_->error(what, rc);
  }
  auto result = body();
  if (result.ok()) {
    StatementUse commit(sql_->commit);
    int rc = commit->step();
    if (rc == SQLITE_DONE) {
      (void)refreshCounts();  // a failure here only leaves the metrics a commit behind
      return result;
    }
    result = db_->error(what, rc);
  }
  // After a failed COMMIT SQLite may already have rolled back; ROLLBACK then fails, harmlessly.
  StatementUse rollback(sql_->rollback);
  (void)rollback->step();
  return result;
}

}  // namespace sg::queue
