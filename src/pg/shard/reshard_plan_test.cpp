// Reshard plans: the moved fraction of hash growth (and that a real hash walk agrees with it),
// range splits moving only the split range, list moves, and both output forms.
#include "pg/shard/reshard_plan.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "pg/shard/partition_hash.h"

namespace sg::pg::shard {
namespace {

TEST(ReshardPlan, HashGrowthToAMultipleSplitsEachShard) {
  const ReshardPlan plan = planHashReshard(3, 6);
  EXPECT_DOUBLE_EQ(*plan.moved, 0.5);
  ASSERT_EQ(plan.incoming.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plan.incoming[i].shard, 3 + i);
    EXPECT_EQ(plan.incoming[i].sources, std::vector<uint32_t>{i});  // shard r splits into r, r+3
    EXPECT_DOUBLE_EQ(plan.incoming[i].fraction, 1.0 / 6);
  }
  EXPECT_TRUE(plan.alternatives.empty());
}

TEST(ReshardPlan, OtherCountsMoveMoreAndNameTheNearestMultiples) {
  EXPECT_DOUBLE_EQ(hashMovedFraction(3, 4), 0.75);
  EXPECT_DOUBLE_EQ(hashMovedFraction(3, 5), 0.8);
  EXPECT_DOUBLE_EQ(hashMovedFraction(4, 4), 0.0);
  EXPECT_DOUBLE_EQ(hashMovedFraction(6, 3), 0.5);  // merging halves
  const ReshardPlan plan = planHashReshard(3, 7);
  ASSERT_EQ(plan.alternatives.size(), 2u);
  EXPECT_EQ(plan.alternatives[0].shards, 6u);
  EXPECT_DOUBLE_EQ(plan.alternatives[0].moved, 0.5);
  EXPECT_EQ(plan.alternatives[1].shards, 9u);
  const ReshardPlan shrink = planHashReshard(6, 4);
  ASSERT_EQ(shrink.alternatives.size(), 1u);
  EXPECT_EQ(shrink.alternatives[0].shards, 3u);
}

TEST(ReshardPlan, HashFractionAgreesWithRealKeys) {
  // Hash 60,000 keys as PostgreSQL would and count those whose shard changes 3 -> 4.
  int moved = 0;
  constexpr int kKeys = 60000;
  for (int64_t key = 0; key < kKeys; ++key) {
    const uint64_t hash = addColumn(kEmptyRowHash, KeyType::kBigint, KeyValue{key, {}});
    moved += hash % 3 != hash % 4;
  }
  EXPECT_NEAR(static_cast<double>(moved) / kKeys, hashMovedFraction(3, 4), 0.01);
}

RangeBound value(int64_t v) { return {RangeBound::Kind::kValue, KeyValue{v, {}}}; }
const RangeBound kMin{RangeBound::Kind::kMinValue, {}};
const RangeBound kMax{RangeBound::Kind::kMaxValue, {}};

ShardingSpec rangeSpec(std::vector<RangeSpec> ranges, uint32_t shards) {
  ShardingSpec spec;
  spec.method = Method::kRange;
  spec.shards = shards;
  spec.ranges = std::move(ranges);
  return spec;
}

TEST(ReshardPlan, SplittingARangeMovesOnlyThatRange) {
  const ShardingSpec before = rangeSpec({{0, kMin, value(1000)}, {1, value(1000), value(2000)}}, 2);
  const ShardingSpec after =
      rangeSpec({{0, kMin, value(1000)}, {1, value(1000), value(1500)}, {2, value(1500), kMax}}, 3);
  auto result = planReshard(before, after);
  const ReshardPlan& plan = std::get<ReshardPlan>(result);
  ASSERT_EQ(plan.segments.size(), 2u);
  EXPECT_EQ(formatBound(KeyType::kBigint, plan.segments[0].from), "1500");
  EXPECT_EQ(formatBound(KeyType::kBigint, plan.segments[0].to), "2000");
  EXPECT_EQ(plan.segments[0].old_shard, 1u);
  EXPECT_EQ(plan.segments[0].new_shard, 2u);
  EXPECT_EQ(plan.segments[0].values, 500u);
  // [2000, MAXVALUE) was in no range: new keys only, nothing to copy, but reported.
  EXPECT_EQ(plan.segments[1].old_shard, std::nullopt);
  EXPECT_EQ(plan.segments[1].values, std::nullopt);
  EXPECT_EQ(formatPlanText(plan, "id"),
            "range sharding, 2 key range(s) change shard\n"
            "  [1500, 2000): shard 1 -> shard 2 (500 key values)\n"
            "  [2000, MAXVALUE): no shard -> shard 2\n");
}

TEST(ReshardPlan, ListMovesAndDefault) {
  ShardingSpec before;
  before.method = Method::kList;
  before.key_types = {KeyType::kText};
  before.shards = 2;
  before.lists = {{KeyValue{0, "eu"}, 0}, {KeyValue{0, "us"}, 1}};
  ShardingSpec after = before;
  after.shards = 3;
  after.lists = {{KeyValue{0, "eu"}, 0}, {KeyValue{0, "us"}, 1}, {KeyValue{0, "apac"}, 2}};
  after.default_shard = 2;
  const ReshardPlan plan = std::get<ReshardPlan>(planReshard(before, after));
  EXPECT_EQ(formatPlanText(plan, "region"),
            "list sharding, 2 value(s) change shard\n"
            "  apac: no shard -> shard 2\n"
            "  (every other value): no shard -> shard 2\n");
}

TEST(ReshardPlan, FunctionChangeIsRefused) {
  ShardingSpec hash;
  hash.shards = 3;
  const ShardingSpec range = rangeSpec({{0, kMin, kMax}}, 1);
  EXPECT_EQ(std::get<std::string>(planReshard(hash, range)),
            "the sharding function changes (hash to range): every row may move; copy all of them");
}

TEST(ReshardPlan, HashTextAndJson) {
  const ReshardPlan plan = planHashReshard(2, 3);
  const std::string text = formatPlanText(plan, "customer_id");
  EXPECT_NE(text.find("hash sharding, 2 -> 3 shards: 66.7% of the keys move\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("to shard 2 (33.3% of the keys) from shard 0, 1: rows WHERE "
                      "satisfies_hash_partition('scalegate_shard_key'::regclass, 3, 2, "
                      "customer_id)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("4 shards instead would move 50.0%"), std::string::npos) << text;
  const auto json = boost::json::parse(formatPlanJson(plan)).as_object();
  EXPECT_EQ(json.at("function").as_string(), "hash");
  EXPECT_DOUBLE_EQ(json.at("moved_fraction").as_double(), 2.0 / 3);
  EXPECT_EQ(json.at("moves").as_array().size(), 3u);  // to 0 from 1, to 1 from 0, to 2 from 0,1
  EXPECT_EQ(json.at("alternatives").as_array().at(0).at("shards").as_int64(), 4);
}

}  // namespace
}  // namespace sg::pg::shard
