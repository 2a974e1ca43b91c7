// The top-level `postgres` (the PostgreSQL pooling proxy). Key names and defaults follow
// PgBouncer's; the checks are the ones PgBouncer leaves to start-up failures or to surprises at
// run time (a pool of size 0, an md5 listener without passwords, a port already taken).
#include <algorithm>
#include <array>
#include <filesystem>
#include <string_view>

#include "config/load.h"

namespace sg::config::detail {

std::string resolvePath(const std::string& config_file, const std::string& path) {
  std::filesystem::path written(path);
  if (written.is_absolute()) return path;
  std::filesystem::path dir = std::filesystem::path(config_file).parent_path();
  if (dir.empty()) return path;
  return (dir / written).lexically_normal().string();
}

namespace {

constexpr uint32_t kMaxClientConnections = 1'000'000;
constexpr uint32_t kMaxPoolSize = 10'000;
constexpr uint32_t kMaxPreparedStatements = 100'000;
constexpr uint32_t kMaxKeepaliveProbes = 127;  // the kernel's limit for TCP_KEEPCNT
// A startup packet may be up to 10,000 bytes; PostgreSQL refuses messages of 1 GiB and more.
constexpr uint64_t kMinPacketSize = 16 * 1024;
constexpr uint64_t kMaxPacketSize = 1024 * 1024 * 1024 - 1;
// Clients reach the admin console through these database names, so no pool may take them.
constexpr std::array<std::string_view, 2> kAdminDatabases{"scalegate", "pgbouncer"};

void checkListenerAddress(ErrorSink& errors, const Field& field, const net::Address& address,
                          const Config& config,
                          const std::vector<PostgresListenerConfig>& earlier) {
  auto conflict = [&](const std::string& what, const net::Address& other) {
    if (!addressesConflict(address, other)) return;
    errors.add(field.mark(), field.path,
               "address " + address.toString() + " conflicts with " + what + " (" +
                   other.toString() + ")");
  };
  for (size_t i = 0; i < config.listeners.size(); ++i)
    conflict("listeners[" + std::to_string(i) + "]", config.listeners[i].address);
  if (config.admin.address) conflict("admin.address", *config.admin.address);
  for (size_t i = 0; i < earlier.size(); ++i)
    conflict("postgres.listeners[" + std::to_string(i) + "]", earlier[i].address);
}

void loadListener(ErrorSink& errors, const Field& item, const Config& config,
                  std::vector<PostgresListenerConfig>* out) {
  MapReader map(errors, item, {"name", "address"});
  if (!map.valid()) return;
  PostgresListenerConfig listener;
  bool valid = true;
  const Field* name = map.require("name");
  if (readString(errors, name, &listener.name)) {
    auto same = std::find_if(out->begin(), out->end(),
                             [&](const auto& other) { return other.name == listener.name; });
    if (listener.name.empty()) {
      errors.add(name->mark(), name->path, "must not be empty");
      valid = false;
    } else if (same != out->end()) {
      errors.add(name->mark(), name->path,
                 "duplicate listener name " + detail::quoted(listener.name) +
                     " (also postgres.listeners[" + std::to_string(same - out->begin()) + "])");
      valid = false;
    }
  } else {
    valid = false;
  }
  const Field* address = map.require("address");
  if (readAddress(errors, address, &listener.address)) {
    checkListenerAddress(errors, *address, listener.address, config, *out);
  } else {
    valid = false;
  }
  if (valid) out->push_back(std::move(listener));
}

void loadListeners(ErrorSink& errors, const Field& field, const Config& config,
                   std::vector<PostgresListenerConfig>* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (field.value.IsSequence() && items.empty())
    errors.add(field.mark(), field.path, "must list at least one listener");
  for (const Field& item : items) loadListener(errors, item, config, out);
}

void readAuthType(ErrorSink& errors, const Field* field, PostgresConfig::AuthType* out) {
  std::string type;
  if (!readString(errors, field, &type)) return;
  if (type == "scram-sha-256") {
    *out = PostgresConfig::AuthType::kScramSha256;
  } else if (type == "md5") {
    *out = PostgresConfig::AuthType::kMd5;
  } else if (type == "trust") {
    *out = PostgresConfig::AuthType::kTrust;
  } else {
    errors.add(field->mark(), field->path,
               "unknown type " + detail::quoted(type) + " (one of: scram-sha-256, md5, trust)");
  }
}

void loadAuth(ErrorSink& errors, const Field& field, const std::string& config_file,
              PostgresConfig* out) {
  MapReader map(errors, field, {"type", "users_file", "auth_user", "auth_query", "auth_dbname"});
  if (!map.valid()) return;
  readAuthType(errors, map.find("type"), &out->auth_type);
  const Field* users_file = map.find("users_file");
  if (readString(errors, users_file, &out->users_file)) {
    if (out->users_file.empty()) {
      errors.add(users_file->mark(), users_file->path, "the file path is empty");
    } else {
      out->users_file = resolvePath(config_file, out->users_file);
    }
  }
  const Field* auth_user = map.find("auth_user");
  if (readString(errors, auth_user, &out->auth_user) && out->auth_user.empty())
    errors.add(auth_user->mark(), auth_user->path, "must not be empty");
  const Field* auth_query = map.find("auth_query");
  if (readString(errors, auth_query, &out->auth_query)) {
    // Bound as a parameter, never pasted in: a query without $1 would answer for every user.
    if (out->auth_query.find("$1") == std::string::npos)
      errors.add(auth_query->mark(), auth_query->path,
                 "must use $1 for the user name (e.g. SELECT usename, passwd FROM "
                 "pgbouncer.get_auth($1))");
  }
  const Field* auth_dbname = map.find("auth_dbname");
  if (readString(errors, auth_dbname, &out->auth_dbname) && out->auth_dbname.empty())
    errors.add(auth_dbname->mark(), auth_dbname->path, "must not be empty");
}

// After the databases: a database's own auth_user also lets users come from auth_query.
void checkAuthSources(ErrorSink& errors, const Field& auth, PostgresConfig* out) {
  const YAML::Node map = auth.value;  // const: a lookup must not add a key
  bool any_auth_user = !out->auth_user.empty();
  for (const auto& database : out->databases) any_auth_user |= !database.auth_user.empty();
  // Without a user list or a lookup there are no passwords to check clients against (an empty
  // users_file has its own error).
  if (out->auth_type != PostgresConfig::AuthType::kTrust && !map["users_file"] && !any_auth_user) {
    errors.add(auth.mark(), auth.path,
               "password authentication needs users_file or auth_user (or type: trust)");
  }
  if (!out->auth_dbname.empty() && out->findDatabase(out->auth_dbname) == nullptr) {
    errors.add(map["auth_dbname"].Mark(), auth.path + ".auth_dbname",
               "names no database in postgres.databases: " + detail::quoted(out->auth_dbname));
  }
}

void readPoolMode(ErrorSink& errors, const Field* field, PostgresConfig::PoolMode* out) {
  std::string mode;
  if (!readString(errors, field, &mode)) return;
  if (parsePoolMode(mode, out)) return;
  errors.add(
      field->mark(), field->path,
      "unknown pool_mode " + detail::quoted(mode) + " (one of: session, transaction, statement)");
}

// A list of non-empty names (users, functions).
void readNames(ErrorSink& errors, const Field* field, std::vector<std::string>* out) {
  if (field == nullptr) return;
  for (const Field& item : sequenceItems(errors, *field)) {
    std::string user;
    if (!readString(errors, &item, &user)) continue;
    if (user.empty()) {
      errors.add(item.mark(), item.path, "must not be empty");
    } else {
      out->push_back(std::move(user));
    }
  }
}

void loadDatabase(ErrorSink& errors, const Field& field, const PostgresConfig& postgres,
                  PostgresDatabaseConfig* out) {
  MapReader map(
      errors, field,
      {"primary", "dbname", "user", "password", "pool_size", "reserve_pool", "max_db_connections",
       "auth_user",
       // read/write splitting (load_postgres_routing.cpp)
       "replicas", "read_write_split", "replica_balance", "primary_reads", "max_lag",
       "max_lag_bytes", "read_your_writes", "read_your_writes_window", "primary_discovery",
       // sharding (load_postgres_sharding.cpp)
       "shards", "sharding", "cross_shard"});
  if (!map.valid()) return;
  // A sharded database has a primary per shard instead (load_postgres_sharding.cpp).
  const bool sharded = map.find("shards") != nullptr;
  if (!sharded) readAddress(errors, map.require("primary"), &out->primary);
  out->dbname = out->name;
  const Field* dbname = map.find("dbname");
  if (readString(errors, dbname, &out->dbname) && out->dbname.empty())
    errors.add(dbname->mark(), dbname->path, "must not be empty");
  const Field* user = map.find("user");
  if (readString(errors, user, &out->user) && out->user.empty())
    errors.add(user->mark(), user->path, "must not be empty");
  const Field* password = map.find("password");
  readString(errors, password, &out->password);
  if (password != nullptr && user == nullptr)
    errors.add(password->mark(), password->path, "is the forced user's password; set user too");
  const Field* pool_size = map.find("pool_size");
  readUint32(errors, pool_size, 0, kMaxPoolSize, &out->pool_size);
  if (postgres.poolSize(*out) == 0) {
    const Field& at = pool_size != nullptr ? *pool_size : field;
    errors.add(at.mark(), at.path,
               "the pool has no servers (pool_size and postgres.default_pool_size are both 0)");
  }
  uint32_t reserve = 0;
  if (readUint32(errors, map.find("reserve_pool"), 0, kMaxPoolSize, &reserve))
    out->reserve_pool = reserve;
  readUint32(errors, map.find("max_db_connections"), 0, kMaxPoolSize, &out->max_db_connections);
  const Field* auth_user = map.find("auth_user");
  if (readString(errors, auth_user, &out->auth_user) && out->auth_user.empty())
    errors.add(auth_user->mark(), auth_user->path, "must not be empty");
  loadPostgresRouting(errors, map, sharded, &out->routing);
  loadPostgresSharding(errors, map, out);
}

void loadDatabases(ErrorSink& errors, const Field& field, PostgresConfig* out) {
  if (!field.value.IsMap()) {
    errors.add(field.mark(), field.path,
               "expected a map of database name to database, got " + describeNode(field.value));
    return;
  }
  if (field.value.size() == 0)
    errors.add(field.mark(), field.path, "must name at least one database");
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary proxy, so references would dangle.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar() || key.Scalar().empty()) {
      errors.add((key.IsNull() ? value : key).Mark(), field.path,
                 "database names must be non-empty words, got " + describeNode(key));
      continue;
    }
    const std::string& name = key.Scalar();
    Field database{key, value, field.path + "." + name, true};
    if (out->findDatabase(name) != nullptr) {
      errors.add(key.Mark(), database.path, "duplicate database " + detail::quoted(name));
      continue;
    }
    if (std::find(kAdminDatabases.begin(), kAdminDatabases.end(), name) != kAdminDatabases.end()) {
      errors.add(
          key.Mark(), database.path,
          "the name " + detail::quoted(name) + " is the admin console's (scalegate, pgbouncer)");
      continue;
    }
    PostgresDatabaseConfig config;
    config.name = name;
    loadDatabase(errors, database, *out, &config);
    out->databases.push_back(std::move(config));
  }
}

void readLimits(ErrorSink& errors, const MapReader& map, PostgresConfig* out) {
  readUint32(errors, map.find("max_client_conn"), 1, kMaxClientConnections, &out->max_client_conn);
  readUint32(errors, map.find("default_pool_size"), 0, kMaxPoolSize, &out->default_pool_size);
  readUint32(errors, map.find("min_pool_size"), 0, kMaxPoolSize, &out->min_pool_size);
  readUint32(errors, map.find("reserve_pool_size"), 0, kMaxPoolSize, &out->reserve_pool_size);
  readUint32(errors, map.find("max_prepared_statements"), 0, kMaxPreparedStatements,
             &out->max_prepared_statements);
  uint64_t packet_size = out->max_packet_size;
  if (readSize(errors, map.find("max_packet_size"), kMinPacketSize, kMaxPacketSize, &packet_size))
    out->max_packet_size = static_cast<uint32_t>(packet_size);
}

// Zero is allowed only where it has a meaning: "off" for the two idle timeouts, "at once" for
// reserve_pool_timeout and server_check_delay. Elsewhere a zero would fail or churn everything.
void readTimeouts(ErrorSink& errors, const MapReader& map, PostgresConfig* out) {
  readDuration(errors, map.find("reserve_pool_timeout"), &out->reserve_pool_timeout);
  readDuration(errors, map.find("server_idle_timeout"), &out->server_idle_timeout, false);
  readDuration(errors, map.find("server_lifetime"), &out->server_lifetime, false);
  readDuration(errors, map.find("server_connect_timeout"), &out->server_connect_timeout, false);
  readDuration(errors, map.find("server_check_delay"), &out->server_check_delay);
  readDuration(errors, map.find("query_wait_timeout"), &out->query_wait_timeout, false);
  readDuration(errors, map.find("idle_transaction_timeout"), &out->idle_transaction_timeout);
  readDuration(errors, map.find("client_idle_timeout"), &out->client_idle_timeout);
  readDuration(errors, map.find("client_login_timeout"), &out->client_login_timeout, false);
}

void readSocketOptions(ErrorSink& errors, const MapReader& map, PostgresConfig* out) {
  readDuration(errors, map.find("tcp_defer_accept"), &out->tcp_defer_accept);
  readBool(errors, map.find("tcp_keepalive"), &out->tcp_keepalive);
  readDuration(errors, map.find("tcp_keepidle"), &out->tcp_keepidle);
  readDuration(errors, map.find("tcp_keepintvl"), &out->tcp_keepintvl);
  readUint32(errors, map.find("tcp_keepcnt"), 0, kMaxKeepaliveProbes, &out->tcp_keepcnt);
}

}  // namespace

void loadPostgres(ErrorSink& errors, const Field& field, const std::string& config_file,
                  const Config& config, PostgresConfig* out) {
  MapReader map(errors, field,
                {"listeners",
                 "auth",
                 "pool_mode",
                 "max_client_conn",
                 "default_pool_size",
                 "min_pool_size",
                 "reserve_pool_size",
                 "reserve_pool_timeout",
                 "max_prepared_statements",
                 "admin_users",
                 "stats_users",
                 "server_idle_timeout",
                 "server_lifetime",
                 "server_connect_timeout",
                 "server_check_delay",
                 "server_check_query",
                 "server_reset_query",
                 "query_wait_timeout",
                 "idle_transaction_timeout",
                 "client_idle_timeout",
                 "client_login_timeout",
                 "max_packet_size",
                 "tcp_defer_accept",
                 "tcp_keepalive",
                 "tcp_keepidle",
                 "tcp_keepintvl",
                 "tcp_keepcnt",
                 "databases",
                 "client_tls",
                 "server_tls",
                 "lag_check_interval",
                 "health_check",
                 "read_only_functions"});
  if (!map.valid()) return;
  if (const Field* listeners = map.require("listeners"))
    loadListeners(errors, *listeners, config, &out->listeners);
  const Field* auth = map.require("auth");
  if (auth != nullptr) loadAuth(errors, *auth, config_file, out);
  readPoolMode(errors, map.find("pool_mode"), &out->pool_mode);
  readLimits(errors, map, out);
  readTimeouts(errors, map, out);
  readSocketOptions(errors, map, out);
  readNames(errors, map.find("admin_users"), &out->admin_users);
  readNames(errors, map.find("stats_users"), &out->stats_users);
  readDuration(errors, map.find("lag_check_interval"), &out->lag_check_interval, false);
  if (const Field* check = map.find("health_check")) loadPostgresHealthCheck(errors, *check, out);
  readNames(errors, map.find("read_only_functions"), &out->read_only_functions);
  readString(errors, map.find("server_check_query"), &out->server_check_query);
  readString(errors, map.find("server_reset_query"), &out->server_reset_query);
  if (const Field* tls = map.find("client_tls"))
    loadPostgresClientTls(errors, *tls, config_file, &out->client_tls);
  if (const Field* tls = map.find("server_tls"))
    loadPostgresServerTls(errors, *tls, config_file, &out->server_tls);
  // After default_pool_size: a database's pool size falls back to it.
  if (const Field* databases = map.require("databases")) loadDatabases(errors, *databases, out);
  if (auth != nullptr && auth->value.IsMap()) checkAuthSources(errors, *auth, out);
}

}  // namespace sg::config::detail
