"""Per-shard operations through scalegate: the lag monitor probes every shard's primary, so when
one shard's server stops /health, /metrics and the admin console say so per shard, a statement
keyed to that shard fails at once with 08006 naming the shard while the other shard keeps
serving (on the same session), and all comes back when the server does. Two shards on two
PostgreSQL servers."""
import time

import psycopg
import pytest

from pg_support import APP, PostgresServer, start_pooler, stop_pooler, wait_until

SHARDS = 2
KEYS = list(range(1, 41))


@pytest.fixture(scope="module")
def servers():
    started = []
    try:
        for n in range(SHARDS):
            server = PostgresServer().start()
            started.append(server)
            server.sql("CREATE DATABASE shard%d OWNER %s" % (n, APP[0]), db="postgres")
            server.sql("CREATE TABLE t (customer_id bigint PRIMARY KEY, shard int NOT NULL);"
                       "GRANT ALL ON t TO %s" % APP[0], db="shard%d" % n)
        # Which shard PostgreSQL's PARTITION BY HASH gives each key (asked of PostgreSQL).
        started[0].sql("CREATE TABLE ref (customer_id bigint) PARTITION BY HASH (customer_id);" +
                       "".join("CREATE TABLE ref%d PARTITION OF ref FOR VALUES WITH (MODULUS %d, "
                               "REMAINDER %d);" % (n, SHARDS, n) for n in range(SHARDS)))
        expected = {}
        for key in KEYS:
            expected[key] = int(started[0].sql(
                "SELECT r FROM generate_series(0, %d) r WHERE satisfies_hash_partition("
                "'ref'::regclass, %d, r, %d::bigint)" % (SHARDS - 1, SHARDS, key)))
            started[expected[key]].sql("INSERT INTO t VALUES (%d, %d)" % (key, expected[key]),
                                       db="shard%d" % expected[key])
        yield started, expected
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def gateway(servers, tmp_path):
    started, _ = servers
    shards = [{"primary": server.address, "dbname": "shard%d" % n} for n, server in enumerate(started)]
    g = start_pooler("scalegate", started[0], str(tmp_path / "sg"), databases={
        "orders": {"shards": shards, "sharding": {"key": "customer_id", "function": "hash"}}},
        lag_check_interval="100ms", health_check={"rise": 1, "fall": 2})
    yield g
    stop_pooler(g)


def shard_health(g, shard):
    entry = g.health()[1]["postgres"]["servers"]["orders"]["shards"][shard]
    assert entry["shard"] == shard and entry["dbname"] == "shard%d" % shard
    return entry["primary"]


def key_on(expected, shard):
    return next(k for k in KEYS if expected[k] == shard)


def test_a_shard_server_down_fails_its_statements_at_once_and_comes_back(gateway, servers):
    started, expected = servers
    down_key, up_key = key_on(expected, 1), key_on(expected, 0)
    with gateway.connect(dbname="orders", autocommit=True) as conn:
        for key in (up_key, down_key):  # logs in to both shards: the probes use those credentials
            assert conn.execute("SELECT shard FROM t WHERE customer_id = %s", (key,)).fetchone() == \
                (expected[key],)
        assert wait_until(lambda: all(shard_health(gateway, n)["state"] == "up" for n in range(SHARDS)), 10)
        assert shard_health(gateway, 1)["address"] == started[1].address
        assert gateway.metric("scalegate_pg_server_up", database="orders", server="shard1/primary") == 1
        _, rows = gateway.admin_rows("SHOW SERVERS")
        roles = {(r["database"], r["role"], r["health"]) for r in rows}
        assert ("orders", "shard1/primary", "up") in roles, rows
        assert ("orders", "shard0/primary", "up") in roles, rows
        _, pools = gateway.admin_rows("SHOW POOLS")
        assert {"orders/shard0", "orders/shard1"} <= {r["database"] for r in pools}, pools

        port = started[1].port
        started[1].stop(remove=False)
        try:
            assert wait_until(lambda: shard_health(gateway, 1)["state"] == "down", 10), \
                shard_health(gateway, 1)
            status, document = gateway.health()
            assert status == 200 and document["status"] == "degraded", document
            assert shard_health(gateway, 0)["state"] == "up"
            assert gateway.metric("scalegate_pg_server_up", database="orders", server="shard1/primary") == 0
            assert gateway.metric("scalegate_pg_server_up", database="orders", server="shard0/primary") == 1

            began = time.monotonic()
            with pytest.raises(psycopg.OperationalError) as raised:
                conn.execute("UPDATE t SET shard = shard WHERE customer_id = %s", (down_key,))
            assert time.monotonic() - began < 2
            assert raised.value.sqlstate == "08006"
            assert "the primary of database orders shard 1 is down" in str(raised.value)
            # The session goes on, and the other shard serves it.
            conn.execute("UPDATE t SET shard = shard WHERE customer_id = %s", (up_key,))
            assert conn.execute("SELECT shard FROM t WHERE customer_id = %s", (up_key,)).fetchone() == (0,)
        finally:
            started[1].start(port=port)

        assert wait_until(lambda: shard_health(gateway, 1)["state"] == "up", 20), shard_health(gateway, 1)

        def shard1_serves():
            try:
                return conn.execute("SELECT shard FROM t WHERE customer_id = %s", (down_key,)).fetchone()
            except psycopg.OperationalError:
                return None
        assert wait_until(shard1_serves, 10) == (1,)
        assert gateway.metric("scalegate_pg_server_up", database="orders", server="shard1/primary") == 1


def test_a_shards_replica_is_probed_takes_its_reads_and_is_ejected_when_down(servers, tmp_path):
    started, expected = servers
    standby = started[1].replica()
    g = None
    try:
        shards = [{"primary": started[0].address, "dbname": "shard0"},
                  {"primary": started[1].address, "dbname": "shard1", "replicas": [standby.address]}]
        g = start_pooler("scalegate", started[0], str(tmp_path / "sg"), databases={
            "orders": {"shards": shards, "sharding": {"key": "customer_id", "function": "hash"}}},
            lag_check_interval="100ms", health_check={"rise": 1, "fall": 2})
        key = key_on(expected, 1)
        read = "SELECT pg_is_in_recovery(), shard FROM t WHERE customer_id = %d" % key

        def replica():
            entry = g.health()[1]["postgres"]["servers"]["orders"]["shards"][1]
            return entry["replicas"][0]
        with g.connect(dbname="orders", autocommit=True) as conn:
            assert conn.execute(read).fetchone() == (True, 1)  # shard 1's reads: its replica
            assert wait_until(lambda: replica()["state"] == "up", 10), replica()
            assert replica()["address"] == standby.address and "lag_ms" in replica()
            assert g.metric("scalegate_pg_server_up", database="orders", server="shard1/replica1") == 1
            assert g.metric("scalegate_pg_server_lagging", database="orders", server="shard1/replica1") == 0
            standby.stop(remove=False)
            assert wait_until(lambda: replica()["state"] == "down", 10), replica()
            assert g.metric("scalegate_pg_server_up", database="orders", server="shard1/replica1") == 0
            assert conn.execute(read).fetchone() == (False, 1)  # the shard's primary now
    finally:
        if g is not None:
            stop_pooler(g)
        standby.stop()


def test_a_shards_lagging_replica_is_banned_and_readmitted(servers, tmp_path):
    started, expected = servers
    standby = started[1].replica(apply_delay_ms=2000)
    g = None
    try:
        shards = [{"primary": started[0].address, "dbname": "shard0"},
                  {"primary": started[1].address, "dbname": "shard1", "replicas": [standby.address]}]
        g = start_pooler("scalegate", started[0], str(tmp_path / "sg"), databases={
            "orders": {"shards": shards, "sharding": {"key": "customer_id", "function": "hash"},
                       "max_lag": 0, "max_lag_bytes": 1, "read_your_writes": "off"}},
            lag_check_interval="100ms", health_check={"rise": 1, "fall": 2})
        key = key_on(expected, 1)
        read = "SELECT pg_is_in_recovery() FROM t WHERE customer_id = %d" % key

        def replica():
            return g.health()[1]["postgres"]["servers"]["orders"]["shards"][1]["replicas"][0]
        with g.connect(dbname="orders", autocommit=True) as conn:
            assert conn.execute(read).fetchone() == (True,)
            assert wait_until(lambda: replica()["state"] == "up" and not replica()["lagging"], 10), replica()
            conn.execute("UPDATE t SET shard = shard WHERE customer_id = %d" % key)
            assert wait_until(lambda: replica()["lagging"], 5), replica()
            assert g.metric("scalegate_pg_server_lagging", database="orders", server="shard1/replica1") == 1
            assert conn.execute(read).fetchone() == (False,)  # banned: the shard's primary reads
            assert wait_until(lambda: not replica()["lagging"], 20), replica()
            assert conn.execute(read).fetchone() == (True,)  # readmitted
    finally:
        if g is not None:
            stop_pooler(g)
        standby.stop()
