"""One shard per transaction through scalegate: a sharded database's statement goes to the
shard its key hashes to (PostgreSQL's own PARTITION BY HASH decides the expected shard), from a
constant, a bound $1, a comment hint or SET scalegate.shard / sharding_key; a statement whose
keys span shards runs on those shards (scatter-gather), and the session goes on."""
import psycopg
import pytest

from pg_support import APP, PostgresServer, start_pooler, stop_pooler

SHARDS = 3
KEYS = list(range(1, 61)) + [-7, 2**40, -(2**62)]


@pytest.fixture(scope="module")
def cluster():
    server = PostgresServer().start()
    try:
        for n in range(SHARDS):
            server.sql("CREATE DATABASE shard%d OWNER %s" % (n, APP[0]), db="postgres")
            server.sql("CREATE TABLE t (customer_id bigint PRIMARY KEY, shard int NOT NULL);"
                       "GRANT ALL ON t TO %s" % APP[0], db="shard%d" % n)
        server.sql("CREATE TABLE ref (customer_id bigint) PARTITION BY HASH (customer_id);" +
                   "".join("CREATE TABLE ref%d PARTITION OF ref FOR VALUES WITH (MODULUS %d, "
                           "REMAINDER %d);" % (n, SHARDS, n) for n in range(SHARDS)),
                   db="app")
        expected = {}
        for key in KEYS:
            expected[key] = int(server.sql(
                "SELECT r FROM generate_series(0, %d) r WHERE "
                "satisfies_hash_partition('ref'::regclass, %d, r, %d::bigint)" % (SHARDS - 1, SHARDS, key)))
            server.sql("INSERT INTO t VALUES (%d, %d)" % (key, expected[key]),
                       db="shard%d" % expected[key])
        yield server, expected
    finally:
        server.stop()


@pytest.fixture
def gateway(cluster, tmp_path):
    server, _ = cluster
    shards = [{"primary": server.address, "dbname": "shard%d" % n} for n in range(SHARDS)]
    g = start_pooler("scalegate", server, str(tmp_path / "sg"), databases={
        "orders": {"shards": shards, "sharding": {"key": "customer_id", "function": "hash"}}})
    yield g
    stop_pooler(g)


def test_a_constant_key_goes_to_its_shard(gateway, cluster):
    _, expected = cluster
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for key in KEYS:
            row = conn.execute("SELECT shard FROM t WHERE customer_id = %d" % key).fetchone()
            assert row == (expected[key],), key


def test_a_bound_key_goes_to_its_shard(gateway, cluster):
    _, expected = cluster
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for key in KEYS:
            row = conn.execute("SELECT shard FROM t WHERE customer_id = %s", (key,)).fetchone()
            assert row == (expected[key],), key
            row = conn.execute("SELECT shard FROM t WHERE customer_id = %b", (key,)).fetchone()
            assert row == (expected[key],), ("binary", key)
        conn.execute("INSERT INTO t (customer_id, shard) VALUES (%s, %s)", (1000, -1))
        found = [conn.execute("SELECT count(*) FROM t WHERE customer_id = 1000").fetchone()[0]]
        assert found == [1]
        conn.execute("DELETE FROM t WHERE customer_id = %s", (1000,))


def test_hints_and_settings_choose_the_shard(gateway, cluster):
    _, expected = cluster
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for n in range(SHARDS):
            rows = conn.execute("/* scalegate: shard=%d */ SELECT DISTINCT shard FROM t" % n).fetchall()
            assert rows == [(n,)]
        conn.execute("SET scalegate.shard = 2")
        assert conn.execute("SELECT DISTINCT shard FROM t").fetchall() == [(2,)]
        conn.execute("RESET scalegate.shard")
        conn.execute("SET scalegate.sharding_key = '7'")
        assert conn.execute("SELECT DISTINCT shard FROM t").fetchall() == [(expected[7],)]


def test_a_statement_across_shards_runs_on_those_shards_and_the_session_goes_on(gateway, cluster):
    _, expected = cluster
    keys = [k for k in KEYS if expected[k] != expected[1]][:1] + [1]
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        rows = conn.execute("SELECT shard FROM t ORDER BY shard").fetchall()
        assert rows == sorted((expected[k],) for k in KEYS)
        rows = conn.execute("SELECT customer_id, shard FROM t WHERE customer_id IN (%d, %d) ORDER BY customer_id"
                            % tuple(keys)).fetchall()
        assert rows == sorted((k, expected[k]) for k in keys)
        assert conn.execute("SELECT shard FROM t WHERE customer_id = 1").fetchone() == (expected[1],)
        rows = conn.execute("SELECT customer_id, shard FROM t WHERE customer_id = ANY(%s) ORDER BY customer_id",
                            (keys,)).fetchall()
        assert rows == sorted((k, expected[k]) for k in keys)
        assert conn.execute("SELECT shard FROM t WHERE customer_id = %s", (1,)).fetchone() == (expected[1],)
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (len(KEYS),)


def test_asyncpg_statement_prepared_before_its_key_runs_on_each_keys_shard(gateway, cluster):
    import asyncio
    import asyncpg
    _, expected = cluster

    async def check():
        conn = await asyncpg.connect(host=gateway.host, port=gateway.port, user=APP[0],
                                     password=APP[1], database="orders", timeout=10)
        try:
            # asyncpg prepares with Parse, Describe and Flush (no Sync): the server must not
            # stay attached, or every execution would run on the shard that prepared it.
            stmt = await asyncio.wait_for(conn.prepare("SELECT shard FROM t WHERE customer_id = $1"), 10)
            for key in KEYS[:12]:
                assert await asyncio.wait_for(stmt.fetchval(key), 10) == expected[key], key
        finally:
            await conn.close()

    asyncio.run(check())
