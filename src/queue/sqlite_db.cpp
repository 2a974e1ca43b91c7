#include "queue/sqlite_db.h"

#include <sqlite3.h>

#include <cassert>
#include <cstring>

namespace sg::queue {

namespace {
constexpr int kBusyTimeoutMs = 10000;
}  // namespace

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

int Statement::index(const char* name) const {
  int i = sqlite3_bind_parameter_index(stmt_, name);
  assert(i > 0 && "no such SQL parameter");
  return i;
}

void Statement::bindInt(const char* name, int64_t value) {
  sqlite3_bind_int64(stmt_, index(name), value);
}

void Statement::bindBlob(const char* name, std::string_view bytes) {
  // A zero-length blob must still be a blob, not NULL: SQLite turns a null pointer into NULL.
  static const char kEmpty = 0;
  const char* data = bytes.empty() ? &kEmpty : bytes.data();
  sqlite3_bind_blob64(stmt_, index(name), data, bytes.size(), SQLITE_TRANSIENT);
}

void Statement::bindText(const char* name, std::string_view text) {
  sqlite3_bind_text64(stmt_, index(name), text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void Statement::bindNull(const char* name) { sqlite3_bind_null(stmt_, index(name)); }

int Statement::step() { return sqlite3_step(stmt_); }

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::columnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::columnBlob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return {static_cast<const char*>(data), static_cast<size_t>(size)};
}

bool Statement::columnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path) {
  sqlite3* db = nullptr;
  // NOMUTEX: the store serialises all use of the connection itself.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        path + ": cannot open: " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    int os_error = db != nullptr ? sqlite3_system_errno(db) : 0;
    if (os_error != 0) message += std::string(" (") + std::strerror(os_error) + ")";
    sqlite3_close(db);
    return StoreError{ErrorKind::kStorage, std::move(message)};
  }
  sqlite3_extended_result_codes(db, 1);
  // Two processes write only while one hands over to the other (file_lock.h); a transaction of
  // either takes milliseconds, so waiting for it beats failing.
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  if (sqlite3_db_readonly(db, "main") == 1) {
    sqlite3_close(db);
    return StoreError{ErrorKind::kStorage, path + ": cannot open: the file is read-only"};
  }
  return std::unique_ptr<Database>(new Database(db, path));
}

Database::~Database() { sqlite3_close_v2(db_); }

Status Database::exec(std::string_view sql, std::string_view what) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(what, rc);
  return okStatus();
}

Result<Statement> Database::prepare(std::string_view sql, std::string_view what) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return error(what, rc);
  return Statement(stmt);
}

int64_t Database::changes() const { return sqlite3_changes64(db_); }

int64_t Database::lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

Status Database::defineFunction(const char* name, int args, SqlFunction fn) {
  int rc = sqlite3_create_function_v2(db_, name, args,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                      nullptr, fn, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error("defining an SQL function", rc);
  return okStatus();
}

StoreError Database::error(std::string_view what, int code) const {
  std::string message = path_;
  message += ": ";
  message += what;
  message += ": ";
  // The connection's message is about the last call; when it is not (an error code passed
  // in from elsewhere), SQLite's text for the code still says what went wrong.
  message += sqlite3_errcode(db_) == code ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
  int primary = code & 0xFF;
  // For I/O failures the OS's reason (disk full, file too large, permission) is the useful part.
  int os_error = sqlite3_system_errno(db_);
  if ((primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL) &&
      os_error != 0) {
    message += " (";
    message += std::strerror(os_error);
    message += ")";
  }
  // Only the process handing over to this one writes too (file_lock.h), and not for this long.
  if (primary == SQLITE_BUSY)
    message +=
        " (another process held the file for " + std::to_string(kBusyTimeoutMs / 1000) + " s)";
  bool later = primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL ||
               primary == SQLITE_IOERR;
  return StoreError{ErrorKind::kStorage, std::move(message), later};
}

}  // namespace sg::queue
