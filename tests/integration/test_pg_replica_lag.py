"""The lag monitor against a real primary and streaming standbys (pg_basebackup): each server's
state and replay lag in /health, /metrics and SHOW SERVERS; a replica past max_lag or
max_lag_bytes banned from reads and readmitted once it catches up; read_your_writes: lsn (a
client's reads wait for a replica that replayed its last write, else run on the primary) and
the position carried to another connection with SHOW / SET scalegate.lsn."""
import threading
import time

import pytest

from conftest import metric_value
from environment import SLOW
from pg_support import PostgresServer, start_pooler, stop_pooler, wait_s, wait_until

APPLY_DELAY_MS = 1500
# The read-your-writes loop: the issue's 10,000 pairs; 2,000 under the sanitizers' builds
# (SCALEGATE_TEST_SLOW), which look for memory errors and races, not for the figure.
RYW_PAIRS = 10000 if SLOW <= 1 else 2000


@pytest.fixture(scope="module")
def cluster():
    primary = PostgresServer().start()
    standbys = []
    try:
        standbys.append(primary.replica())
        standbys.append(primary.replica(apply_delay_ms=APPLY_DELAY_MS))
        yield primary, standbys[0], standbys[1]
    finally:
        for standby in standbys:
            standby.stop()
        primary.stop()


@pytest.fixture
def gateway(cluster, tmp_path):
    started = []

    def make(replicas, settings=None, **routing):
        primary = cluster[0]
        database = {"primary": primary.address, "dbname": "app", "pool_size": 4,
                    "replicas": [r.address for r in replicas]}
        database.update(routing)
        postgres = {"lag_check_interval": "100ms"}
        postgres.update(settings or {})
        started.append(start_pooler("scalegate", primary, str(tmp_path / ("sg%d" % len(started))),
                                    databases={"app": database}, **postgres))
        return started[-1]

    yield make
    for g in started:
        stop_pooler(g)


def where(conn, sql="SELECT pg_is_in_recovery()"):
    """True when the statement ran on a standby."""
    return conn.execute(sql).fetchone()[0]


def replica_health(g, index):
    status, document = g.health()
    return status, document["postgres"]["servers"]["app"]["replicas"][index]


def caught_up(primary, standby):
    lsn = primary.wal_lsn()
    return wait_until(lambda: standby.replayed(lsn), wait_s(20))


def test_each_server_shows_its_state_and_lag(gateway, cluster):
    primary, fast, delayed = cluster
    g = gateway([fast, delayed])
    with g.connect(autocommit=True) as conn:  # the probes log in with this client's credentials
        where(conn)
    # Every server's first probe verdict, the primary's too (they are probed one after another),
    # and each replica's first lag figure (it needs the primary's position: a replica can be up
    # one probe round before its lag is known, seen under ASan).
    def all_up():
        servers = g.health()[1]["postgres"]["servers"]["app"]
        return servers["primary"]["state"] == "up" and all(
            r["state"] == "up" and "lag_ms" in r for r in servers["replicas"])
    assert wait_until(all_up, wait_s(10))
    status, document = g.health()
    servers = document["postgres"]["servers"]["app"]
    assert status == 200, document
    assert servers["primary"]["state"] == "up" and servers["primary"]["in_recovery"] is False
    assert servers["acting_primary"] == primary.address
    for entry, standby in zip(servers["replicas"], (fast, delayed)):
        assert entry["address"] == standby.address and entry["in_recovery"] is True, entry
        assert entry["lag_ms"] >= 0 and entry["lag_bytes"] >= 0 and entry["probes_passed"] > 0
    text = g.metrics_text()
    for server in ("primary", "replica1", "replica2"):
        assert metric_value(text, "scalegate_pg_server_up", database="app", server=server) == 1
        assert metric_value(text, "scalegate_pg_server_lagging", database="app", server=server) == 0
    assert metric_value(text, "scalegate_pg_server_lag_bytes", database="app",
                        server="replica1") >= 0
    # A replica behind the primary's last position that has replayed no commit yet
    # (pg_last_xact_replay_timestamp() is null) has no time lag to show: lag_ms is unknown ("")
    # for that probe round (lag_monitor.cpp, updateLag). Seen once in a fresh-clone run between
    # the health read above and this one, so SHOW SERVERS is read until both figures show.
    probes = {}

    def lag_shown():
        _, rows = g.admin_rows("SHOW SERVERS")
        probes.clear()
        probes.update({row["role"]: row for row in rows if row["state"] == "probe"})
        return probes.get("replica1", {}).get("lag_ms", "") != "" and \
            probes.get("replica2", {}).get("lag_bytes", "") != ""
    assert wait_until(lag_shown, wait_s(10)), probes
    assert set(probes) == {"primary", "replica1", "replica2"}, probes
    assert probes["replica2"]["port"] == str(delayed.port)
    assert all(row["health"] == "up" for row in probes.values()), probes


def write_steadily(primary, seconds):
    """Commits on the primary every 20 ms for `seconds` (the delayed standby falls behind)."""
    conn = primary.superuser()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            conn.execute("INSERT INTO items (name) VALUES ('lag filler')")
            time.sleep(0.02)
    finally:
        conn.close()


@pytest.mark.parametrize("limits", [{"max_lag": "500ms"}, {"max_lag": 0, "max_lag_bytes": 1}])
def test_a_lagging_replica_is_banned_and_readmitted(gateway, cluster, limits):
    primary, _, delayed = cluster
    g = gateway([delayed], **limits)
    with g.connect(autocommit=True) as conn:
        assert caught_up(primary, delayed)
        assert wait_until(lambda: replica_health(g, 0)[1]["state"] == "up", 10)
        assert where(conn) is True
        writer = threading.Thread(target=write_steadily, args=(primary, 1.2 * APPLY_DELAY_MS / 1000))
        writer.start()
        try:
            assert wait_until(lambda: replica_health(g, 0)[1]["lagging"], 10), replica_health(g, 0)
            status, entry = replica_health(g, 0)
            assert status == 200 and entry["lag_ms"] > 0 or entry["lag_bytes"] > 0, entry
            assert where(conn) is False  # banned: the read ran on the primary
            assert g.metric("scalegate_pg_server_lagging", database="app", server="replica1") == 1
        finally:
            writer.join()
        assert wait_until(lambda: not replica_health(g, 0)[1]["lagging"], 20), replica_health(g, 0)
        assert where(conn) is True  # readmitted


def test_read_your_writes_lsn_never_reads_stale(gateway, cluster):
    """RYW_PAIRS (10,000) times: a write, then at once a read of it. With lsn every read finds
    its write (the delayed standby has not replayed it, so the read runs on the primary); once the
    standby caught up, the same client's reads go to it again."""
    primary, _, delayed = cluster
    g = gateway([delayed], read_your_writes="lsn", max_lag=0)
    stale = on_standby = 0
    with g.connect(autocommit=True) as conn:
        for i in range(RYW_PAIRS):
            marker = "lsn-%d" % i
            conn.execute("INSERT INTO items (name) VALUES (%s)", (marker,))
            found, standby = conn.execute(
                "SELECT count(*), pg_is_in_recovery() FROM items WHERE name = %s",
                (marker,)).fetchone()
            stale += found == 0
            on_standby += standby
        assert stale == 0
        assert caught_up(primary, delayed)
        time.sleep(0.3)  # a probe or two reads the standby's new position
        later = sum(where(conn) for _ in range(200))
    assert later >= 190, later  # the standby serves the client's reads again
    print("read_your_writes lsn: %d write+read pairs, %d stale, %d reads on the standby right "
          "after a write, %d of 200 later reads on the standby" % (RYW_PAIRS, stale, on_standby, later))


def test_without_read_your_writes_reads_are_stale(gateway, cluster):
    """The check above can fail: with read_your_writes off the same loop reads stale rows."""
    _, _, delayed = cluster
    g = gateway([delayed], read_your_writes="off", max_lag=0)
    with g.connect(autocommit=True) as conn:
        stale = 0
        for i in range(20):
            marker = "off-%d" % i
            conn.execute("INSERT INTO items (name) VALUES (%s)", (marker,))
            stale += conn.execute("SELECT count(*) FROM items WHERE name = %s",
                                  (marker,)).fetchone()[0] == 0
    assert stale == 20


def test_the_write_position_carries_to_another_connection(gateway, cluster):
    primary, _, delayed = cluster
    g = gateway([delayed], read_your_writes="lsn", max_lag=0)
    with g.connect(autocommit=True) as writer, g.connect(autocommit=True) as reader:
        assert writer.execute("SHOW scalegate.lsn").fetchone()[0] == "0/0"
        writer.execute("INSERT INTO items (name) VALUES ('carried')")
        lsn = writer.execute("SHOW scalegate.lsn").fetchone()[0]
        assert lsn != "0/0"
        assert int(primary.sql("SELECT '%s'::pg_lsn - '0/0'::pg_lsn" % lsn, db="postgres")) > 0
        count = "SELECT count(*), pg_is_in_recovery() FROM items WHERE name = 'carried'"
        assert reader.execute(count).fetchone() == (0, True)  # its own reads: the standby
        reader.execute("SET scalegate.lsn = '%s'" % lsn)
        assert reader.execute(count).fetchone() == (1, False)  # waits for the write: primary
        assert caught_up(primary, delayed)
        assert wait_until(lambda: reader.execute(count).fetchone() == (1, True), 5)
        reader.execute("RESET scalegate.lsn")
        assert reader.execute("SHOW scalegate.lsn").fetchone()[0] == "0/0"
