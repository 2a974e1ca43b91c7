"""Failover through scalegate: a primary the lag monitor finds down makes writes fail at once
with a clear error while reads go on on the replica; with primary_discovery a replica promoted
by `pg_ctl promote` becomes the primary within a few lag checks. Each test makes its own
primary and standby (it stops or promotes them)."""
import psycopg
import pytest

from pg_support import PostgresServer, start_pooler, stop_pooler, wait_until


@pytest.fixture
def cluster():
    primary = PostgresServer().start()
    standby = None
    try:
        standby = primary.replica()
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


@pytest.fixture
def gateway(cluster, tmp_path):
    primary, standby = cluster
    started = []

    def make(**routing):
        database = {"primary": primary.address, "dbname": "app", "pool_size": 2,
                    "replicas": [standby.address]}
        database.update(routing)
        started.append(start_pooler("scalegate", primary, str(tmp_path / "sg"),
                                    databases={"app": database}, lag_check_interval="100ms",
                                    health_check={"rise": 1, "fall": 2}))
        return started[-1]

    yield make
    for g in started:
        stop_pooler(g)


def primary_state(g):
    return g.health()[1]["postgres"]["servers"]["app"]["primary"]["state"]


def test_writes_fail_at_once_when_the_primary_is_down(gateway, cluster):
    primary, _ = cluster
    g = gateway()
    with g.connect(autocommit=True) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('before')")
    assert wait_until(lambda: primary_state(g) == "up", 10)
    primary.stop(remove=False)
    assert wait_until(lambda: primary_state(g) == "down", 10)
    status, document = g.health()
    assert status == 200 and document["status"] == "degraded", document
    # Why it is down: a failed connect (the health check) or, when the stop caught a pooled
    # connection first, "read: Connection reset by peer".
    last_error = document["postgres"]["servers"]["app"]["primary"]["last_error"]
    assert "connect" in last_error.lower(), last_error
    with g.connect(autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True  # reads go on
        with pytest.raises(psycopg.OperationalError) as raised:
            conn.execute("INSERT INTO items (name) VALUES ('during')")
    assert "the primary of database app is down" in str(raised.value)


def test_primary_discovery_follows_a_promoted_replica(gateway, cluster):
    primary, standby = cluster
    g = gateway(primary_discovery="pg_is_in_recovery")
    with g.connect(autocommit=True) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('before failover')")
    assert wait_until(lambda: primary_state(g) == "up", 10)
    primary.stop(remove=False)
    standby.promote()

    def acting():
        return g.health()[1]["postgres"]["servers"]["app"]["acting_primary"]
    assert wait_until(lambda: acting() == standby.address, 10), g.health()

    def write():
        try:
            with g.connect(autocommit=True) as conn:
                conn.execute("INSERT INTO items (name) VALUES ('after failover')")
                return conn.execute("/* scalegate: primary */ SELECT pg_is_in_recovery(), count(*) "
                                    "FROM items WHERE name = 'after failover'").fetchone()
        except psycopg.Error:
            return None
    assert wait_until(write, 10) == (False, 1)
    assert standby.sql("SELECT count(*) FROM items WHERE name = 'after failover'") == "1"


def test_a_replica_that_goes_down_is_ejected_and_comes_back(gateway, cluster):
    """fall failed probes eject a replica (reads go to the primary), rise good ones bring it
    back, as the HTTP side's health checks do."""
    _, standby = cluster
    g = gateway()

    def replica():
        return g.health()[1]["postgres"]["servers"]["app"]["replicas"][0]
    with g.connect(autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        assert wait_until(lambda: replica()["state"] == "up", 10)
        port = standby.port
        standby.stop(remove=False)
        assert wait_until(lambda: replica()["state"] == "down", 10), replica()
        assert g.metric("scalegate_pg_server_up", database="app", server="replica1") == 0
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        standby.start(port=port)
        assert wait_until(lambda: replica()["state"] == "up", 20), replica()
        assert wait_until(lambda: conn.execute("SELECT pg_is_in_recovery()").fetchone()[0], 5)
