#pragma once
// The job store's SQL: schema, the prepared statements, and rows read back into Jobs.
// Internal to src/queue/. Every statement that changes a job's state is built by
// transitionSql() from the one table in job.h (nextState), so SQL and table cannot disagree.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "queue/job.h"
#include "queue/sqlite_db.h"

namespace sg::queue {

// 2: jobs are found by row number + random part (job.h); version 1 had a unique index on
// 32-hex random ids. 3: fan-out columns (upstream, group_seq); a version 2 file gets them at
// open (migrationFrom2Sql). A file of another version is refused at open, not converted.
inline constexpr int kSchemaVersion = 3;  // 3: fan-out (upstream, group_seq)

// The meta table (schema version, queue name): created and read before anything else, so a
// file of another version is refused before the rest of the schema touches it.
std::string metaSql();

// CREATE ... IF NOT EXISTS for the tables, indexes and the triggers that keep per-state
// counts (so depth and metrics cost one row read, not a scan).
std::string schemaSql();
// Adds version 3's columns to a version 2 file.
std::string migrationFrom2Sql();
// Indexes on version 3's columns (after the migration: a version 2 table lacks them before).
std::string fanoutIndexSql();

// How a transition finds its rows: by state (and a range on updated_ms: the jobs_state
// index), or by key in `where` (an id or seq), where the state term is only a guard and is
// kept away from the planner ("+state"): otherwise it may walk every job of that state.
enum class Rows : uint8_t { kByState, kByKey };

// "UPDATE jobs SET state = <to>, updated_ms = :now[, set] WHERE state IN (<from>)[ AND (where)]"
std::string transitionSql(JobEvent event, Rows rows, std::string_view set, std::string_view where,
                          std::string_view returning = {});
// "(0,2)": the states `event` applies to, for WHERE clauses.
std::string stateList(JobEvent event);

// Registers same_secret(a, b), the constant-time comparison the by-id statements use.
Status defineSqlFunctions(Database& db);
// Binds :seq and :secret, the parameters of every by-id statement.
void bindJobKey(Statement& stmt, const JobKey& key);
// The public id of a row from its seq and secret columns; nothing if they are malformed.
std::optional<std::string> storedJobId(const Statement& row, int seq_column, int secret_column);

// The columns readJob() expects, in order.
extern const char* const kJobColumns;
// The row the statement is on, as a Job; nothing if a stored header blob is malformed.
std::optional<Job> readJob(const Statement& row);

// The store's prepared statements, one per operation.
struct Statements {
  Statement begin, commit, rollback;
  Statement insert, set_group, find_idem, clear_idem, depth, drop_oldest;
  Statement counts, oldest_queued;
  Statement claim, claim_batch, complete, retry, fail, kill;
  Statement expire, stall, stall_dead, recover, purge;
  Statement get, result, state_of, cancel, group_members;
  Statement list_dead, replay_one, replay_all, discard_one, discard_all;
};

// Prepares every statement (after the schema exists).
Result<std::unique_ptr<Statements>> prepareStatements(Database& db);

}  // namespace sg::queue
