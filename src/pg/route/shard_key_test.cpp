#include "pg/route/shard_key.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::pg::route {
namespace {

// A result in one line: "none", "all", or "keys 5,'a',$1,$2[],1::int8" (+ " rows ..." for
// INSERT ... VALUES, + " sets_key").
std::string render(const KeyValue& v) {
  std::string out;
  switch (v.kind) {
    case KeyValueKind::kInteger:
      out = v.text;
      break;
    case KeyValueKind::kNumeric:
      out = "n" + v.text;
      break;
    case KeyValueKind::kString:
      out = "'" + v.text + "'";
      break;
    case KeyValueKind::kBoolean:
      out = "b" + v.text;
      break;
    case KeyValueKind::kParameter:
      out = "$" + std::to_string(v.param);
      break;
    case KeyValueKind::kParameterArray:
      out = "$" + std::to_string(v.param) + "[]";
      break;
  }
  return v.type.empty() ? out : out + "::" + v.type;
}

std::string renderList(const std::vector<KeyValue>& values) {
  std::string out;
  for (const KeyValue& v : values) out += (out.empty() ? "" : ",") + render(v);
  return out;
}

std::string render(const ShardKeys& keys) {
  std::string out = keys.scope == KeyScope::kAllShards        ? "all"
                    : keys.scope == KeyScope::kNoShardedTable ? "none"
                                                              : "keys " + renderList(keys.values);
  if (!keys.insert_rows.empty()) out += " rows " + renderList(keys.insert_rows);
  if (keys.sets_key) out += " sets_key";
  if (!keys.writes_unsharded.empty()) out += " writes " + keys.writes_unsharded;
  return out;
}

const ShardKeySpec kSpec{"customer_id", {"orders", "items", "customers", "Orders"}};

struct Case {
  const char* sql;
  const char* expected;
};

// clang-format off
const Case kCases[] = {
    // equality, either side, qualified, casts
    {"select * from orders where customer_id = 5", "keys 5"},
    {"select * from orders where 5 = customer_id", "keys 5"},
    {"select * from orders o where o.customer_id = 5", "keys 5"},
    {"select * from orders as o where o.customer_id = 7", "keys 7"},
    {"select * from orders where orders.customer_id = 5", "keys 5"},
    {"select * from public.orders where public.orders.customer_id = 5", "keys 5"},
    {"select * from orders where public.orders.customer_id = 5", "keys 5"},
    {"select * from other.orders where public.orders.customer_id = 5", "all"},
    {"select * from orders o where orders.customer_id = 5", "all"},  // orders is hidden by o
    {"select * from orders where customer_id = '5'", "keys '5'"},
    {"select * from orders where customer_id = '5'::bigint", "keys '5'::int8"},
    {"select * from orders where customer_id = 5::int8", "keys 5::int8"},
    {"select * from orders where customer_id = cast(5 as bigint)", "keys 5::int8"},
    {"select * from orders where customer_id = int8 '5'", "keys '5'::int8"},
    {"select * from orders where customer_id = 'abc'::text", "keys 'abc'::text"},
    {"select * from orders where customer_id = '5'::text::int8", "all"},
    {"select * from orders where customer_id = 5.5::int8", "all"},  // rounds: left to the server
    {"select * from orders where customer_id = 'abc'::varchar(2)", "all"},  // truncates
    {"select * from orders where customer_id = 'a '::bpchar", "all"},  // trailing spaces ignored
    {"select * from orders where customer_id = -5", "keys -5"},
    {"select * from orders where customer_id = - 5", "keys -5"},
    {"select * from orders where customer_id = -(5::int8)", "keys -5::int8"},
    {"select * from orders where customer_id = - -5", "keys 5"},
    {"select * from orders where customer_id = -1.5", "keys n-1.5"},
    {"select * from orders where customer_id = 1e3", "keys n1e3"},
    {"select * from orders where customer_id = 9223372036854775807", "keys 9223372036854775807"},
    {"select * from orders where customer_id = 09223372036854775807", "keys 9223372036854775807"},
    {"select * from orders where customer_id = E'a\\'b'", "keys 'a'b'"},
    {"select * from orders where customer_id = 'it''s'", "keys 'it's'"},
    {"select * from orders where customer_id = $$x$$", "keys 'x'"},
    {"select * from orders where customer_id = true", "keys btrue"},
    {"select * from orders where customer_id = null", "keys "},
    {"select * from orders where customer_id = x'1f'", "all"},
    {"select * from orders where customer_id = 2 + 3", "all"},
    {"select * from orders where customer_id = abs(-5)", "all"},
    {"select * from orders where customer_id operator(pg_catalog.=) 5", "keys 5"},
    {"select * from orders where customer_id operator(myschema.=) 5", "all"},
    // parameters
    {"select * from orders where customer_id = $1", "keys $1"},
    {"select * from orders where customer_id = $2::int8 and status = $1", "keys $2::int8"},
    {"select * from orders where customer_id = ANY($1)", "keys $1[]"},
    {"select * from orders where customer_id = any($1::bigint[])", "keys $1[]::int8"},
    {"select * from orders where customer_id = any(array[1, 2, $3])", "keys 1,2,$3"},
    {"select * from orders where customer_id = any(array[1, 2]::int8[])", "keys 1::int8,2::int8"},
    {"select * from orders where customer_id = any('{1,2}')", "all"},
    {"select * from orders where customer_id <> all(array[1])", "all"},
    // IN lists
    {"select * from orders where customer_id in (1, 2, $3)", "keys 1,2,$3"},
    {"select * from orders where customer_id in (1, 1, 2)", "keys 1,2"},
    {"select * from orders where customer_id in (1, null)", "keys 1"},
    {"select * from orders where customer_id not in (1, 2)", "all"},
    {"select * from orders where customer_id in (select id from customers)", "all"},
    {"select * from orders where customer_id in (1, x)", "all"},
    // AND, OR, NOT, parentheses
    {"select * from orders where customer_id = 5 and status = 'open'", "keys 5"},
    {"select * from orders where status = 'open' and (customer_id = 5)", "keys 5"},
    {"select * from orders where customer_id in (1, 2, 3) and customer_id in (2, 3, 4)", "keys 2,3"},
    {"select * from orders where customer_id = 1 and customer_id = 2", "keys "},
    {"select * from orders where customer_id = 1 and customer_id = '1'", "keys 1"},
    {"select * from orders where customer_id = $1 and customer_id = 5", "keys $1"},
    {"select * from orders where customer_id = 1 or customer_id = 2", "keys 1,2"},
    {"select * from orders where (customer_id = 1 or customer_id in (2, 3)) and x > 0", "keys 1,2,3"},
    {"select * from orders where customer_id = 1 or status = 'x'", "all"},
    {"select * from orders where ((customer_id = 1) or ((customer_id = 2 and y = 1)))", "keys 1,2"},
    {"select * from orders where (customer_id = 1 or customer_id = 2) and (customer_id = 2 or customer_id = 3)", "keys 2"},
    {"select * from orders where not customer_id = 5", "all"},
    {"select * from orders where not (customer_id <> 5)", "all"},
    {"select * from orders where customer_id < 5", "all"},
    {"select * from orders where customer_id between 1 and 5", "all"},
    {"select * from orders where customer_id::text like '5%'", "all"},
    {"select * from orders where customer_id::text = '5'", "all"},
    {"select * from orders where customer_id is null", "all"},
    {"select * from orders where customer_id is not distinct from 5", "all"},
    {"select * from orders", "all"},
    {"select * from orders where true", "all"},
    // names: unquoted identifiers fold to lower case, quoted ones do not
    {"select * from orders where Customer_Id = 5", "keys 5"},
    {"select * from orders where CUSTOMER_ID = 5", "keys 5"},
    {"select * from orders where \"customer_id\" = 5", "keys 5"},
    {"select * from orders where \"Customer_Id\" = 5", "all"},
    {"select * from ORDERS O where o.customer_id = 5", "keys 5"},
    {"select * from \"Orders\" where customer_id = 5", "keys 5"},
    {"select * from orders where orders.\"customer_id\" = 5", "keys 5"},
    // tables that are not sharded, and no table
    {"select 1", "none"},
    {"select now()", "none"},
    {"select * from countries", "none"},
    {"select * from countries where customer_id = 5", "none"},
    {"begin", "none"},
    {"set search_path = x", "none"},
    {"show work_mem", "none"},
    {"commit", "none"},
    {"create table t (id int)", "all"},
    {"execute p(1)", "all"},
    {"vacuum orders", "all"},
    {"select * into t2 from orders where customer_id = 5", "all"},
    {"create table t3 as select * from orders where customer_id = 5", "all"},
    {"merge into orders o using items i on o.id = i.order_id when matched then delete", "all"},
    {"select my_func(5)", "none"},  // a function hides its tables: a hint names the shard
    {"table orders", "all"},
    {"values (1), (2)", "none"},
    {"select * from orders where customer_id = 5 for update", "keys 5"},
    {"select * from orders where customer_id = 5 and customer_id = any($1)", "keys 5"},
    {"select * from orders o right join items i on o.customer_id = i.customer_id where o.customer_id = 2", "keys 2"},
    {"select * from orders o full join items i using (customer_id) where customer_id = 2", "keys 2"},
    {"select * from countries c left join orders o using (customer_id) where customer_id = 2", "keys 2"},
    {"select * from orders o where customer_id = 5 and exists (select 1 from orders where customer_id = o.customer_id)", "keys 5"},
    {"select * from orders where customer_id = 5 and exists (select 1 from countries where code = 'de')", "keys 5"},
    {"select * from orders where customer_id = 5 limit (select count(*) from orders)", "all"},
    {"update orders set status = 'x' where current of c", "all"},
    // joins
    {"select * from orders o join items i on i.customer_id = o.customer_id where o.customer_id = 5", "keys 5"},
    {"select * from orders o join items i on i.order_id = o.id where o.customer_id = 5", "all"},
    {"select * from orders o join items i on i.order_id = o.id where o.customer_id = 5 and i.customer_id = 5", "keys 5"},
    {"select * from orders o join items i on i.order_id = o.id where o.customer_id = 5 and i.customer_id = 6", "keys 5,6"},
    {"select * from orders o, items i where o.customer_id = i.customer_id and i.customer_id = $1", "keys $1"},
    {"select * from orders join items using (customer_id) where customer_id = 3", "keys 3"},
    {"select * from orders natural join items where items.customer_id = 3", "keys 3"},
    {"select * from orders o left join items i on i.customer_id = o.customer_id where o.customer_id = 5", "keys 5"},
    {"select * from orders o left join items i on i.customer_id = o.customer_id and o.customer_id = 5", "all"},
    {"select * from orders o join items i on i.customer_id = o.customer_id and o.customer_id = 5", "keys 5"},
    {"select * from orders o join countries c on c.code = o.country where o.customer_id = 5", "keys 5"},
    {"select * from orders o join countries c on c.code = o.country where customer_id = 5", "keys 5"},
    {"select * from orders o, items i where customer_id = 5", "all"},  // ambiguous for the server
    {"select * from orders o join items i on o.customer_id = i.customer_id or o.x = 1 where o.customer_id = 5", "all"},
    // subqueries and CTEs: each level is read on its own
    {"select * from (select * from orders where customer_id = 5) s", "keys 5"},
    {"select * from (select * from orders) s where s.customer_id = 5", "all"},
    {"select * from orders where customer_id = 5 and total > (select avg(total) from orders)", "all"},
    {"select * from orders where customer_id = 5 and id in (select order_id from items where customer_id = 5)", "keys 5"},
    {"select * from orders o where customer_id = 5 and exists (select 1 from items i where i.customer_id = o.customer_id)", "keys 5"},
    {"select * from orders o where exists (select 1 from items i where i.customer_id = o.customer_id and i.customer_id = 4)", "all"},
    {"with c as (select * from orders where customer_id = 5) select * from c", "keys 5"},
    {"with c as (select * from orders) select * from c where customer_id = 5", "all"},
    {"with orders as (select 1 as customer_id) select * from orders", "none"},
    {"with orders as (select * from orders where customer_id = 2) select * from orders", "keys 2"},
    {"with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r", "none"},
    {"with w as (delete from orders where customer_id = 9 returning *) select * from w", "keys 9"},
    {"select customer_id from orders where customer_id = 1 union select customer_id from orders where customer_id = 2", "keys 1,2"},
    {"select * from orders where customer_id = 1 union all select * from orders", "all"},
    {"select * from orders o, lateral (select * from items i where i.customer_id = o.customer_id) x where o.customer_id = 8", "keys 8"},
    {"select (select count(*) from items where customer_id = 3) from orders where customer_id = 3", "keys 3"},
    {"explain select * from orders where customer_id = 5", "keys 5"},
    {"declare c cursor for select * from orders where customer_id = 5", "keys 5"},
    {"copy (select * from orders where customer_id = 5) to stdout", "keys 5"},
    {"copy orders to stdout", "all"},
    // UPDATE and DELETE
    {"update orders set status = 'x' where customer_id = 5", "keys 5"},
    {"update orders o set status = 'x' where o.customer_id in ($1, $2)", "keys $1,$2"},
    {"update orders set status = 'x'", "all"},
    {"update orders set customer_id = 6 where customer_id = 5", "keys 5 sets_key"},
    {"update orders set customer_id = 5 where customer_id = 5", "keys 5"},
    {"update orders set (status, customer_id) = ('x', 6) where customer_id = 5", "keys 5 sets_key"},
    {"update orders set status = i.s from items i where i.customer_id = orders.customer_id and orders.customer_id = 5", "keys 5"},
    {"update countries set name = 'x' where code = 'de'", "all writes countries"},
    {"delete from orders where customer_id = $1", "keys $1"},
    {"delete from orders where id = 3", "all"},
    {"delete from orders o using items i where i.customer_id = o.customer_id and o.customer_id = 2", "keys 2"},
    {"delete from countries", "all writes countries"},
    {"with x as (select 1) update orders set a = 1 where customer_id = 4", "keys 4"},
    // INSERT
    {"insert into orders (id, customer_id) values (1, 5)", "keys 5 rows 5"},
    {"insert into orders (customer_id, id) values ($1, $2)", "keys $1 rows $1"},
    {"insert into orders (id, customer_id) values (1, 5), (2, 6), (3, 5)", "keys 5,6 rows 5,6,5"},
    {"insert into orders (id, customer_id) values (1, '5'::bigint)", "keys '5'::int8 rows '5'::int8"},
    {"insert into orders (id, customer_id) values (1, -5)", "keys -5 rows -5"},
    {"insert into orders values (1, 5)", "all"},
    {"insert into orders (id) values (1)", "all"},
    {"insert into orders (id, customer_id) values (1, default)", "all"},
    {"insert into orders (id, customer_id) values (1, 2 * 3)", "all"},
    {"insert into orders (id, customer_id) select id, customer_id from items", "all"},
    {"insert into orders default values", "all"},
    {"insert into orders (id, customer_id) values (1, 5) on conflict (id) do nothing", "keys 5 rows 5"},
    {"insert into orders (id, customer_id) values (1, 5) on conflict (id) do update set customer_id = excluded.customer_id", "keys 5 rows 5"},
    {"insert into orders (id, customer_id) values (1, 5) on conflict (id) do update set customer_id = 6", "keys 5 rows 5 sets_key"},
    {"insert into orders (id, customer_id) values (1, 5) returning *", "keys 5 rows 5"},
    {"insert into orders (id, customer_id) values (1, (select max(customer_id) from orders))", "all"},
    {"insert into orders (id, \"Customer_Id\") values (1, 5)", "all"},
    {"insert into countries (code) values ('de')", "all writes countries"},
    {"delete from countries using orders where orders.customer_id = 5", "all writes countries"},
    {"with d as (delete from countries returning code) select * from orders where customer_id = 5", "all writes countries"},
    {"insert into o (id, customer_id) values (1, 5)", "all writes o"},  // o is not sharded
    {"with v as (select 1) insert into orders (id, customer_id) values (1, 5)", "keys 5 rows 5"},
    {"insert into orders as o (id, customer_id) values (1, 5)", "keys 5 rows 5"},
};
// clang-format on

TEST(ShardKeyTest, StatementTable) {
  size_t checked = 0;
  for (const Case& c : kCases) {
    const TextShardKeys found = findShardKeys(c.sql, kSpec);
    EXPECT_FALSE(found.parse_error) << c.sql;
    ASSERT_EQ(found.statements.size(), 1u) << c.sql;
    EXPECT_EQ(render(found.statements[0]), c.expected) << c.sql;
    EXPECT_EQ(found.combined, found.statements[0]) << c.sql;
    if (found.statements[0].scope == KeyScope::kAllShards) {
      EXPECT_FALSE(found.statements[0].reason.empty()) << c.sql;
    }
    ++checked;
  }
  EXPECT_GE(checked, 80u);
}

TEST(ShardKeyTest, SeveralStatementsArePerStatementAndUnited) {
  const TextShardKeys found = findShardKeys(
      "select * from orders where customer_id = 1; begin; delete from orders where customer_id in "
      "(2, 1)",
      kSpec);
  ASSERT_EQ(found.statements.size(), 3u);
  EXPECT_EQ(render(found.statements[0]), "keys 1");
  EXPECT_EQ(render(found.statements[1]), "none");
  EXPECT_EQ(render(found.statements[2]), "keys 2,1");
  EXPECT_EQ(render(found.combined), "keys 1,2");

  const TextShardKeys any = findShardKeys("select 1; select * from orders", kSpec);
  EXPECT_EQ(render(any.combined), "all");
  EXPECT_EQ(any.combined.reason, "no condition on the key of orders");

  // Rows of INSERTs in several statements are only given per statement.
  const TextShardKeys inserts = findShardKeys(
      "insert into orders (customer_id) values (1); insert into orders (customer_id) values (2)",
      kSpec);
  EXPECT_EQ(render(inserts.combined), "keys 1,2");
  EXPECT_EQ(render(inserts.statements[1]), "keys 2 rows 2");
}

TEST(ShardKeyTest, EmptyTextAndParseErrors) {
  EXPECT_EQ(render(findShardKeys("", kSpec).combined), "none");
  EXPECT_EQ(render(findShardKeys("-- nothing", kSpec).combined), "none");
  const TextShardKeys bad = findShardKeys("select * from orders where customer_id = ", kSpec);
  EXPECT_TRUE(bad.parse_error);
  EXPECT_EQ(render(bad.combined), "all");
  EXPECT_NE(bad.combined.reason.find("not parsed"), std::string::npos);
  // The wire protocol's string ends at a NUL.
  const std::string with_nul("select * from orders where customer_id = 3\0garbage", 51);
  EXPECT_EQ(render(findShardKeys(with_nul, kSpec).combined), "keys 3");
}

TEST(ShardKeyTest, WithoutTableListEveryTableIsSharded) {
  const ShardKeySpec every{"customer_id", {}};
  EXPECT_EQ(render(findShardKeys("select * from countries", every).combined), "all");
  EXPECT_EQ(
      render(findShardKeys("select * from anything a where a.customer_id = 1", every).combined),
      "keys 1");
  EXPECT_EQ(render(findShardKeys(
                       "with c as (select * from t where customer_id = 2) select * from c", every)
                       .combined),
            "keys 2");
  EXPECT_EQ(render(findShardKeys("insert into t (customer_id) values ($1)", every).combined),
            "keys $1 rows $1");
}

TEST(ShardKeyTest, SystemCatalogsAreNeverSharded) {
  const ShardKeySpec every{"customer_id", {}};
  EXPECT_EQ(render(findShardKeys("select oid from pg_type where typname = $1", every).combined),
            "none");
  EXPECT_EQ(render(findShardKeys("select * from pg_catalog.pg_class c, information_schema.tables t",
                                 every)
                       .combined),
            "none");
  EXPECT_EQ(render(findShardKeys("select * from app.pg_orders", every).combined), "all");
}

TEST(ShardKeyTest, KeyColumnNameIsExact) {
  const ShardKeySpec quoted{"Customer_Id", {"orders"}};
  EXPECT_EQ(
      render(findShardKeys("select * from orders where \"Customer_Id\" = 1", quoted).combined),
      "keys 1");
  EXPECT_EQ(render(findShardKeys("select * from orders where Customer_Id = 1", quoted).combined),
            "all");
}

TEST(ShardKeyTest, DeepNestingIsAllShardsNotACrash) {
  std::string deep = "select * from orders where customer_id = 1";
  for (int i = 0; i < 600; ++i) deep += " and (x = 1";
  deep += std::string(600, ')');
  const TextShardKeys found = findShardKeys(deep, kSpec);
  EXPECT_FALSE(found.parse_error);
  EXPECT_EQ(render(found.combined), "keys 1");

  std::string deeper = "select ";
  for (int i = 0; i < 5000; ++i) deeper += "(";
  deeper += "1" + std::string(5000, ')');
  EXPECT_EQ(render(findShardKeys(deeper, kSpec).combined), "all");

  std::string ors = "select * from orders where customer_id = 0";
  for (int i = 1; i < 250; ++i) ors += " or customer_id = " + std::to_string(i);
  EXPECT_EQ(findShardKeys(ors, kSpec).combined.values.size(), 250u);
}

TEST(ShardKeyTest, HintsAndSettingsComeBeforeTheStatementsKeys) {
  StatementClass verdict;
  EXPECT_EQ(shardSource(verdict, false, false), ShardSource::kStatementKeys);
  EXPECT_EQ(shardSource(verdict, false, true), ShardSource::kSessionKey);
  EXPECT_EQ(shardSource(verdict, true, true), ShardSource::kSessionShard);
  verdict.sharding_key_hint = "7";
  EXPECT_EQ(shardSource(verdict, true, true), ShardSource::kCommentKey);
  verdict.shard_hint = 2;
  EXPECT_EQ(shardSource(verdict, true, true), ShardSource::kCommentShard);
}

TEST(ShardKeyFinderTest, OneParseServesTheClassifierAndTheFinder) {
  StatementClassifier classifier(std::make_shared<const FunctionAllowList>(), 100, 1 << 20);
  ShardKeyFinder finder(kSpec, 100, 1 << 20);
  const auto first = finder.find("update orders set x = 1 where customer_id = 5", classifier);
  EXPECT_EQ(first.verdict->target, Target::kPrimary);
  EXPECT_EQ(render(first.keys->combined), "keys 5");
  EXPECT_EQ(classifier.misses(), 1u);
  EXPECT_EQ(finder.misses(), 1u);
  // The same shape with another constant: the verdict is the cached one, the keys are new.
  const auto second = finder.find("update orders set x = 1 where customer_id = 6", classifier);
  EXPECT_EQ(second.verdict.get(), first.verdict.get());
  EXPECT_EQ(render(second.keys->combined), "keys 6");
  EXPECT_EQ(classifier.hits(), 1u);
  // The same text again: both hit.
  const auto third = finder.find("update orders set x = 1 where customer_id = 6", classifier);
  EXPECT_EQ(third.keys.get(), second.keys.get());
  EXPECT_EQ(finder.hits(), 1u);
  // Text that does not parse is not parsed a second time, and is all shards.
  const auto bad = finder.find("select * from orders where", classifier);
  EXPECT_TRUE(bad.verdict->parse_error);
  EXPECT_TRUE(bad.keys->parse_error);
  EXPECT_EQ(bad.keys->combined.scope, KeyScope::kAllShards);
  EXPECT_NE(bad.keys->combined.reason.find("syntax error"), std::string::npos);
}

TEST(ShardKeyFinderTest, ClassifierHandsItsTreeOnlyOnAMissThatParses) {
  StatementClassifier classifier(std::make_shared<const FunctionAllowList>(), 100, 1 << 20);
  int reads = 0;
  const auto count = [&](const PgQuery__ParseResult&) { ++reads; };
  classifier.classify("select * from orders where customer_id = 1", count);
  EXPECT_EQ(reads, 1);
  classifier.classify("select * from orders where customer_id = 2", count);  // a hit
  EXPECT_EQ(reads, 1);
  classifier.classify("select from where", count);
  EXPECT_EQ(reads, 1);
  // Deep text is parsed on the classifier's large stack, and still read.
  std::string deep = "select * from orders where customer_id = 1";
  for (int i = 0; i < 600; ++i) deep += " and (x = 1";
  deep += std::string(600, ')');
  classifier.classify(deep, count);
  EXPECT_EQ(reads, 2);
}

TEST(ShardKeyFinderTest, CachesPerWholeText) {
  ShardKeyFinder finder(kSpec, 2, 1 << 20);
  const auto first = finder.find("select * from orders where customer_id = $1");
  EXPECT_EQ(render(first->combined), "keys $1");
  EXPECT_EQ(finder.find("select * from orders where customer_id = $1").get(), first.get());
  EXPECT_EQ(finder.hits(), 1u);
  // Another constant is another entry (the keys depend on it).
  EXPECT_EQ(render(finder.find("select * from orders where customer_id = 1")->combined), "keys 1");
  EXPECT_EQ(render(finder.find("select * from orders where customer_id = 2")->combined), "keys 2");
  EXPECT_EQ(finder.misses(), 3u);
  EXPECT_EQ(finder.entries(), 2u);
  EXPECT_EQ(finder.evictions(), 1u);
  EXPECT_GT(finder.bytes(), 0u);
  // A text larger than the byte bound is answered, not kept.
  ShardKeyFinder small(kSpec, 10, 100);
  EXPECT_EQ(render(small.find("select * from orders where customer_id = 9")->combined), "keys 9");
  EXPECT_EQ(small.entries(), 0u);
}

}  // namespace
}  // namespace sg::pg::route
