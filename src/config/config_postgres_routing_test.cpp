// A database's read/write splitting keys and the section's lag check settings: defaults, every
// key, and each refusal with its position.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::BadCase;
using testutil::edit;
using testutil::expectOneError;
using testutil::loadValid;
using Routing = PostgresRoutingConfig;
using std::chrono::milliseconds;

// Positions used by the cases below (1-based line:column): the app database's map is line 8,
// opening at column 10; its keys follow the primary.
constexpr const char* kBase = R"(postgres:
  listeners:
    - { name: main, address: 127.0.0.1:6432 }
  auth:
    type: trust
  databases:
    reports: { primary: 127.0.0.1:5432 }
    app: { primary: 127.0.0.1:5432 }
admin:
  address: 127.0.0.1:9901
)";

// kBase with `keys` ("a: 1, b: 2") added to app's map.
std::string withAppKeys(const std::string& keys) {
  return edit("app: { primary: 127.0.0.1:5432 }", "app: { primary: 127.0.0.1:5432, " + keys + " }",
              kBase);
}

const PostgresConfig& postgresOf(const std::shared_ptr<const Config>& config) {
  return *config->postgres;
}

TEST(PostgresRoutingConfig, OffWithoutReplicas) {
  const auto config = loadValid(kBase);
  ASSERT_NE(config, nullptr);
  const PostgresConfig& pg = postgresOf(config);
  const Routing& routing = pg.databases.at(1).routing;
  EXPECT_TRUE(routing.replicas.empty());
  EXPECT_FALSE(routing.read_write_split);
  EXPECT_FALSE(routing.splits());
  EXPECT_EQ(pg.lag_check_interval, std::chrono::seconds(1));
  EXPECT_EQ(pg.health_check_rise, 2u);
  EXPECT_EQ(pg.health_check_fall, 3u);
  EXPECT_TRUE(pg.read_only_functions.empty());
}

TEST(PostgresRoutingConfig, ReplicasTurnSplittingOnWithDefaults) {
  const auto config = loadValid(withAppKeys("replicas: [127.0.0.1:5433, \"[::1]:5434\"]"));
  ASSERT_NE(config, nullptr);
  const Routing& routing = postgresOf(config).databases.at(1).routing;
  ASSERT_EQ(routing.replicas.size(), 2u);
  EXPECT_EQ(routing.replicas[1].toString(), "[::1]:5434");
  EXPECT_TRUE(routing.splits());
  EXPECT_EQ(routing.replica_balance, Routing::Balance::kLeastRequest);
  EXPECT_EQ(routing.primary_reads, Routing::PrimaryReads::kFallback);
  EXPECT_EQ(routing.max_lag, std::chrono::seconds(10));
  EXPECT_EQ(routing.max_lag_bytes, 0u);
  EXPECT_EQ(routing.read_your_writes, Routing::ReadYourWrites::kLsn);
  EXPECT_EQ(routing.read_your_writes_window, std::chrono::seconds(2));
  EXPECT_FALSE(routing.primary_discovery);
  EXPECT_FALSE(postgresOf(config).databases.at(0).routing.splits());  // reports has none
}

TEST(PostgresRoutingConfig, EveryKey) {
  const auto config = loadValid(edit(
      "  databases:\n",
      "  lag_check_interval: 250ms\n  read_only_functions: [my_report, stats.daily]\n"
      "  health_check: {rise: 1, fall: 5}\n  databases:\n",
      withAppKeys("replicas: [127.0.0.1:5433], read_write_split: false, replica_balance: random, "
                  "primary_reads: exclude, max_lag: 0, max_lag_bytes: 16MiB, read_your_writes: "
                  "window, read_your_writes_window: 5s, primary_discovery: pg_is_in_recovery")));
  ASSERT_NE(config, nullptr);
  const PostgresConfig& pg = postgresOf(config);
  EXPECT_EQ(pg.lag_check_interval, milliseconds(250));
  EXPECT_EQ(pg.health_check_rise, 1u);
  EXPECT_EQ(pg.health_check_fall, 5u);
  EXPECT_EQ(pg.read_only_functions, (std::vector<std::string>{"my_report", "stats.daily"}));
  const Routing& routing = pg.databases.at(1).routing;
  EXPECT_FALSE(routing.read_write_split);  // replicas listed, splitting turned off
  EXPECT_FALSE(routing.splits());
  EXPECT_EQ(routing.replica_balance, Routing::Balance::kRandom);
  EXPECT_EQ(routing.primary_reads, Routing::PrimaryReads::kExclude);
  EXPECT_EQ(routing.max_lag, milliseconds(0));
  EXPECT_EQ(routing.max_lag_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(routing.read_your_writes, Routing::ReadYourWrites::kWindow);
  EXPECT_EQ(routing.read_your_writes_window, std::chrono::seconds(5));
  EXPECT_TRUE(routing.primary_discovery);
}

TEST(PostgresRoutingConfig, NamesRoundTrip) {
  for (auto balance : {Routing::Balance::kLeastRequest, Routing::Balance::kRoundRobin,
                       Routing::Balance::kRandom}) {
    Routing::Balance parsed{};
    ASSERT_TRUE(parseBalance(balanceName(balance), &parsed));
    EXPECT_EQ(parsed, balance);
  }
  Routing::ReadYourWrites mode{};
  EXPECT_FALSE(parseReadYourWrites("LSN", &mode));  // names are lower case, as written
  EXPECT_EQ(primaryReadsName(Routing::PrimaryReads::kInclude), "include");
}

std::vector<BadCase> badCases() {
  return {
      {"ReplicasNotAList", withAppKeys("replicas: 127.0.0.1:5433"), 8, 47,
       "postgres.databases.app.replicas: expected a list"},
      {"BadReplicaAddress", withAppKeys("replicas: [nowhere]"), 8, 48,
       "postgres.databases.app.replicas[0]: invalid address 'nowhere'"},
      {"DuplicateReplica", withAppKeys("replicas: [127.0.0.1:5433, 127.0.0.1:5433]"), 8, 64,
       "postgres.databases.app.replicas[1]: duplicate replica 127.0.0.1:5433"},
      {"SplitWithoutReplicas", withAppKeys("read_write_split: true"), 8, 55,
       "postgres.databases.app.read_write_split: needs replicas to send reads to"},
      {"BadBalance", withAppKeys("replicas: [127.0.0.1:5433], replica_balance: weighted"), 8, 82,
       "postgres.databases.app.replica_balance: unknown value 'weighted' (one of: least_request, "
       "round_robin, random)"},
      {"BadPrimaryReads", withAppKeys("primary_reads: never"), 8, 52,
       "postgres.databases.app.primary_reads: unknown value 'never'"},
      {"BadReadYourWrites", withAppKeys("read_your_writes: always"), 8, 55,
       "postgres.databases.app.read_your_writes: unknown value 'always' (one of: lsn, window, "
       "off)"},
      {"ZeroWindow", withAppKeys("read_your_writes_window: 0"), 8, 62,
       "postgres.databases.app.read_your_writes_window: must be greater than zero"},
      {"BadMaxLag", withAppKeys("max_lag: soon"), 8, 46,
       "postgres.databases.app.max_lag: invalid duration 'soon'"},
      {"BadDiscovery", withAppKeys("primary_discovery: patroni"), 8, 56,
       "postgres.databases.app.primary_discovery: unknown value 'patroni' (one of: "
       "pg_is_in_recovery, off)"},
      {"ZeroLagCheckInterval",
       edit("  databases:\n", "  lag_check_interval: 0\n  databases:\n", kBase), 6, 23,
       "postgres.lag_check_interval: must be greater than zero"},
      {"ZeroFall", edit("  databases:\n", "  health_check: {fall: 0}\n  databases:\n", kBase), 6,
       24, "postgres.health_check.fall: expected an integer from 1 to 100, got '0'"},
      {"UnknownHealthKey",
       edit("  databases:\n", "  health_check: {interval: 1s}\n  databases:\n", kBase), 6, 18,
       "postgres.health_check.interval: unknown key 'interval'"},
      {"EmptyFunctionName",
       edit("  databases:\n", "  read_only_functions: [f, '']\n  databases:\n", kBase), 6, 28,
       "postgres.read_only_functions[1]: must not be empty"},
  };
}

class BadPostgresRoutingConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadPostgresRoutingConfig, ReportsOneErrorAtPosition) { expectOneError(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Cases, BadPostgresRoutingConfig, ::testing::ValuesIn(badCases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sg::config
