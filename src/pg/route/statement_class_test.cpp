// The verdict for each kind of statement the read/write split must tell apart (issue 17),
// against libpg_query's real PostgreSQL 15 parser.
#include "pg/route/statement_class.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace sg::pg::route {
namespace {

constexpr Target R = Target::kReplicaOk;
constexpr Target P = Target::kPrimary;

struct Case {
  const char* sql;
  Target target;
  const char* reason;
  bool sticky = false;
  bool overridable = false;  // replica_overridable
};

// clang-format off
const std::vector<Case> kCases = {
  // plain reads
  {"select 1", R, "read"},
  {"SELECT * FROM t", R, "read"},
  {"select a, b from t where a = 1 order by b limit 10 offset 5", R, "read"},
  {"select * from t join u using (id) where u.x > 3", R, "read"},
  {"select * from t where id in (select id from u)", R, "read"},
  {"select exists (select 1 from t)", R, "read"},
  {"select * from (select * from t) s", R, "read"},
  {"with x as (select 1) select * from x", R, "read"},
  {"with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select * from r", R, "read"},
  {"values (1), (2)", R, "read"},
  {"table t", R, "read"},
  {"select 1 union select 2 except select 3", R, "read"},
  {"select $1::int", R, "read"},
  {"select * from t where a = $1 and b = $2", R, "read"},
  {"select case when a > 1 then 'x' else 'y' end from t", R, "read"},
  {"select coalesce(a, 0), nullif(b, 1), greatest(a, b), least(a, b) from t", R, "read"},
  {"select current_date, current_timestamp, localtime, current_user, session_user", R, "read"},
  {"select 'a'::text, cast(1 as bigint), 1::numeric(10,2)", R, "read"},
  {"select distinct on (a) a, b from t order by a, b", R, "read"},
  {"select a, count(*) from t group by a having count(*) > 1", R, "read"},
  {"select row_number() over (partition by a order by b) from t", R, "read"},
  {"show search_path", R, "read"},
  {"SHOW ALL", R, "read"},
  // read-only functions from the allow-list (aggregates, math, string, date/time, json)
  {"select count(*), sum(a), avg(a), min(a), max(a), array_agg(a), string_agg(b, ',') from t", R, "read"},
  {"select abs(-1), round(2.5), sqrt(4), power(2, 3), mod(7, 2), floor(1.5), random()", R, "read"},
  {"select lower(s), upper(s), length(s), substr(s, 1, 2), replace(s, 'a', 'b'), concat(s, 'x') from t", R, "read"},
  {"select now(), date_trunc('day', now()), age(now()), to_char(now(), 'YYYY')", R, "read"},
  {"select extract(year from now()), now() at time zone 'UTC'", R, "read"},
  {"select substring('abc' from 2), trim(' x '), position('b' in 'abc'), overlay('abc' placing 'x' from 2)", R, "read"},
  {"select j->>'a', jsonb_build_object('a', 1), jsonb_array_length(j), json_agg(t) from t", R, "read"},
  {"select * from generate_series(1, 10)", R, "read"},
  {"select * from jsonb_each('{\"a\": 1}'::jsonb)", R, "read"},
  {"select * from unnest(array[1, 2]) with ordinality", R, "read"},
  {"select pg_catalog.now()", R, "read"},
  {"select PG_CATALOG.NOW()", R, "read"},
  {"select \"NOW\"()", R, "read"},
  {"select pg_is_in_recovery(), version(), current_database()", R, "read"},
  {"select gen_random_uuid()", R, "read"},
  {"select to_tsvector('english', body) @@ to_tsquery('cat') from docs", R, "read"},
  // functions not known to be read-only, and known writers
  {"select nextval('s')", P, "function nextval"},
  {"select pg_catalog.nextval('s')", P, "function pg_catalog.nextval"},
  {"select setval('s', 10)", P, "function setval"},
  {"select currval('s')", P, "function currval", false, true},
  {"select my_func()", P, "function my_func", false, true},
  {"select my_schema.f()", P, "function my_schema.f", false, true},
  {"select public.lower('x')", P, "function public.lower", false, true},
  {"select * from t where id = my_func(1)", P, "function my_func", false, true},
  {"select * from my_srf()", P, "function my_srf", false, true},
  {"select * from t order by my_func(a)", P, "function my_func", false, true},
  {"select * from t limit my_func()", P, "function my_func", false, true},
  {"values (my_func())", P, "function my_func", false, true},
  {"select * from t group by my_func(a)", P, "function my_func", false, true},
  {"select count(*) filter (where my_func(a)) from t", P, "function my_func", false, true},
  {"select (select (select my_func()))", P, "function my_func", false, true},
  {"select * from t where exists (select 1 from u where u.x = my_func(t.a))", P, "function my_func", false, true},
  {"with x as (select my_func()) select * from x", P, "function my_func", false, true},
  {"select abs(my_func())", P, "function my_func", false, true},
  {"select sum(a) over (order by my_func(b)) from t", P, "function my_func", false, true},
  {"select array[my_func()]", P, "function my_func", false, true},
  {"select * from t where a = any(array(select my_func()))", P, "function my_func", false, true},
  {"select txid_current()", P, "function txid_current"},
  {"select pg_advisory_lock(1)", P, "function pg_advisory_lock", true},
  {"select pg_advisory_xact_lock(1)", P, "function pg_advisory_xact_lock"},
  {"select pg_try_advisory_lock(1)", P, "function pg_try_advisory_lock", true},
  {"select set_config('search_path', 'x', false)", P, "function set_config", true},
  {"select pg_notify('c', 'm')", P, "function pg_notify"},
  {"select lo_import('/tmp/x')", P, "function lo_import"},
  {"select pg_terminate_backend(1)", P, "function pg_terminate_backend"},
  // the certain reason wins over the uncertain one
  {"select my_func(), nextval('s')", P, "function nextval"},
  // row locks
  {"select * from t for update", P, "FOR UPDATE"},
  {"select * from t for share", P, "FOR SHARE"},
  {"select * from t for no key update", P, "FOR NO KEY UPDATE"},
  {"select * from t for key share", P, "FOR KEY SHARE"},
  {"select * from t for update skip locked", P, "FOR UPDATE"},
  {"select * from t for update of t nowait", P, "FOR UPDATE"},
  {"select * from (select * from t for update) s", P, "FOR UPDATE"},
  {"select * from t where id in (select id from u for share)", P, "FOR SHARE"},
  // writes
  {"insert into t values (1)", P, "write: InsertStmt"},
  {"INSERT INTO t (a) SELECT a FROM u ON CONFLICT (a) DO NOTHING", P, "write: InsertStmt"},
  {"update t set x = 1", P, "write: UpdateStmt"},
  {"update t set x = 1 where id = 2 returning *", P, "write: UpdateStmt"},
  {"delete from t where id = 1", P, "write: DeleteStmt"},
  {"merge into t using u on t.id = u.id when matched then update set x = u.x", P, "write: MergeStmt"},
  {"truncate t", P, "write: TruncateStmt"},
  // writing CTEs, also nested
  {"with w as (delete from t returning *) select * from w", P, "writing CTE: DeleteStmt"},
  {"with w as (insert into t values (1) returning id) select id from w", P, "writing CTE: InsertStmt"},
  {"with w as (update t set x = 1 returning *) select count(*) from w", P, "writing CTE: UpdateStmt"},
  {"select * from (with w as (delete from t returning *) select * from w) s", P, "writing CTE: DeleteStmt"},
  {"select * from t where id in (with w as (delete from u returning id) select id from w)", P, "writing CTE: DeleteStmt"},
  {"with a as (select 1), b as (with c as (update t set x = 1 returning x) select * from c) select * from b", P, "writing CTE: UpdateStmt"},
  // SELECT INTO, CREATE TABLE AS
  {"select * into t2 from t", P, "SELECT INTO"},
  {"select * into temp t2 from t", P, "temporary table", true},
  {"create table t2 as select * from t", P, "write: CreateTableAsStmt"},
  {"create temp table t2 as select * from t", P, "temporary table", true},
  {"create materialized view mv as select 1", P, "write: CreateTableAsStmt"},
  // DDL
  {"create table t (id int primary key)", P, "write: CreateStmt"},
  {"create temporary table tt (id int)", P, "temporary table", true},
  {"alter table t add column c int", P, "write: AlterTableStmt"},
  {"drop table t", P, "write: DropStmt"},
  {"create index on t (a)", P, "write: IndexStmt"},
  {"create view v as select 1", P, "write: ViewStmt"},
  {"create function f() returns int language sql as $$ select 1 $$", P, "write: CreateFunctionStmt"},
  {"grant select on t to bob", P, "write: GrantStmt"},
  {"comment on table t is 'x'", P, "write: CommentStmt"},
  {"refresh materialized view mv", P, "write: RefreshMatViewStmt"},
  {"create sequence s", P, "write: CreateSeqStmt"},
  // LOCK, LISTEN/NOTIFY, maintenance, DO, CALL
  {"lock table t in access exclusive mode", P, "write: LockStmt"},
  {"listen chan", P, "session state: ListenStmt", true},
  {"unlisten *", P, "session state: UnlistenStmt", true},
  {"notify chan, 'payload'", P, "write: NotifyStmt"},
  {"vacuum t", P, "write: VacuumStmt"},
  {"vacuum (analyze) t", P, "write: VacuumStmt"},
  {"analyze t", P, "write: VacuumStmt"},
  {"checkpoint", P, "write: CheckPointStmt"},
  {"cluster t using t_pkey", P, "write: ClusterStmt"},
  {"reindex table t", P, "write: ReindexStmt"},
  {"do $$ begin perform 1; end $$", P, "write: DoStmt"},
  {"call my_proc(1)", P, "write: CallStmt"},
  {"load 'auto_explain'", P, "session state: LoadStmt", true},
  {"discard all", P, "session state: DiscardStmt", true},
  // COPY
  {"copy t from stdin", P, "COPY FROM"},
  {"copy t (a, b) from stdin with (format csv)", P, "COPY FROM"},
  {"copy t to stdout", R, "read"},
  {"copy (select 1) to stdout", R, "read"},
  {"copy (select nextval('s')) to stdout", P, "function nextval"},
  {"copy (select * from t for update) to stdout", P, "FOR UPDATE"},
  {"copy t to '/tmp/t.csv'", P, "COPY TO a server file or program"},
  {"copy t to program 'gzip > /tmp/t.gz'", P, "COPY TO a server file or program"},
  // EXPLAIN
  {"explain select 1", R, "read"},
  {"explain update t set x = 1", R, "read"},
  {"explain select nextval('s')", R, "read"},
  {"explain analyze update t set x = 1", P, "write: UpdateStmt"},
  {"explain (analyze, buffers) delete from t", P, "write: DeleteStmt"},
  {"explain (analyze true) insert into t values (1)", P, "write: InsertStmt"},
  {"explain (analyze false) update t set x = 1", R, "read"},
  {"explain (analyze off) update t set x = 1", R, "read"},
  {"explain analyze select 1", R, "read"},
  {"explain analyze select my_func()", P, "function my_func", false, true},
  {"explain analyze select * from t for update", P, "FOR UPDATE"},
  {"explain analyze create table t2 as select 1", P, "write: CreateTableAsStmt"},
  {"explain execute p(1)", P, "EXPLAIN EXECUTE of a prepared statement", false, true},
  // SQL-level prepared statements and cursors
  {"prepare p as select 1", P, "session state: PrepareStmt", true},
  {"prepare p (int) as update t set x = $1", P, "session state: PrepareStmt", true},
  {"execute p(1)", P, "EXECUTE of a prepared statement", false, true},
  {"deallocate p", P, "session state: DeallocateStmt", true},
  {"deallocate all", P, "session state: DeallocateStmt", true},
  {"declare c cursor for select * from t", R, "read"},
  {"declare c cursor for select * from t for update", P, "FOR UPDATE"},
  {"declare c cursor with hold for select * from t", P, "DECLARE ... WITH HOLD", true},
  {"fetch 10 from c", R, "read"},
  {"move next in c", R, "read"},
  {"close c", R, "read"},
  // SET: session (sticky) against transaction-scoped
  {"set x = 1", P, "session SET x", true},
  {"set search_path = a, b", P, "session SET search_path", true},
  {"SET statement_timeout TO DEFAULT", P, "session SET statement_timeout", true},
  {"set time zone 'UTC'", P, "session SET timezone", true},
  {"set session authorization bob", P, "session SET session_authorization", true},
  {"reset session authorization", P, "session RESET session_authorization", true},
  {"set role bob", P, "session SET role", true},
  {"reset search_path", P, "session RESET search_path", true},
  {"reset all", P, "session RESET ALL", true},
  {"set session x = 1", P, "session SET x", true},
  {"set local x = 1", R, "read"},
  {"set local statement_timeout = '1s'", R, "read"},
  {"set session characteristics as transaction read only", P, "SET SESSION CHARACTERISTICS", true},
  // transactions (the caller tracks them; a transaction not declared read-only may write)
  {"begin", P, "read-write transaction", false, true},
  {"begin read only", R, "read"},
  {"begin transaction read only", R, "read"},
  {"begin read write", P, "read-write transaction", false, true},
  {"begin isolation level repeatable read, read only", R, "read"},
  {"start transaction", P, "read-write transaction", false, true},
  {"start transaction read only", R, "read"},
  {"start transaction read write", P, "read-write transaction", false, true},
  {"start transaction isolation level serializable read only", R, "read"},
  {"start transaction isolation level serializable read only deferrable", R, "read"},
  {"commit", R, "read"},
  {"end", R, "read"},
  {"rollback", R, "read"},
  {"abort", R, "read"},
  {"savepoint s1", R, "read"},
  {"release savepoint s1", R, "read"},
  {"rollback to savepoint s1", R, "read"},
  {"set transaction read only", R, "read"},
  {"set transaction isolation level serializable", R, "read"},
  {"set transaction read write", P, "read-write transaction", false, true},
  {"prepare transaction 'gx'", P, "PREPARE TRANSACTION"},
  {"commit prepared 'gx'", P, "COMMIT PREPARED"},
  {"rollback prepared 'gx'", P, "ROLLBACK PREPARED"},
  // several statements in one Query: primary if any needs it
  {"select 1; select 2", R, "read"},
  {"select 1; update t set x = 1", P, "write: UpdateStmt"},
  {"update t set x = 1; select 1", P, "write: UpdateStmt"},
  {"select 1; select nextval('s'); set x = 1", P, "function nextval", true},
  {"begin read only; select 1; commit", R, "read"},
  {"begin; select 1; commit", P, "read-write transaction", false, true},
  // empty texts
  {"", R, "empty query"},
  {"   ", R, "empty query"},
  {";", R, "empty query"},
  {"-- only a comment", R, "empty query"},
  // comment hints
  {"/* scalegate: primary */ select 1", P, "hint: primary"},
  {"select 1 -- scalegate: primary", P, "hint: primary"},
  {"select /* scalegate:primary */ 1", P, "hint: primary"},
  {"/* SCALEGATE: PRIMARY */ select 1", P, "hint: primary"},
  {"/* scalegate: replica */ select my_func()", R, "hint: replica over function my_func", false, true},
  {"/* scalegate: replica */ execute p(1)", R, "hint: replica over EXECUTE of a prepared statement", false, true},
  {"/* scalegate: replica */ update t set x = 1", P, "replica hint refused: write: UpdateStmt"},
  {"/* scalegate: replica */ select * from t for update", P, "replica hint refused: FOR UPDATE"},
  {"/* scalegate: replica */ select nextval('s')", P, "replica hint refused: function nextval"},
  {"/* scalegate: replica */ set x = 1", P, "replica hint refused: session SET x", true},
  {"/* scalegate: replica */ select 1", R, "read"},
  {"/* scalegate: replica */ /* scalegate: primary */ select 1", P, "hint: primary"},
  {"select '/* scalegate: primary */'", R, "read"},
  {"select $$ /* scalegate: primary */ $$", R, "read"},
  {"select $tag$ -- scalegate: primary\n $tag$", R, "read"},
  {"select \"/* scalegate: primary */\" from t", R, "read"},
  {"select E'\\' /* scalegate: primary */'", R, "read"},
  {"/* outer /* scalegate: primary */ still comment */ select 1", P, "hint: primary"},
  // the proxy's own settings (never sent to a server)
  {"set scalegate.route = replica", R, "proxy setting"},
  {"SET scalegate.route TO primary", R, "proxy setting"},
  {"reset scalegate.route", R, "proxy setting"},
  {"set scalegate.shard = 3", R, "proxy setting"},
  {"set scalegate.sharding_key = 'abc'", R, "proxy setting"},
};
// clang-format on

TEST(StatementClassTest, TableOfStatements) {
  const FunctionAllowList functions;
  ASSERT_GE(kCases.size(), 120u);
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.sql);
    const StatementClass verdict = classifyStatement(c.sql, functions);
    EXPECT_FALSE(verdict.parse_error) << verdict.reason;
    EXPECT_EQ(verdict.target, c.target) << verdict.reason;
    EXPECT_EQ(verdict.reason, c.reason);
    EXPECT_EQ(verdict.sticky, c.sticky);
    EXPECT_EQ(verdict.replica_overridable, c.overridable);
  }
}

TEST(StatementClassTest, TransactionControlInOrder) {
  const FunctionAllowList functions;
  const StatementClass verdict = classifyStatement(
      "begin read only; savepoint a; select 1; release a; rollback to a; commit and chain; "
      "start transaction read write; set transaction read only; "
      "set session characteristics as transaction read write; end; "
      "prepare transaction 'g'; commit prepared 'g'; rollback prepared 'g'; abort",
      functions);
  ASSERT_FALSE(verdict.parse_error) << verdict.reason;
  const std::vector<TxnControl> expected = {
      {TxnControlKind::kBegin, TxnAccess::kReadOnly, false},
      {TxnControlKind::kSavepoint, TxnAccess::kUnspecified, false},
      {TxnControlKind::kRelease, TxnAccess::kUnspecified, false},
      {TxnControlKind::kRollbackTo, TxnAccess::kUnspecified, false},
      {TxnControlKind::kCommit, TxnAccess::kUnspecified, true},
      {TxnControlKind::kBegin, TxnAccess::kReadWrite, false},
      {TxnControlKind::kSetTransaction, TxnAccess::kReadOnly, false},
      {TxnControlKind::kSetSessionCharacteristics, TxnAccess::kReadWrite, false},
      {TxnControlKind::kCommit, TxnAccess::kUnspecified, false},
      {TxnControlKind::kPrepareTransaction, TxnAccess::kUnspecified, false},
      {TxnControlKind::kCommitPrepared, TxnAccess::kUnspecified, false},
      {TxnControlKind::kRollbackPrepared, TxnAccess::kUnspecified, false},
      {TxnControlKind::kRollback, TxnAccess::kUnspecified, false},
  };
  EXPECT_EQ(verdict.txn, expected);
  EXPECT_EQ(verdict.statements, 14u);
  EXPECT_TRUE(verdict.sticky);  // SET SESSION CHARACTERISTICS
}

TEST(StatementClassTest, PlainBeginAndStartHaveNoAccessMode) {
  const FunctionAllowList functions;
  for (const char* sql :
       {"begin", "begin work", "start transaction isolation level serializable"}) {
    const StatementClass verdict = classifyStatement(sql, functions);
    ASSERT_EQ(verdict.txn.size(), 1u) << sql;
    EXPECT_EQ(verdict.txn[0].kind, TxnControlKind::kBegin) << sql;
    EXPECT_EQ(verdict.txn[0].access, TxnAccess::kUnspecified) << sql;
  }
  EXPECT_TRUE(classifyStatement("select 1", functions).txn.empty());
}

TEST(StatementClassTest, ProxySettingsAreReportedNotRouted) {
  const FunctionAllowList functions;
  StatementClass v = classifyStatement("set scalegate.route = replica", functions);
  EXPECT_EQ(v.set_route, RouteSetting::kReplica);
  EXPECT_TRUE(v.proxy_only);
  EXPECT_FALSE(v.sticky);  // the proxy's own setting, not the server session's
  EXPECT_TRUE(v.setting_error.empty());
  EXPECT_EQ(classifyStatement("SET scalegate.route TO 'Primary'", functions).set_route,
            RouteSetting::kPrimary);
  // PRIMARY is a reserved word: the parser refuses it unquoted, the classifier does not.
  for (const char* sql :
       {"set scalegate.route = primary", "SET SESSION scalegate.route TO PRIMARY;",
        "/* c */ set scalegate.route=primary -- c"}) {
    v = classifyStatement(sql, functions);
    EXPECT_EQ(v.set_route, RouteSetting::kPrimary) << sql;
    EXPECT_TRUE(v.proxy_only) << sql;
    EXPECT_FALSE(v.parse_error) << sql;
  }
  EXPECT_TRUE(classifyStatement("set scalegate.route = primary x", functions).parse_error);
  EXPECT_EQ(classifyStatement("set scalegate.route = auto", functions).set_route,
            RouteSetting::kAuto);
  EXPECT_EQ(classifyStatement("reset scalegate.route", functions).set_route, RouteSetting::kAuto);
  EXPECT_EQ(classifyStatement("set scalegate.route to default", functions).set_route,
            RouteSetting::kAuto);

  v = classifyStatement("set scalegate.shard = 3", functions);
  EXPECT_EQ(v.set_shard, ShardSetting{3u});
  EXPECT_EQ(classifyStatement("set scalegate.shard = '12'", functions).set_shard,
            ShardSetting{12u});
  EXPECT_EQ(classifyStatement("reset scalegate.shard", functions).set_shard, ShardSetting{});
  v = classifyStatement("set scalegate.sharding_key = 'user-42'", functions);
  EXPECT_EQ(v.set_sharding_key, ShardingKeySetting{"user-42"});
  EXPECT_EQ(classifyStatement("set scalegate.sharding_key = 42", functions).set_sharding_key,
            ShardingKeySetting{"42"});
  EXPECT_EQ(classifyStatement("reset scalegate.sharding_key", functions).set_sharding_key,
            ShardingKeySetting{});

  v = classifyStatement("set scalegate.route = replica; set scalegate.shard = 1", functions);
  EXPECT_TRUE(v.proxy_only);
  EXPECT_EQ(v.set_route, RouteSetting::kReplica);
  EXPECT_EQ(v.set_shard, ShardSetting{1u});
}

TEST(StatementClassTest, LsnSettingAndShow) {
  const FunctionAllowList functions;
  StatementClass v = classifyStatement("set scalegate.lsn = '16/B374D848'", functions);
  EXPECT_TRUE(v.proxy_only);
  EXPECT_EQ(v.set_lsn, LsnSetting{0x16B374D848u});
  EXPECT_EQ(classifyStatement("reset scalegate.lsn", functions).set_lsn, LsnSetting{});
  v = classifyStatement("show scalegate.lsn", functions);
  EXPECT_TRUE(v.proxy_only);
  EXPECT_EQ(v.show_setting, "scalegate.lsn");
  EXPECT_EQ(classifyStatement("SHOW scalegate.route", functions).show_setting, "scalegate.route");
  EXPECT_TRUE(classifyStatement("show work_mem", functions).show_setting.empty());
  uint64_t lsn = 0;
  ASSERT_TRUE(parseLsn("FFFFFFFF/0", &lsn));
  EXPECT_EQ(formatLsn(lsn), "FFFFFFFF/0");
  EXPECT_EQ(formatLsn(0x16B374D848u), "16/B374D848");
  EXPECT_FALSE(parseLsn("/1", &lsn));
  EXPECT_FALSE(parseLsn("1/", &lsn));
  EXPECT_FALSE(parseLsn("11", &lsn));
}

TEST(StatementClassTest, BadProxySettingsAreErrors) {
  const FunctionAllowList functions;
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"set scalegate.route = sideways", "scalegate.route must be primary, replica or auto"},
      {"set scalegate.route = 1", "scalegate.route must be primary, replica or auto"},
      {"set scalegate.route = replica, auto", "scalegate.route takes one value"},
      {"set scalegate.shard = -1", "scalegate.shard must be a shard number"},
      {"set scalegate.shard = 'x'", "scalegate.shard must be a shard number"},
      {"set scalegate.shard = 1.5", "scalegate.shard must be a shard number"},
      {"set scalegate.colour = 'red'", "unknown setting scalegate.colour"},
      {"show scalegate.colour", "unknown setting scalegate.colour"},
      {"set scalegate.lsn = '0/'", "scalegate.lsn must be a WAL position such as 0/16B3748"},
      {"set scalegate.lsn = 'G/1'", "scalegate.lsn must be a WAL position such as 0/16B3748"},
      {"set scalegate.lsn = '123456789/1'",
       "scalegate.lsn must be a WAL position such as 0/16B3748"},
      {"set local scalegate.route = replica", "SET LOCAL is not supported for scalegate.route"},
      {"set scalegate.route = replica; select 1",
       "scalegate.* settings must be sent in a query of their own"},
  };
  for (const auto& [sql, error] : cases) {
    EXPECT_EQ(classifyStatement(sql, functions).setting_error, error) << sql;
  }
  const StatementClass mixed =
      classifyStatement("set scalegate.route = replica; select 1", functions);
  EXPECT_FALSE(mixed.proxy_only);
}

TEST(StatementClassTest, CommentHintsForShards) {
  const FunctionAllowList functions;
  const StatementClass v =
      classifyStatement("/* scalegate: shard=3, sharding_key='k 1' */ select * from t", functions);
  EXPECT_EQ(v.shard_hint, 3u);
  EXPECT_EQ(v.sharding_key_hint, "k 1");
  EXPECT_FALSE(v.hint);
  EXPECT_EQ(v.target, Target::kReplicaOk);
  EXPECT_EQ(classifyStatement("select 1 -- scalegate: replica shard = 7", functions).shard_hint,
            7u);
}

TEST(StatementClassTest, ParseErrorsGoToThePrimary) {
  const FunctionAllowList functions;
  for (const char* sql : {"selec 1", "select (", "select 'unterminated", "select $$x", "/* open",
                          "select 1 from", "update", "\x01\x02\xff", "select 1; selec 2"}) {
    const StatementClass v = classifyStatement(sql, functions);
    EXPECT_TRUE(v.parse_error) << sql;
    EXPECT_EQ(v.target, Target::kPrimary) << sql;
    EXPECT_FALSE(v.replica_overridable) << sql;
    EXPECT_TRUE(v.reason.starts_with("parse error: ")) << v.reason;
  }
  // A replica hint cannot move text the server will reject; a primary hint is still seen.
  const StatementClass hinted = classifyStatement("/* scalegate: replica */ selec 1", functions);
  EXPECT_EQ(hinted.target, Target::kPrimary);
  EXPECT_TRUE(hinted.reason.starts_with("replica hint refused: parse error: ")) << hinted.reason;
  // The wire protocol's text ends at a NUL: what follows is not read.
  const std::string with_nul("select 1\0update t set x = 1", 27);
  EXPECT_EQ(classifyStatement(with_nul, functions).target, Target::kReplicaOk);
}

TEST(StatementClassTest, OneMegabyteOfSql) {
  const FunctionAllowList functions;
  std::string sql = "select 1";
  while (sql.size() < 1000000) sql += " union all select 1";
  // 52,000 UNION ALLs nest 52,000 deep: not handed to libpg_query (see kMaxNestingEstimate).
  StatementClass v = classifyStatement(sql, functions);
  EXPECT_FALSE(v.parse_error) << v.reason.substr(0, 200);
  EXPECT_EQ(v.target, Target::kPrimary);
  EXPECT_EQ(v.reason, "nesting too deep to classify");

  // A long IN list is wide, not deep.
  std::string in_list = "select * from t where id in (0";
  for (int i = 1; in_list.size() < 1000000; ++i) in_list += "," + std::to_string(i);
  in_list += ")";
  v = classifyStatement(in_list, functions);
  EXPECT_EQ(v.target, Target::kReplicaOk) << v.reason;

  std::string many;
  while (many.size() < 1000000) many += "select a from t where b = 'x';";
  many += "update t set x = 1;";
  v = classifyStatement(many, functions);
  EXPECT_EQ(v.target, Target::kPrimary);
  EXPECT_EQ(v.reason, "write: UpdateStmt");

  // The worst case per byte: a left-deep expression, two bytes a level.
  std::string chain = "select 1";
  while (chain.size() < 1000000) chain += "+1";
  v = classifyStatement(chain, functions);
  EXPECT_EQ(v.target, Target::kPrimary);
  EXPECT_EQ(v.reason, "nesting too deep to classify");

  // Past 1 MiB a text goes to the primary unparsed.
  const std::string too_long = "select '" + std::string(1 << 20, 'x') + "'";
  v = classifyStatement(too_long, functions);
  EXPECT_EQ(v.target, Target::kPrimary);
  EXPECT_EQ(v.reason, "too long to classify");
  EXPECT_FALSE(v.parse_error);
}

// Deep texts never reach libpg_query's unchecked recursion: up to the nesting estimate's limit
// they are parsed (on a large stack past kInlineNestingEstimate), beyond it they go to the
// primary unparsed.
TEST(StatementClassTest, DeepNestingDoesNotCrash) {
  const FunctionAllowList functions;
  for (int depth : {100, 1000, 10000, 100000}) {
    SCOPED_TRACE(depth);
    std::string parens = "select " + std::string(depth, '(') + "1" + std::string(depth, ')');
    StatementClass v = classifyStatement(parens, functions);
    EXPECT_FALSE(v.parse_error) << v.reason;
    EXPECT_EQ(v.target, depth <= 1000 ? Target::kReplicaOk : Target::kPrimary) << v.reason;

    std::string subqueries;
    for (int i = 0; i < depth; ++i) subqueries += "select * from (";
    subqueries += "select 1";
    for (int i = 0; i < depth; ++i) subqueries += ") s";
    v = classifyStatement(subqueries, functions);
    EXPECT_EQ(v.target, depth <= 100 ? Target::kReplicaOk : Target::kPrimary) << v.reason;
  }
}

TEST(StatementClassTest, UserListedFunctionsAreReadOnly) {
  const FunctionAllowList functions({"my_func", "Reporting.Summary"});
  EXPECT_EQ(classifyStatement("select my_func()", functions).target, Target::kReplicaOk);
  EXPECT_EQ(classifyStatement("select reporting.summary(1)", functions).target, Target::kReplicaOk);
  EXPECT_EQ(classifyStatement("select summary(1)", functions).target, Target::kPrimary);
  EXPECT_EQ(classifyStatement("select other.my_func()", functions).target, Target::kPrimary);
}

// libpg_query keeps its memory context per thread: two threads classify at once (run under
// the TSan build too).
TEST(StatementClassTest, TwoThreadsClassifyAtOnce) {
  const FunctionAllowList functions;
  auto work = [&](int seed, int& mismatches) {
    for (int i = 0; i < 300; ++i) {
      const Case& c = kCases[(seed + i) % kCases.size()];
      if (classifyStatement(c.sql, functions).target != c.target) ++mismatches;
    }
  };
  int mismatches_a = 0, mismatches_b = 0;
  std::thread a(work, 0, std::ref(mismatches_a));
  std::thread b(work, 17, std::ref(mismatches_b));
  a.join();
  b.join();
  EXPECT_EQ(mismatches_a, 0);
  EXPECT_EQ(mismatches_b, 0);
}

}  // namespace
}  // namespace sg::pg::route
