#include "pg/lag_monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <mutex>

#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/route/statement_class.h"
#include "pg/server_conn.h"
#include "pg/wire.h"

namespace sg::pg {

// One query for every server: a standby answers with what it replayed and when the last
// replayed transaction committed, a primary with its current WAL position.
const char* const LagMonitor::kProbeQuery =
    "SELECT pg_catalog.pg_is_in_recovery(), CASE WHEN pg_catalog.pg_is_in_recovery() THEN "
    "pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END, "
    "(EXTRACT(EPOCH FROM pg_catalog.now() - pg_catalog.pg_last_xact_replay_timestamp()) * "
    "1000)::bigint";

namespace {

// The read/write splitting of one shard of a database (the database's own when not sharded).
const config::PostgresRoutingConfig& routingOf(const config::PostgresDatabaseConfig& database,
                                               uint32_t shard) {
  const auto& shards = database.sharding.shards;
  return shard < shards.size() ? shards[shard].routing : database.routing;
}

// "database orders shard 1 server 0" in log lines (no shard for an unsharded database).
std::string serverName(const std::string& database, uint32_t shard, uint32_t backend,
                       bool sharded) {
  return "database " + database + (sharded ? " shard " + std::to_string(shard) : "") + " server " +
         std::to_string(backend);
}

bool readColumn(PayloadReader& reader, std::string_view* value, bool* null) {
  int32_t length = 0;
  if (!reader.readInt32(&length)) return false;
  *null = length < 0;
  if (*null) return true;
  return reader.readBytes(length, value);
}

}  // namespace

bool LagMonitor::parseReading(std::string_view row, Reading* out) {
  PayloadReader reader(row);
  int16_t columns = 0;
  std::string_view recovery, lsn, age;
  bool recovery_null = false, lsn_null = false, age_null = false;
  if (!reader.readInt16(&columns) || columns != 3 ||
      !readColumn(reader, &recovery, &recovery_null) || !readColumn(reader, &lsn, &lsn_null) ||
      !readColumn(reader, &age, &age_null) || recovery_null ||
      (recovery != "t" && recovery != "f")) {
    return false;
  }
  out->in_recovery = recovery == "t";
  out->lsn = 0;
  if (!lsn_null && !route::parseLsn(lsn, &out->lsn)) return false;
  out->replay_age_ms = -1;
  if (!age_null) {
    int64_t value = 0;
    auto [end, error] = std::from_chars(age.data(), age.data() + age.size(), value);
    if (error != std::errc() || end != age.data() + age.size()) return false;
    out->replay_age_ms = std::max<int64_t>(value, 0);
  }
  return true;
}

LagMonitor::LagMonitor(PgWorker& worker) : worker_(worker) {}

LagMonitor::~LagMonitor() = default;

void LagMonitor::start() { worker_.loop().timers().arm(timer_, 1); }

void LagMonitor::stop() {
  stopped_ = true;
  timer_.cancel();
  for (auto& probe : probes_) {
    if (probe->server != nullptr) probe->server->close("the proxy is shutting down");
  }
}

void LagMonitor::onTimer(net::Timer* /*timer*/) {
  if (stopped_) return;
  syncProbes();
  for (auto& probe : probes_) check(*probe);
  worker_.loop().timers().arm(timer_, worker_.config().lag_check_interval.count());
}

// One probe per server of every split database and of every shard of a sharded database in
// the current configuration (RELOAD may add or remove some).
void LagMonitor::syncProbes() {
  const auto& config = worker_.config();
  for (auto& probe : probes_) probe->seen = false;
  for (const auto& database : config.databases) {
    const auto& shards = database.sharding.shards;
    for (uint32_t shard = 0; shard < shards.size(); ++shard)
      addProbes(database.name, shard, shards[shard].routing.replicas.size());
    if (shards.empty() && database.routing.splits())
      addProbes(database.name, 0, database.routing.replicas.size());
  }
  for (auto it = probes_.begin(); it != probes_.end();) {
    if ((*it)->seen) {
      ++it;
      continue;
    }
    if ((*it)->server != nullptr) (*it)->server->close("its database no longer has replicas");
    it = probes_.erase(it);
  }
}

// Marks the probes of one shard's (or database's) servers seen, making the missing ones.
void LagMonitor::addProbes(const std::string& database, uint32_t shard, size_t replicas) {
  const auto& config = worker_.config();
  for (uint32_t backend = 0; backend <= replicas; ++backend) {
    auto it = std::find_if(probes_.begin(), probes_.end(), [&](const auto& probe) {
      return probe->database == database && probe->shard == shard && probe->backend == backend;
    });
    if (it != probes_.end()) {
      (*it)->seen = true;
      continue;
    }
    auto probe = std::make_unique<Probe>(
        Probe{database, shard, backend, &worker_.service().serverHealth(database, backend, shard),
              health::RiseFall(config.health_check_rise, config.health_check_fall)});
    probe->seen = true;
    probes_.push_back(std::move(probe));
  }
}

void LagMonitor::check(Probe& probe) {
  if (probe.in_flight) {
    // Counted once per interval it stays unanswered; the connection keeps waiting.
    return recordFailure(probe, "no answer within lag_check_interval");
  }
  if (probe.server == nullptr) return open(probe);
  if (probe.server->state() == ServerConn::State::kIdle) send(probe);
}

void LagMonitor::open(Probe& probe) {
  Pool* pool = credentialsPool(probe.database, probe.shard, probe.backend);
  if (pool == nullptr) return;  // no client has logged in to this database yet
  std::string error;
  probe.server = worker_.connectProbe(*pool, &error);
  if (probe.server == nullptr) return recordFailure(probe, error);
  probe.in_flight = true;  // connecting and logging in count as the probe
}

void LagMonitor::send(Probe& probe) {
  probe.in_flight = true;
  probe.server->startProbe(kProbeQuery);
}

// A pool of the database on `backend` of `shard` that can log in: the credentials of a pool of
// the database (any shard, primary or replica) whose server login worked.
Pool* LagMonitor::credentialsPool(const std::string& database, uint32_t shard, uint32_t backend) {
  auto& service = worker_.service();
  const auto* config = service.config().findDatabase(database);
  if (config == nullptr) return nullptr;
  for (Pool* pool : service.pools()) {
    if (pool->database().name != database) continue;
    {
      std::lock_guard lock(pool->mutex);
      if (pool->welcome.empty()) continue;  // never logged in
    }
    if (pool->backend() == backend && pool->shard() == shard) return pool;
    Pool* target = service.pool(*config, pool->clientUser(), backend, shard);
    shareCredentials(*pool, *target);
    return target;
  }
  return nullptr;
}

LagMonitor::Probe* LagMonitor::find(const ServerConn* server) {
  for (auto& probe : probes_) {
    if (probe->server == server) return probe.get();
  }
  return nullptr;
}

void LagMonitor::probeReady(ServerConn* server) {
  Probe* probe = find(server);
  if (probe == nullptr || stopped_) return server->close("probe no longer needed");
  send(*probe);
}

void LagMonitor::probeAnswered(ServerConn* server, std::string_view row, const std::string& error) {
  Probe* probe = find(server);
  if (probe == nullptr) return server->close("probe no longer needed");
  probe->in_flight = false;
  Reading reading;
  if (!error.empty()) return recordFailure(*probe, "probe query failed: " + error);
  if (!parseReading(row, &reading)) return recordFailure(*probe, "probe answer unreadable");
  recordReading(*probe, reading);
}

void LagMonitor::probeClosed(ServerConn* server, const char* reason) {
  Probe* probe = find(server);
  if (probe == nullptr) return;
  probe->server = nullptr;
  bool was_in_flight = probe->in_flight;
  probe->in_flight = false;
  if (was_in_flight && !stopped_) recordFailure(*probe, reason);
}

void LagMonitor::recordFailure(Probe& probe, const std::string& why) {
  ServerHealth& health = *probe.health;
  health.probes_failed.fetch_add(1, std::memory_order_relaxed);
  health.setLastError(why);
  const auto* database = worker_.config().findDatabase(probe.database);
  const bool sharded = database != nullptr && database->sharding.enabled();
  if (probe.rise_fall.record(false) || health.state.load() == ServerHealth::State::kUnknown) {
    if (!probe.rise_fall.healthy()) {
      spdlog::warn("postgres: {} is down: {}",
                   serverName(probe.database, probe.shard, probe.backend, sharded), why);
    }
    health.state.store(probe.rise_fall.healthy() ? ServerHealth::State::kUnknown
                                                 : ServerHealth::State::kDown);
  }
  if (database != nullptr) discoverPrimary(*database, probe.shard);
}

void LagMonitor::recordReading(Probe& probe, const Reading& reading) {
  ServerHealth& health = *probe.health;
  health.probes_passed.fetch_add(1, std::memory_order_relaxed);
  const auto* database = worker_.config().findDatabase(probe.database);
  const bool sharded = database != nullptr && database->sharding.enabled();
  if (probe.rise_fall.record(true)) {
    spdlog::info("postgres: {} is up",
                 serverName(probe.database, probe.shard, probe.backend, sharded));
  }
  health.state.store(probe.rise_fall.healthy() ? ServerHealth::State::kUp
                                               : ServerHealth::State::kDown);
  health.in_recovery.store(reading.in_recovery);
  health.lsn.store(reading.lsn);
  health.replay_age_ms.store(reading.replay_age_ms);
  updateLag(probe.database, probe.shard);
  if (database != nullptr) discoverPrimary(*database, probe.shard);
}

// Each replica against the primary's last known position: bytes behind, and time behind
// (zero once it replayed everything the primary had: an idle primary commits nothing, so
// the last replayed commit only grows old).
void LagMonitor::updateLag(const std::string& name, uint32_t shard) {
  const auto* database = worker_.config().findDatabase(name);
  if (database == nullptr) return;
  auto& service = worker_.service();
  const auto& routing = routingOf(*database, shard);
  uint32_t writer = service.serverHealth(name, Pool::kPrimary, shard).acting_primary.load();
  uint64_t primary_lsn = service.serverHealth(name, writer, shard).lsn.load();
  for (uint32_t backend = 1; backend <= routing.replicas.size(); ++backend) {
    ServerHealth& health = service.serverHealth(name, backend, shard);
    if (backend == writer || health.state.load() == ServerHealth::State::kUnknown) continue;
    uint64_t replayed = health.lsn.load();
    int64_t bytes = primary_lsn > replayed ? static_cast<int64_t>(primary_lsn - replayed) : 0;
    int64_t lag_ms = bytes == 0 ? 0 : health.replay_age_ms.load();
    health.lag_bytes.store(bytes);
    health.lag_ms.store(lag_ms);
    bool lagging =
        (routing.max_lag.count() > 0 && lag_ms > routing.max_lag.count()) ||
        (routing.max_lag_bytes > 0 && static_cast<uint64_t>(bytes) > routing.max_lag_bytes);
    if (health.lagging.exchange(lagging) != lagging) {
      spdlog::info("postgres: {} (a replica) {} (lag {} ms, {} bytes)",
                   serverName(name, shard, backend, database->sharding.enabled()),
                   lagging ? "is banned from reads" : "is readmitted", lag_ms, bytes);
    }
  }
}

// primary_discovery: when the primary in use is down or in recovery, the first replica that is
// up and out of recovery (promoted) takes its place; its connections are replaced.
void LagMonitor::discoverPrimary(const config::PostgresDatabaseConfig& database, uint32_t shard) {
  const auto& routing = routingOf(database, shard);
  if (!routing.primary_discovery) return;
  auto& service = worker_.service();
  ServerHealth& primary = service.serverHealth(database.name, Pool::kPrimary, shard);
  uint32_t writer = primary.acting_primary.load();
  ServerHealth& current = service.serverHealth(database.name, writer, shard);
  if (!current.down() && !current.in_recovery.load()) return;
  for (uint32_t backend = 0; backend <= routing.replicas.size(); ++backend) {
    ServerHealth& candidate = service.serverHealth(database.name, backend, shard);
    if (backend == writer || candidate.state.load() != ServerHealth::State::kUp ||
        candidate.in_recovery.load())
      continue;
    primary.acting_primary.store(backend);
    spdlog::warn("postgres: {} left recovery and is the primary now",
                 serverName(database.name, shard, backend, database.sharding.enabled()));
    for (Pool* pool : service.pools()) {
      if (pool->database().name != database.name || pool->shard() != shard || pool->isReplica())
        continue;
      std::lock_guard lock(pool->mutex);
      ++pool->generation;  // connections to the old primary close as they are released
    }
    return;
  }
}

}  // namespace sg::pg
