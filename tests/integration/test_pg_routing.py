"""Read/write splitting through scalegate against a real primary and a streaming hot standby
(pg_basebackup): plain reads go to the replica, writes, locks, read-write transactions, session
state and `/* scalegate: primary */` to the primary. A statement's server is told apart by
pg_is_in_recovery() (true on the standby)."""
import asyncio

import psycopg
import pytest

from pg_support import PostgresServer, start_pooler, stop_pooler, wait_s, wait_until


@pytest.fixture(scope="module")
def cluster():
    primary = PostgresServer().start()
    replica = None
    try:
        primary.sql("CREATE SEQUENCE IF NOT EXISTS route_seq; GRANT USAGE ON SEQUENCE route_seq TO app")
        replica = primary.replica()
        yield primary, replica
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


def start(cluster, tmp_path, **routing):
    primary, replica = cluster
    database = {"primary": primary.address, "dbname": "app", "pool_size": 2,
                "replicas": [replica.address]}
    database.update(routing)
    return start_pooler("scalegate", primary, str(tmp_path / "sg"), databases={"app": database})


@pytest.fixture
def gateway(cluster, tmp_path):
    started = []

    def make(**routing):
        started.append(start(cluster, tmp_path, **routing))
        return started[-1]

    yield make
    for g in started:
        stop_pooler(g)


def on_replica(conn, sql="SELECT pg_is_in_recovery()"):
    return conn.execute(sql).fetchone()[0]


def test_plain_reads_go_to_the_replica_and_writes_to_the_primary(gateway, cluster):
    primary, replica = cluster
    g = gateway()
    with g.connect(autocommit=True) as conn:
        assert on_replica(conn) is True
        assert on_replica(conn, "SELECT pg_is_in_recovery(), count(*) FROM items") is True
        conn.execute("INSERT INTO items (name) VALUES ('routed')")  # a replica would refuse it
        lsn = primary.wal_lsn()
        assert wait_until(lambda: replica.replayed(lsn), wait_s(10))
        assert conn.execute("SELECT count(*) FROM items WHERE name = 'routed'").fetchone()[0] >= 1


@pytest.mark.parametrize("sql", [
    "SELECT pg_is_in_recovery() FROM items FOR UPDATE",
    "/* scalegate: primary */ SELECT pg_is_in_recovery()",
    "SELECT pg_is_in_recovery(), nextval('route_seq')",
    "WITH w AS (UPDATE items SET name = name WHERE false RETURNING 1) SELECT pg_is_in_recovery()",
])
def test_statements_the_primary_must_run(gateway, sql):
    g = gateway()
    with g.connect(autocommit=True) as conn:
        rows = conn.execute(sql).fetchall()
        assert all(row[0] is False for row in rows), (sql, rows)


def test_transactions_stay_on_one_server(gateway):
    g = gateway()
    with g.connect() as conn:  # psycopg opens a read-write transaction (BEGIN): the primary
        assert on_replica(conn) is False
        conn.execute("INSERT INTO items (name) VALUES ('in a transaction')")
        assert on_replica(conn) is False
        conn.rollback()
    with g.connect(autocommit=True) as conn:
        conn.execute("BEGIN READ ONLY")
        assert on_replica(conn) is True
        assert on_replica(conn) is True
        conn.execute("COMMIT")


def test_extended_protocol_reads_go_to_the_replica(gateway):
    g = gateway()
    with g.connect(autocommit=True, prepare_threshold=None) as conn:
        assert conn.execute("SELECT pg_is_in_recovery() AND %s", (True,)).fetchone()[0] is True


def test_session_state_keeps_the_client_on_the_primary(gateway):
    g = gateway()
    with g.connect(autocommit=True) as conn:
        assert on_replica(conn) is True
        conn.execute("SET work_mem = '8MB'")
        assert on_replica(conn) is False
        assert conn.execute("SHOW work_mem").fetchone()[0] == "8MB"


def test_splitting_off_sends_everything_to_the_primary(gateway):
    g = gateway(read_write_split=False)
    with g.connect(autocommit=True) as conn:
        assert on_replica(conn) is False


def test_primary_reads_include_spreads_reads_over_both(gateway):
    g = gateway(primary_reads="include", replica_balance="round_robin")
    with g.connect(autocommit=True) as conn:
        seen = {on_replica(conn) for _ in range(6)}
    assert seen == {True, False}


def dead_address():
    from conftest import free_port
    return "127.0.0.1:%d" % free_port()  # nothing listens there


def test_an_unreachable_replica_is_skipped(gateway, cluster):
    _, replica = cluster
    g = gateway(replicas=[dead_address(), replica.address], replica_balance="round_robin")
    with g.connect(autocommit=True) as conn:
        assert [on_replica(conn) for _ in range(6)] == [True] * 6


def test_reads_fall_back_to_the_primary_when_no_replica_is_up(gateway):
    g = gateway(replicas=[dead_address()])
    with g.connect(autocommit=True) as conn:
        assert on_replica(conn) is False
        assert on_replica(conn) is False


def test_primary_reads_exclude_refuses_reads_without_a_replica(gateway):
    g = gateway(replicas=[dead_address()], primary_reads="exclude", read_your_writes="off")
    with g.connect(autocommit=True) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('writes still work')")
        with pytest.raises(psycopg.OperationalError) as raised:
            on_replica(conn)  # the replica's failed login ends the read (and the connection)
    assert "Connection refused" in str(raised.value)
    with g.connect(autocommit=True) as conn:  # now known to be down: refused at once
        with pytest.raises(psycopg.OperationalError) as raised:
            on_replica(conn)
    assert "no replica can take reads" in str(raised.value)


def test_prepared_statements_are_routed_by_their_text(gateway):
    g = gateway(read_your_writes="off")
    with g.connect(autocommit=True) as conn:  # psycopg prepares a statement by name, then binds it
        reads = [conn.execute("SELECT pg_is_in_recovery()", prepare=True).fetchone()[0] for _ in range(8)]
        assert reads == [True] * 8
        for _ in range(3):
            conn.execute("INSERT INTO items (name) VALUES (%s) RETURNING pg_is_in_recovery()", ("prepared",),
                         prepare=True)
        assert conn.execute("SELECT pg_is_in_recovery(), %s::int", (1,), prepare=True).fetchone()[0] is True


def test_set_scalegate_route_is_answered_by_the_proxy(gateway, cluster):
    primary, _ = cluster
    g = gateway(read_your_writes="off")
    with g.connect(autocommit=True) as conn:  # no parameters: psycopg sends a simple Query
        conn.execute("SET scalegate.route = 'primary'")
        assert on_replica(conn) is False
        conn.execute("SET scalegate.route = auto")
        assert on_replica(conn) is True
        conn.execute("SET scalegate.route = replica")
        assert on_replica(conn, "SELECT pg_is_in_recovery(), nextval('route_seq')") is False  # a write
        conn.execute("RESET scalegate.route")
        assert on_replica(conn) is True
    # psql sees the proxy's own answer; the servers never saw the setting.
    r = g.psql("SELECT pg_is_in_recovery()", extra=("-c", "SET scalegate.route = 'primary'"))
    assert r.returncode == 0 and r.stdout.split() == ["SET", "f"], r.stdout + r.stderr
    # Mixed with a statement for the server, it is refused (the server must not see it).
    r = g.psql("SET scalegate.route = 'replica'; SELECT 1")
    assert r.returncode != 0 and "query of their own" in r.stderr, r.stdout + r.stderr
    assert "scalegate.route" not in primary.sql("SELECT string_agg(query, ' ') FROM pg_stat_activity",
                                                db="postgres")


def test_a_bad_proxy_setting_is_an_error_and_the_session_goes_on(gateway):
    g = gateway()
    with g.connect(autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("SET scalegate.route = sideways")
        assert "scalegate.route" in str(raised.value)
        assert on_replica(conn) is True


@pytest.fixture(scope="module")
def delayed(cluster):
    """A second standby that applies WAL 1.5 s late."""
    primary, _ = cluster
    standby = primary.replica(apply_delay_ms=1500)
    try:
        yield standby
    finally:
        standby.stop()


def read_back(conn, marker):
    return conn.execute("SELECT count(*) FROM items WHERE name = %s", (marker,)).fetchone()[0]


@pytest.mark.parametrize("mode", ["window", "off"])
def test_read_your_writes_window(gateway, delayed, mode):
    g = gateway(replicas=[delayed.address], read_your_writes=mode)
    stale = 0
    with g.connect(autocommit=True) as conn:
        for i in range(5):
            marker = "ryw-%s-%d" % (mode, i)
            conn.execute("INSERT INTO items (name) VALUES (%s)", (marker,))
            stale += read_back(conn, marker) == 0
    if mode == "window":
        assert stale == 0  # every read right after the write ran on the primary
    else:
        assert stale == 5  # the delayed standby had not applied any of them yet


def test_show_pools_has_one_row_per_database_and_user(gateway):
    """The replica's pool adds its servers to the (database, user) row, as clients see one
    pool; SHOW SERVERS tells the servers apart by role."""
    g = gateway()
    with g.connect(autocommit=True) as conn:
        assert on_replica(conn) is True
        conn.execute("INSERT INTO items (name) VALUES ('pools')")
        _, pools = g.admin_rows("SHOW POOLS")
        rows = [row for row in pools if row["database"] == "app"]
        assert len(rows) == 1, pools
        _, servers = g.admin_rows("SHOW SERVERS")
        pooled = [row for row in servers if row["state"] != "probe" and row["database"] == "app"]
        assert {row["role"] for row in pooled} == {"primary", "replica1"}, servers
        assert int(rows[0]["sv_idle"]) + int(rows[0]["sv_active"]) == len(pooled), (rows, pooled)


def test_proxy_settings_through_the_extended_protocol(gateway, cluster):
    """psycopg's prepared statements and asyncpg (both the extended protocol: Parse, Bind,
    Describe, Execute, Sync) set and show scalegate.* through the proxy, as JDBC would."""
    g = gateway()
    with g.connect(autocommit=True) as conn:
        conn.execute("SET scalegate.route = primary", prepare=True)
        assert on_replica(conn) is False
        assert conn.execute("SHOW scalegate.route", prepare=True).fetchone()[0] == "primary"
        conn.execute("SET scalegate.route = auto", prepare=True)  # the same statement again
        assert on_replica(conn) is True
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("SET scalegate.route = sideways", prepare=True)
        assert "scalegate.route must be" in str(raised.value)
        assert on_replica(conn) is True  # the session goes on

    async def with_asyncpg():
        conn = await g.aconnect()
        try:
            assert await conn.fetchval("SHOW scalegate.lsn") == "0/0"
            await conn.execute("INSERT INTO items (name) VALUES ($1)", "asyncpg")
            lsn = await conn.fetchval("SHOW scalegate.lsn")
            assert lsn != "0/0"
            await conn.execute("SET scalegate.route = 'primary'")
            return lsn, await conn.fetchval("SELECT pg_is_in_recovery()")
        finally:
            await conn.close()
    lsn, in_recovery = asyncio.run(with_asyncpg())
    assert in_recovery is False, lsn
