#pragma once
// The PostgreSQL listener's numbers in /metrics: pgbouncer_exporter's families under the
// scalegate_pg_ prefix (pgbouncer_pools_client_active_connections becomes
// scalegate_pg_pools_client_active_connections), read from the pools at scrape time.
#include <cstddef>
#include <cstdint>

namespace sg::metrics {
class Registry;
}

namespace sg::config {
struct PostgresDatabaseConfig;
}

namespace sg::pg {

class PgService;
class Pool;

// Per database and process-wide figures (at start-up).
void registerServiceMetrics(PgService& service, metrics::Registry& registry);
// A database's figures (at start-up, and for a database a RELOAD added).
void registerDatabaseMetrics(PgService& service, const config::PostgresDatabaseConfig& database,
                             metrics::Registry& registry);
// The lag monitor's figures for each server of a split database and of each shard of a sharded
// one (from registerDatabaseMetrics).
void registerServerHealthMetrics(PgService& service, const config::PostgresDatabaseConfig& database,
                                 metrics::Registry& registry);
// Those of one shard's servers (shard 0: an unsharded database's).
void registerServerHealthMetrics(PgService& service, const config::PostgresDatabaseConfig& database,
                                 uint32_t shard, size_t replicas, metrics::Registry& registry);
// Per (database, user) pool, when the pool is made.
void registerPoolMetrics(Pool& pool, metrics::Registry& registry);

}  // namespace sg::pg
