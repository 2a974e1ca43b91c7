"""One shard per transaction through scalegate: a sharded database's statement goes to the
shard its key hashes to (PostgreSQL's own PARTITION BY HASH decides the expected shard), from a
constant, a bound $1, a comment hint or SET scalegate.shard / sharding_key; a statement whose
keys span shards runs on those shards (scatter-gather), and the session goes on."""
import asyncio
import socket
import struct

import asyncpg
import psycopg
import pytest

from pg_support import APP, PostgresServer, start_pooler, stop_pooler, wait_s

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
            # A reference table: the same rows on every shard (not in sharding.tables).
            server.sql("CREATE TABLE products (product_id int PRIMARY KEY, name text NOT NULL);"
                       "INSERT INTO products VALUES (1, 'pen'), (2, 'ink'), (3, 'pad');"
                       "GRANT ALL ON products TO %s" % APP[0], db="shard%d" % n)
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
        "orders": {"shards": shards,
                   "sharding": {"key": "customer_id", "function": "hash", "tables": ["t"]}}})
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


def test_a_reference_table_is_read_on_one_shard_and_joined_by_the_sharded_key(gateway, cluster):
    server, expected = cluster
    key = next(k for k in KEYS if expected[k] == 2)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (3,)
        rows = conn.execute("SELECT t.shard, p.name FROM t JOIN products p ON p.product_id = 2 "
                            "WHERE t.customer_id = %s", (key,)).fetchall()
        assert rows == [(2, "ink")]


def test_a_reference_table_write_is_refused_unless_a_shard_is_named(gateway, cluster):
    server, _ = cluster
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for sql in ("INSERT INTO products VALUES (4, 'cap')",
                    "UPDATE products SET name = 'quill' WHERE product_id = 1",
                    "DELETE FROM products WHERE product_id = 3"):
            with pytest.raises(psycopg.errors.FeatureNotSupported) as raised:
                conn.execute(sql)
            assert "products is not sharded (sharding.tables); write it on every shard directly" \
                in str(raised.value)
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (3,)
        conn.execute("/* scalegate: shard=1 */ UPDATE products SET name = 'quill' WHERE product_id = 1")
        conn.execute("SET scalegate.shard = 0")
        conn.execute("UPDATE products SET name = 'nib' WHERE product_id = 1")
    try:
        names = [server.sql("SELECT name FROM products WHERE product_id = 1", db="shard%d" % n)
                 for n in range(SHARDS)]
        assert names == ["nib", "quill", "pen"]
    finally:
        for n in range(SHARDS):
            server.sql("UPDATE products SET name = 'pen' WHERE product_id = 1", db="shard%d" % n)


def keys_by_shard(expected):
    by_shard = {}
    for key in KEYS:
        by_shard.setdefault(expected[key], []).append(key)
    return by_shard


def test_psycopg_any_of_a_bound_list_on_one_shard_goes_there(gateway, cluster):
    _, expected = cluster
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for shard, keys in sorted(keys_by_shard(expected).items()):
            chosen = keys[:4] + [None]  # a NULL element matches no row and names no shard
            for placeholder in ("%s", "%b"):  # text and binary arrays
                rows = conn.execute("SELECT customer_id, shard FROM t WHERE customer_id = ANY(%s) "
                                    "ORDER BY customer_id" % placeholder, (chosen,)).fetchall()
                assert rows == sorted((k, shard) for k in keys[:4]), (shard, placeholder)
        assert conn.execute("SELECT count(*) FROM t WHERE customer_id = ANY(%s)", ([],)).fetchone() == (0,)
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("SELECT shard FROM t WHERE customer_id = ANY(%s)", ([[1, 2], [3, 4]],))
        assert conn.execute("SELECT shard FROM t WHERE customer_id = %s", (1,)).fetchone() == (expected[1],)


def test_asyncpg_any_of_a_bound_list_on_one_shard_goes_there(gateway, cluster):
    _, expected = cluster

    async def run():
        conn = await gateway.aconnect(dbname="orders")
        try:
            for shard, keys in sorted(keys_by_shard(expected).items()):
                rows = await conn.fetch("SELECT customer_id, shard FROM t WHERE customer_id = ANY($1) "
                                        "ORDER BY customer_id", keys[:5])
                assert [tuple(r) for r in rows] == sorted((k, shard) for k in keys[:5]), shard
                rows = await conn.fetch("SELECT shard FROM t WHERE customer_id = ANY($1::bigint[])", keys[-1:])
                assert [tuple(r) for r in rows] == [(shard,)]
            # asyncpg prepares a new text with Parse, Describe, Flush and then binds it (the
            # server stays attached in between): the texts here were prepared above, so the
            # Bind alone chooses the shard.
            other = next(k for k in KEYS if expected[k] != expected[1])
            rows = await conn.fetch("SELECT customer_id, shard FROM t WHERE customer_id = ANY($1::bigint[])"
                                    " ORDER BY customer_id", [1, other])  # both shards, merged
            assert [tuple(r) for r in rows] == sorted([(1, expected[1]), (other, expected[other])])
            assert await conn.fetchval("SELECT shard FROM t WHERE customer_id = $1", 1) == expected[1]
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(run(), wait_s(60)))


def test_asyncpg_new_statement_runs_on_its_keys_shard_the_first_time(gateway, cluster):
    """asyncpg prepares a new text with Parse, Describe, Flush before it binds the key: the
    proxy syncs that server itself and lets it go, so the first Bind already chooses its shard."""
    _, expected = cluster

    async def run():
        conn = await gateway.aconnect(dbname="orders")
        try:
            for n, key in enumerate(KEYS[:9]):
                sql = "SELECT shard FROM t WHERE customer_id = $1 AND shard >= %d" % -n  # new text
                assert [tuple(r) for r in await conn.fetch(sql, key)] == [(expected[key],)], key
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(run(), wait_s(60)))


def pg_message(kind, body=b""):
    return kind + struct.pack("!I", len(body) + 4) + body


def unnamed_statement(sql, key):
    """Parse, Bind (the key as text) and Execute of an unnamed statement, no Sync."""
    text = str(key).encode()
    return (pg_message(b"P", b"\0" + sql.encode() + b"\0\0\0") +
            pg_message(b"B", b"\0\0\0\0\0\1" + struct.pack("!i", len(text)) + text + b"\0\0") +
            pg_message(b"E", b"\0\0\0\0\0"))


def send_raw(conn, data, ready_count):
    """Sends bytes on a psycopg connection's socket and reads replies up to the n-th
    ReadyForQuery: [(type, payload)]."""
    sock = socket.socket(fileno=conn.pgconn.socket)
    sock.settimeout(wait_s(10))
    try:
        sock.sendall(data)
        buf, out = b"", []
        while sum(1 for kind, _ in out if kind == b"Z") < ready_count:
            chunk = sock.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
            while len(buf) >= 5 and len(buf) >= 1 + struct.unpack("!I", buf[1:5])[0]:
                n = 1 + struct.unpack("!I", buf[1:5])[0]
                out.append((buf[:1], buf[5:n]))
                buf = buf[n:]
        return out
    finally:
        sock.detach()


def test_pipelined_transactions_each_run_on_their_keys_shard(gateway, cluster):
    """Batches sent without waiting for their answers (each ended by its Sync): each waits for
    the previous ReadyForQuery (the server goes back) and goes to its own key's shard."""
    _, expected = cluster
    keys = [next(k for k in KEYS if expected[k] == n) for n in (0, 2, 1, 0, 2)]
    sql = "SELECT shard FROM t WHERE customer_id = $1::bigint"
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        data = b"".join(unnamed_statement(sql, key) + pg_message(b"S") for key in keys)
        replies = send_raw(conn, data, len(keys))
        rows = [payload[6:].decode() for kind, payload in replies if kind == b"D"]
        assert rows == [str(expected[key]) for key in keys], replies
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_one_batch_across_shards_is_refused_not_run_on_the_wrong_shard(gateway, cluster):
    """Statements of one extended-protocol batch (up to its Sync) run in one implicit
    transaction on one server: a statement in it for another shard is refused."""
    _, expected = cluster
    a = next(k for k in KEYS if expected[k] == 0)
    b = next(k for k in KEYS if expected[k] == 2)
    sql = "UPDATE t SET shard = shard + 10 WHERE customer_id = $1::bigint"
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        replies = send_raw(conn, unnamed_statement(sql, a) + unnamed_statement(sql, b) + pg_message(b"S"), 1)
        tags = [payload for kind, payload in replies if kind == b"C"]
        errors = [payload for kind, payload in replies if kind == b"E"]
        assert tags == [b"UPDATE 1\0"] and len(errors) == 1, replies
        assert b"two-phase commit is not supported" in errors[0]
        # The batch failed as one implicit transaction: neither update stayed.
        assert conn.execute("SELECT shard FROM t WHERE customer_id = %s", (a,)).fetchone() == (0,)
        assert conn.execute("SELECT shard FROM t WHERE customer_id = %s", (b,)).fetchone() == (2,)
