"""The statement classifier (src/pg/route, not yet wired into routing) against a real
PostgreSQL 15: every statement it lets go to a replica must run inside a READ ONLY transaction
(what a hot standby allows at most), and every statement PostgreSQL refuses there
(SQLSTATE 25006, read_only_sql_transaction) must be routed to the primary.

The verdicts come from build/src/pg/route/route_classify (next to the gateway binary's build)."""
import os
import subprocess

import psycopg
import pytest

from environment import gateway_bin
from pg_support import pg_server  # noqa: F401

SETUP = """
create table rt (id int primary key, x int, a int, b text);
insert into rt select g, g, g % 3, 'b' || g from generate_series(1, 20) g;
create table ru (id int primary key, y int);
insert into ru select g, g from generate_series(1, 5) g;
create sequence rs;
create function my_func() returns int language sql as 'select 1';
create function my_proc_body() returns void language sql as 'select';
create procedure my_proc(int) language sql as 'select';
"""

STATEMENTS = [
    # reads
    "select 1",
    "select * from rt where id = 1",
    "select a, count(*), sum(x), avg(x), string_agg(b, ',') from rt group by a having count(*) > 1",
    "select * from rt join ru using (id) order by id limit 3 offset 1",
    "select * from rt where id in (select id from ru)",
    "with c as (select * from rt) select count(*) from c",
    "with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select * from r",
    "values (1), (2)",
    "table ru",
    "select now(), pg_catalog.now(), date_trunc('day', now()), extract(year from now())",
    "select lower(b), upper(b), length(b), substr(b, 1, 2), replace(b, 'b', 'c') from rt",
    "select jsonb_build_object('a', 1) ->> 'a', json_agg(rt) from rt",
    "select * from generate_series(1, 3)",
    "select row_number() over (partition by a order by x) from rt",
    "select pg_is_in_recovery(), version(), current_database()",
    "show search_path",
    "explain select * from rt",
    "explain update rt set x = 1",
    "explain analyze select * from rt",
    "set local statement_timeout = '5s'",
    "declare c cursor for select * from rt",
    # writes and locks, which a read-only transaction refuses
    "insert into rt values (100, 1, 1, 'x')",
    "update rt set x = 1 where id = 1",
    "delete from rt where id = 2",
    "merge into rt using ru on rt.id = ru.id when matched then update set x = ru.y",
    "truncate ru",
    "select * from rt for update",
    "select * from rt for share",
    "select * from rt for no key update",
    "select * from rt for key share",
    "select * from (select * from rt for update) s",
    "with w as (delete from ru returning *) select * from w",
    "select * from (with w as (update rt set x = 2 returning *) select * from w) s",
    "select nextval('rs')",
    "select setval('rs', 10)",
    "select * into rt2 from rt",
    "create table rt3 as select * from rt",
    "create table rt4 (id int)",
    "create index on rt (x)",
    "alter table rt add column z int",
    "drop table ru",
    "lock table rt in access exclusive mode",
    "explain analyze update rt set x = 1",
    "explain (analyze, buffers) delete from rt",
    "copy (select nextval('rs')) to stdout",
    "call my_proc(1)",
    "select my_func()",
    "select public.my_func()",
    "select txid_current()",
    "select pg_advisory_xact_lock(1)",
    "comment on table rt is 'x'",
    "grant select on rt to public",
    "create sequence rs2",
    "refresh materialized view nonexistent_mv",
]


def classify(statements):
    tool = os.path.join(os.path.dirname(os.path.dirname(gateway_bin())), "pg", "route", "route_classify")
    if not os.path.exists(tool):
        pytest.fail("route_classify not found at %s (build it)" % tool, pytrace=False)
    out = subprocess.run([tool], input="\0".join(statements).encode(), capture_output=True, check=True,
                         timeout=60).stdout.decode()
    lines = out.splitlines()
    assert len(lines) == len(statements)
    return [line.split(" ", 3) for line in lines]


def run_read_only(conn, sql):
    """Runs sql in a READ ONLY transaction that is rolled back; returns the SQLSTATE or None."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("set transaction read only")
            conn.execute(sql)
        return None
    except psycopg.Error as e:
        return e.sqlstate


@pytest.fixture(scope="module")
def route_db(pg_server):  # noqa: F811
    pg_server.sql("create database route_check")
    pg_server.sql(SETUP, db="route_check")
    conn = psycopg.connect(host=pg_server.sock_dir, port=pg_server.port, user="postgres", dbname="route_check",
                           autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def test_replica_verdicts_run_read_only_and_refused_statements_go_to_the_primary(route_db):
    verdicts = classify(STATEMENTS)
    refused_on_replica = []
    for sql, (target, _sticky, _overridable, reason) in zip(STATEMENTS, verdicts):
        state = run_read_only(route_db, sql)
        if target == "replica":
            assert state is None, "%r classified replica (%s) but failed read-only with %s" % (sql, reason, state)
        if state == "25006":
            assert target == "primary", "%r is refused read-only but classified %s (%s)" % (sql, target, reason)
            refused_on_replica.append(sql)
    # The check above has teeth: a good part of the list is refused in a read-only transaction.
    assert len(refused_on_replica) >= 20, refused_on_replica


def test_statement_kinds_get_the_expected_verdicts(route_db):
    verdicts = dict(zip(STATEMENTS, classify(STATEMENTS)))
    assert verdicts["select * from rt for update"][3] == "FOR UPDATE"
    assert verdicts["with w as (delete from ru returning *) select * from w"][3] == "writing CTE: DeleteStmt"
    assert verdicts["select my_func()"][:3] == ["primary", "0", "1"]  # not known read-only: a hint may move it
    assert verdicts["select nextval('rs')"][:3] == ["primary", "0", "0"]
    assert verdicts["explain update rt set x = 1"][0] == "replica"
    assert verdicts["explain analyze update rt set x = 1"][3] == "write: UpdateStmt"
