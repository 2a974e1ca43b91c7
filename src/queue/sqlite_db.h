#pragma once
// A thin owner of a SQLite connection and its prepared statements. Not thread-safe: the job
// store uses it under its own lock. Failures become StoreError values that name the file and
// carry SQLite's message.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "queue/store_error.h"

struct sqlite3;
struct sqlite3_stmt;
struct sqlite3_context;
struct sqlite3_value;

namespace sg::queue {

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binds by parameter name (":id"); a name the statement does not have is a programming
  // error and is ignored in release builds.
  void bindInt(const char* name, int64_t value);
  void bindBlob(const char* name, std::string_view bytes);
  void bindText(const char* name, std::string_view text);
  void bindNull(const char* name);
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  // Clears bindings and resets, so the cached statement is ready for the next use.
  void reset();

  int64_t columnInt(int column) const;
  std::string columnBlob(int column) const;
  bool columnIsNull(int column) const;

 private:
  int index(const char* name) const;
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a cached statement when the scope ends, whatever way it ends.
class StatementUse {
 public:
  explicit StatementUse(Statement& stmt) : stmt_(stmt) {}
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  ~StatementUse() { stmt_.reset(); }
  Statement* operator->() { return &stmt_; }
  Statement& operator*() { return stmt_; }

 private:
  Statement& stmt_;
};

class Database {
 public:
  // Opens (creating if absent) a read-write connection. A path that cannot be opened, or a
  // file SQLite can only open read-only, is an error.
  static Result<std::unique_ptr<Database>> open(const std::string& path);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  Status exec(std::string_view sql, std::string_view what);
  Result<Statement> prepare(std::string_view sql, std::string_view what = "preparing a statement");
  int64_t changes() const;
  int64_t lastInsertRowid() const;
  // A deterministic SQL function of `args` arguments for this connection's statements.
  using SqlFunction = void (*)(sqlite3_context*, int, sqlite3_value**);
  Status defineFunction(const char* name, int args, SqlFunction fn);
  // The error of the last failed call, as a value: "<path>: <what>: <SQLite's message>".
  StoreError error(std::string_view what, int code) const;
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace sg::queue
