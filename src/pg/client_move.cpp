// ClientConn: moving to the next configuration generation (an in-process reload). The new
// generation's worker runs on the same thread and loop, so the client moves by pointer: its
// socket stays registered, its TLS session and buffers stay its own. What belongs to the old
// configuration is looked up again in the new one: the listener, the database, the pool, and
// the names its prepared statements have on servers.
#include <spdlog/spdlog.h>

#include "pg/admin_console.h"
#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"

namespace sg::pg {

namespace {

std::optional<uint32_t> listenerNamed(const config::PostgresConfig& config,
                                      const std::string& name) {
  for (uint32_t i = 0; i < config.listeners.size(); ++i) {
    if (config.listeners[i].name == name) return i;
  }
  return std::nullopt;
}

}  // namespace

void ClientConn::retire() {
  if (state_ == State::kClosed) return;
  const bool holds_session = server_ != nullptr;  // pool_mode session: its server is its own
  PgWorker* newest = worker_->successor();
  if (newest == nullptr || newest->draining()) {
    if (!holds_session) closeWithError("57P01", "the proxy is shutting down");
    return;
  }
  if (!betweenTransactions()) return;  // back here when its transaction (or login) has ended
  std::string why;
  if (moveTo(newest, &why)) return;
  if (holds_session) {
    // Its session lives on its server: it stays on the old configuration until it leaves.
    spdlog::info("postgres: client {} ({}) keeps its session on the old configuration: {}", id_,
                 peer(), why);
    return;
  }
  spdlog::info("postgres: client {} ({}) closed by the reload: {}", id_, peer(), why);
  closeWithError("57P01", "the configuration was reloaded: " + why);
}

// Nothing of it is on a server or half-answered: no transaction, no server, no batch the proxy
// is answering, no large message passing through. Bytes it sent may wait in its input buffer:
// they are read on the new configuration.
bool ClientConn::betweenTransactions() const {
  if (state_ == State::kAdmin) return admin_->idle();
  // Session pooling: between transactions with its server, nothing in flight on it.
  const bool session = server_ != nullptr && state_ == State::kActive &&
                       worker_->config().pool_mode == config::PostgresConfig::PoolMode::kSession &&
                       server_->reusable();
  const bool idle = state_ == State::kIdle && server_ == nullptr;
  return (idle || session) && scatter_ == nullptr && transaction_status_ == 'I' &&
         local_txn_ == LocalTxn::kNone && !lsn_asked_ && !proxy_tail_ && !reroute_after_release_ &&
         !requesting_ && stream_remaining_ == 0 && local_errors_.empty() && !skip_until_sync_ &&
         !proxy_batch_ && !prepare_flush_;
}

bool ClientConn::moveTo(PgWorker* successor, std::string* why) {
  const config::PostgresConfig& next = successor->config();
  const std::string& listener_name = worker_->config().listeners[listener_].name;
  std::optional<uint32_t> listener = listenerNamed(next, listener_name);
  if (!listener) {
    *why = "its listener " + listener_name + " was removed";
    return false;
  }
  if (stream_.tls() == nullptr && next.client_tls.required()) {
    *why = "TLS is now required";
    return false;
  }
  const config::PostgresDatabaseConfig* database = nullptr;
  Pool* pool = nullptr;
  if (pool_ != nullptr) {  // else the admin console's
    database = next.findDatabase(database_);
    if (database == nullptr) {
      *why = "database " + database_ + " was removed";
      return false;
    }
    if (database->sharding.shards.size() != database_config_->sharding.shards.size()) {
      *why = "the shards of database " + database_ + " changed";
      return false;
    }
    pool = successor->service().pool(*database, user_);
    if (server_ != nullptr && !sameServer(*pool)) {
      *why = "database " + database_ + " now names another server, database or user";
      return false;
    }
  }
  changeWorker(successor, *listener, database, pool);
  spdlog::debug("postgres: client {} moved to the new configuration", id_);
  return true;
}

// The attached server (session pooling) can serve the new pool: same address, server database
// and user.
bool ClientConn::sameServer(const Pool& pool) const {
  net::Address address;
  return pool.address(&address) && address == server_->address() &&
         pool.dbname() == pool_->dbname() && pool.serverUser() == pool_->serverUser();
}

void ClientConn::changeWorker(PgWorker* successor, uint32_t listener,
                              const config::PostgresDatabaseConfig* database, Pool* pool) {
  PgService& service = successor->service();
  if (pool_ != nullptr) {
    shareCredentials(*pool_, *pool);  // its servers log in as the old pool's did
    {
      std::lock_guard lock(pool_->mutex);
      --pool_->clients;
    }
    {
      std::lock_guard lock(pool->mutex);
      ++pool->clients;
    }
    if (server_ != nullptr) server_->moveTo(successor, pool);
    pool_ = pool;
  }
  // Its prepared statements keep their names (the generations share them): prepared on the new
  // servers when used, and known to a server that came along.
  if (counted_) {
    worker_->service().clientLeft();
    service.clientMovedIn();
  }
  worker_->clientMovedOut(this);  // its cancel key stays: the generations share them
  successor->clientMovedIn(this);
  worker_ = successor;
  listener_ = listener;
  database_config_ = database;
  route_pool_ = nullptr;
  lookup_pool_ = nullptr;
  if (state_ == State::kIdle) armIdleTimers();
}

}  // namespace sg::pg
