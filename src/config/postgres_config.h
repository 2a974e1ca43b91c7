#pragma once
// The PostgreSQL listener (top-level key `postgres`): a pooling proxy in PgBouncer's terms.
// Key names follow PgBouncer's where PgBouncer has one.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.h"
#include "net/tls.h"
#include "pg/shard/shard_function.h"

namespace sg::config {

struct PostgresListenerConfig {
  std::string name;
  net::Address address;
};

// Read/write splitting of one database: plain reads go to its replicas while their lag allows.
struct PostgresRoutingConfig {
  enum class Balance { kLeastRequest, kRoundRobin, kRandom };
  // Reads when no replica is usable (fallback), always as one more candidate (include), or
  // never (exclude: the read fails instead).
  enum class PrimaryReads { kFallback, kInclude, kExclude };
  // lsn: a client's reads after its write go only to replicas that replayed the write's commit
  // position; window: to the primary for read_your_writes_window; off: anywhere.
  enum class ReadYourWrites { kLsn, kWindow, kOff };

  std::vector<net::Address> replicas;
  bool read_write_split = false;  // true by default once replicas are listed
  Balance replica_balance = Balance::kLeastRequest;
  PrimaryReads primary_reads = PrimaryReads::kFallback;
  std::chrono::milliseconds max_lag{10000};  // replay delay that bans a replica; 0 = no limit
  uint64_t max_lag_bytes = 0;                // WAL bytes behind that ban a replica; 0 = no limit
  ReadYourWrites read_your_writes = ReadYourWrites::kLsn;
  std::chrono::milliseconds read_your_writes_window{2000};
  // Follow a promoted replica: the primary is whichever server says it is not in recovery.
  bool primary_discovery = false;

  bool splits() const { return read_write_split && !replicas.empty(); }
};

// One of a sharded database's `shards`: a small database of its own. Its routing is the
// database's read/write splitting keys with this shard's replicas.
struct PostgresShardConfig {
  net::Address primary;
  std::string dbname;  // default: the database's dbname
  PostgresRoutingConfig routing;
};

// A database split over several servers (or databases of one server) by a sharding key
// (load_postgres_sharding.cpp). Not sharded when `shards` is empty.
struct PostgresShardingConfig {
  // A statement without a key (or with keys on several shards): refused (deny); run on every
  // shard when its results can be merged, refused otherwise (allow); run on every shard and
  // the rows concatenated whatever the statement (allow_unordered).
  enum class CrossShard { kDeny, kAllow, kAllowUnordered };

  std::vector<PostgresShardConfig> shards;  // shard N: what the function names N
  std::vector<std::string> key;             // the key's column names, in key order
  // `sharding.tables`: the sharded tables' names (unqualified). Every other table is a
  // reference table with a copy on every shard. Empty (the key absent): every table is sharded.
  std::vector<std::string> tables;
  pg::shard::ShardingSpec spec;
  // Made when the file is loaded; null when not sharded. Immutable: shared across workers.
  std::shared_ptr<const pg::shard::ShardFunction> function;
  CrossShard cross_shard = CrossShard::kAllow;

  bool enabled() const { return !shards.empty(); }
};

// One entry of `postgres.databases`: the name clients connect to, and the server it maps to.
struct PostgresDatabaseConfig {
  std::string name;        // the key: what clients put in `database`
  net::Address primary;    // host:port of the server (unset for a sharded database)
  std::string dbname;      // the server's database (default: name)
  std::string user;        // forced server user (empty: the client's user)
  std::string password;    // password for the forced user (empty: from the auth file)
  uint32_t pool_size = 0;  // 0: postgres.default_pool_size
  // Extra servers for clients that waited reserve_pool_timeout (unset: reserve_pool_size).
  std::optional<uint32_t> reserve_pool;
  uint32_t max_db_connections = 0;  // 0: unlimited (across the database's pools)
  std::string auth_user;            // this database's auth_user (empty: postgres.auth.auth_user)
  PostgresRoutingConfig routing;
  PostgresShardingConfig sharding;
};

// client_tls / server_tls. The modes are PgBouncer's client_tls_sslmode / server_tls_sslmode.
enum class PostgresTlsMode { kDisable, kAllow, kPrefer, kRequire, kVerifyCa, kVerifyFull };

struct PostgresTlsConfig {
  PostgresTlsMode mode = PostgresTlsMode::kDisable;
  std::string cert;  // paths resolved against the config file's directory
  std::string key;
  std::string ca;
  // Made when the file is loaded (so RELOAD picks up new certificates for new connections);
  // null when mode is disable.
  std::shared_ptr<const net::TlsContext> context;

  bool required() const { return mode >= PostgresTlsMode::kRequire; }
};

struct PostgresConfig {
  enum class AuthType { kScramSha256, kMd5, kTrust };
  enum class PoolMode { kSession, kTransaction, kStatement };

  std::vector<PostgresListenerConfig> listeners;
  AuthType auth_type = AuthType::kScramSha256;
  std::string users_file;  // PgBouncer's userlist.txt format: "user" "password-or-secret"
  // Users not in users_file: their secret is what auth_query returns for $1 = the user name,
  // run as auth_user through a pooled server of the client's database (or auth_dbname).
  std::string auth_user;
  std::string auth_query = "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename=$1";
  std::string auth_dbname;  // empty: the client's database
  PoolMode pool_mode = PoolMode::kTransaction;
  uint32_t max_client_conn = 100;
  uint32_t default_pool_size = 20;
  uint32_t min_pool_size = 0;
  uint32_t reserve_pool_size = 0;  // default reserve_pool of every database
  std::chrono::milliseconds reserve_pool_timeout{5000};
  uint32_t max_prepared_statements = 200;  // per server connection; 0 = no renaming
  std::vector<std::string> admin_users;    // may run every admin console command
  std::vector<std::string> stats_users;    // may run SHOW only
  std::chrono::milliseconds server_idle_timeout{600000};
  std::chrono::milliseconds server_lifetime{3600000};
  std::chrono::milliseconds server_connect_timeout{15000};
  std::chrono::milliseconds server_check_delay{30000};
  std::string server_check_query = "select 1";     // empty: the empty query
  std::string server_reset_query = "DISCARD ALL";  // session mode, when a client leaves
  std::chrono::milliseconds query_wait_timeout{120000};
  std::chrono::milliseconds idle_transaction_timeout{0};  // 0 = off
  std::chrono::milliseconds client_idle_timeout{0};       // 0 = off
  std::chrono::milliseconds client_login_timeout{60000};
  uint32_t max_packet_size = 256 * 1024 * 1024;  // largest frontend message accepted
  // PgBouncer's socket settings. tcp_defer_accept: a listener wakes for a connection only
  // once its first packet is in (0 = off). tcp_keepidle/tcp_keepintvl/tcp_keepcnt: zero
  // keeps the system's value.
  std::chrono::milliseconds tcp_defer_accept{45000};
  bool tcp_keepalive = true;
  std::chrono::milliseconds tcp_keepidle{0};
  std::chrono::milliseconds tcp_keepintvl{0};
  uint32_t tcp_keepcnt = 0;
  std::vector<PostgresDatabaseConfig> databases;  // in file order
  // Replica lag is read this often (primary's WAL position against each replica's replay).
  std::chrono::milliseconds lag_check_interval{1000};
  // The servers of split databases are probed every lag_check_interval; a server is down after
  // `fall` failed probes in a row and up again after `rise` good ones (the HTTP checks' rule).
  uint32_t health_check_rise = 2;
  uint32_t health_check_fall = 3;
  // Functions a statement may call and still go to a replica, beside the built-in list.
  std::vector<std::string> read_only_functions;
  PostgresTlsConfig client_tls;  // clients of the listener (the proxy is the TLS server)
  PostgresTlsConfig server_tls;  // the proxy's connections to servers

  const PostgresDatabaseConfig* findDatabase(const std::string& name) const {
    for (const auto& database : databases) {
      if (database.name == name) return &database;
    }
    return nullptr;
  }
  uint32_t poolSize(const PostgresDatabaseConfig& database) const {
    return database.pool_size > 0 ? database.pool_size : default_pool_size;
  }
  // Who runs auth_query for clients of `database` (empty: nobody; unknown users are refused).
  const std::string& authUser(const PostgresDatabaseConfig& database) const {
    return database.auth_user.empty() ? auth_user : database.auth_user;
  }
  uint32_t reservePool(const PostgresDatabaseConfig& database) const {
    return database.reserve_pool ? *database.reserve_pool : reserve_pool_size;
  }
};

// PgBouncer's spellings ("verify-full", "transaction"); parse* is false for an unknown name.
std::string_view tlsModeName(PostgresTlsMode mode);
bool parseTlsMode(std::string_view name, PostgresTlsMode* out);
std::string_view poolModeName(PostgresConfig::PoolMode mode);
bool parsePoolMode(std::string_view name, PostgresConfig::PoolMode* out);
std::string_view balanceName(PostgresRoutingConfig::Balance balance);
bool parseBalance(std::string_view name, PostgresRoutingConfig::Balance* out);
std::string_view primaryReadsName(PostgresRoutingConfig::PrimaryReads reads);
bool parsePrimaryReads(std::string_view name, PostgresRoutingConfig::PrimaryReads* out);
std::string_view readYourWritesName(PostgresRoutingConfig::ReadYourWrites mode);
bool parseReadYourWrites(std::string_view name, PostgresRoutingConfig::ReadYourWrites* out);
std::string_view crossShardName(PostgresShardingConfig::CrossShard mode);
bool parseCrossShard(std::string_view name, PostgresShardingConfig::CrossShard* out);

}  // namespace sg::config
