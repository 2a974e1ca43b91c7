"""Read/write splitting through scalegate against a real primary and a streaming hot standby
(pg_basebackup): plain reads go to the replica, writes, locks, read-write transactions, session
state and `/* scalegate: primary */` to the primary. A statement's server is told apart by
pg_is_in_recovery() (true on the standby)."""
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
