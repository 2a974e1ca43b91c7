#pragma once
// What every worker of the PostgreSQL listener shares: the configuration, the user list, the
// pools, the cancel keys handed to clients, and the registry of prepared statement texts.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "pg/auth/scram.h"
#include "pg/auth/user_list.h"
#include "pg/pool.h"

namespace sg::metrics {
class Registry;
}

namespace sg::pg {

class PgWorker;

// A statement a client prepared with the extended protocol, identified by its text and
// parameter types; the proxy prepares it on servers under its own name.
struct Statement {
  uint64_t id = 0;
  std::string body;         // the Parse payload after the name: query, parameter types
  std::string server_name;  // what the proxy calls it on servers
};

class PgService {
 public:
  // `config` must have a postgres section. `registry` (may be null in tests) gets the pools'
  // metrics as they are made.
  PgService(std::shared_ptr<const config::Config> config, uint32_t workers,
            metrics::Registry* registry = nullptr);
  ~PgService();

  // Reads the user list. False with *error when it cannot.
  bool start(std::string* error);
  bool reloadUsers(std::string* error);
  // RELOAD: reads the configuration file again and applies its postgres section: settings,
  // databases added, changed (their servers are replaced as they are released) or removed (no
  // new clients), the user list. Listeners change only at a restart. On an invalid file the
  // running configuration stays and *error lists the problems.
  bool reload(std::string* error);
  // The current configuration. Every version a RELOAD replaced stays alive (they are small
  // and rare), so a reference taken for one event stays valid.
  const config::PostgresConfig& config() const { return *config_.load(std::memory_order_acquire); }
  uint32_t workerCount() const { return worker_count_; }
  void attach(std::vector<PgWorker*> workers) { workers_ = std::move(workers); }
  PgWorker& worker(uint32_t index) { return *workers_[index]; }
  const std::vector<PgWorker*>& workers() const { return workers_; }

  // The secret of a user from the user list; false when the user is not listed.
  bool userSecret(const std::string& user, std::string* secret) const;
  ScramVerifierCache& verifierCache() { return verifiers_; }

  // The pool of (database, client user) on one of the database's servers (Pool::kPrimary, or
  // replica N), made on first use.
  Pool* pool(const config::PostgresDatabaseConfig& database, const std::string& user,
             uint32_t backend = Pool::kPrimary, uint32_t shard = 0);
  // The pool auth_query runs in: `auth_user` on the server too, whatever user the database
  // forces on its clients (shared with auth_user's own clients when the database forces none).
  Pool* authPool(const config::PostgresDatabaseConfig& database, const std::string& auth_user);
  std::vector<Pool*> pools() const;
  // What the lag monitor knows of one server of a database (Pool::kPrimary or replica N),
  // made on first use and kept for the process's life.
  ServerHealth& serverHealth(const std::string& database, uint32_t backend, uint32_t shard = 0);
  // Whether `user` is in the user list (users_file wins over auth_query, as in PgBouncer).
  bool listedUser(const std::string& user) const {
    std::string ignored;
    return userSecret(user, &ignored);
  }

  // max_client_conn, exact across workers.
  bool admitClient();
  // A client that moved in from the previous configuration (an in-process reload): counted
  // even over max_client_conn, as a lowered limit closes no client that is connected.
  void clientMovedIn() { clients_.fetch_add(1, std::memory_order_relaxed); }
  void clientLeft() { clients_.fetch_sub(1, std::memory_order_relaxed); }
  uint32_t clientCount() const { return clients_.load(std::memory_order_relaxed); }

  // Cancel keys: the (pid, secret) the proxy gave a client, and where that client lives (its
  // worker's index: the thread, whichever configuration generation it is on now). False when
  // `pid` is taken: the caller draws another.
  bool registerCancelKey(int32_t pid, int32_t secret, uint32_t worker, uint64_t client_id);
  void unregisterCancelKey(int32_t pid);
  bool findCancelKey(int32_t pid, int32_t secret, uint32_t* worker, uint64_t* client_id) const;

  // An in-process reload, before start: this (new) service answers the cancel keys the older
  // one gave (a cancel request for a client still finishing its transaction there reaches it),
  // and names prepared statements as it did (a client and its server may move here).
  void shareWith(const PgService& older) {
    cancel_keys_ = older.cancel_keys_;
    statements_ = older.statements_;
  }

  std::shared_ptr<const Statement> internStatement(std::string_view body);

  // SHOW STATS's averages; worker 0's maintenance tick ends each period.
  StatsPeriods& statsPeriods() { return stats_periods_; }

  std::atomic<uint64_t> cancel_requests{0};
  std::atomic<uint64_t> refused_clients{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> login_failures{0};
  std::atomic<uint64_t> tls_handshake_failures{0};  // clients whose TLS handshake failed

 private:
  std::atomic<const config::PostgresConfig*> config_;
  std::mutex reload_mutex_;
  std::vector<std::shared_ptr<const config::Config>> generations_;  // guarded by reload_mutex_
  uint32_t worker_count_;
  metrics::Registry* registry_;
  std::vector<PgWorker*> workers_;
  mutable std::mutex users_mutex_;
  std::shared_ptr<const UserList> users_;
  ScramVerifierCache verifiers_;
  mutable std::mutex pools_mutex_;
  std::vector<std::unique_ptr<Pool>> pools_;
  Pool* findOrMakePool(const config::PostgresDatabaseConfig& database, const std::string& user,
                       const std::string& server_user, uint32_t backend, uint32_t shard);
  std::atomic<uint32_t> clients_{0};
  std::mutex health_mutex_;
  std::map<std::tuple<std::string, uint32_t, uint32_t>, std::unique_ptr<ServerHealth>> health_;
  struct CancelTarget {
    int32_t secret;
    uint32_t worker;
    uint64_t client_id;
  };
  // Shared by the configuration generations of one process (shareCancelKeys).
  struct CancelKeys {
    std::mutex mutex;
    std::unordered_map<int32_t, CancelTarget> targets;
  };
  std::shared_ptr<CancelKeys> cancel_keys_ = std::make_shared<CancelKeys>();
  // Shared by the configuration generations of one process (shareWith): a statement keeps
  // its name on servers whichever generation's client or pool uses it.
  struct Statements {
    std::mutex mutex;
    std::unordered_map<std::string, std::weak_ptr<const Statement>> by_body;
    uint64_t next_id = 1;
  };
  std::shared_ptr<Statements> statements_ = std::make_shared<Statements>();
  StatsPeriods stats_periods_;
};

}  // namespace sg::pg
