#pragma once
// A pool of server connections for one (database, user) pair, shared by every worker.
//
// Server connections live on workers' event loops; the pool only counts them and keeps the
// order in which clients wait. Each worker keeps its own idle servers (registered on its own
// loop, so an idle server that the database closes is noticed at once), and only the owning
// worker ever touches a server connection: a server given to a client on another worker is
// handed over through that worker's task queue. The counts (pool_size, reserve_pool) are
// exact across workers because every change happens under `mutex`.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/postgres_config.h"
#include "pg/auth/scram.h"
#include "pg/pool_stats.h"
#include "pg/server_health.h"

namespace sg::pg {

class ServerConn;

// A ServerWaiter in line: the worker that finds it by its id.
struct PoolWaiter {
  uint32_t worker = 0;
  uint64_t waiter_id = 0;
  int64_t since_ms = 0;
};

class Pool {
 public:
  // `backend`: which server of the database the pool's connections go to: kPrimary, or
  // replica N (routing.replicas[N - 1]).
  static constexpr uint32_t kPrimary = 0;
  Pool(const config::PostgresConfig& config, const config::PostgresDatabaseConfig& database,
       std::string client_user, std::string server_user, std::string server_secret,
       uint32_t workers, uint32_t backend = kPrimary, uint32_t shard = 0);

  // The database's current configuration (RELOAD may replace it; every version stays alive).
  const config::PostgresDatabaseConfig& database() const {
    return *database_.load(std::memory_order_acquire);
  }
  // RELOAD: the database's new entry and pool sizes (the caller holds `mutex`).
  void rebind(const config::PostgresConfig& config, const config::PostgresDatabaseConfig& database);
  uint32_t backend() const { return backend_; }
  bool isReplica() const { return backend_ != kPrimary; }
  // A sharded database's pools each serve one shard (0 otherwise).
  uint32_t shard() const { return shard_; }
  // Its shard's read/write splitting (the database's when not sharded) and server database.
  const config::PostgresRoutingConfig& routing() const;
  const std::string& dbname() const;
  // The server this pool connects to. A replica RELOAD removed from the list: false (the pool
  // hands out no new server; the caller treats it as down).
  bool address(net::Address* out) const;
  const std::string& clientUser() const { return client_user_; }
  const std::string& serverUser() const { return server_user_; }
  // Plaintext password, md5 secret or SCRAM verifier for logging in to the server.
  // Thread-safe; a user found with auth_query gets a new one at each of its logins.
  std::string serverSecret() const;
  void setServerSecret(const std::string& secret);
  uint32_t size() const { return size_; }  // under mutex
  uint32_t reserve() const { return reserve_; }
  PoolStats& stats() { return stats_; }

  // SCRAM pass-through: the ClientKey a client of this pool proved, for logging in to a
  // server that stores the same verifier as the user list. Thread-safe.
  void setPassThroughKey(const ScramKey& key);
  bool passThroughKey(ScramKey* key);

  // Everything below is guarded by mutex.
  std::mutex mutex;
  uint32_t open = 0;  // server connections counted: connecting, in use, idle, in transit
  uint32_t in_use = 0;
  uint32_t clients = 0;                        // client connections logged in to this pool
  std::vector<std::vector<ServerConn*>> idle;  // per worker; only that worker touches them
  std::deque<PoolWaiter> waiters;              // FIFO
  bool paused = false;                         // PAUSE: no server is handed out
  bool disabled = false;                       // DISABLE: new clients are refused
  uint64_t generation = 0;  // RECONNECT: servers of older generations close when released
  // ParameterStatus of the first server login: what a new client is told at its own login.
  std::vector<std::pair<std::string, std::string>> welcome;
  // The session parameters its last client logged in with, shared by the next ones that match.
  std::shared_ptr<const std::vector<std::pair<std::string, std::string>>> last_params;
  int64_t max_wait_start_ms = 0;
  // The health of the server it connects to, shared by every pool of that server (set once
  // when made; never null).
  ServerHealth* health = nullptr;

  size_t idleCount() const;
  // How many servers may be open now: pool_size, plus reserve_pool once the first waiter has
  // waited reserve_pool_timeout.
  uint32_t limit(int64_t now_ms) const;
  // Removes the waiter `waiter_id`; false when it was not waiting (already served).
  bool removeWaiter(uint64_t waiter_id);

 private:
  std::atomic<const config::PostgresDatabaseConfig*> database_;
  uint32_t backend_;
  uint32_t shard_;
  std::string client_user_;
  std::string server_user_;
  std::string server_secret_;
  uint32_t size_;
  uint32_t reserve_;
  int64_t reserve_timeout_ms_;
  PoolStats stats_;
  mutable std::mutex key_mutex_;  // guards server_secret_ and the pass-through key
  bool has_key_ = false;
  ScramKey client_key_{};
};

// Another server's pool of the same database logs in as `from` does: with the SCRAM key its
// clients proved, or the secret auth_query found.
void shareCredentials(Pool& from, Pool& to);

}  // namespace sg::pg
