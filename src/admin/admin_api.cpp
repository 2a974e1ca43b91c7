#include "admin/admin_api.h"

#include <boost/json.hpp>

#include "admin/admin_auth.h"
#include "admin/autoscale_admin.h"
#include "admin/cache_admin.h"
#include "admin/queue_admin.h"
#include "admin/registry_admin.h"
#include "admin/server_admin.h"
#include "admin/stats_admin.h"
#include "net/event_loop.h"
#include "pg/pg_service.h"
#include "pg/pool.h"
#include "pg/route/statement_class.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

json::object serverJson(const proxy::SharedUpstream& upstream, const proxy::SharedServer& server,
                        int64_t now_ms) {
  json::object out;
  out["address"] = server.address_text;
  auto reason = upstream.outReason(server, now_ms);
  out["state"] = reason == proxy::OutReason::kNone ? "up" : "down";
  if (reason != proxy::OutReason::kNone) out["reason"] = proxy::outReasonName(reason);
  out["backup"] = server.config.backup;
  out["weight"] = server.weight.load();
  out["in_flight"] = server.in_flight.load();
  out["active_connections"] = server.active->value();
  out["requests"] = server.requests->value();
  out["errors"] = server.errors->value();
  return out;
}

// The upstream's circuit breaker: state, the rolling window's counts, transitions.
json::object breakerJson(const resilience::CircuitBreaker& breaker, int64_t now_ms) {
  auto snapshot = breaker.snapshot(now_ms);
  json::object out;
  out["state"] = resilience::breakerStateName(snapshot.state);
  out["window_successes"] = snapshot.successes;
  out["window_failures"] = snapshot.failures;
  out["refusals"] = snapshot.refusals;
  json::object transitions;
  transitions["closed_to_open"] = snapshot.closed_to_open;
  transitions["open_to_half_open"] = snapshot.open_to_half_open;
  transitions["half_open_to_closed"] = snapshot.half_open_to_closed;
  transitions["half_open_to_open"] = snapshot.half_open_to_open;
  out["transitions"] = std::move(transitions);
  if (snapshot.state == resilience::BreakerState::kOpen)
    out["retry_after_seconds"] = breaker.retryAfterSeconds(now_ms);
  return out;
}

json::object postgresServerJson(const pg::ServerHealth& health, const std::string& address) {
  json::object out;
  out["address"] = address;
  out["state"] = pg::ServerHealth::stateName(health.state.load());
  out["in_recovery"] = health.in_recovery.load();
  out["lagging"] = health.lagging.load();
  if (health.lag_ms.load() >= 0) out["lag_ms"] = health.lag_ms.load();
  if (health.lag_bytes.load() >= 0) out["lag_bytes"] = health.lag_bytes.load();
  out["lsn"] = pg::route::formatLsn(health.lsn.load());
  out["probes_passed"] = health.probes_passed.load();
  out["probes_failed"] = health.probes_failed.load();
  std::string error = health.lastError();
  if (!error.empty()) out["last_error"] = std::move(error);
  return out;
}

// One database's (or one shard's) primary and replicas as the lag monitor sees them.
json::object postgresServerGroupJson(pg::PgService& postgres, const std::string& database,
                                     uint32_t shard, const net::Address& primary_address,
                                     const config::PostgresRoutingConfig& routing, bool* degraded) {
  json::object entry;
  pg::ServerHealth& primary = postgres.serverHealth(database, pg::Pool::kPrimary, shard);
  entry["primary"] = postgresServerJson(primary, primary_address.toString());
  entry["acting_primary"] = primary.acting_primary.load() == 0
                                ? primary_address.toString()
                                : routing.replicas[primary.acting_primary.load() - 1].toString();
  json::array replicas;
  for (uint32_t i = 0; i < routing.replicas.size(); ++i) {
    pg::ServerHealth& health = postgres.serverHealth(database, i + 1, shard);
    *degraded = *degraded || health.down() || health.lagging.load();
    replicas.push_back(postgresServerJson(health, routing.replicas[i].toString()));
  }
  *degraded = *degraded || primary.down();
  entry["replicas"] = std::move(replicas);
  return entry;
}

// The servers of split databases, and of every shard of sharded ones (`shards`: one entry per
// shard, with its index and dbname), as the lag monitor sees them; a server down or lagging
// degrades the gateway.
json::object postgresServersJson(pg::PgService& postgres, bool* degraded) {
  json::object databases;
  for (const auto& database : postgres.config().databases) {
    const auto& shards = database.sharding.shards;
    if (!shards.empty()) {
      json::array entries;
      for (uint32_t shard = 0; shard < shards.size(); ++shard) {
        json::object entry = postgresServerGroupJson(
            postgres, database.name, shard, shards[shard].primary, shards[shard].routing, degraded);
        entry["shard"] = shard;
        entry["dbname"] = shards[shard].dbname;
        entries.push_back(std::move(entry));
      }
      json::object sharded;
      sharded["shards"] = std::move(entries);
      databases[database.name] = std::move(sharded);
      continue;
    }
    if (!database.routing.splits()) continue;
    databases[database.name] = postgresServerGroupJson(postgres, database.name, 0, database.primary,
                                                       database.routing, degraded);
  }
  return databases;
}

// The PostgreSQL listener's pools: SHOW POOLS' figures, per database and user; and the lag
// monitor's view of the servers of split databases.
json::object postgresJson(pg::PgService& postgres, int64_t now_ms, bool* degraded) {
  json::object databases;
  for (pg::Pool* pool : postgres.pools()) {
    std::lock_guard lock(pool->mutex);
    json::object entry;
    entry["user"] = pool->clientUser();
    entry["server"] =
        pg::serverRoleName(pool->database().sharding.enabled(), pool->shard(), pool->backend());
    entry["cl_active"] =
        pool->clients >= pool->waiters.size() ? pool->clients - pool->waiters.size() : 0;
    entry["cl_waiting"] = pool->waiters.size();
    entry["sv_active"] = pool->in_use;
    entry["sv_idle"] = pool->idleCount();
    entry["sv_login"] = pool->open - std::min<size_t>(pool->open, pool->in_use + pool->idleCount());
    entry["pool_size"] = pool->size();
    entry["maxwait_ms"] = pool->waiters.empty() ? 0 : now_ms - pool->waiters.front().since_ms;
    entry["paused"] = pool->paused;
    json::value& list = databases[pool->database().name];
    if (!list.is_array()) list = json::array();
    list.as_array().push_back(std::move(entry));
  }
  json::object out;
  out["servers"] = postgresServersJson(postgres, degraded);
  out["clients"] = postgres.clientCount();
  out["max_client_conn"] = postgres.config().max_client_conn;
  out["pools"] = std::move(databases);
  return out;
}

}  // namespace

ServiceResponse healthResponse(proxy::SharedState& shared, int64_t now_ms,
                               pg::PgService* postgres) {
  bool any_down = false;
  bool some_upstream_unavailable = false;
  json::object upstreams;
  for (const auto& upstream : shared.upstreams()) {
    json::array servers;
    bool any_up = false;
    auto guard = upstream.slots ? upstream.slots->lock() : std::unique_lock<std::mutex>();
    for (const auto& server : upstream.servers) {
      if (server->admin_state.load() == proxy::AdminState::kVacant) continue;  // empty slot
      bool up = upstream.outReason(*server, now_ms) == proxy::OutReason::kNone;
      any_up = any_up || up;
      any_down = any_down || !up;
      servers.push_back(serverJson(upstream, *server, now_ms));
    }
    some_upstream_unavailable = some_upstream_unavailable || !any_up;
    json::object entry;
    entry["servers"] = std::move(servers);
    entry["available"] = any_up;
    if (upstream.breaker) {
      entry["circuit_breaker"] = breakerJson(*upstream.breaker, now_ms);
      if (upstream.breaker->state() == resilience::BreakerState::kOpen)
        some_upstream_unavailable = true;
    }
    upstreams[upstream.config->name] = std::move(entry);
  }
  // A failing store degrades the gateway (features fall back locally) but never makes it
  // unavailable: requests are still answered.
  const proxy::SharedState& state = shared;
  const std::string store_state =
      shared.storeStats() != nullptr ? shared.storeStats()->state() : "";
  bool postgres_degraded = false;
  json::object postgres_document;
  if (postgres != nullptr) postgres_document = postgresJson(*postgres, now_ms, &postgres_degraded);
  const char* status = "ok";
  if (shared.draining) {
    status = "draining";
  } else if (some_upstream_unavailable) {
    status = "unavailable";
  } else if (any_down || postgres_degraded || (!store_state.empty() && store_state != "up")) {
    status = "degraded";
  }
  json::object document;
  document["status"] = status;
  document["upstreams"] = std::move(upstreams);
  if (postgres != nullptr) document["postgres"] = std::move(postgres_document);
  if (!store_state.empty()) {
    json::object store;
    store["type"] =
        state.config().store.type == config::StoreConfig::Type::kRedis ? "redis" : "redis_cluster";
    store["state"] = store_state;
    document["store"] = std::move(store);
  }
  ServiceResponse response;
  response.status =
      (std::string_view(status) == "ok" || std::string_view(status) == "degraded") ? 200 : 503;
  response.content_type = "application/json";
  response.body = json::serialize(document);
  response.body.push_back('\n');
  return response;
}

ServiceHandler makeAdminHandler(AdminContext context) {
  auto auth =
      std::make_shared<const AdminAuth>(context.shared->config().admin, context.shared->registry());
  return [context, auth](const http::RequestHead& request, std::string_view body) {
    if (auto refusal = auth->check(request)) return *refusal;
    proxy::SharedState* shared = context.shared;
    if (auto reply = handleServerAdmin(*shared, request, body)) return *reply;
    if (auto reply = handleCacheAdmin(*shared, request)) return *reply;
    if (auto reply = handleQueueAdmin(*shared, request, body)) return *reply;
    if (auto reply = handleRegistryAdmin(context.registry, request, body)) return *reply;
    if (auto reply = handleAutoscaleAdmin(context.autoscale, request)) return *reply;
    if (auto reply = handleStatsAdmin(context.stats, request)) return *reply;
    if (auto reply = handleReloadAdmin(context.reload, request)) return *reply;
    ServiceResponse response;
    bool read = request.method == "GET" || request.method == "HEAD";
    if (request.path == "/metrics" && read) {
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      response.body = shared->registry().renderPrometheus();
    } else if (request.path == "/health" && read) {
      response = healthResponse(*shared, net::monotonicMillis(), context.postgres);
      addRegistryHealth(context.registry, &response);
    } else if (request.path == "/metrics" || request.path == "/health") {
      response.status = 405;
      response.headers.emplace_back("Allow", "GET, HEAD");
      response.body = "method not allowed\n";
    } else {
      response.status = 404;
      response.body = "not found: try /metrics, /health, /admin/cache or /admin/upstreams/...\n";
    }
    return response;
  };
}

}  // namespace sg::admin
