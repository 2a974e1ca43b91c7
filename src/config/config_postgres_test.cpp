// The top-level `postgres` section (the PostgreSQL pooling proxy): typed values, defaults,
// every refusal with its position, files without an HTTP side, and users_file resolution.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::BadCase;
using testutil::describe;
using testutil::edit;
using testutil::expectOneError;
using testutil::kMinimal;
using testutil::load;
using testutil::loadValid;
using AuthType = PostgresConfig::AuthType;
using PoolMode = PostgresConfig::PoolMode;
using std::chrono::milliseconds;

// The example of the issue that specifies the listener, with an admin address.
constexpr const char* kIssueExample = R"(postgres:
  listeners:
    - { name: main, address: 127.0.0.1:6432 }
  auth:
    type: scram-sha-256          # scram-sha-256 | md5 | trust
    users_file: users.txt        # PgBouncer's userlist.txt format
  pool_mode: transaction         # session | transaction | statement
  max_client_conn: 10000
  default_pool_size: 20
  max_prepared_statements: 200
  admin_users: [admin]
  server_idle_timeout: 10m
  server_lifetime: 1h
  query_wait_timeout: 2m
  idle_transaction_timeout: 0
  databases:
    app: { primary: 127.0.0.1:5432, dbname: app, user: app, pool_size: 40, reserve_pool: 5 }
admin:
  address: 127.0.0.1:9901
)";

// The smallest postgres-only file. Positions used by the cases below (1-based line:column):
//   2:3 postgres map, 3:7 listener map, 3:15 name value, 3:30 address value, 5:5 auth map,
//   5:11 type value, 7:3 "databases" key, 8:5 "app" key, 8:10 app map, 10:12 admin address.
constexpr const char* kBase = R"(postgres:
  listeners:
    - { name: main, address: 127.0.0.1:6432 }
  auth:
    type: md5
    users_file: users.txt
  databases:
    app: { primary: 127.0.0.1:5432 }
admin:
  address: 127.0.0.1:9901
)";

std::string base(std::string_view from, std::string_view to) { return edit(from, to, kBase); }

// kBase with `text` (one or more "  key: value" lines) added to the postgres map at line 7.
std::string withKeys(const std::string& text) {
  return base("  databases:\n", text + "  databases:\n");
}

TEST(PostgresConfig, AbsentByDefault) { EXPECT_FALSE(loadValid(kMinimal)->postgres.has_value()); }

TEST(PostgresConfig, IssueExample) {
  const auto config = loadValid(kIssueExample);
  ASSERT_NE(config, nullptr);
  ASSERT_TRUE(config->postgres.has_value());
  const PostgresConfig& pg = *config->postgres;
  ASSERT_EQ(pg.listeners.size(), 1u);
  EXPECT_EQ(pg.listeners[0].name, "main");
  EXPECT_EQ(pg.listeners[0].address.toString(), "127.0.0.1:6432");
  EXPECT_EQ(pg.auth_type, AuthType::kScramSha256);
  EXPECT_EQ(pg.users_file, "users.txt");  // test.yaml is in the working directory
  EXPECT_EQ(pg.pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(pg.max_client_conn, 10000u);
  EXPECT_EQ(pg.default_pool_size, 20u);
  EXPECT_EQ(pg.max_prepared_statements, 200u);
  EXPECT_EQ(pg.admin_users, std::vector<std::string>{"admin"});
  EXPECT_EQ(pg.server_idle_timeout, std::chrono::minutes(10));
  EXPECT_EQ(pg.server_lifetime, std::chrono::hours(1));
  EXPECT_EQ(pg.query_wait_timeout, std::chrono::minutes(2));
  EXPECT_EQ(pg.idle_transaction_timeout, milliseconds(0));
  ASSERT_EQ(pg.databases.size(), 1u);
  const PostgresDatabaseConfig& app = pg.databases[0];
  EXPECT_EQ(app.name, "app");
  EXPECT_EQ(app.primary.toString(), "127.0.0.1:5432");
  EXPECT_EQ(app.dbname, "app");
  EXPECT_EQ(app.user, "app");
  EXPECT_EQ(pg.poolSize(app), 40u);
  EXPECT_EQ(pg.reservePool(app), 5u);
  EXPECT_EQ(pg.findDatabase("app"), &app);
  EXPECT_EQ(pg.findDatabase("other"), nullptr);
  // No HTTP side at all.
  EXPECT_TRUE(config->listeners.empty());
  EXPECT_TRUE(config->upstreams.empty());
  EXPECT_EQ(config->admin.address->toString(), "127.0.0.1:9901");
}

TEST(PostgresConfig, BesideHttpListeners) {
  const auto config = loadValid(std::string(kMinimal) + kIssueExample);
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners.size(), 1u);
  ASSERT_TRUE(config->postgres.has_value());
  EXPECT_EQ(config->postgres->listeners[0].address.toString(), "127.0.0.1:6432");
}

TEST(PostgresConfig, Defaults) {
  const auto config =
      loadValid(base("    type: md5\n    users_file: users.txt\n", "    type: trust\n"));
  ASSERT_NE(config, nullptr);
  const PostgresConfig& pg = *config->postgres;
  const PostgresConfig defaults;
  EXPECT_EQ(pg.auth_type, AuthType::kTrust);
  EXPECT_TRUE(pg.users_file.empty());
  EXPECT_TRUE(pg.auth_user.empty());
  EXPECT_EQ(pg.auth_query, defaults.auth_query);
  EXPECT_EQ(pg.pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(pg.max_client_conn, 100u);
  EXPECT_EQ(pg.default_pool_size, 20u);
  EXPECT_EQ(pg.min_pool_size, 0u);
  EXPECT_EQ(pg.reserve_pool_size, 0u);
  EXPECT_EQ(pg.reserve_pool_timeout, std::chrono::seconds(5));
  EXPECT_EQ(pg.max_prepared_statements, 200u);
  EXPECT_TRUE(pg.admin_users.empty());
  EXPECT_TRUE(pg.stats_users.empty());
  EXPECT_EQ(pg.server_idle_timeout, std::chrono::minutes(10));
  EXPECT_EQ(pg.server_lifetime, std::chrono::hours(1));
  EXPECT_EQ(pg.server_connect_timeout, std::chrono::seconds(15));
  EXPECT_EQ(pg.server_check_delay, std::chrono::seconds(30));
  EXPECT_EQ(pg.server_check_query, "select 1");
  EXPECT_EQ(pg.server_reset_query, "DISCARD ALL");
  EXPECT_EQ(pg.query_wait_timeout, std::chrono::minutes(2));
  EXPECT_EQ(pg.idle_transaction_timeout, milliseconds(0));
  EXPECT_EQ(pg.client_idle_timeout, milliseconds(0));
  EXPECT_EQ(pg.client_login_timeout, std::chrono::minutes(1));
  EXPECT_EQ(pg.max_packet_size, 256u * 1024 * 1024);
  EXPECT_EQ(pg.tcp_defer_accept, std::chrono::seconds(45));  // PgBouncer's on Linux
  EXPECT_TRUE(pg.tcp_keepalive);
  EXPECT_EQ(pg.tcp_keepidle, milliseconds(0));
  EXPECT_EQ(pg.tcp_keepintvl, milliseconds(0));
  EXPECT_EQ(pg.tcp_keepcnt, 0u);
  const PostgresDatabaseConfig& app = pg.databases.at(0);
  EXPECT_EQ(app.dbname, "app");  // the key when dbname is left out
  EXPECT_TRUE(app.user.empty());
  EXPECT_TRUE(app.password.empty());
  EXPECT_EQ(app.pool_size, 0u);
  EXPECT_EQ(pg.poolSize(app), 20u);
  EXPECT_FALSE(app.reserve_pool.has_value());
  EXPECT_EQ(app.max_db_connections, 0u);
}

TEST(PostgresConfig, EveryKey) {
  const auto config = loadValid(R"(postgres:
  listeners:
    - { name: a, address: 127.0.0.1:6432 }
    - { name: b, address: "[::1]:6433" }
  auth: { type: md5, users_file: /etc/pg/users.txt }
  pool_mode: session
  max_client_conn: 5000
  default_pool_size: 0
  min_pool_size: 2
  reserve_pool_size: 3
  reserve_pool_timeout: 0
  max_prepared_statements: 0
  admin_users: [root, ops]
  stats_users: [grafana]
  server_idle_timeout: 30s
  server_lifetime: 2h
  server_connect_timeout: 3s
  server_check_delay: 0
  server_check_query: ""
  server_reset_query: RESET ALL
  query_wait_timeout: 5s
  idle_transaction_timeout: 1m
  client_idle_timeout: 1h
  client_login_timeout: 10s
  max_packet_size: 16MiB
  tcp_defer_accept: 0
  tcp_keepalive: false
  tcp_keepidle: 2m
  tcp_keepintvl: 10s
  tcp_keepcnt: 5
  databases:
    app:
      primary: 10.0.0.5:5433
      dbname: app_prod
      user: app
      password: s3cret
      pool_size: 8
      reserve_pool: 0
      max_db_connections: 30
    reports: { primary: "[::1]:5432", pool_size: 2 }
)");
  ASSERT_NE(config, nullptr);
  const PostgresConfig& pg = *config->postgres;
  ASSERT_EQ(pg.listeners.size(), 2u);
  EXPECT_EQ(pg.listeners[1].name, "b");
  EXPECT_EQ(pg.listeners[1].address.toString(), "[::1]:6433");
  EXPECT_EQ(pg.auth_type, AuthType::kMd5);
  EXPECT_EQ(pg.users_file, "/etc/pg/users.txt");
  EXPECT_TRUE(pg.auth_user.empty());
  EXPECT_EQ(pg.pool_mode, PoolMode::kSession);
  EXPECT_EQ(pg.max_client_conn, 5000u);
  EXPECT_EQ(pg.default_pool_size, 0u);
  EXPECT_EQ(pg.min_pool_size, 2u);
  EXPECT_EQ(pg.reserve_pool_size, 3u);
  EXPECT_EQ(pg.reserve_pool_timeout, milliseconds(0));
  EXPECT_EQ(pg.max_prepared_statements, 0u);
  EXPECT_EQ(pg.admin_users, (std::vector<std::string>{"root", "ops"}));
  EXPECT_EQ(pg.stats_users, std::vector<std::string>{"grafana"});
  EXPECT_EQ(pg.server_idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(pg.server_lifetime, std::chrono::hours(2));
  EXPECT_EQ(pg.server_connect_timeout, std::chrono::seconds(3));
  EXPECT_EQ(pg.server_check_delay, milliseconds(0));
  EXPECT_EQ(pg.server_check_query, "");
  EXPECT_EQ(pg.server_reset_query, "RESET ALL");
  EXPECT_EQ(pg.query_wait_timeout, std::chrono::seconds(5));
  EXPECT_EQ(pg.idle_transaction_timeout, std::chrono::minutes(1));
  EXPECT_EQ(pg.client_idle_timeout, std::chrono::hours(1));
  EXPECT_EQ(pg.client_login_timeout, std::chrono::seconds(10));
  EXPECT_EQ(pg.max_packet_size, 16u * 1024 * 1024);
  EXPECT_EQ(pg.tcp_defer_accept, milliseconds(0));
  EXPECT_FALSE(pg.tcp_keepalive);
  EXPECT_EQ(pg.tcp_keepidle, std::chrono::minutes(2));
  EXPECT_EQ(pg.tcp_keepintvl, std::chrono::seconds(10));
  EXPECT_EQ(pg.tcp_keepcnt, 5u);
  ASSERT_EQ(pg.databases.size(), 2u);
  const PostgresDatabaseConfig& app = pg.databases[0];
  EXPECT_EQ(app.primary.toString(), "10.0.0.5:5433");
  EXPECT_EQ(app.dbname, "app_prod");
  EXPECT_EQ(app.user, "app");
  EXPECT_EQ(app.password, "s3cret");
  EXPECT_EQ(pg.poolSize(app), 8u);
  EXPECT_EQ(pg.reservePool(app), 0u);  // set to 0, not the reserve_pool_size of 3
  EXPECT_EQ(app.max_db_connections, 30u);
  EXPECT_EQ(pg.databases[1].name, "reports");
  EXPECT_EQ(pg.reservePool(pg.databases[1]), 3u);
}

TEST(PostgresConfig, PortZeroListenersDoNotConflict) {
  const auto config = loadValid(
      base("    - { name: main, address: 127.0.0.1:6432 }\n",
           "    - { name: a, address: 127.0.0.1:0 }\n    - { name: b, address: 127.0.0.1:0 }\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->postgres->listeners.size(), 2u);
}

TEST(PostgresConfig, PostgresAndAdminOnly) {
  const auto config = loadValid(kBase);
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->listeners.empty());
  EXPECT_TRUE(config->upstreams.empty());
  EXPECT_TRUE(config->postgres.has_value());
}

// A pooler-only process sleeps longer before each poll under load (fewer wake-ups per
// transaction); one with HTTP listeners keeps the HTTP default; a value given is kept.
TEST(PostgresConfig, EventCoalescingDefaultsForAPoolerOnlyProcess) {
  const auto pooler_only = loadValid(kBase);
  ASSERT_NE(pooler_only, nullptr);
  EXPECT_EQ(pooler_only->event_coalescing_us, 150u);
  const auto given = loadValid("event_coalescing_us: 40\n" + std::string(kBase));
  ASSERT_NE(given, nullptr);
  EXPECT_EQ(given->event_coalescing_us, 40u);
  const auto with_http = loadValid(std::string(kMinimal) + kIssueExample);
  ASSERT_NE(with_http, nullptr);
  EXPECT_EQ(with_http->event_coalescing_us, 50u);
}

// auth_user without users_file: unknown users are looked up with auth_query.
TEST(PostgresConfig, AuthQueryKeys) {
  const auto config = loadValid(base("    users_file: users.txt\n",
                                     "    auth_user: pgbouncer\n"
                                     "    auth_query: SELECT usename, passwd FROM "
                                     "pgbouncer.get_auth($1)\n"
                                     "    auth_dbname: app\n"));
  ASSERT_NE(config, nullptr);
  const PostgresConfig& pg = *config->postgres;
  EXPECT_TRUE(pg.users_file.empty());
  EXPECT_EQ(pg.auth_user, "pgbouncer");
  EXPECT_EQ(pg.auth_query, "SELECT usename, passwd FROM pgbouncer.get_auth($1)");
  EXPECT_EQ(pg.auth_dbname, "app");
  EXPECT_EQ(pg.authUser(pg.databases[0]), "pgbouncer");
}

// A database's own auth_user wins over the section's, and is enough without users_file.
TEST(PostgresConfig, DatabaseAuthUser) {
  const auto config = loadValid(
      edit("    users_file: users.txt\n", "",
           base("primary: 127.0.0.1:5432", "primary: 127.0.0.1:5432, auth_user: app_auth")));
  ASSERT_NE(config, nullptr);
  const PostgresConfig& pg = *config->postgres;
  EXPECT_TRUE(pg.auth_user.empty());
  EXPECT_EQ(pg.databases[0].auth_user, "app_auth");
  EXPECT_EQ(pg.authUser(pg.databases[0]), "app_auth");
  EXPECT_EQ(pg.auth_query, PostgresConfig().auth_query);
}

// users_file is relative to the configuration file's directory.
TEST(PostgresConfig, UsersFileRelativeToTheConfigFile) {
  auto usersFile = [](const std::string& config_file, const std::string& users_file) {
    LoadResult result =
        loadConfigString(base("users_file: users.txt", "users_file: " + users_file), config_file);
    EXPECT_TRUE(result.errors.empty()) << describe(result.errors);
    return result.config ? result.config->postgres->users_file : std::string("<errors>");
  };
  EXPECT_EQ(usersFile("/etc/scalegate/gw.yaml", "users.txt"), "/etc/scalegate/users.txt");
  EXPECT_EQ(usersFile("/etc/scalegate/gw.yaml", "pg/users.txt"), "/etc/scalegate/pg/users.txt");
  EXPECT_EQ(usersFile("/etc/scalegate/gw.yaml", "../pg/users.txt"), "/etc/pg/users.txt");
  EXPECT_EQ(usersFile("/etc/scalegate/gw.yaml", "/srv/users.txt"), "/srv/users.txt");
  EXPECT_EQ(usersFile("conf/gw.yaml", "users.txt"), "conf/users.txt");
  EXPECT_EQ(usersFile("gw.yaml", "users.txt"), "users.txt");
}

TEST(PostgresConfig, UsersFileResolvedWhenLoadingAFile) {
  char dir_template[] = "/tmp/sg-config-pg-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir(dir_template);
  const std::filesystem::path file = dir / "gw.yaml";
  std::ofstream(file) << kBase;
  LoadResult result = loadConfigFile(file.string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_EQ(result.config->postgres->users_file, (dir / "users.txt").string());
}

// The listener's address against every other listening address in the file.
std::vector<BadCase> listenerCases() {
  return {
      {"MissingListeners",
       base("  listeners:\n    - { name: main, address: 127.0.0.1:6432 }\n", ""), 2, 3,
       "postgres: missing required key 'listeners'"},
      {"EmptyListeners",
       base("  listeners:\n    - { name: main, address: 127.0.0.1:6432 }\n", "  listeners: []\n"),
       2, 14, "postgres.listeners: must list at least one listener"},
      {"ListenersNotAList",
       base("    - { name: main, address: 127.0.0.1:6432 }\n", "    main: 1\n"), 3, 5,
       "postgres.listeners: expected a list, got a map"},
      {"BadAddress", base("127.0.0.1:6432", "nowhere"), 3, 30,
       "postgres.listeners[0].address: invalid address 'nowhere'"},
      {"MissingAddress", base(", address: 127.0.0.1:6432", ""), 3, 7,
       "postgres.listeners[0]: missing required key 'address'"},
      {"UnknownListenerKey", base("name: main,", "name: main, port: 1,"), 3, 21,
       "postgres.listeners[0].port: unknown key 'port' (valid keys: name, address)"},
      {"EmptyName", base("name: main", "name: ''"), 3, 15,
       "postgres.listeners[0].name: must not be empty"},
      {"DuplicateName",
       base("    - { name: main, address: 127.0.0.1:6432 }\n",
            "    - { name: main, address: 127.0.0.1:6432 }\n"
            "    - { name: main, address: 127.0.0.1:6433 }\n"),
       4, 15,
       "postgres.listeners[1].name: duplicate listener name 'main' (also postgres.listeners[0])"},
      {"ConflictsWithPostgresListener",
       base("    - { name: main, address: 127.0.0.1:6432 }\n",
            "    - { name: main, address: 127.0.0.1:6432 }\n"
            "    - { name: other, address: 0.0.0.0:6432 }\n"),
       4, 31,
       "postgres.listeners[1].address: address 0.0.0.0:6432 conflicts with postgres.listeners[0] "
       "(127.0.0.1:6432)"},
      {"ConflictsWithAdmin", base("127.0.0.1:6432", "127.0.0.1:9901"), 3, 30,
       "postgres.listeners[0].address: address 127.0.0.1:9901 conflicts with admin.address "
       "(127.0.0.1:9901)"},
      // kMinimal's listener is on 127.0.0.1:8080; the postgres section starts at line 10.
      {"ConflictsWithHttpListener",
       std::string(kMinimal) + base("127.0.0.1:6432", "127.0.0.1:8080"), 12, 30,
       "postgres.listeners[0].address: address 127.0.0.1:8080 conflicts with listeners[0] "
       "(127.0.0.1:8080)"},
  };
}

std::vector<BadCase> authCases() {
  return {
      {"MissingAuth", base("  auth:\n    type: md5\n    users_file: users.txt\n", ""), 2, 3,
       "postgres: missing required key 'auth'"},
      {"Md5WithoutUsers", base("    users_file: users.txt\n", ""), 5, 5,
       "postgres.auth: password authentication needs users_file or auth_user (or type: trust)"},
      {"ScramWithoutUsers",
       base("    type: md5\n    users_file: users.txt\n", "    type: scram-sha-256\n"), 5, 5,
       "postgres.auth: password authentication needs users_file or auth_user (or type: trust)"},
      {"EmptyAuthUser",
       base("    users_file: users.txt\n", "    users_file: users.txt\n    auth_user: ''\n"), 7, 16,
       "postgres.auth.auth_user: must not be empty"},
      {"AuthQueryWithoutParameter",
       base("    users_file: users.txt\n",
            "    auth_user: pgb\n    auth_query: SELECT usename, passwd FROM pg_shadow\n"),
       7, 17, "postgres.auth.auth_query: must use $1 for the user name"},
      {"AuthDbnameUnknown",
       base("    users_file: users.txt\n", "    auth_user: pgb\n    auth_dbname: nope\n"), 7, 18,
       "postgres.auth.auth_dbname: names no database in postgres.databases: 'nope'"},
      {"EmptyDatabaseAuthUser",
       base("primary: 127.0.0.1:5432", "primary: 127.0.0.1:5432, auth_user: ''"), 8, 48,
       "postgres.databases.app.auth_user: must not be empty"},
      {"UnknownAuthType", base("type: md5", "type: password"), 5, 11,
       "postgres.auth.type: unknown type 'password' (one of: scram-sha-256, md5, trust)"},
      {"EmptyUsersFile", base("users_file: users.txt", "users_file: ''"), 6, 17,
       "postgres.auth.users_file: the file path is empty"},
      {"UnknownAuthKey",
       base("    users_file: users.txt\n", "    users_file: users.txt\n    hba_file: x\n"), 7, 5,
       "postgres.auth.hba_file: unknown key 'hba_file'"},
      {"AuthIsScalar", base("  auth:\n    type: md5\n    users_file: users.txt\n", "  auth: md5\n"),
       4, 9, "postgres.auth: expected a map, got 'md5'"},
  };
}

std::vector<BadCase> databaseCases() {
  return {
      {"MissingDatabases", base("  databases:\n    app: { primary: 127.0.0.1:5432 }\n", ""), 2, 3,
       "postgres: missing required key 'databases'"},
      {"EmptyDatabases",
       base("  databases:\n    app: { primary: 127.0.0.1:5432 }\n", "  databases: {}\n"), 7, 14,
       "postgres.databases: must name at least one database"},
      {"DatabasesIsList", base("    app: { primary: 127.0.0.1:5432 }\n", "    - app\n"), 8, 5,
       "postgres.databases: expected a map of database name to database, got a list"},
      {"DatabaseWithoutPrimary", base("{ primary: 127.0.0.1:5432 }", "{ dbname: x }"), 8, 10,
       "postgres.databases.app: missing required key 'primary'"},
      {"BadPrimary", base("primary: 127.0.0.1:5432", "primary: db"), 8, 21,
       "postgres.databases.app.primary: invalid address 'db'"},
      {"PoolSizeZeroWithDefaultZero",
       edit("primary: 127.0.0.1:5432", "primary: 127.0.0.1:5432, pool_size: 0",
            withKeys("  default_pool_size: 0\n")),
       9, 48,
       "postgres.databases.app.pool_size: the pool has no servers (pool_size and "
       "postgres.default_pool_size are both 0)"},
      {"DefaultPoolSizeZeroAlone", withKeys("  default_pool_size: 0\n"), 9, 10,
       "postgres.databases.app: the pool has no servers"},
      {"UnknownDatabaseKey",
       base("primary: 127.0.0.1:5432", "primary: 127.0.0.1:5432, standbys: []"), 8, 37,
       "postgres.databases.app.standbys: unknown key 'standbys'"},
      {"PasswordWithoutUser",
       base("primary: 127.0.0.1:5432", "primary: 127.0.0.1:5432, password: x"), 8, 47,
       "postgres.databases.app.password: is the forced user's password; set user too"},
      {"AdminConsoleName", base("    app:", "    pgbouncer:"), 8, 5,
       "postgres.databases.pgbouncer: the name 'pgbouncer' is the admin console's"},
      {"DuplicateDatabase",
       base("    app: { primary: 127.0.0.1:5432 }\n",
            "    app: { primary: 127.0.0.1:5432 }\n    app: { primary: 127.0.0.1:5433 }\n"),
       9, 5, "postgres.databases.app: duplicate database 'app'"},
  };
}

// The section's own keys: unknown, mistyped, out of range, refused.
std::vector<BadCase> keyCases() {
  return {
      {"UnknownKey", withKeys("  pool_size: 4\n"), 7, 3,
       "postgres.pool_size: unknown key 'pool_size'"},
      {"MaxClientConnZero", withKeys("  max_client_conn: 0\n"), 7, 20,
       "postgres.max_client_conn: expected an integer from 1 to 1000000, got '0'"},
      {"MaxClientConnNotANumber", withKeys("  max_client_conn: lots\n"), 7, 20,
       "postgres.max_client_conn: expected an integer from 1 to 1000000, got 'lots'"},
      {"PoolSizeIsList", withKeys("  default_pool_size: [1]\n"), 7, 22,
       "postgres.default_pool_size: expected an integer from 0 to 10000, got a list"},
      {"BadPoolMode", withKeys("  pool_mode: pooled\n"), 7, 14,
       "postgres.pool_mode: unknown pool_mode 'pooled' (one of: session, transaction, statement)"},
      {"BadDuration", withKeys("  server_idle_timeout: 10 minutes\n"), 7, 24,
       "postgres.server_idle_timeout: invalid duration '10 minutes'"},
      {"ZeroConnectTimeout", withKeys("  server_connect_timeout: 0\n"), 7, 27,
       "postgres.server_connect_timeout: must be greater than zero"},
      {"PacketSizeTooSmall", withKeys("  max_packet_size: 1KiB\n"), 7, 20,
       "postgres.max_packet_size: size '1KiB' must be between 16KiB and"},
      {"KeepaliveNotABool", withKeys("  tcp_keepalive: sometimes\n"), 7, 18,
       "postgres.tcp_keepalive: expected true or false"},
      {"TooManyKeepaliveProbes", withKeys("  tcp_keepcnt: 500\n"), 7, 16,
       "postgres.tcp_keepcnt: expected an integer from 0 to 127, got '500'"},
      {"BadDeferAccept", withKeys("  tcp_defer_accept: soon\n"), 7, 21,
       "postgres.tcp_defer_accept: invalid duration 'soon'"},
      {"AdminUsersNotAList", withKeys("  admin_users: admin\n"), 7, 16,
       "postgres.admin_users: expected a list, got 'admin'"},
      {"EmptyStatsUser", withKeys("  stats_users: [grafana, '']\n"), 7, 26,
       "postgres.stats_users[1]: must not be empty"},
      {"ClientTlsBadMode", withKeys("  client_tls: { cert: a.pem, key: a.key, mode: always }\n"), 7,
       48,
       "postgres.client_tls.mode: unknown mode 'always' (one of: disable, allow, prefer, require, "
       "verify-ca, verify-full)"},
      {"ServerTlsBadMode", withKeys("  server_tls: required\n"), 7, 15,
       "postgres.server_tls: unknown mode 'required'"},
      {"ServerTlsMissingCa", withKeys("  server_tls: { mode: require, ca: missing-ca.pem }\n"), 7,
       36, "postgres.server_tls.ca: cannot read 'missing-ca.pem': No such file or directory"},
      {"ServerTlsMapWithoutMode", withKeys("  server_tls: { ca: ca.pem }\n"), 7, 15,
       "postgres.server_tls: missing required key 'mode'"},
      {"PostgresIsScalar", "postgres: yes\n", 1, 11, "postgres: expected a map, got 'yes'"},
  };
}

// What the top level requires with and without a postgres section.
std::vector<BadCase> topLevelCases() {
  return {
      {"NeitherHttpNorPostgres", "upstreams: {}\nadmin:\n  address: 127.0.0.1:9901\n", 1, 1,
       "missing required key 'listeners' (or a 'postgres' section)"},
      {"HttpListenersStillNeedUpstreams",
       "listeners:\n  - name: public\n    address: 127.0.0.1:8080\n    routes:\n"
       "      - upstream: users\n" +
           std::string(kBase),
       1, 1, "missing required key 'upstreams'"},
  };
}

std::vector<BadCase> badCases() {
  std::vector<BadCase> all;
  for (auto group : {listenerCases, authCases, databaseCases, keyCases, topLevelCases}) {
    for (BadCase& c : group()) all.push_back(std::move(c));
  }
  return all;
}

class BadPostgresConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadPostgresConfig, ReportsOneErrorAtPosition) { expectOneError(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Cases, BadPostgresConfig, ::testing::ValuesIn(badCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace sg::config
