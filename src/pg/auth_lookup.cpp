// ClientConn, logging in as a user not in users_file: its secret comes from auth_query, run
// as auth_user on a server of the auth pool (the client's database, or auth_dbname). The
// client waits for that server like any pool's client (FIFO, query_wait_timeout, handoffs
// between workers); the query's replies are read here and never reach the client, and the
// server goes back to the pool at its ReadyForQuery before the client is asked for its
// password. PgBouncer looks users up the same way.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/server_auth.h"
#include "pg/wire.h"

namespace sg::pg {

bool ClientConn::lookupUser(const std::string& auth_user) {
  const auto& config = worker_->config();
  const std::string& auth_database = config.auth_dbname.empty() ? database_ : config.auth_dbname;
  const config::PostgresDatabaseConfig* database = config.findDatabase(auth_database);
  if (database == nullptr) {
    // The admin console without auth_dbname: no database to ask, so the user is unknown.
    login().secret.clear();
    askForPassword();
    return true;
  }
  lookup_pool_ = worker_->service().authPool(*database, auth_user);
  login().lookup_row = false;
  login().lookup_error.clear();
  login().secret.clear();
  setState(State::kLookupWaiting);
  armLookupTimer();
  worker_->requestServer(this);  // attached now or later: sendLookup
  return false;                  // nothing more to read until the password is asked for
}

// Waiting ends at query_wait_timeout, or at the login deadline if that comes first.
void ClientConn::armLookupTimer() {
  const auto& config = worker_->config();
  int64_t login_left = config.client_login_timeout.count() - (worker_->now() - connected_at_ms_);
  int64_t wait = std::min<int64_t>(config.query_wait_timeout.count(), login_left);
  worker_->loop().timers().arm(timer_, std::max<int64_t>(wait, 1));
}

void ClientConn::sendLookup(ServerConn* server) {
  server_ = server;
  setState(State::kLookup);
  // Only the login deadline is left to keep.
  int64_t login_left =
      worker_->config().client_login_timeout.count() - (worker_->now() - connected_at_ms_);
  worker_->loop().timers().arm(timer_, std::max<int64_t>(login_left, 1));
  scratch_.clear();
  appendQueryWithParameter(&scratch_, worker_->config().auth_query, user_);
  server->send(scratch_);
  server->expect(ServerConn::Pending::kLookup);
  server->flush();
}

// The first row's second column is the secret (usename, passwd); NULL means no password.
void ClientConn::onLookupReply(char type, std::string_view payload) {
  if (type == 'E') {
    login().lookup_error = errorMessageText(payload);
    return;
  }
  if (login().lookup_row) return;
  login().lookup_row = true;
  PayloadReader reader(payload);
  int16_t columns = 0;
  int32_t length = 0;
  std::string_view value;
  if (!reader.readInt16(&columns) || columns < 2 || !reader.readInt32(&length) ||
      (length > 0 && !reader.readBytes(static_cast<size_t>(length), &value)) ||
      !reader.readInt32(&length)) {
    login().lookup_error = "auth_query must return two columns (user name, password)";
    return;
  }
  if (length > 0 && reader.readBytes(static_cast<size_t>(length), &value))
    login().secret.assign(value);
}

// auth_query's ReadyForQuery: the server goes back, then the client is asked for its password
// (or refused). True: the server is no longer this client's (the caller must not touch it).
bool ClientConn::finishLookup() {
  ServerConn* server = server_;
  server_ = nullptr;
  server->attach(nullptr);
  if (server->reusable()) {
    worker_->releaseServer(server);
  } else {
    server->close("auth_query left the server in a transaction");
  }
  lookup_pool_ = nullptr;
  if (!login().lookup_error.empty()) {
    // The server's words stay in the log: the client is not logged in yet.
    failLookup("28000", "see the proxy's log", login().lookup_error);
    return true;
  }
  askForPassword();
  flushToClient();
  if (state_ != State::kClosed && read_pending_) readInput();
  return true;
}

// A missing user is not a failure (it fails later exactly as a wrong password does); a query
// error, a server that cannot be reached or a timeout is one.
void ClientConn::failLookup(std::string_view sqlstate, const std::string& for_client,
                            const std::string& for_log) {
  worker_->service().login_failures.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("postgres: client {} ({}): auth_query for user \"{}\" failed: {}", id_, peer(),
               user_, for_log);
  closeWithError(sqlstate,
                 "password lookup (auth_query) failed for user \"" + user_ + "\": " + for_client);
}

}  // namespace sg::pg
