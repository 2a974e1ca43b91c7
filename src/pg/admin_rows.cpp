#include "pg/admin_rows.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "app/cli.h"
#include "pg/admin_console.h"
#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

using Row = std::vector<std::string>;

std::string num(uint64_t value) { return std::to_string(value); }

struct PoolSnapshot {
  uint32_t clients = 0, waiting = 0, active = 0, idle = 0, login = 0;
  int64_t max_wait_ms = 0;
  bool paused = false, disabled = false;
  uint32_t open = 0;
};

PoolSnapshot snapshot(Pool& pool, int64_t now_ms) {
  std::lock_guard lock(pool.mutex);
  PoolSnapshot s;
  s.clients = pool.clients;
  s.waiting = static_cast<uint32_t>(pool.waiters.size());
  s.active = pool.in_use;
  s.idle = static_cast<uint32_t>(pool.idleCount());
  s.open = pool.open;
  s.login = pool.open >= s.active + s.idle ? pool.open - s.active - s.idle : 0;
  if (!pool.waiters.empty()) s.max_wait_ms = now_ms - pool.waiters.front().since_ms;
  s.paused = pool.paused;
  s.disabled = pool.disabled;
  return s;
}

void showPools(PgService& service, int64_t now, std::string* out) {
  ResultWriter writer(
      out,
      {"database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
       "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle",
       "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode"},
      {false, false, true, true, true, true, true, true, true, true, true, true, true, true, true,
       false});
  // One row per (database, user) as clients see it: a split database's replica pools add
  // their servers and waiters to its row (SHOW SERVERS and /health tell the servers apart). A
  // sharded database has a row per shard, its database named "orders/shard1".
  std::vector<std::pair<std::pair<std::string, std::string>, PoolSnapshot>> rows;
  for (Pool* pool : service.pools()) {
    PoolSnapshot s = snapshot(*pool, now);
    std::string database = pool->database().name;
    if (pool->database().sharding.enabled()) database += "/shard" + std::to_string(pool->shard());
    std::pair<std::string, std::string> key{std::move(database), pool->clientUser()};
    auto it =
        std::find_if(rows.begin(), rows.end(), [&](const auto& row) { return row.first == key; });
    if (it == rows.end()) {
      rows.emplace_back(std::move(key), s);
      continue;
    }
    PoolSnapshot& sum = it->second;
    sum.clients += s.clients;
    sum.waiting += s.waiting;
    sum.active += s.active;
    sum.idle += s.idle;
    sum.login += s.login;
    sum.max_wait_ms = std::max(sum.max_wait_ms, s.max_wait_ms);
  }
  for (const auto& [key, s] : rows) {
    uint32_t active_clients = s.clients >= s.waiting ? s.clients - s.waiting : 0;
    writer.row({key.first, key.second, num(active_clients), num(s.waiting), "0", "0", num(s.active),
                "0", "0", num(s.idle), "0", "0", num(s.login),
                num(static_cast<uint64_t>(s.max_wait_ms / 1000)),
                num(static_cast<uint64_t>(s.max_wait_ms % 1000) * 1000),
                std::string(config::poolModeName(service.config().pool_mode))});
  }
  // The console's own pseudo-pool, named as PgBouncer names it (exporters know to skip it).
  writer.row({"pgbouncer", "pgbouncer", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
              "0", "statement"});
  writer.finish("SHOW");
}

void showStats(PgService& service, std::string* out) {
  ResultWriter writer(
      out,
      {"database", "total_xact_count", "total_query_count", "total_received", "total_sent",
       "total_xact_time", "total_query_time", "total_wait_time", "avg_xact_count",
       "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time",
       "avg_wait_time"},
      {false, true, true, true, true, true, true, true, true, true, true, true, true, true, true});
  auto pools = service.pools();
  for (const auto& database : service.config().databases) {
    StatsTotals t = sumStats(pools, database.name);
    StatsAverages a = service.statsPeriods().averages(database.name);
    writer.row({database.name, num(t.transactions), num(t.queries), num(t.received), num(t.sent),
                num(t.transaction_micros), num(t.query_micros), num(t.wait_micros),
                num(a.transactions_per_second), num(a.queries_per_second),
                num(a.received_per_second), num(a.sent_per_second), num(a.transaction_micros),
                num(a.query_micros), num(a.wait_micros)});
  }
  writer.finish("SHOW");
}

void showDatabases(PgService& service, int64_t now, std::string* out) {
  ResultWriter writer(
      out,
      {"name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
       "reserve_pool", "pool_mode", "max_connections", "current_connections", "paused", "disabled"},
      {false, false, true, false, false, true, true, true, false, true, true, true, true});
  const auto& config = service.config();
  for (const auto& database : config.databases) {
    uint32_t current = 0;
    bool paused = false, disabled = false;
    for (Pool* pool : service.pools()) {
      if (pool->database().name != database.name) continue;
      PoolSnapshot s = snapshot(*pool, now);
      current += s.open;
      paused = paused || s.paused;
      disabled = disabled || s.disabled;
    }
    writer.row(
        {database.name, database.primary.hostString(), num(database.primary.port()),
         database.dbname, database.user, num(config.poolSize(database)), num(config.min_pool_size),
         num(config.reservePool(database)), std::string(config::poolModeName(config.pool_mode)),
         num(database.max_db_connections), num(current), paused ? "1" : "0", disabled ? "1" : "0"});
  }
  writer.row({"pgbouncer", "", "0", "pgbouncer", "pgbouncer", "2", "0", "0", "statement", "0", "0",
              "0", "0"});
  writer.finish("SHOW");
}

std::string millis(std::chrono::milliseconds value) { return num(value.count() / 1000); }

void showConfig(PgService& service, std::string* out) {
  const auto& c = service.config();
  ResultWriter writer(out, {"key", "value", "default", "changeable"}, {});
  auto add = [&writer](const std::string& key, const std::string& value,
                       const std::string& fallback) {
    writer.row({key, value, fallback, "no"});
  };
  add("pool_mode", std::string(config::poolModeName(c.pool_mode)), "transaction");
  add("max_client_conn", num(c.max_client_conn), "100");
  add("default_pool_size", num(c.default_pool_size), "20");
  add("min_pool_size", num(c.min_pool_size), "0");
  add("reserve_pool_size", num(c.reserve_pool_size), "0");
  add("reserve_pool_timeout", millis(c.reserve_pool_timeout), "5");
  add("max_prepared_statements", num(c.max_prepared_statements), "200");
  add("server_idle_timeout", millis(c.server_idle_timeout), "600");
  add("server_lifetime", millis(c.server_lifetime), "3600");
  add("server_connect_timeout", millis(c.server_connect_timeout), "15");
  add("server_check_delay", millis(c.server_check_delay), "30");
  add("server_check_query", c.server_check_query, "select 1");
  add("server_reset_query", c.server_reset_query, "DISCARD ALL");
  add("query_wait_timeout", millis(c.query_wait_timeout), "120");
  add("idle_transaction_timeout", millis(c.idle_transaction_timeout), "0");
  add("client_idle_timeout", millis(c.client_idle_timeout), "0");
  add("client_login_timeout", millis(c.client_login_timeout), "60");
  add("max_packet_size", num(c.max_packet_size), "268435456");
  add("tcp_defer_accept", millis(c.tcp_defer_accept), "45");
  add("tcp_keepalive", c.tcp_keepalive ? "1" : "0", "1");
  add("tcp_keepidle", millis(c.tcp_keepidle), "0");
  add("tcp_keepintvl", millis(c.tcp_keepintvl), "0");
  add("tcp_keepcnt", num(c.tcp_keepcnt), "0");
  add("auth_file", c.users_file, "");
  add("auth_user", c.auth_user, "");
  add("auth_query", c.auth_query, "");
  std::string admins, stats;
  for (const auto& user : c.admin_users) admins += (admins.empty() ? "" : ",") + user;
  for (const auto& user : c.stats_users) stats += (stats.empty() ? "" : ",") + user;
  add("admin_users", admins, "");
  add("stats_users", stats, "");
  // PgBouncer's names for the TLS keys.
  add("client_tls_sslmode", std::string(config::tlsModeName(c.client_tls.mode)), "disable");
  add("client_tls_cert_file", c.client_tls.cert, "");
  add("client_tls_key_file", c.client_tls.key, "");
  add("client_tls_ca_file", c.client_tls.ca, "");
  add("server_tls_sslmode", std::string(config::tlsModeName(c.server_tls.mode)), "disable");
  add("server_tls_cert_file", c.server_tls.cert, "");
  add("server_tls_key_file", c.server_tls.key, "");
  add("server_tls_ca_file", c.server_tls.ca, "");
  writer.finish("SHOW");
}

void showLists(PgService& service, std::string* out) {
  ResultWriter writer(out, {"list", "items"}, {false, true});
  auto pools = service.pools();
  uint64_t used_clients = 0, used_servers = 0, free_servers = 0, login = 0;
  for (Pool* pool : pools) {
    PoolSnapshot s = snapshot(*pool, 0);
    used_clients += s.clients;
    used_servers += s.active;
    free_servers += s.idle;
    login += s.login;
  }
  std::vector<std::string> users;
  for (Pool* pool : pools) {
    if (std::find(users.begin(), users.end(), pool->clientUser()) == users.end())
      users.push_back(pool->clientUser());
  }
  writer.row({"databases", num(service.config().databases.size())});
  writer.row({"users", num(users.size())});
  writer.row({"pools", num(pools.size())});
  writer.row({"free_clients", "0"});
  writer.row({"used_clients", num(used_clients)});
  writer.row(
      {"login_clients",
       num(service.clientCount() >= used_clients ? service.clientCount() - used_clients : 0)});
  writer.row({"free_servers", num(free_servers)});
  writer.row({"used_servers", num(used_servers + login)});
  writer.row({"dns_names", "0"});
  writer.row({"dns_zones", "0"});
  writer.row({"dns_queries", "0"});
  writer.row({"dns_pending", "0"});
  writer.finish("SHOW");
}

const std::vector<std::string>& connectionColumns() {
  static const std::vector<std::string> columns = {
      "type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
      "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link",
      "remote_pid", "tls", "application_name",
      // scalegate's, for the servers of split and sharded databases: which server
      // ("shardS/primary" when sharded), the lag monitor's verdict on it (up, down, lagging,
      // unknown) and its replay lag.
      "role", "health", "lag_ms", "lag_bytes"};
  return columns;
}

std::vector<bool> connectionNumeric() {
  return {false, false, false, false, false, true,  false, true,  false, false, true,
          true,  true,  false, false, true,  false, false, false, false, true,  true};
}

}  // namespace

bool writeShow(PgService& service, const std::string& what, int64_t now_ms, std::string* out,
               std::string* error) {
  if (what == "POOLS") {
    showPools(service, now_ms, out);
  } else if (what == "STATS" || what == "STATS_TOTALS") {
    showStats(service, out);
  } else if (what == "DATABASES") {
    showDatabases(service, now_ms, out);
  } else if (what == "CONFIG") {
    showConfig(service, out);
  } else if (what == "LISTS") {
    showLists(service, out);
  } else if (what == "VERSION") {
    ResultWriter writer(out, {"version"}, {});
    writer.row({std::string("scalegate ") + app::kVersion});
    writer.finish("SHOW");
  } else {
    *error = "unknown SHOW argument: " + what +
             " (POOLS, STATS, CLIENTS, SERVERS, DATABASES, CONFIG, LISTS, VERSION)";
    return false;
  }
  return true;
}

namespace {

const char* clientStateName(ClientConn::State state) {
  switch (state) {
    case ClientConn::State::kWaiting:
    case ClientConn::State::kWelcome:
      return "waiting";
    case ClientConn::State::kActive:
    case ClientConn::State::kScatter:
    case ClientConn::State::kIdle:
    case ClientConn::State::kAdmin:
      return "active";
    default:
      return "login";
  }
}

const char* serverStateName(ServerConn::State state) {
  switch (state) {
    case ServerConn::State::kActive:
    case ServerConn::State::kChecking:
      return "active";
    case ServerConn::State::kIdle:
      return "idle";
    case ServerConn::State::kClosed:
      return "closed";
    default:
      return "login";
  }
}

struct Collection {
  std::mutex mutex;
  std::vector<Row> rows;
  uint32_t remaining = 0;
};

Row clientRow(const ClientConn& client, int64_t now) {
  std::string peer = client.peer();
  size_t colon = peer.rfind(':');
  int64_t waited =
      client.state() == ClientConn::State::kWaiting ? now - client.requestStartMs() : 0;
  return {"C",
          client.user(),
          client.database(),
          clientStateName(client.state()),
          colon == std::string::npos ? peer : peer.substr(0, colon),
          colon == std::string::npos ? "0" : peer.substr(colon + 1),
          "",
          "0",
          num(static_cast<uint64_t>(client.connectedAtMs())),
          num(static_cast<uint64_t>(client.requestStartMs())),
          num(static_cast<uint64_t>(waited / 1000)),
          num(static_cast<uint64_t>(waited % 1000) * 1000),
          "0",
          num(client.id()),
          client.server() != nullptr ? num(client.server()->id()) : "",
          num(static_cast<uint64_t>(client.cancelPid())),
          client.tlsDescription(),
          client.applicationName(),
          "",
          "",
          "",
          ""};
}

// A server's role ("shardS/primary" in a sharded database), the lag monitor's verdict and
// lag; empty past the role when not monitored.
void appendHealth(const Pool& pool, Row* row) {
  const bool sharded = pool.database().sharding.enabled();
  row->push_back(serverRoleName(sharded, pool.shard(), pool.backend()));
  const ServerHealth& health = *pool.health;
  if (!sharded && !pool.database().routing.splits()) {
    row->insert(row->end(), {"", "", ""});
    return;
  }
  row->push_back(health.lagging.load() ? "lagging" : ServerHealth::stateName(health.state.load()));
  int64_t lag_ms = health.lag_ms.load(), lag_bytes = health.lag_bytes.load();
  row->push_back(lag_ms >= 0 ? std::to_string(lag_ms) : "");
  row->push_back(lag_bytes >= 0 ? std::to_string(lag_bytes) : "");
}

Row serverRow(const ServerConn& server) {
  const auto& address = server.address();
  Row row = {"S",
             server.pool()->serverUser(),
             server.pool()->database().name,
             server.isProbe() ? "probe" : serverStateName(server.state()),
             address.hostString(),
             num(address.port()),
             "",
             "0",
             num(static_cast<uint64_t>(server.connectedAtMs())),
             num(static_cast<uint64_t>(server.idleSinceMs())),
             "0",
             "0",
             "0",
             num(server.id()),
             server.peer() != nullptr ? num(server.peer()->clientId()) : "",
             num(static_cast<uint64_t>(server.backendPid())),
             server.tlsDescription(),
             ""};
  appendHealth(*server.pool(), &row);
  return row;
}

void deliverCollection(PgService& service, uint32_t home, uint64_t client_id,
                       const std::shared_ptr<Collection>& collection) {
  std::string result;
  ResultWriter writer(&result, connectionColumns(), connectionNumeric());
  for (const auto& row : collection->rows) writer.row(row);
  writer.finish("SHOW");
  auto& worker = service.worker(home);
  worker.post([&worker, client_id, result = std::move(result)] {
    ClientConn* client = worker.findClient(client_id);
    if (client != nullptr && client->state() == ClientConn::State::kAdmin)
      client->adminSession()->finishCollected(result);
  });
}

}  // namespace

void collectConnections(PgService& service, uint32_t home, uint64_t client_id, bool clients) {
  auto collection = std::make_shared<Collection>();
  collection->remaining = static_cast<uint32_t>(service.workers().size());
  for (PgWorker* worker : service.workers()) {
    worker->post([&service, worker, collection, home, client_id, clients] {
      std::vector<Row> rows;
      if (clients) {
        worker->forEachClient([&rows, now = worker->now()](const ClientConn& client) {
          if (!client.loggingIn()) rows.push_back(clientRow(client, now));
        });
      } else {
        worker->forEachServer(
            [&rows](const ServerConn& server) { rows.push_back(serverRow(server)); });
      }
      bool last = false;
      {
        std::lock_guard lock(collection->mutex);
        for (auto& row : rows) collection->rows.push_back(std::move(row));
        last = --collection->remaining == 0;
      }
      if (last) deliverCollection(service, home, client_id, collection);
    });
  }
}

bool serversInUse(PgService& service, const std::string& database) {
  for (Pool* pool : service.pools()) {
    if (!database.empty() && pool->database().name != database) continue;
    std::lock_guard lock(pool->mutex);
    if (pool->in_use > 0) return true;
  }
  return false;
}

bool poolsPaused(PgService& service, const std::string& database) {
  for (Pool* pool : service.pools()) {
    if (!database.empty() && pool->database().name != database) continue;
    std::lock_guard lock(pool->mutex);
    if (!pool->paused) return false;
  }
  return true;
}

bool AdminActions::apply(const std::string& verb, const std::string& database, std::string* error) {
  if (!database.empty() && service_.config().findDatabase(database) == nullptr) {
    *error = "no such database: " + database;
    return false;
  }
  if ((verb == "KILL" || verb == "DISABLE" || verb == "ENABLE") && database.empty()) {
    *error = verb + " needs a database name";
    return false;
  }
  std::vector<Pool*> pools;
  for (Pool* pool : service_.pools()) {
    if (database.empty() || pool->database().name == database) pools.push_back(pool);
  }
  for (Pool* pool : pools) {
    std::lock_guard lock(pool->mutex);
    if (verb == "PAUSE" || verb == "KILL") pool->paused = true;
    if (verb == "RESUME") pool->paused = false;
    if (verb == "PAUSE" || verb == "RECONNECT" || verb == "KILL") ++pool->generation;
    if (verb == "DISABLE") pool->disabled = true;
    if (verb == "ENABLE") pool->disabled = false;
  }
  for (PgWorker* worker : service_.workers()) {
    worker->post([worker, pools, verb] {
      for (Pool* pool : pools) {
        if (verb == "PAUSE" || verb == "RECONNECT" || verb == "KILL")
          worker->closeIdleServers(pool);
        if (verb == "KILL") worker->killPool(pool);
        if (verb == "RESUME") worker->serve(pool);
      }
    });
  }
  return true;
}

}  // namespace sg::pg
