// Hash shards against the partitions a PostgreSQL 15 server chose for the same rows (tables
// PARTITION BY HASH with MODULUS 3, read back by tableoid), range and list lookups, NULL keys,
// and every refusal of a bad spec or value.
#include "pg/shard/shard_function.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::pg::shard {
namespace {

std::shared_ptr<const ShardFunction> made(ShardingSpec spec) {
  auto result = ShardFunction::make(std::move(spec));
  EXPECT_EQ(result.error, "");
  return result.function;
}

std::string makeError(ShardingSpec spec) { return ShardFunction::make(std::move(spec)).error; }

std::string shardText(const ShardResult& result) {
  if (auto* shard = std::get_if<uint32_t>(&result)) return std::to_string(*shard);
  return std::get<KeyError>(result).sqlstate;
}

ShardingSpec hashSpec(std::vector<KeyType> types, uint32_t shards) {
  ShardingSpec spec;
  spec.key_types = std::move(types);
  spec.shards = shards;
  return spec;
}

RangeBound value(int64_t v) { return {RangeBound::Kind::kValue, KeyValue{v, {}}}; }
RangeBound text(std::string v) { return {RangeBound::Kind::kValue, KeyValue{0, std::move(v)}}; }
const RangeBound kMin{RangeBound::Kind::kMinValue, {}};
const RangeBound kMax{RangeBound::Kind::kMaxValue, {}};

TEST(ShardFunction, HashBigintMatchesPostgresPartitions) {
  // insert into hb values (...); select k, tableoid::regclass from hb  -- hb0, hb1, hb2
  const auto function = made(hashSpec({KeyType::kBigint}, 3));
  const struct {
    const char* key;
    const char* shard;
  } rows[] = {{"-9223372036854775808", "1"},
              {"-5", "1"},
              {"0", "2"},
              {"1", "2"},
              {"2", "0"},
              {"5", "2"},
              {"42", "0"},
              {"1000000", "0"},
              {"9223372036854775807", "0"}};
  for (const auto& row : rows)
    EXPECT_EQ(shardText(function->shardOf(row.key, Format::kText)), row.shard) << row.key;
  EXPECT_EQ(shardText(function->shardOf(std::string("\0\0\0\x2a", 4), Format::kBinary)), "0");
  EXPECT_EQ(shardText(function->shardOfNull()), "0");  // NULL went to hb0
  EXPECT_EQ(function->shards(), 3u);
}

TEST(ShardFunction, HashTextMatchesPostgresPartitions) {
  const auto function = made(hashSpec({KeyType::kText}, 3));
  const struct {
    const char* key;
    const char* shard;
  } rows[] = {{"", "2"},   {"a", "2"},     {"abcdefghijklm", "1"},
              {"eu", "0"}, {"hello", "1"}, {"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93", "1"}};
  for (const auto& row : rows)
    EXPECT_EQ(shardText(function->shardOf(row.key, Format::kText)), row.shard) << row.key;
}

TEST(ShardFunction, HashOfTwoColumnsMatchesPostgres) {
  // PARTITION BY HASH (a bigint, b text); NULL columns are skipped in the row hash.
  const auto function = made(hashSpec({KeyType::kBigint, KeyType::kText}, 3));
  auto shard = [&](std::optional<std::string_view> a, std::optional<std::string_view> b) {
    const KeyInput columns[] = {{a, Format::kText}, {b, Format::kText}};
    return shardText(function->shardOf(columns));
  };
  EXPECT_EQ(shard("1", "a"), "1");
  EXPECT_EQ(shard("2", "b"), "1");
  EXPECT_EQ(shard("3", "c"), "2");
  EXPECT_EQ(shard("7", "x"), "1");
  EXPECT_EQ(shard("8", "y"), "2");
  EXPECT_EQ(shard("1", std::nullopt), "2");
  EXPECT_EQ(shard(std::nullopt, "a"), "2");
  EXPECT_EQ(shard(std::nullopt, std::nullopt), "0");
  EXPECT_EQ(shardText(function->shardOf("1", Format::kText)), "0A000");  // one value for two
}

TEST(ShardFunction, HashRefusesBadValues) {
  const auto function = made(hashSpec({KeyType::kInteger}, 3));
  EXPECT_EQ(shardText(function->shardOf("x1", Format::kText)), "22P02");
  EXPECT_EQ(shardText(function->shardOf("2147483648", Format::kText)), "22003");
  EXPECT_EQ(shardText(function->shardOf("abc", Format::kBinary)), "22P03");
}

ShardingSpec rangeSpec(std::vector<RangeSpec> ranges, uint32_t shards = 3) {
  ShardingSpec spec;
  spec.method = Method::kRange;
  spec.shards = shards;
  spec.ranges = std::move(ranges);
  return spec;
}

TEST(ShardFunction, RangeFromInclusiveToExclusive) {
  const auto function = made(rangeSpec(
      {{2, value(2000000), kMax}, {0, kMin, value(1000000)}, {1, value(1000000), value(2000000)}}));
  EXPECT_EQ(shardText(function->shardOf("-9223372036854775808", Format::kText)), "0");
  EXPECT_EQ(shardText(function->shardOf("999999", Format::kText)), "0");
  EXPECT_EQ(shardText(function->shardOf("1000000", Format::kText)), "1");
  EXPECT_EQ(shardText(function->shardOf("1999999", Format::kText)), "1");
  EXPECT_EQ(shardText(function->shardOf("2000000", Format::kText)), "2");
  EXPECT_EQ(shardText(function->shardOf("9223372036854775807", Format::kText)), "2");
  EXPECT_EQ(shardText(function->shardOfNull()), "23514");  // no range holds NULL
}

TEST(ShardFunction, RangeGapIsNoShard) {
  const auto function = made(rangeSpec({{0, value(1), value(100)}, {1, value(200), value(300)}}));
  EXPECT_EQ(shardText(function->shardOf("150", Format::kText)), "23514");
  EXPECT_EQ(shardText(function->shardOf("0", Format::kText)), "23514");
  EXPECT_EQ(shardText(function->shardOf("300", Format::kText)), "23514");
  EXPECT_EQ(shardText(function->shardOf("299", Format::kText)), "1");
  const auto result = function->shardOf("150", Format::kText);
  EXPECT_EQ(std::get<KeyError>(result).message,
            "no shard for sharding key value \"150\": in no range of the sharding configuration");
}

TEST(ShardFunction, RangeOfTextIsBytewise) {
  ShardingSpec spec = rangeSpec({{0, kMin, text("m")}, {1, text("m"), kMax}}, 2);
  spec.key_types = {KeyType::kText};
  const auto function = made(std::move(spec));
  EXPECT_EQ(shardText(function->shardOf("Zebra", Format::kText)), "0");
  EXPECT_EQ(shardText(function->shardOf("lz", Format::kText)), "0");
  EXPECT_EQ(shardText(function->shardOf("m", Format::kText)), "1");
  EXPECT_EQ(shardText(function->shardOf("\xc3\xa9t\xc3\xa9", Format::kText)), "1");
}

TEST(ShardFunction, RangeSpecRefusals) {
  EXPECT_EQ(makeError(rangeSpec({})), "range sharding needs at least one range");
  EXPECT_EQ(makeError(rangeSpec({{0, value(5), value(5)}})),
            "ranges[0] is empty: from 5 is not below to 5");
  EXPECT_EQ(makeError(rangeSpec({{0, kMax, kMin}})),
            "ranges[0] is empty: from MAXVALUE is not below to MINVALUE");
  EXPECT_EQ(
      makeError(rangeSpec({{0, kMin, value(10)}, {1, value(20), kMax}, {2, value(9), value(11)}})),
      "ranges[2] overlaps ranges[0]");
  EXPECT_EQ(makeError(rangeSpec({{3, kMin, kMax}})),
            "ranges[0] names shard 3, but there are only 3 shards (0 to 2)");
  ShardingSpec two_columns = rangeSpec({{0, kMin, kMax}});
  two_columns.key_types = {KeyType::kBigint, KeyType::kBigint};
  EXPECT_EQ(makeError(two_columns), "range sharding takes a key of one column");
  // Touching ranges do not overlap.
  EXPECT_EQ(makeError(rangeSpec({{0, kMin, value(10)}, {1, value(10), kMax}})), "");
}

ShardingSpec listSpec(std::vector<ListEntry> lists, std::optional<uint32_t> default_shard) {
  ShardingSpec spec;
  spec.method = Method::kList;
  spec.key_types = {KeyType::kText};
  spec.shards = 3;
  spec.lists = std::move(lists);
  spec.default_shard = default_shard;
  return spec;
}

TEST(ShardFunction, ListWithAndWithoutDefault) {
  const auto strict = made(listSpec({{KeyValue{0, "eu"}, 0}, {KeyValue{0, "us"}, 1}}, {}));
  EXPECT_EQ(shardText(strict->shardOf("eu", Format::kText)), "0");
  EXPECT_EQ(shardText(strict->shardOf("us", Format::kText)), "1");
  EXPECT_EQ(shardText(strict->shardOf("EU", Format::kText)), "23514");
  EXPECT_EQ(shardText(strict->shardOfNull()), "23514");
  EXPECT_EQ(std::get<KeyError>(strict->shardOf("apac", Format::kText)).message,
            "no shard for sharding key value \"apac\": not listed in the sharding configuration");
  const auto with_default = made(listSpec({{KeyValue{0, "eu"}, 0}}, 2));
  EXPECT_EQ(shardText(with_default->shardOf("apac", Format::kText)), "2");
  EXPECT_EQ(shardText(with_default->shardOfNull()), "2");
}

TEST(ShardFunction, ListSpecRefusals) {
  EXPECT_EQ(makeError(listSpec({}, {})), "list sharding needs at least one value");
  EXPECT_EQ(makeError(listSpec({{KeyValue{0, "eu"}, 0}, {KeyValue{0, "eu"}, 1}}, {})),
            "value eu is listed twice");
  EXPECT_EQ(makeError(listSpec({{KeyValue{0, "eu"}, 5}}, {})),
            "value eu names shard 5, but there are only 3 shards (0 to 2)");
  EXPECT_EQ(makeError(listSpec({{KeyValue{0, "eu"}, 0}}, 3)),
            "default names shard 3, but there are only 3 shards (0 to 2)");
}

TEST(ShardFunction, SpecRefusals) {
  EXPECT_EQ(makeError(hashSpec({KeyType::kBigint}, 0)), "there are no shards");
  EXPECT_EQ(makeError(hashSpec({}, 2)), "the sharding key has no columns");
  ShardingSpec hash_with_ranges = hashSpec({KeyType::kBigint}, 2);
  hash_with_ranges.ranges = {{0, kMin, kMax}};
  EXPECT_EQ(makeError(hash_with_ranges), "ranges are for range sharding");
  ShardingSpec hash_with_default = hashSpec({KeyType::kBigint}, 2);
  hash_with_default.default_shard = 0;
  EXPECT_EQ(makeError(hash_with_default), "lists and default are for list sharding");
}

TEST(ShardFunction, MethodNames) {
  Method method{};
  ASSERT_TRUE(parseMethod("range", &method));
  EXPECT_EQ(method, Method::kRange);
  EXPECT_EQ(methodName(Method::kList), "list");
  EXPECT_FALSE(parseMethod("modulo", &method));
}

}  // namespace
}  // namespace sg::pg::shard
