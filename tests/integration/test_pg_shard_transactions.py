"""Transactions on a sharded database through scalegate (3 shard databases on one PostgreSQL 15,
and a hot standby of it for read/write splitting): a transaction runs on the shard its first
statement names, not the one its BEGIN arrived on (the proxy answers BEGIN and sends it to that
shard with the statement); BEGIN's options are kept; BEGIN and COMMIT with nothing between never
reach a server; a statement for another shard inside the transaction is refused with 0A000 and
the transaction fails as after any error (COMMIT rolls back, ROLLBACK TO SAVEPOINT recovers).
Rows are checked in the shard databases directly; PostgreSQL's PARTITION BY HASH gives each
key's expected shard. An unsharded database's BEGIN still goes to its server at once."""
import asyncio
import subprocess

import asyncpg
import psycopg
import pytest

from pg_support import APP, PSQL, PostgresServer, start_pooler, stop_pooler, wait_s, wait_until

SHARDS = 3
IN_TRANSACTION = psycopg.pq.TransactionStatus.INTRANS
IN_ERROR = psycopg.pq.TransactionStatus.INERROR
IDLE = psycopg.pq.TransactionStatus.IDLE


@pytest.fixture(scope="module")
def cluster():
    primary = PostgresServer().start()
    replica = None
    try:
        for n in range(SHARDS):
            primary.sql("CREATE DATABASE shard%d OWNER %s" % (n, APP[0]), db="postgres")
            primary.sql("CREATE TABLE t (customer_id bigint PRIMARY KEY, note text NOT NULL);"
                        "GRANT ALL ON t TO %s" % APP[0], db="shard%d" % n)
        primary.sql("CREATE TABLE ref (customer_id bigint) PARTITION BY HASH (customer_id);" +
                    "".join("CREATE TABLE ref%d PARTITION OF ref FOR VALUES WITH (MODULUS %d, "
                            "REMAINDER %d);" % (n, SHARDS, n) for n in range(SHARDS)) +
                    "CREATE TABLE plain (id int, note text); GRANT ALL ON plain TO %s" % APP[0], db="app")
        replica = primary.replica()
        yield primary, replica
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


@pytest.fixture(scope="module")
def gateway(cluster, tmp_path_factory):
    primary, replica = cluster
    shards = [{"primary": primary.address, "replicas": [replica.address], "dbname": "shard%d" % n}
              for n in range(SHARDS)]
    g = start_pooler("scalegate", primary, str(tmp_path_factory.mktemp("sg")), databases={
        "orders": {"shards": shards, "sharding": {"key": "customer_id", "function": "hash"}, "pool_size": 3},
        "app": {"primary": primary.address, "dbname": "app", "pool_size": 2}})
    yield g
    stop_pooler(g)


_next_key = [1000]


def key_on(primary, shard):
    """A customer id not used before whose hash puts it on `shard` (PostgreSQL decides)."""
    while True:
        _next_key[0] += 1
        key = _next_key[0]
        if primary.sql("SELECT satisfies_hash_partition('ref'::regclass, %d, %d, %d::bigint)"
                       % (SHARDS, shard, key)) == "t":
            return key


def rows_by_shard(primary, key):
    """{shard: note} of the committed rows with this key, read in each shard database."""
    found = {}
    for n in range(SHARDS):
        with primary.superuser("shard%d" % n) as conn:
            row = conn.execute("SELECT note FROM t WHERE customer_id = %s", (key,)).fetchone()
            if row:
                found[n] = row[0]
    return found


def open_transactions(primary):
    """Server sessions of the app user idle in a transaction, per database."""
    out = primary.sql("SELECT datname FROM pg_stat_activity WHERE usename = 'app' "
                      "AND state LIKE 'idle in transaction%'", db="postgres")
    return sorted(out.split())


def test_begin_then_a_statement_for_shard_2_runs_on_shard_2(gateway, cluster):
    primary, _ = cluster
    key = key_on(primary, 2)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        conn.execute("BEGIN")
        assert conn.info.transaction_status == IN_TRANSACTION
        assert open_transactions(primary) == []  # the BEGIN waits for its first statement
        conn.execute("INSERT INTO t (customer_id, note) VALUES (%d, 'begin first')" % key)
        assert open_transactions(primary) == ["shard2"]
        assert rows_by_shard(primary, key) == {}  # not committed yet
        conn.execute("UPDATE t SET note = note || ', then updated' WHERE customer_id = %s", (key,))
        conn.execute("COMMIT")
        assert conn.info.transaction_status == IDLE
    assert rows_by_shard(primary, key) == {2: "begin first, then updated"}


def test_begin_options_are_kept(gateway, cluster):
    primary, _ = cluster
    key = key_on(primary, 1)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        conn.execute("SELECT note FROM t WHERE customer_id = %s", (key,))
        assert conn.execute("SHOW transaction_isolation").fetchone() == ("serializable",)
        conn.execute("COMMIT")
        conn.execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        assert conn.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO t (customer_id, note) VALUES (%s, 'read only')", (key,))
        conn.execute("ROLLBACK")
        assert conn.execute("SHOW transaction_isolation").fetchone() == ("read committed",)
    assert rows_by_shard(primary, key) == {}


def test_begin_and_commit_with_nothing_between_never_reach_a_server(gateway, cluster):
    primary, _ = cluster
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for begin, end, tag in (("BEGIN", "COMMIT", "COMMIT"), ("START TRANSACTION READ WRITE", "ROLLBACK", "ROLLBACK"),
                                ("begin;", "end", "COMMIT"), ("BEGIN", "ABORT", "ROLLBACK")):
            for binary in (False, True):  # binary: the extended protocol (Parse, Bind, Execute, Sync)
                cur = conn.execute(begin, binary=binary)
                assert (cur.statusmessage, conn.info.transaction_status) == ("BEGIN", IN_TRANSACTION)
                assert open_transactions(primary) == []
                cur = conn.execute(end, binary=binary)
                assert (cur.statusmessage, conn.info.transaction_status) == (tag, IDLE)
        conn.execute("BEGIN")
        conn.execute("COMMIT AND CHAIN")
        assert conn.info.transaction_status == IN_TRANSACTION
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_read_only_transaction_runs_on_a_replica_and_read_write_on_the_primary(gateway, cluster):
    primary, replica = cluster
    key = key_on(primary, 1)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        conn.execute("INSERT INTO t (customer_id, note) VALUES (%s, 'replicated')", (key,))
        lsn = primary.wal_lsn()
        assert wait_until(lambda: replica.replayed(lsn), wait_s(10))
        conn.execute("BEGIN READ ONLY")
        row = conn.execute("SELECT pg_is_in_recovery(), note FROM t WHERE customer_id = %s", (key,)).fetchone()
        assert row == (True, "replicated")
        conn.execute("COMMIT")
        # A plain BEGIN may write later: its read-only first statement must not take it to the replica.
        conn.execute("BEGIN")
        row = conn.execute("SELECT pg_is_in_recovery(), note FROM t WHERE customer_id = %s", (key,)).fetchone()
        assert row == (False, "replicated")
        conn.execute("UPDATE t SET note = 'written in the transaction' WHERE customer_id = %s", (key,))
        conn.execute("COMMIT")
    assert rows_by_shard(primary, key) == {1: "written in the transaction"}


def test_psycopg_implicit_transactions(gateway, cluster):
    primary, _ = cluster
    a, b = key_on(primary, 1), key_on(primary, 2)
    with gateway.connect(dbname="orders") as conn:  # autocommit off: psycopg sends BEGIN itself
        conn.execute("INSERT INTO t (customer_id, note) VALUES (%s, 'implicit')", (a,))
        conn.execute("UPDATE t SET note = 'implicit, committed' WHERE customer_id = %s", (a,))
        conn.commit()
        assert rows_by_shard(primary, a) == {1: "implicit, committed"}
        # The extended protocol's refusal: the bound key is on another shard.
        conn.execute("UPDATE t SET note = 'not kept' WHERE customer_id = %s", (a,))
        with pytest.raises(psycopg.errors.FeatureNotSupported) as refused:
            conn.execute("INSERT INTO t (customer_id, note) VALUES (%s, 'other shard')", (b,))
        assert "this transaction runs on shard 1; the statement needs shard 2" in str(refused.value)
        assert "two-phase commit is not supported" in str(refused.value)
        assert conn.info.transaction_status == IN_ERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT note FROM t WHERE customer_id = %s", (a,))
        conn.commit()  # PostgreSQL rolls a failed transaction back
        assert conn.execute("SELECT note FROM t WHERE customer_id = %s", (a,)).fetchone() == ("implicit, committed",)
        conn.rollback()
    assert rows_by_shard(primary, a) == {1: "implicit, committed"}
    assert rows_by_shard(primary, b) == {}


def test_asyncpg_transaction_blocks(gateway, cluster):
    primary, _ = cluster
    a, b = key_on(primary, 0), key_on(primary, 2)

    async def run():
        conn = await gateway.aconnect(dbname="orders")
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO t (customer_id, note) VALUES ($1, 'asyncpg')", b)
                await conn.execute("UPDATE t SET note = note || ' block' WHERE customer_id = $1", b)
            with pytest.raises(asyncpg.exceptions.FeatureNotSupportedError):
                async with conn.transaction(isolation="repeatable_read"):
                    await conn.execute("INSERT INTO t (customer_id, note) VALUES ($1, 'rolled back')", a)
                    await conn.fetchrow("SELECT note FROM t WHERE customer_id = $1", b)
            async with conn.transaction():  # a read-write transaction: on the primary
                return await conn.fetchval("SELECT note FROM t WHERE customer_id = $1", b)
        finally:
            await conn.close()

    assert asyncio.run(asyncio.wait_for(run(), wait_s(60))) == "asyncpg block"
    assert rows_by_shard(primary, b) == {2: "asyncpg block"}
    assert rows_by_shard(primary, a) == {}


def test_asyncpg_statement_prepared_before_its_key_runs_on_each_keys_shard(gateway, cluster):
    # asyncpg prepares (Parse, Describe, Flush) on a server of the current shard and then binds:
    # the Bind's key sends that server back and runs the statement on the key's shard.
    primary, _ = cluster
    keys = {n: key_on(primary, n) for n in range(SHARDS)}
    sql = "SELECT current_database(), count(*) FROM t WHERE customer_id = $1"

    async def run():
        conn = await gateway.aconnect(dbname="orders", statement_cache_size=0)
        try:
            stmt = await conn.prepare(sql)
            seen = [tuple(await stmt.fetchrow(keys[n])) for n in (2, 0, 1, 2)]
            seen += [tuple(await conn.fetchrow(sql + " AND true", keys[n])) for n in (1, 2, 0)]
            return seen
        finally:
            await conn.close()

    seen = asyncio.run(asyncio.wait_for(run(), wait_s(60)))
    assert seen == [("shard%d" % n, 0) for n in (2, 0, 1, 2, 1, 2, 0)]


def test_psql_with_several_statements(gateway, cluster):
    primary, _ = cluster
    a, b = key_on(primary, 2), key_on(primary, 1)
    # Each -c is one Query; the last is a whole transaction in one Query.
    r = subprocess.run([PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", gateway.host, "-p", str(gateway.port),
                        "-U", APP[0], "-d", "orders",
                        "-c", "BEGIN",
                        "-c", "INSERT INTO t (customer_id, note) VALUES (%d, 'psql')" % a,
                        "-c", "SELECT note FROM t WHERE customer_id = %d" % a,
                        "-c", "COMMIT",
                        "-c", "BEGIN; INSERT INTO t (customer_id, note) VALUES (%d, 'one query'); COMMIT" % b],
                       capture_output=True, text=True, timeout=wait_s(30), env=gateway.client_env(APP[1]),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:4] == ["BEGIN", "INSERT 0 1", "psql", "COMMIT"]
    assert rows_by_shard(primary, a) == {2: "psql"}
    assert rows_by_shard(primary, b) == {1: "one query"}


def test_cross_shard_statement_in_a_transaction_refused_in_the_simple_protocol(gateway, cluster):
    primary, _ = cluster
    a, b, c = key_on(primary, 0), key_on(primary, 1), key_on(primary, 1)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for sql, text in (("INSERT INTO t (customer_id, note) VALUES (%d, 'second')" % b,
                           "this transaction runs on shard 0; the statement needs shard 1"),
                          ("SELECT note FROM t WHERE customer_id IN (%d, %d)" % (a, b), "several shards")):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (customer_id, note) VALUES (%d, 'first')" % a)
            with pytest.raises(psycopg.errors.FeatureNotSupported) as refused:
                conn.execute(sql)
            assert text in str(refused.value)
            assert conn.info.transaction_status == IN_ERROR
            with pytest.raises(psycopg.errors.InFailedSqlTransaction):
                conn.execute("SELECT 1")
            assert conn.execute("COMMIT").statusmessage == "ROLLBACK"
            assert conn.info.transaction_status == IDLE
        # A savepoint taken before the refused statement recovers the transaction, as after any error.
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (customer_id, note) VALUES (%d, 'kept')" % b)
        conn.execute("SAVEPOINT before_other_shard")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("UPDATE t SET note = 'no' WHERE customer_id = %d" % a)
        conn.execute("ROLLBACK TO SAVEPOINT before_other_shard")
        conn.execute("INSERT INTO t (customer_id, note) VALUES (%d, 'same shard')" % c)
        conn.execute("COMMIT")
        # A first statement that names no single shard fails the transaction too.
        conn.execute("BEGIN")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("SELECT count(*) FROM t")
        assert conn.info.transaction_status == IN_ERROR
        conn.execute("ROLLBACK")
    assert rows_by_shard(primary, a) == {}
    assert rows_by_shard(primary, b) == {1: "kept"}
    assert rows_by_shard(primary, c) == {1: "same shard"}


def test_cross_shard_prepared_statement_in_a_transaction_refused(gateway, cluster):
    primary, _ = cluster
    a, b = key_on(primary, 2), key_on(primary, 0)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        insert = "INSERT INTO t (customer_id, note) VALUES (%s, %s)"
        conn.execute("BEGIN")
        conn.execute(insert, (a, "prepared"), prepare=True)
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute(insert, (b, "prepared elsewhere"), prepare=True)  # a Bind of the named statement
        assert conn.info.transaction_status == IN_ERROR
        conn.execute("ROLLBACK")
        conn.execute(insert, (b, "after the rollback"), prepare=True)
    assert rows_by_shard(primary, a) == {}
    assert rows_by_shard(primary, b) == {0: "after the rollback"}


def test_unsharded_database_transactions_unchanged(gateway, cluster):
    primary, _ = cluster
    with gateway.connect(dbname="app", autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        assert open_transactions(primary) == ["app"]  # BEGIN went to the server at once
        conn.execute("INSERT INTO plain VALUES (1, 'unsharded')")
        assert conn.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO plain VALUES (2, 'committed')")
        conn.execute("COMMIT")
        assert conn.execute("SELECT id, note FROM plain").fetchall() == [(2, "committed")]
