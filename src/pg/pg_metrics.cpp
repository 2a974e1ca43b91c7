#include "pg/pg_metrics.h"

#include <mutex>

#include "metrics/metrics.h"
#include "pg/pg_service.h"
#include "pg/pool.h"

namespace sg::pg {

namespace {

double seconds(const metrics::Counter& micros) { return static_cast<double>(micros.value()) / 1e6; }

double count(const metrics::Counter& value) { return static_cast<double>(value.value()); }

double count(const std::atomic<uint64_t>& value) {
  return static_cast<double>(value.load(std::memory_order_relaxed));
}

// Sums one statistic over the pools of `database`.
template <typename Read>
double sumOver(PgService& service, const std::string& database, Read read) {
  double total = 0;
  for (Pool* pool : service.pools()) {
    if (pool->database().name == database) total += read(*pool);
  }
  return total;
}

}  // namespace

void registerDatabaseMetrics(PgService& service, const config::PostgresDatabaseConfig& database,
                             metrics::Registry& registry) {
  const metrics::Labels labels = {{"database", database.name}};
  const std::string db = database.name;
  auto counter = [&](const char* name, const char* help, double (*read)(Pool&)) {
    registry.counterCallback(name, help, labels,
                             [&service, db, read] { return sumOver(service, db, read); });
  };
  counter("scalegate_pg_stats_sql_transactions_pooled_total",
          "Transactions pooled (PgBouncer's total_xact_count).",
          [](Pool& p) { return count(p.stats().transactions); });
  counter("scalegate_pg_stats_queries_pooled_total",
          "Queries pooled (PgBouncer's total_query_count).",
          [](Pool& p) { return count(p.stats().queries); });
  counter("scalegate_pg_stats_received_bytes_total", "Bytes received from clients.",
          [](Pool& p) { return count(p.stats().bytes_received); });
  counter("scalegate_pg_stats_sent_bytes_total", "Bytes sent to clients.",
          [](Pool& p) { return count(p.stats().bytes_sent); });
  counter("scalegate_pg_stats_server_in_transaction_seconds_total",
          "Time servers spent in transactions for clients.",
          [](Pool& p) { return seconds(p.stats().transaction_micros); });
  counter("scalegate_pg_stats_client_wait_seconds_total", "Time clients waited for a server.",
          [](Pool& p) { return seconds(p.stats().wait_micros); });
  counter("scalegate_pg_stats_server_login_failures_total",
          "Server connections that could not connect or log in.",
          [](Pool& p) { return count(p.stats().server_login_failures); });
  counter("scalegate_pg_stats_query_wait_timeouts_total",
          "Clients refused after query_wait_timeout.",
          [](Pool& p) { return count(p.stats().query_wait_timeouts); });
  registry.gaugeCallback("scalegate_pg_databases_current_connections",
                         "Server connections of the database (PgBouncer's current_connections).",
                         labels, [&service, db] {
                           return sumOver(service, db, [](Pool& p) {
                             std::lock_guard lock(p.mutex);
                             return static_cast<double>(p.open);
                           });
                         });
  registry.gaugeCallback("scalegate_pg_databases_pool_size", "pool_size of the database.", labels,
                         [&service, db] {
                           const auto* current = service.config().findDatabase(db);
                           return current ? double(service.config().poolSize(*current)) : 0.0;
                         });
  registry.gaugeCallback("scalegate_pg_databases_reserve_pool", "reserve_pool of the database.",
                         labels, [&service, db] {
                           const auto* current = service.config().findDatabase(db);
                           return current ? double(service.config().reservePool(*current)) : 0.0;
                         });
  registerServerHealthMetrics(service, database, registry);
}

// The lag monitor's view of each server of a split database, and of each shard's servers of a
// sharded one (server="shardS/primary"; the set of servers is the one at start-up or at the
// RELOAD that added the database).
void registerServerHealthMetrics(PgService& service, const config::PostgresDatabaseConfig& database,
                                 metrics::Registry& registry) {
  const auto& shards = database.sharding.shards;
  for (uint32_t shard = 0; shard < shards.size(); ++shard)
    registerServerHealthMetrics(service, database, shard, shards[shard].routing.replicas.size(),
                                registry);
  if (shards.empty() && database.routing.splits())
    registerServerHealthMetrics(service, database, 0, database.routing.replicas.size(), registry);
}

void registerServerHealthMetrics(PgService& service, const config::PostgresDatabaseConfig& database,
                                 uint32_t shard, size_t replicas, metrics::Registry& registry) {
  for (uint32_t backend = 0; backend <= replicas; ++backend) {
    const metrics::Labels labels = {
        {"database", database.name},
        {"server", serverRoleName(database.sharding.enabled(), shard, backend)}};
    ServerHealth* health = &service.serverHealth(database.name, backend, shard);
    registry.gaugeCallback("scalegate_pg_server_up",
                           "1 while the lag monitor finds the server up (or has not probed it), "
                           "0 when down.",
                           labels, [health] { return health->down() ? 0.0 : 1.0; });
    registry.gaugeCallback("scalegate_pg_server_lagging",
                           "1 while a replica is banned from reads for max_lag or max_lag_bytes.",
                           labels, [health] { return health->lagging.load() ? 1.0 : 0.0; });
    registry.gaugeCallback("scalegate_pg_server_lag_seconds",
                           "Replay lag of a replica behind the primary (-1: not known).", labels,
                           [health] {
                             int64_t ms = health->lag_ms.load();
                             return ms < 0 ? -1.0 : static_cast<double>(ms) / 1000.0;
                           });
    registry.gaugeCallback("scalegate_pg_server_lag_bytes",
                           "WAL bytes a replica's replay is behind the primary (-1: not known).",
                           labels,
                           [health] { return static_cast<double>(health->lag_bytes.load()); });
    registry.counterCallback("scalegate_pg_server_probes_failed_total",
                             "Lag monitor probes of the server that failed.", labels,
                             [health] { return count(health->probes_failed); });
  }
}

void registerServiceMetrics(PgService& service, metrics::Registry& registry) {
  for (const auto& database : service.config().databases)
    registerDatabaseMetrics(service, database, registry);
  registry.gaugeCallback("scalegate_pg_config_max_client_connections", "max_client_conn.", {},
                         [&service] { return double(service.config().max_client_conn); });
  registry.gaugeCallback("scalegate_pg_client_connections",
                         "Client connections of the PostgreSQL listener (all databases).", {},
                         [&service] { return double(service.clientCount()); });
  registry.counterCallback("scalegate_pg_refused_clients_total",
                           "Clients refused at max_client_conn.", {},
                           [&service] { return count(service.refused_clients); });
  registry.counterCallback("scalegate_pg_protocol_errors_total",
                           "Clients closed for a malformed message.", {},
                           [&service] { return count(service.protocol_errors); });
  registry.counterCallback("scalegate_pg_login_failures_total", "Client logins refused.", {},
                           [&service] { return count(service.login_failures); });
  registry.counterCallback("scalegate_pg_tls_handshake_failures_total",
                           "Clients closed because their TLS handshake failed or stalled.", {},
                           [&service] { return count(service.tls_handshake_failures); });
  registry.counterCallback("scalegate_pg_cancel_requests_total", "Cancel requests received.", {},
                           [&service] { return count(service.cancel_requests); });
}

void registerPoolMetrics(Pool& pool, metrics::Registry& registry) {
  metrics::Labels labels = {{"database", pool.database().name}, {"user", pool.clientUser()}};
  // A sharded database's pools are one per shard and server: "shardS/primary".
  const bool sharded = pool.database().sharding.enabled();
  if (pool.isReplica() || sharded)
    labels.push_back({"server", serverRoleName(sharded, pool.shard(), pool.backend())});
  auto gauge = [&](const char* name, const char* help, double (*read)(Pool&)) {
    registry.gaugeCallback(name, help, labels, [&pool, read] {
      std::lock_guard lock(pool.mutex);
      return read(pool);
    });
  };
  gauge("scalegate_pg_pools_client_active_connections",
        "Clients logged in and not waiting for a server (cl_active).", [](Pool& p) {
          return double(p.clients >= p.waiters.size() ? p.clients - p.waiters.size() : 0);
        });
  gauge("scalegate_pg_pools_client_waiting_connections",
        "Clients waiting for a server (cl_waiting).",
        [](Pool& p) { return double(p.waiters.size()); });
  gauge("scalegate_pg_pools_server_active_connections", "Servers working for a client (sv_active).",
        [](Pool& p) { return double(p.in_use); });
  gauge("scalegate_pg_pools_server_idle_connections", "Idle servers (sv_idle).",
        [](Pool& p) { return double(p.idleCount()); });
  gauge("scalegate_pg_pools_server_login_connections",
        "Servers connecting or logging in (sv_login).", [](Pool& p) {
          double busy = double(p.in_use) + double(p.idleCount());
          return double(p.open) > busy ? double(p.open) - busy : 0.0;
        });
}

}  // namespace sg::pg
