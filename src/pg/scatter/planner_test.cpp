#include <gtest/gtest.h>

#include "pg/scatter/scatter_plan.h"

namespace sg::pg::scatter {
namespace {

struct Mergeable {
  const char* sql;
  MergeKind kind;
  const char* shard_sql;  // nullptr: the original text
  size_t hidden;
};

const Mergeable kMergeable[] = {
    {"select * from t", MergeKind::kConcatenate, nullptr, 0},
    {"select a, b from t where c = 1", MergeKind::kConcatenate, nullptr, 0},
    {"select a from t limit 10", MergeKind::kConcatenate, nullptr, 0},
    {"select a from t offset 5", MergeKind::kConcatenate, "SELECT a FROM t", 0},
    {"select a from t order by a", MergeKind::kSorted, nullptr, 0},
    {"select a from t order by 1 desc", MergeKind::kSorted, nullptr, 0},
    {"select a as x from t order by x nulls first", MergeKind::kSorted, nullptr, 0},
    {"select a, b from t order by b desc nulls last, a", MergeKind::kSorted, nullptr, 0},
    {"select t.a from t order by t.a", MergeKind::kSorted, nullptr, 0},
    {"select *, a from t order by 2", MergeKind::kSorted, nullptr, 0},
    {"select a from t order by a fetch first 3 rows only", MergeKind::kSorted, nullptr, 0},
    {"select a from t order by a limit $1", MergeKind::kSorted, nullptr, 0},
    {"select * from t order by id", MergeKind::kSorted, "SELECT *, id FROM t ORDER BY id", 1},
    {"select a from t order by lower(b)", MergeKind::kSorted,
     "SELECT a, lower(b) FROM t ORDER BY lower(b)", 1},
    {"select a, b from t order by a + b", MergeKind::kSorted,
     "SELECT a, b, a + b FROM t ORDER BY a + b", 1},
    {"select a from t order by b", MergeKind::kSorted, "SELECT a, b FROM t ORDER BY b", 1},
    {"select a from t order by a collate \"C\"", MergeKind::kSorted,
     "SELECT a, a COLLATE \"C\" FROM t ORDER BY a COLLATE \"C\"", 1},
    {"select a from t order by a limit 10 offset 5", MergeKind::kSorted,
     "SELECT a FROM t ORDER BY a LIMIT 15", 0},
    {"select a from t order by a limit all offset 3", MergeKind::kSorted,
     "SELECT a FROM t ORDER BY a", 0},
    {"select a from t order by a limit $1 offset $2", MergeKind::kSorted,
     "SELECT a FROM t ORDER BY a LIMIT ($1::bigint + $2::bigint)", 0},
    {"select a from t order by a limit 5 offset $1", MergeKind::kSorted,
     "SELECT a FROM t ORDER BY a LIMIT (5 + $1::bigint)", 0},
    {"select a from t order by a offset $1", MergeKind::kSorted,
     "SELECT a FROM t ORDER BY a OFFSET 0 * $1::bigint", 0},
    {"select a, count(*) from t group by a order by a limit $1 offset $2", MergeKind::kAggregate,
     "SELECT a, count(*) FROM t GROUP BY a OFFSET (0 * $1::bigint) + (0 * $2::bigint)", 0},
    {"select count(*) from t limit $2", MergeKind::kAggregate,
     "SELECT count(*) FROM t OFFSET 0 * $2::bigint", 0},
    {"select a from t order by a limit 3000000000 offset 1", MergeKind::kSorted,
     "SELECT a FROM t ORDER BY a LIMIT 3000000001", 0},
    {"select count(*) from t", MergeKind::kAggregate, nullptr, 0},
    {"select count(x), sum(x), min(x), max(x) from t", MergeKind::kAggregate, nullptr, 0},
    {"select 'x', count(*) from t", MergeKind::kAggregate, nullptr, 0},
    {"select count(*) filter (where x > 0) from t", MergeKind::kAggregate, nullptr, 0},
    {"select avg(x) from t", MergeKind::kAggregate, "SELECT sum(x) AS avg, count(x) FROM t", 1},
    {"select avg(x) as mean from t", MergeKind::kAggregate,
     "SELECT sum(x) AS mean, count(x) FROM t", 1},
    {"select pg_catalog.avg(x) from t", MergeKind::kAggregate,
     "SELECT pg_catalog.sum(x) AS avg, count(x) FROM t", 1},
    {"select avg(x) filter (where x > 0) from t", MergeKind::kAggregate,
     "SELECT sum(x) FILTER (WHERE x > 0) AS avg, count(x) FILTER (WHERE x > 0) FROM t", 1},
    {"select a, count(*) from t group by a", MergeKind::kAggregate, nullptr, 0},
    {"select a, avg(x) from t group by a order by a desc limit 3 offset 1", MergeKind::kAggregate,
     "SELECT a, sum(x) AS avg, count(x) FROM t GROUP BY a", 1},
    {"select a, b, sum(x) from t group by 1, 2 order by 3 desc", MergeKind::kAggregate,
     "SELECT a, b, sum(x) FROM t GROUP BY 1, 2", 0},
    {"select a as k, count(*) from t group by k order by k", MergeKind::kAggregate,
     "SELECT a AS k, count(*) FROM t GROUP BY k", 0},
    {"select lower(b), count(*) from t group by lower(b) order by 1", MergeKind::kAggregate,
     "SELECT lower(b), count(*) FROM t GROUP BY lower(b)", 0},
    {"select a, count(*) from t group by a order by count(*) desc", MergeKind::kAggregate,
     "SELECT a, count(*) FROM t GROUP BY a", 0},
    {"select distinct a from t", MergeKind::kAggregate, nullptr, 0},
    {"select distinct a, b from t order by b", MergeKind::kAggregate, "SELECT DISTINCT a, b FROM t",
     0},
    {"select distinct * from t", MergeKind::kAggregate, nullptr, 0},
    {"select a + 1, count(*) as n from t group by a + 1 order by n", MergeKind::kAggregate,
     "SELECT a + 1, count(*) AS n FROM t GROUP BY a + 1", 0},
    {"select 1", MergeKind::kAnyOneShard, nullptr, 0},
    {"select now()", MergeKind::kAnyOneShard, nullptr, 0},
    {"values (1), (2)", MergeKind::kAnyOneShard, nullptr, 0},
    {"select count(*)", MergeKind::kAnyOneShard, nullptr, 0},
    {"", MergeKind::kAnyOneShard, nullptr, 0},
    {"/* only a comment */", MergeKind::kAnyOneShard, nullptr, 0},
};

TEST(ScatterPlannerTest, MergeableShapesGetTheirKindAndShardSql) {
  for (const Mergeable& c : kMergeable) {
    SCOPED_TRACE(c.sql);
    const PlanResult result = planScatter(c.sql, CrossShardPolicy::kMerge);
    ASSERT_TRUE(result.plan) << result.error.message;
    EXPECT_EQ(result.plan->kind, c.kind);
    EXPECT_EQ(result.plan->shard_sql, c.shard_sql != nullptr ? c.shard_sql : c.sql);
    EXPECT_EQ(result.plan->rewritten, c.shard_sql != nullptr);
    EXPECT_EQ(result.plan->hidden_columns, c.hidden);
    EXPECT_TRUE(result.plan->unordered_reason.empty());
  }
}

struct Refused {
  const char* sql;
  const char* sqlstate;
  const char* message;  // after "scalegate: cross-shard query: " for 0A000, else whole
};

const Refused kRefused[] = {
    {"select a from t order by a using ~<~", "0A000",
     "ORDER BY ... USING other than < and > is not supported"},
    {"select a from t order by a collate \"de_DE\"", "0A000",
     "ORDER BY ... COLLATE other than \"C\" is not supported (the merge orders text bytewise)"},
    {"select sum(x) over () from t", "0A000", "window functions are not supported"},
    {"select a, row_number() over (order by a) from t", "0A000",
     "window functions are not supported"},
    {"select a from t window w as (order by a)", "0A000", "window functions are not supported"},
    {"select a from t group by a having count(*) > 1", "0A000", "HAVING is not supported"},
    {"select distinct on (a) a, b from t", "0A000", "DISTINCT ON is not supported"},
    {"select distinct count(*) from t", "0A000",
     "DISTINCT together with aggregates or GROUP BY is not supported"},
    {"select string_agg(b, ',') from t", "0A000",
     "aggregates other than count, sum, min, max and avg are not supported"},
    {"select array_agg(a) from t", "0A000",
     "aggregates other than count, sum, min, max and avg are not supported"},
    {"select stddev(x) from t", "0A000",
     "aggregates other than count, sum, min, max and avg are not supported"},
    {"select percentile_cont(0.5) within group (order by x) from t", "0A000",
     "aggregates other than count, sum, min, max and avg are not supported"},
    {"select count(distinct a) from t", "0A000",
     "aggregates over DISTINCT values (count(DISTINCT x)) are not supported"},
    {"select sum(x) + 1 from t", "0A000",
     "aggregates inside expressions (as in sum(x) + 1) are not supported"},
    {"select * from t where a in (select a from u)", "0A000", "subqueries are not supported"},
    {"select (select max(a) from u) from t", "0A000", "subqueries are not supported"},
    {"select * from (select * from t) s", "0A000", "subqueries are not supported"},
    {"select exists (select 1 from u) from t", "0A000", "subqueries are not supported"},
    {"with c as (select * from t) select * from c", "0A000", "WITH queries are not supported"},
    {"select a from t union select a from u", "0A000",
     "set operations (UNION, INTERSECT, EXCEPT) are not supported"},
    {"select a from t union all select a from u", "0A000",
     "set operations (UNION, INTERSECT, EXCEPT) are not supported"},
    {"select a from t except select a from u", "0A000",
     "set operations (UNION, INTERSECT, EXCEPT) are not supported"},
    {"select * from t for update", "0A000", "FOR UPDATE and FOR SHARE are not supported"},
    {"select * from t for share", "0A000", "FOR UPDATE and FOR SHARE are not supported"},
    {"select a, count(*) from t group by rollup (a)", "0A000",
     "GROUPING SETS, ROLLUP and CUBE are not supported"},
    {"select a, count(*) from t group by grouping sets ((a), ())", "0A000",
     "GROUPING SETS, ROLLUP and CUBE are not supported"},
    {"select a, count(*) from t group by b", "0A000",
     "GROUP BY on an expression not in the result is not supported"},
    {"select a, count(*) from t group by a order by sum(x)", "0A000",
     "ORDER BY on an expression not in the result is not supported with aggregates or DISTINCT"},
    {"select *, count(*) from t group by a", "0A000",
     "a * in the result of a query with aggregates or DISTINCT is not supported"},
    {"select a from t order by a limit 2 + 3", "0A000",
     "LIMIT and OFFSET other than a constant or a parameter are not supported"},
    {"select a from t order by a fetch first 3 rows with ties", "0A000",
     "FETCH FIRST ... WITH TIES is not supported"},
    {"select * into t2 from t", "0A000", "SELECT INTO is not supported"},
    {"update t set a = 1", "0A000", "a write without a sharding key is not supported"},
    {"delete from t", "0A000", "a write without a sharding key is not supported"},
    {"insert into t values (1)", "0A000", "a write without a sharding key is not supported"},
    {"create table x (a int)", "0A000", "CreateStmt without a sharding key is not supported"},
    {"select 1; select 2", "0A000", "several statements in one query are not supported"},
    {"select a from t order by a limit -1", "2201W", "LIMIT must not be negative"},
    {"select a from t offset -1", "2201X", "OFFSET must not be negative"},
    {"select a from", "42601", "syntax error at end of input"},
};

TEST(ScatterPlannerTest, UnmergeableShapesAreRefusedWithSqlstateAndMessage) {
  for (const Refused& c : kRefused) {
    SCOPED_TRACE(c.sql);
    const PlanResult result = planScatter(c.sql, CrossShardPolicy::kMerge);
    ASSERT_FALSE(result.plan);
    EXPECT_EQ(result.error.sqlstate, c.sqlstate);
    const std::string expected =
        std::string(c.sqlstate) == "0A000"
            ? "scalegate: cross-shard query: " + std::string(c.message) + " across shards"
            : c.message;
    EXPECT_EQ(result.error.message, expected);
  }
}

TEST(ScatterPlannerTest, TestTablesHoldAtLeastSixtyStatements) {
  EXPECT_GE(std::size(kMergeable) + std::size(kRefused), 60u);
}

TEST(ScatterPlannerTest, AllowUnorderedRunsUnmergeableShapesAsTheyAre) {
  for (const Refused& c : kRefused) {
    if (std::string(c.sqlstate) != "0A000" || std::string(c.sql).find(';') != std::string::npos ||
        std::string(c.sql).rfind("create", 0) == 0) {
      continue;
    }
    SCOPED_TRACE(c.sql);
    const PlanResult result = planScatter(c.sql, CrossShardPolicy::kAllowUnordered);
    ASSERT_TRUE(result.plan);
    EXPECT_EQ(result.plan->kind, MergeKind::kConcatenate);
    EXPECT_EQ(result.plan->shard_sql, c.sql);
    EXPECT_FALSE(result.plan->unordered_reason.empty());
  }
  // Errors PostgreSQL itself gives stay errors; statements other than reads and writes too.
  EXPECT_FALSE(planScatter("select a from t limit -1", CrossShardPolicy::kAllowUnordered).plan);
  EXPECT_FALSE(planScatter("create table x (a int)", CrossShardPolicy::kAllowUnordered).plan);
  // Mergeable shapes are still merged.
  EXPECT_EQ(planScatter("select a from t order by a", CrossShardPolicy::kAllowUnordered).plan->kind,
            MergeKind::kSorted);
}

TEST(ScatterPlannerTest, DenyRefusesEverythingThatSpansShards) {
  const PlanResult refused = planScatter("select a from t order by a", CrossShardPolicy::kDeny);
  ASSERT_FALSE(refused.plan);
  EXPECT_EQ(refused.error.sqlstate, "0A000");
  EXPECT_NE(refused.error.message.find("cross_shard is deny"), std::string::npos);
  EXPECT_TRUE(planScatter("select 1", CrossShardPolicy::kDeny).plan);
}

TEST(ScatterPlannerTest, SortKeysCarryDirectionNullsAndColumn) {
  const PlanResult result = planScatter(
      "select a, b as x, c from t order by x desc, 3 nulls first, a desc nulls last, lower(d)",
      CrossShardPolicy::kMerge);
  ASSERT_TRUE(result.plan);
  const std::vector<SortKey> expected = {
      {{false, 1}, true, true},  // DESC defaults to NULLS FIRST
      {{false, 2}, false, true},
      {{false, 0}, true, false},
      {{true, 0}, false, false},  // hidden lower(d), the last column
  };
  EXPECT_EQ(result.plan->sort, expected);
  EXPECT_EQ(result.plan->hidden_columns, 1u);
}

TEST(ScatterPlannerTest, UsingLessOrGreaterIsAscendingOrDescending) {
  const PlanResult result =
      planScatter("select a, b from t order by a using >, b using operator(pg_catalog.<)",
                  CrossShardPolicy::kMerge);
  ASSERT_TRUE(result.plan) << result.error.message;
  const std::vector<SortKey> expected = {{{false, 0}, true, true}, {{false, 1}, false, false}};
  EXPECT_EQ(result.plan->sort, expected);
}

TEST(ScatterPlannerTest, KeysAfterAStarAreHiddenCopiesCountedFromTheEnd) {
  const PlanResult result =
      planScatter("select *, a as k from t order by k, id", CrossShardPolicy::kMerge);
  ASSERT_TRUE(result.plan);
  EXPECT_EQ(result.plan->shard_sql, "SELECT *, a AS k, a, id FROM t ORDER BY k, id");
  const std::vector<SortKey> expected = {{{true, 1}, false, false}, {{true, 0}, false, false}};
  EXPECT_EQ(result.plan->sort, expected);
}

TEST(ScatterPlannerTest, AggregateColumnsAndAvgCountColumns) {
  const PlanResult result = planScatter(
      "select a, count(*), avg(x), sum(y), min(z), max(z), avg(y) from t group by a order by 3",
      CrossShardPolicy::kMerge);
  ASSERT_TRUE(result.plan);
  const std::vector<AggregateColumn> expected = {
      {ColumnRole::kGroupKey, 0}, {ColumnRole::kCount, 0}, {ColumnRole::kAvg, 7},
      {ColumnRole::kSum, 0},      {ColumnRole::kMin, 0},   {ColumnRole::kMax, 0},
      {ColumnRole::kAvg, 8}};
  EXPECT_EQ(result.plan->aggregate, expected);
  EXPECT_TRUE(result.plan->grouped);
  EXPECT_EQ(result.plan->hidden_columns, 2u);
  EXPECT_EQ(result.plan->sort, (std::vector<SortKey>{{{false, 2}, false, false}}));
  EXPECT_FALSE(planScatter("select count(*) from t", CrossShardPolicy::kMerge).plan->grouped);
}

TEST(ScatterPlannerTest, BoundsAreConstantsOrParameters) {
  const PlanResult constant =
      planScatter("select a from t order by a limit 4 offset 2", CrossShardPolicy::kMerge);
  EXPECT_EQ(constant.plan->limit, (RowBound{RowBound::Kind::kConstant, 4, 0}));
  EXPECT_EQ(constant.plan->offset, (RowBound{RowBound::Kind::kConstant, 2, 0}));
  const PlanResult param =
      planScatter("select a from t order by a limit $2 offset $1::int", CrossShardPolicy::kMerge);
  EXPECT_EQ(param.plan->limit, (RowBound{RowBound::Kind::kParameter, 0, 2}));
  EXPECT_EQ(param.plan->offset, (RowBound{RowBound::Kind::kParameter, 0, 1}));
  PlanError error;
  std::optional<ResolvedBounds> bounds = resolveBounds(*param.plan, {"3", "10"}, &error);
  ASSERT_TRUE(bounds);
  EXPECT_EQ(bounds->limit, 10);
  EXPECT_EQ(bounds->offset, 3);
  bounds = resolveBounds(*param.plan, {std::nullopt, std::nullopt}, &error);
  ASSERT_TRUE(bounds);
  EXPECT_FALSE(bounds->limit);
  EXPECT_EQ(bounds->offset, 0);
  EXPECT_FALSE(resolveBounds(*param.plan, {"0", "-1"}, &error));
  EXPECT_EQ(error.sqlstate, "2201W");
  EXPECT_FALSE(resolveBounds(*param.plan, {"x", "1"}, &error));
  EXPECT_EQ(error.sqlstate, "22P02");
  EXPECT_FALSE(resolveBounds(*param.plan, {"1"}, &error));
  EXPECT_EQ(error.sqlstate, "08P01");
}

TEST(ScatterPlannerTest, DeepAndLargeTextsNeverCrash) {
  std::string deep = "select a from t where a = ";
  for (int i = 0; i < 5000; ++i) deep += "(";
  deep += "1";
  for (int i = 0; i < 5000; ++i) deep += ")";
  const PlanResult nested = planScatter(deep, CrossShardPolicy::kMerge);
  EXPECT_TRUE(nested.plan ? nested.plan->kind == MergeKind::kConcatenate
                          : !nested.error.message.empty());
  std::string sum = "select a from t where a = 1";
  for (int i = 0; i < 3000; ++i) sum += " + 1";
  sum += " order by a";
  const PlanResult long_sum = planScatter(sum, CrossShardPolicy::kMerge);
  ASSERT_TRUE(long_sum.plan) << long_sum.error.message;
  EXPECT_EQ(long_sum.plan->kind, MergeKind::kSorted);
  EXPECT_FALSE(planScatter(std::string(size_t{2} << 20, ' '), CrossShardPolicy::kMerge).plan);
}

}  // namespace
}  // namespace sg::pg::scatter
