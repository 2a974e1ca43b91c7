"""The shard key finder (src/pg/route/shard_key.h, not yet wired into routing) against a real
PostgreSQL 15: three databases hold the rows of three shards (customer_id mod 3) and a fourth
holds all rows. For each statement, running it only on the shards of the keys the finder reports
must give the same rows as running it on the whole data: the finder never leaves out a shard
that holds a row the statement touches. The key values are read by PostgreSQL itself
(text::int8), as the caller will, so casts, escapes, negative numbers and name folding are
checked against the server's reading of them.

The keys come from build/src/pg/route/route_shard_keys (next to the gateway binary's build)."""
import json
import os
import re
import subprocess

import psycopg
import pytest

from environment import gateway_bin
from pg_support import pg_server  # noqa: F401

SHARDS = 3
SCHEMA = """
create table orders (id int primary key, customer_id bigint not null, status text, total int);
create table items (id int primary key, order_id int, customer_id bigint not null, qty int);
create table countries (code text primary key, name text);
insert into orders select g, (g % 21) - 6, case when g % 2 = 0 then 'open' else 'done' end, g * 10
  from generate_series(1, 84) g;
insert into items select g, (g % 84) + 1, (((g % 84) + 1) % 21) - 6, g % 5 from generate_series(1, 168) g;
insert into countries values ('de', 'Germany'), ('fr', 'France');
"""


def shard_of(key):
    return key % SHARDS  # Python's % is never negative: -5 goes to shard 1


# (statement, psycopg parameters for its $n, in order). Every one must find keys (or no sharded
# table): the point is to check the keys, so statements the finder answers "all shards" are in
# ALL_SHARDS below instead.
STATEMENTS = [
    ("select * from orders where customer_id = 5", ()),
    ("select * from orders where 5 = customer_id", ()),
    ("select * from orders o where o.customer_id = 7", ()),
    ("select * from orders where customer_id = '05'", ()),
    ("select * from orders where customer_id = ' 5 '::bigint", ()),
    ("select * from orders where customer_id = 5::int8", ()),
    ("select * from orders where customer_id = int8 '4'", ()),
    ("select * from orders where customer_id = E'\\x34'", ()),
    ("select * from orders where customer_id = $$11$$", ()),
    ("select * from orders where customer_id = -5", ()),
    ("select * from orders where customer_id = -(5::int8)", ()),
    ("select * from orders where customer_id = 09", ()),
    ("select * from orders where Customer_Id = 3", ()),
    ("select * from ORDERS where \"customer_id\" = 3", ()),
    ("select * from orders where customer_id = $1", (8,)),
    ("select * from orders where customer_id = $1::bigint and status = $2", (8, "open")),
    ("select * from orders where customer_id in (1, 4, 7, -2)", ()),
    ("select * from orders where customer_id in (1, 2, 3)", ()),
    ("select * from orders where customer_id = any(array[2, 5, $1])", (-1,)),
    ("select * from orders where customer_id = 1 or customer_id = 13", ()),
    ("select * from orders where (customer_id = 1 or customer_id in (2, 3)) and total > 100", ()),
    ("select * from orders where customer_id in (1, 2, 3) and customer_id in (3, 4)", ()),
    ("select * from orders where customer_id = 1 and customer_id = 2", ()),
    ("select * from orders where customer_id = 1 and customer_id = '01'", ()),
    ("select count(*), sum(total), max(id) from orders where customer_id = 6", ()),
    ("select status, count(*) from orders where customer_id = 6 group by status", ()),
    ("select * from orders o join items i on i.customer_id = o.customer_id where o.customer_id = 4", ()),
    ("select * from orders o join items i on i.order_id = o.id where o.customer_id = 4 and i.customer_id = 4", ()),
    ("select * from orders o left join items i on i.customer_id = o.customer_id where i.customer_id = 4", ()),
    ("select * from orders o full join items i on i.customer_id = o.customer_id where o.customer_id = 2", ()),
    ("select * from orders join items using (customer_id) where customer_id = 10", ()),
    ("select * from orders o, items i where o.customer_id = i.customer_id and i.customer_id = 12", ()),
    ("select * from orders o join countries c on c.code = 'de' where o.customer_id = 1", ()),
    ("select * from countries", ()),
    ("select 1", ()),
    ("select o.id, (select count(*) from items i where i.customer_id = o.customer_id) from orders o "
     "where o.customer_id = 3", ()),
    ("select * from orders o where o.customer_id = 9 and exists "
     "(select 1 from items i where i.customer_id = o.customer_id and i.qty > 2)", ()),
    ("select * from orders where customer_id = 9 and id in (select order_id from items where customer_id = 9)", ()),
    ("with c as (select * from orders where customer_id = 14) select * from c where total > 0", ()),
    ("select * from (select * from orders where customer_id = -6) s", ()),
    ("select id from orders where customer_id = 1 union all select id from items where customer_id = 4", ()),
    ("select * from orders o, lateral (select * from items i where i.customer_id = o.customer_id) x "
     "where o.customer_id = 0", ()),
    ("update orders set total = total + 1 where customer_id = 5 returning *", ()),
    ("update orders o set status = 'x' from items i where i.customer_id = o.customer_id "
     "and o.customer_id = 2 returning o.id, i.id", ()),
    ("delete from orders where customer_id in ($1, $2) returning *", (1, 4)),
    ("delete from orders o using items i where i.customer_id = o.customer_id and o.customer_id = -3 "
     "returning o.id, i.id", ()),
    ("with w as (delete from items where customer_id = 7 returning *) select count(*) from w", ()),
    ("insert into orders (id, customer_id, status) values (1000, 5, 'new') returning *", ()),
]

# Statements the finder must answer "all shards" (not checked against the data).
ALL_SHARDS = [
    "select * from orders",
    "select * from orders where customer_id < 5",
    "select * from orders where customer_id = 5 or status = 'open'",
    "select * from orders where customer_id = 5 and total > (select avg(total) from orders)",
    "select * from orders o join items i on i.order_id = o.id where o.customer_id = 4",
    "insert into orders values (1001, 5, 'x', 1)",
    "insert into orders (id, customer_id) select id + 2000, customer_id from items",
    "update orders set status = 'x'",
]

INSERTS = [
    "insert into orders (id, customer_id) values (2001, 5), (2002, '-4'), (2003, 7::int8), (2004, -(2))",
    "insert into orders (customer_id, id, status) values (E'1\\x32', 2005, 'a') "
    "on conflict (id) do update set customer_id = excluded.customer_id",
]


def tool():
    path = os.path.join(os.path.dirname(os.path.dirname(gateway_bin())), "pg", "route", "route_shard_keys")
    if not os.path.exists(path):
        pytest.fail("route_shard_keys not found at %s (build it)" % path, pytrace=False)
    return path


def find_keys(statements):
    out = subprocess.run([tool(), "customer_id", "orders,items"], input="\0".join(statements).encode(),
                         capture_output=True, check=True, timeout=60).stdout.decode()
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == len(statements)
    return results


def connect(server, db):
    return psycopg.connect(host=server.sock_dir, port=server.port, user="postgres", dbname=db, autocommit=True)


@pytest.fixture(scope="module")
def sharded(pg_server):  # noqa: F811
    """{"all": connection to the whole data, 0..2: connections to each shard's rows}."""
    conns = {}
    for name in ["all"] + list(range(SHARDS)):
        db = "sk_%s" % name
        pg_server.sql("create database %s" % db)
        pg_server.sql(SCHEMA, db=db)
        if name != "all":
            for table in ("orders", "items"):
                pg_server.sql("delete from %s where ((customer_id %% %d) + %d) %% %d <> %d"
                              % (table, SHARDS, SHARDS, SHARDS, name), db=db)
        conns[name] = connect(pg_server, db)
    try:
        yield conns
    finally:
        for conn in conns.values():
            conn.close()


def key_as_int8(conn, value, params):
    """The key as PostgreSQL reads it: the constant's text through int8's input."""
    if value["kind"] == "parameter":
        return int(params[value["param"] - 1])
    assert value["kind"] in ("integer", "string"), value
    return conn.execute("select cast(cast(%s as text) as int8)", (value["text"],)).fetchone()[0]


def shards_for(conn, found, params):
    assert not found["parse_error"]
    keys = found["combined"]
    if keys["scope"] == "none":
        return [0]  # touches no sharded table: any one shard
    assert keys["scope"] == "keys", keys
    if not keys["values"]:
        return [0]  # no row can match
    return sorted({shard_of(key_as_int8(conn, v, params)) for v in keys["values"]})


def rows(conn, sql, params):
    """The statement's rows, sorted, in a transaction rolled back (writes leave no trace)."""
    query = re.sub(r"\$\d+", "%s", sql) if params else sql
    with conn.transaction(force_rollback=True):
        cur = conn.execute(query, params or None)
        return sorted(cur.fetchall(), key=repr) if cur.description else []


def test_statements_on_their_shards_give_the_whole_datas_rows(sharded):
    found = find_keys([sql for sql, _ in STATEMENTS])
    single, multi, checked = 0, 0, 0
    for (sql, params), keys in zip(STATEMENTS, found):
        shards = shards_for(sharded["all"], keys, params)
        single, multi = single + (len(shards) == 1), multi + (len(shards) > 1)
        expected = rows(sharded["all"], sql, params)
        got = []
        for shard in shards:
            got += rows(sharded[shard], sql, params)
        assert sorted(got, key=repr) == expected, "%r on shards %s (keys %s)" % (sql, shards, keys)
        checked += 1 if expected else 0
    # The check has teeth: most statements return rows, most run on one shard of three.
    assert checked >= len(STATEMENTS) - 5
    assert single >= 40 and multi >= 2, (single, multi)


def test_statements_without_a_usable_key_are_all_shards(sharded):
    for sql, keys in zip(ALL_SHARDS, find_keys(ALL_SHARDS)):
        assert keys["combined"]["scope"] == "all", (sql, keys)
        assert keys["combined"]["reason"], sql
        rows(sharded["all"], sql, ())  # and each is a statement PostgreSQL runs


def test_insert_rows_are_the_keys_postgresql_inserts(sharded):
    for sql, keys in zip(INSERTS, find_keys(INSERTS)):
        inserted = [r[0] for r in rows_in_order(sharded["all"], sql + " returning customer_id")]
        found = [key_as_int8(sharded["all"], v, ()) for v in keys["combined"]["rows"]]
        assert found == inserted, (sql, keys)
        assert not keys["combined"]["sets_key"], sql


def rows_in_order(conn, sql):
    with conn.transaction(force_rollback=True):
        return conn.execute(sql).fetchall()


def test_update_of_the_key_is_reported(sharded):
    sql = "update orders set customer_id = 6 where customer_id = 5"
    keys = find_keys([sql])[0]["combined"]
    assert keys["sets_key"] and keys["scope"] == "keys"
    # And it is a real move between shards: the rows it writes belong to another shard.
    moved = rows(sharded["all"], sql + " returning customer_id", ())
    assert moved and {shard_of(r[0]) for r in moved} != {shard_of(5)}
