"""Scatter-gather sessions through scalegate's PostgreSQL listener: what the acceptance test
(test_pg_sharding.py) does not cover. One PostgreSQL 15 holds three shard databases s0..s2,
each with `items(customer_id, shard, n, v)` (shard N's rows say `shard = N`); a statement
without a key runs on every shard at once and the client gets one answer.

- one shard's error (division by zero on shard 0 only) is the client's one ERROR, the other
  shards are cancelled and drained, the session goes on and no server stays active; so is a
  row too large to merge (54000);
- writes across shards only under cross_shard: allow_unordered (counts added up); reads go to
  the shards' replicas when the database splits reads;
- a shard that cannot be reached (its database does not exist) gives a clear error;
- a client that leaves mid-scatter leaves no server active in the pools (while it ran, SHOW
  SERVERS linked every shard's server to it);
- a large result (210k rows, ~50 MB) streams through with the gateway's memory bounded;
- psycopg's simple protocol and asyncpg's prepared statements (extended protocol, binary
  results) both scatter; binary results merge (ORDER BY, GROUP BY, aggregates), a type the
  merger cannot read in binary is refused clearly."""
import asyncio
import collections
import decimal
import os
import signal
import subprocess
import threading
import time

import asyncpg
import psycopg
import pytest

from environment import wait_s
from pg_support import APP, PSQL, PostgresServer, start_pooler, stop_pooler
from pg_wire_client import (SYNC, RawClient, bind_msg, data_rows, describe_msg, execute_msg, kinds,
                            parse_msg, query_msg)

SHARDS = 3
ROWS_PER_SHARD = 70_000


def shard_databases(pg, names):
    return [{"primary": pg.address, "dbname": name} for name in names]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    pg = PostgresServer().start()
    gateway = standby = None
    try:
        pg.sql("".join("CREATE DATABASE s%d OWNER app;\n" % n for n in range(SHARDS)), db="postgres")
        for n in range(SHARDS):
            pg.sql("SET ROLE app; CREATE TABLE items (customer_id bigint NOT NULL, shard int NOT NULL, "
                   "n int NOT NULL, v text NOT NULL); "
                   "INSERT INTO items SELECT i * %d + %d, %d, i, repeat('x', 200) "
                   "FROM generate_series(1, %d) i; ANALYZE items;" % (SHARDS, n, n, ROWS_PER_SHARD),
                   db="s%d" % n)
        standby = pg.replica()
        sharding = {"key": "customer_id", "function": "hash"}
        with_replicas = [dict(shard, replicas=[standby.address])
                         for shard in shard_databases(pg, ["s0", "s1", "s2"])]
        databases = {
            "orders": {"shards": shard_databases(pg, ["s0", "s1", "s2"]), "sharding": sharding,
                       "pool_size": 3},
            "orders_unordered": {"shards": shard_databases(pg, ["s0", "s1", "s2"]), "sharding": sharding,
                                 "pool_size": 2, "cross_shard": "allow_unordered"},
            "orders_replicas": {"shards": with_replicas, "sharding": sharding, "pool_size": 2,
                                "read_write_split": True},
            "orders_missing": {"shards": shard_databases(pg, ["s0", "s1", "no_such_shard_db"]),
                               "sharding": sharding, "pool_size": 2},
        }
        gateway = start_pooler("scalegate", pg, str(tmp_path_factory.mktemp("scatter")), databases=databases,
                               auth="trust")  # trust: the raw wire client logs in without a password
        yield pg, gateway
    finally:
        if gateway is not None:
            stop_pooler(gateway)
        if standby is not None:
            standby.stop()
        pg.stop()


def direct(pg, n):
    return psycopg.connect(host="127.0.0.1", port=pg.port, user=APP[0], password=APP[1], dbname="s%d" % n,
                           autocommit=True)


def active_servers(gateway, database="orders"):
    """sv_active of every pool of `database` (one per shard: SHOW POOLS names them db/shardN)."""
    _, rows = gateway.admin_rows("SHOW POOLS")
    return [int(r["sv_active"]) for r in rows if r["database"].startswith(database + "/shard")]


def wait_pools_clean(gateway, database="orders"):
    deadline = time.monotonic() + wait_s(10)
    while time.monotonic() < deadline:
        active = active_servers(gateway, database)
        if active and all(a == 0 for a in active):
            return
        time.sleep(0.1)
    raise AssertionError("servers still active in %s's pools: %r" % (database, active_servers(gateway, database)))


def gateway_memory_kb(gateway, field):
    with open("/proc/%d/status" % gateway.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s" % field)


def test_one_shards_error_is_the_one_error_and_the_session_goes_on(world):
    pg, gateway = world
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for _ in range(2):
            with pytest.raises(psycopg.errors.DivisionByZero):
                conn.execute("SELECT customer_id, 10 / shard FROM items ORDER BY customer_id")
            # The same session answers the next statement from every shard.
            assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == SHARDS * ROWS_PER_SHARD
    wait_pools_clean(gateway)


def test_a_row_too_large_to_merge_is_a_clear_error(world):
    _, gateway = world
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as caught:
            conn.execute("SELECT shard, repeat(v, 8000) FROM items WHERE n = 1")
        assert "bytes per row can be merged" in str(caught.value)
        assert conn.execute("SELECT count(*) FROM items WHERE n = 1").fetchone()[0] == SHARDS
    wait_pools_clean(gateway)


def test_shard_that_cannot_log_in_gives_a_clear_error(world):
    _, gateway = world
    with gateway.connect(dbname="orders_missing", autocommit=True) as conn:
        with pytest.raises(psycopg.OperationalError) as caught:
            conn.execute("SELECT count(*) FROM items")
        assert "no_such_shard_db" in str(caught.value), str(caught.value)
        # Shard 0 is still served to this session.
        row = conn.execute("/* scalegate: shard=0 */ SELECT count(*) FROM items").fetchone()
        assert row[0] == ROWS_PER_SHARD
    wait_pools_clean(gateway, "orders_missing")


def test_writes_across_shards_only_under_allow_unordered_and_their_counts_add_up(world):
    _, gateway = world
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("UPDATE items SET v = v WHERE n = 1")
        with pytest.raises(psycopg.errors.FeatureNotSupported) as caught:
            conn.execute("SELECT 1 FROM items LIMIT 1; SELECT 2 FROM items LIMIT 1")
        assert "several statements" in str(caught.value)
    with gateway.connect(dbname="orders_unordered", autocommit=True) as conn:
        cur = conn.execute("UPDATE items SET v = v WHERE n <= 2")
        assert cur.rowcount == 2 * SHARDS and cur.statusmessage == "UPDATE %d" % (2 * SHARDS)
        cur = conn.execute("UPDATE items SET v = v WHERE n <= %s", (3,))
        assert cur.rowcount == 3 * SHARDS
    wait_pools_clean(gateway, "orders_unordered")


def test_scatter_reads_go_to_the_shards_replicas_when_reads_are_split(world):
    _, gateway = world
    with gateway.connect(dbname="orders_replicas", autocommit=True) as conn:
        rows = conn.execute("SELECT shard, pg_is_in_recovery() FROM items WHERE n = 1 ORDER BY shard").fetchall()
        assert rows == [(n, True) for n in range(SHARDS)]
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == SHARDS * ROWS_PER_SHARD


def test_client_leaving_mid_scatter_leaves_the_pools_clean(world):
    _, gateway = world
    env = gateway.client_env(APP[1])
    client = subprocess.Popen([PSQL, "-X", "-At", "-h", gateway.host, "-p", str(gateway.port), "-U", APP[0],
                               "-d", "orders", "-c", "SELECT pg_sleep(3), shard FROM items WHERE n = 1"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + wait_s(10)
        while sum(active_servers(gateway)) < SHARDS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(active_servers(gateway)) == SHARDS, "the scatter should hold one server per shard"
        # SHOW SERVERS links every shard's server to the one client running the scatter.
        _, servers = gateway.admin_rows("SHOW SERVERS")
        links = {s["link"] for s in servers if s["database"] == "orders" and s["state"] == "active"}
        _, clients = gateway.admin_rows("SHOW CLIENTS")
        assert len(links) == 1 and links <= {c["ptr"] for c in clients if c["database"] == "orders"}, links
    finally:
        client.kill()
        client.wait()
    wait_pools_clean(gateway)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == SHARDS * ROWS_PER_SHARD


def test_large_scatter_streams_with_bounded_gateway_memory(world):
    _, gateway = world
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM items").fetchone()
        before = gateway_memory_kb(gateway, "VmHWM")
        total = 0
        last = None
        with conn.cursor() as cur:
            # Sorted merge of ~50 MB of rows, read by the client as they come.
            for row in cur.stream("SELECT n, shard, v FROM items ORDER BY n, shard"):
                assert last is None or (row[0], row[1]) > last
                last = (row[0], row[1])
                total += 1
                if total % 50_000 == 0:
                    time.sleep(0.2)  # a slow reader: the gateway must hold back, not buffer
        assert total == SHARDS * ROWS_PER_SHARD
        grown = gateway_memory_kb(gateway, "VmHWM") - before
        print("gateway peak memory grew by %d kB" % grown)
        # The result is ~50 MB; what the gateway holds stays a fraction of it (no bound under the
        # sanitizers: AddressSanitizer keeps freed memory in quarantine, ThreadSanitizer keeps
        # shadow memory and access history for what was touched).
        if "ASAN_OPTIONS" not in os.environ and "TSAN_OPTIONS" not in os.environ:
            assert grown < 24 * 1024, "the gateway's peak memory grew by %d kB" % grown
    wait_pools_clean(gateway)


def test_psycopg_simple_protocol_scatter_equals_the_shards_union(world):
    pg, gateway = world
    sql = "SELECT customer_id, shard, n FROM items WHERE n <= 5"
    expected = collections.Counter()
    for n in range(SHARDS):
        with direct(pg, n) as shard:
            expected.update(shard.execute(sql).fetchall())
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        got = conn.execute(sql, prepare=False).fetchall()
        assert collections.Counter(got) == expected
        ordered = conn.execute("SELECT customer_id FROM items ORDER BY customer_id DESC LIMIT 4").fetchall()
        top = sorted((k for k, _, _ in expected), reverse=True)
        assert [r[0] for r in ordered] == [SHARDS * ROWS_PER_SHARD + 2 - i for i in range(4)]
        assert top[0] <= ordered[0][0]
        # Extended protocol: prepared once by psycopg, run on every shard each time.
        paged = "SELECT customer_id FROM items ORDER BY customer_id LIMIT %s OFFSET %s"
        for offset in (0, 5, 5):
            rows = conn.execute(paged, (3, offset), prepare=True).fetchall()
            assert [r[0] for r in rows] == [SHARDS + offset + i for i in range(3)]


def test_psycopg_binary_results_merge_like_the_shards_answers(world):
    """psycopg's binary=True cursor: every result column in binary; the sorted and grouped
    merges equal what the shards answer directly (each shard holds one `shard` value, so a
    group is one shard's answer)."""
    pg, gateway = world
    grouped = ("SELECT shard, count(*), sum(n), avg(n::numeric(10, 2)), max(customer_id), min(n::float4 / 8) "
               "FROM items WHERE n <= %s GROUP BY shard ORDER BY shard")
    rows, groups = [], []
    for n in range(SHARDS):
        with direct(pg, n) as shard:
            rows += shard.execute("SELECT customer_id, shard, n FROM items WHERE n <= 100").fetchall()
            groups += shard.cursor(binary=True).execute(grouped, (100,)).fetchall()
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        cur = conn.cursor(binary=True)
        cur.execute("SELECT customer_id, shard, n FROM items WHERE n <= %s ORDER BY n DESC, customer_id LIMIT 7",
                    (100,))
        assert [cur.pgresult.fformat(i) for i in range(cur.pgresult.nfields)] == [1, 1, 1]
        assert cur.fetchall() == sorted(rows, key=lambda r: (-r[2], r[0]))[:7]
        assert cur.execute(grouped, (100,)).fetchall() == groups
        assert cur.execute("SELECT count(*), sum(customer_id), avg(n) FROM items WHERE n <= %s", (100,)).fetchone() == (
            len(rows), sum(r[0] for r in rows), decimal.Decimal("50.5000000000000000"))


def test_sigterm_lets_a_running_scatter_finish_then_closes_its_client(world, tmp_path):
    pg, _ = world
    databases = {"orders": {"shards": shard_databases(pg, ["s0", "s1", "s2"]),
                            "sharding": {"key": "customer_id", "function": "hash"}, "pool_size": 3}}
    gateway = start_pooler("scalegate", pg, str(tmp_path / "drain"), databases=databases, auth="trust")
    try:
        conn = gateway.connect(dbname="orders", autocommit=True)
        result = {}

        def run():
            result["rows"] = conn.execute("SELECT pg_sleep(1), shard FROM items WHERE n = 1 ORDER BY shard").fetchall()

        runner = threading.Thread(target=run)
        runner.start()
        deadline = time.monotonic() + wait_s(10)
        while sum(active_servers(gateway)) < SHARDS and time.monotonic() < deadline:
            time.sleep(0.05)
        gateway.proc.send_signal(signal.SIGTERM)
        runner.join(wait_s(20))
        assert [r[1] for r in result.get("rows", [])] == list(range(SHARDS))
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
        deadline = time.monotonic() + wait_s(10)
        while gateway.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gateway.proc.returncode == 0
    finally:
        stop_pooler(gateway)


def test_pipelined_statements_around_scatters_are_answered_in_order(world):
    _, gateway = world
    with RawClient(gateway.port, APP[0], "orders") as client:
        client.send(query_msg("SELECT count(*) FROM items"),
                    query_msg("SELECT customer_id FROM items ORDER BY customer_id LIMIT 2"),
                    parse_msg("", "SELECT customer_id FROM items ORDER BY customer_id DESC LIMIT $1"),
                    bind_msg("", ["1"]), describe_msg(b"P", ""), execute_msg(), SYNC,
                    query_msg("SELECT 7"))
        answers = [client.until(b"Z") for _ in range(4)]
    assert [kinds(a) for a in answers] == [b"TDCZ", b"TDDCZ", b"12TDCZ", b"TDCZ"]
    assert data_rows(answers[0]) == [[str(SHARDS * ROWS_PER_SHARD)]]
    assert data_rows(answers[1]) == [[str(SHARDS)], [str(SHARDS + 1)]]
    assert data_rows(answers[2]) == [[str(SHARDS * ROWS_PER_SHARD + 2)]]
    assert data_rows(answers[3]) == [["7"]]


def test_asyncpg_prepared_statement_scatters_every_time(world):
    pg, gateway = world

    async def run():
        conn = await gateway.aconnect(dbname="orders")
        try:
            stmt = await conn.prepare("SELECT customer_id, shard FROM items WHERE n <= $1")
            for limit in (3, 7):  # prepared once, executed twice: each runs on every shard
                rows = await stmt.fetch(limit)
                assert collections.Counter(r["shard"] for r in rows) == {n: limit for n in range(SHARDS)}
            # asyncpg reads results in binary: sorted and aggregate merges read them in binary.
            rows = await conn.fetch("SELECT customer_id FROM items ORDER BY customer_id LIMIT $1", 3)
            assert [r["customer_id"] for r in rows] == [3, 4, 5]
            groups = await conn.fetch(
                "SELECT shard, count(*), sum(customer_id), avg(n), min(n::float8 / 4), max(v) "
                "FROM items WHERE n <= $1 GROUP BY shard ORDER BY shard DESC", 10)
            assert [tuple(r) for r in groups] == [
                (n, 10, sum(i * SHARDS + n for i in range(1, 11)), decimal.Decimal("5.5000000000000000"),
                 0.25, "x" * 200) for n in reversed(range(SHARDS))]
            # a type the merger cannot read in binary is refused clearly, with its OID
            with pytest.raises(asyncpg.FeatureNotSupportedError) as caught:
                await conn.fetch("SELECT jsonb_build_object('k', customer_id) AS j FROM items ORDER BY j "
                                 "LIMIT $1", 3)
            assert "type OID 3802 in binary format" in str(caught.value)
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(run(), wait_s(60)))
    wait_pools_clean(gateway)
