// A database's sharding keys: shards, the key and its type, hash/range/list functions (the
// function is made at load time), cross_shard, and each refusal with its position.
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
namespace shard = pg::shard;
using Sharding = PostgresShardingConfig;

// The orders database starts on line 8; its shards are lines 9-12, its sharding map is line 13
// with the key on line 14 (column 9).
constexpr const char* kBase = R"(postgres:
  listeners:
    - { name: main, address: 127.0.0.1:6432 }
  auth:
    type: trust
  databases:
    app: { primary: 127.0.0.1:5432 }
    orders:
      shards:
        - { primary: 127.0.0.1:5432, dbname: orders_0 }
        - { primary: 127.0.0.1:5432, dbname: orders_1 }
        - { primary: 127.0.0.1:5433, replicas: [127.0.0.1:5434] }
      sharding:
        key: customer_id
admin:
  address: 127.0.0.1:9901
)";

// kBase with lines added to the sharding map (each "      " indented).
std::string withSharding(const std::string& lines) {
  return edit("        key: customer_id\n", "        key: customer_id\n" + lines, kBase);
}

// kBase with lines added to the orders database.
std::string withOrders(const std::string& lines) {
  return edit("      sharding:\n", lines + "      sharding:\n", kBase);
}

const PostgresDatabaseConfig& orders(const std::shared_ptr<const Config>& config) {
  return config->postgres->databases.at(1);
}

uint32_t shardOf(const Sharding& sharding, std::string_view value) {
  auto result = sharding.function->shardOf(value, shard::Format::kText);
  if (auto* error = std::get_if<shard::KeyError>(&result)) {
    ADD_FAILURE() << value << ": " << error->message;
    return 99;
  }
  return std::get<uint32_t>(result);
}

TEST(PostgresShardingConfig, UnshardedByDefault) {
  const auto config = loadValid(kBase);
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->postgres->databases.at(0).sharding.enabled());
  EXPECT_EQ(config->postgres->databases.at(0).sharding.function, nullptr);
}

TEST(PostgresShardingConfig, HashOverBigintByDefault) {
  const auto config = loadValid(kBase);
  ASSERT_NE(config, nullptr);
  const PostgresDatabaseConfig& db = orders(config);
  const Sharding& sharding = db.sharding;
  ASSERT_TRUE(sharding.enabled());
  ASSERT_EQ(sharding.shards.size(), 3u);
  EXPECT_EQ(sharding.shards[0].primary.toString(), "127.0.0.1:5432");
  EXPECT_EQ(sharding.shards[1].dbname, "orders_1");
  EXPECT_EQ(sharding.shards[2].dbname, "orders");  // the database's dbname (its name)
  EXPECT_FALSE(sharding.shards[0].routing.splits());
  ASSERT_EQ(sharding.shards[2].routing.replicas.size(), 1u);
  EXPECT_TRUE(sharding.shards[2].routing.splits());
  EXPECT_EQ(sharding.key, std::vector<std::string>{"customer_id"});
  EXPECT_EQ(sharding.spec.method, shard::Method::kHash);
  EXPECT_EQ(sharding.spec.key_types, std::vector<shard::KeyType>{shard::KeyType::kBigint});
  EXPECT_EQ(sharding.cross_shard, Sharding::CrossShard::kAllow);
  EXPECT_TRUE(sharding.tables.empty());  // every table sharded
  ASSERT_NE(sharding.function, nullptr);
  EXPECT_EQ(sharding.function->shards(), 3u);
  EXPECT_EQ(shardOf(sharding, "42"), 0u);  // PostgreSQL puts 42 in remainder 0 of modulus 3
  EXPECT_EQ(shardOf(sharding, "5"), 2u);
}

TEST(PostgresShardingConfig, DatabaseRoutingKeysHoldForEveryShard) {
  const auto config = loadValid(withOrders(
      "      dbname: shop\n      replica_balance: random\n      read_write_split: false\n"));
  ASSERT_NE(config, nullptr);
  const Sharding& sharding = orders(config).sharding;
  EXPECT_EQ(sharding.shards[2].dbname, "shop");
  EXPECT_EQ(sharding.shards[2].routing.replica_balance, PostgresRoutingConfig::Balance::kRandom);
  EXPECT_FALSE(sharding.shards[2].routing.splits());  // turned off for the database
}

TEST(PostgresShardingConfig, ShardedTablesListed) {
  const auto config = loadValid(withSharding("        tables: [orders, customers]\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(orders(config).sharding.tables, (std::vector<std::string>{"orders", "customers"}));
}

TEST(PostgresShardingConfig, TextKeyAndSeveralColumns) {
  auto config = loadValid(withSharding("        type: varchar\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(orders(config).sharding.spec.key_types.front(), shard::KeyType::kText);
  EXPECT_EQ(shardOf(orders(config).sharding, "eu"), 0u);
  config = loadValid(edit("key: customer_id", "key: [tenant, customer_id]",
                          withSharding("        type: [int, text]\n")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(orders(config).sharding.key.size(), 2u);
  EXPECT_EQ(orders(config).sharding.spec.key_types,
            (std::vector<shard::KeyType>{shard::KeyType::kInteger, shard::KeyType::kText}));
}

TEST(PostgresShardingConfig, RangesAsMapsAndAsUpperBounds) {
  auto config =
      loadValid(withSharding("        function: range\n"
                             "        ranges:\n"
                             "          - { shard: 1, from: 1000000, to: MAXVALUE }\n"
                             "          - { shard: 0, from: minvalue, to: 1000000 }\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(shardOf(orders(config).sharding, "999999"), 0u);
  EXPECT_EQ(shardOf(orders(config).sharding, "1000000"), 1u);
  config =
      loadValid(withSharding("        function: range\n        ranges: [100, 200, maxvalue]\n"));
  ASSERT_NE(config, nullptr);
  const Sharding& sharding = orders(config).sharding;
  ASSERT_EQ(sharding.spec.ranges.size(), 3u);
  EXPECT_EQ(shardOf(sharding, "-5"), 0u);
  EXPECT_EQ(shardOf(sharding, "100"), 1u);
  EXPECT_EQ(shardOf(sharding, "200"), 2u);
}

TEST(PostgresShardingConfig, ListsWithDefaultAndCrossShard) {
  const auto config = loadValid(withOrders("      cross_shard: deny\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(orders(config).sharding.cross_shard, Sharding::CrossShard::kDeny);
  const auto lists = loadValid(withSharding(
      "        function: list\n        type: text\n        lists: { eu: 0, us: 1, apac: 1 }\n"
      "        default: 2\n"));
  ASSERT_NE(lists, nullptr);
  EXPECT_EQ(shardOf(orders(lists).sharding, "apac"), 1u);
  EXPECT_EQ(shardOf(orders(lists).sharding, "africa"), 2u);
  EXPECT_EQ(orders(lists).sharding.spec.default_shard, 2u);
}

TEST(PostgresShardingConfig, CrossShardNames) {
  for (auto mode : {Sharding::CrossShard::kDeny, Sharding::CrossShard::kAllow,
                    Sharding::CrossShard::kAllowUnordered}) {
    Sharding::CrossShard parsed{};
    ASSERT_TRUE(parseCrossShard(crossShardName(mode), &parsed));
    EXPECT_EQ(parsed, mode);
  }
  EXPECT_EQ(crossShardName(Sharding::CrossShard::kAllowUnordered), "allow_unordered");
}

std::vector<BadCase> badCases() {
  const std::string orders = "postgres.databases.orders";
  return {
      {"ShardsAndPrimary", withOrders("      primary: 127.0.0.1:5432\n"), 13, 16,
       orders + ".primary: a sharded database has a primary per shard"},
      {"ShardsAndReplicas", withOrders("      replicas: [127.0.0.1:5434]\n"), 13, 17,
       orders + ".replicas: a sharded database lists replicas per shard"},
      {"ShardingWithoutShards",
       edit("    app: { primary: 127.0.0.1:5432 }",
            "    app: { primary: 127.0.0.1:5432, sharding: { key: id } }", kBase),
       7, 47, "postgres.databases.app.sharding: is for a sharded database"},
      {"CrossShardWithoutShards",
       edit("    app: { primary: 127.0.0.1:5432 }",
            "    app: { primary: 127.0.0.1:5432, cross_shard: deny }", kBase),
       7, 50, "postgres.databases.app.cross_shard: is for a sharded database"},
      {"ShardsWithoutSharding", edit("      sharding:\n        key: customer_id\n", "", kBase), 10,
       9, orders + ".shards: needs sharding"},
      {"NoShards",
       edit("      shards:\n        - { primary: 127.0.0.1:5432, dbname: orders_0 }\n"
            "        - { primary: 127.0.0.1:5432, dbname: orders_1 }\n"
            "        - { primary: 127.0.0.1:5433, replicas: [127.0.0.1:5434] }\n",
            "      shards: []\n", kBase),
       9, 15, orders + ".shards: must list at least one shard"},
      {"ShardWithoutPrimary",
       edit("{ primary: 127.0.0.1:5432, dbname: orders_1 }", "{ dbname: orders_1 }", kBase), 11, 11,
       orders + ".shards[1]: missing required key 'primary'"},
      {"SameShardTwice", edit("dbname: orders_1", "dbname: orders_0", kBase), 11, 11,
       orders + ".shards[1]: is the same server and dbname as shards[0]"},
      {"MissingKey", edit("        key: customer_id\n", "        function: hash\n", kBase), 14, 9,
       orders + ".sharding: missing required key 'key'"},
      {"BadFunction", withSharding("        function: modulo\n"), 15, 19,
       orders + ".sharding.function: unknown function 'modulo' (one of: hash, range, list)"},
      {"BadType", withSharding("        type: numeric\n"), 15, 15,
       orders + ".sharding.type: unknown type 'numeric'"},
      {"TypesForColumns", withSharding("        type: [int, text]\n"), 15, 15,
       orders + ".sharding.type: lists 2 types for a key of 1 column(s)"},
      {"RangesForHash", withSharding("        ranges: [10]\n"), 15, 17,
       orders + ".sharding.ranges: is for function: range only"},
      {"RangeWithoutRanges", withSharding("        function: range\n"), 14, 9,
       orders + ".sharding: missing required key 'ranges'"},
      {"RangeBadBound", withSharding("        function: range\n        ranges: [10, ten]\n"), 16,
       22, orders + ".sharding.ranges[1]: invalid input syntax for type bigint: \"ten\""},
      {"RangeNamesMissingShard",
       withSharding("        function: range\n        ranges: [{ shard: 3, from: 1, to: 2 }]\n"),
       16, 27, orders + ".sharding.ranges[0].shard: names shard 3, but the database has 3 shards"},
      {"TooManyBounds", withSharding("        function: range\n        ranges: [1, 2, 3, 4]\n"), 16,
       27, orders + ".sharding.ranges[3]: is the upper bound of shard 3"},
      {"RangesOverlap",
       withSharding("        function: range\n        ranges:\n"
                    "          - { shard: 0, from: 1, to: 100 }\n"
                    "          - { shard: 1, from: 50, to: 200 }\n"),
       17, 11, orders + ".sharding.ranges: ranges[1] overlaps ranges[0]"},
      {"EmptyRange",
       withSharding("        function: range\n        ranges: [{ shard: 0, from: 5, to: 5 }]\n"),
       16, 17, orders + ".sharding.ranges: ranges[0] is empty: from 5 is not below to 5"},
      {"ListUnknownShard",
       withSharding(
           "        function: list\n        type: text\n        lists: { eu: 0, us: 7 }\n"),
       17, 29, orders + ".sharding.lists.us: names shard 7"},
      {"ListValueTwice", withSharding("        function: list\n        lists: { 1: 0, 01: 1 }\n"),
       16, 24, orders + ".sharding.lists.01: the value '1' is listed twice"},
      {"DefaultForHash", withSharding("        default: 0\n"), 15, 18,
       orders + ".sharding.default: is for function: list only"},
      {"RangeTwoColumns",
       edit("key: customer_id", "key: [a, b]",
            withSharding("        function: range\n"
                         "        ranges: [10]\n")),
       14, 14, orders + ".sharding.key: range and list sharding take a key of one column"},
      {"TablesNotAList", withSharding("        tables: orders\n"), 15, 17,
       orders + ".sharding.tables: expected a list"},
      {"TablesEmpty", withSharding("        tables: []\n"), 15, 17,
       orders + ".sharding.tables: must name at least one table"},
      {"TableNotAString", withSharding("        tables: [orders, { name: customers }]\n"), 15, 26,
       orders + ".sharding.tables[1]: expected a string"},
      {"TableEmptyName", withSharding("        tables: [orders, '']\n"), 15, 26,
       orders + ".sharding.tables[1]: must not be empty"},
      {"TableTwice", withSharding("        tables: [orders, customers, orders]\n"), 15, 37,
       orders + ".sharding.tables[2]: table 'orders' is named twice"},
      {"BadCrossShard", withOrders("      cross_shard: sometimes\n"), 13, 20,
       orders + ".cross_shard: unknown value 'sometimes' (one of: deny, allow, allow_unordered)"},
  };
}

class BadPostgresShardingConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadPostgresShardingConfig, ReportsOneErrorAtPosition) { expectOneError(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Cases, BadPostgresShardingConfig, ::testing::ValuesIn(badCases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sg::config
