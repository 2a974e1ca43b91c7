"""The PgBouncer admin console (`psql -U admin scalegate` or `pgbouncer`): SHOW commands with
PgBouncer's column names, so dashboards and exporters read them unchanged, and the control
commands (PAUSE, RESUME, KILL, RECONNECT, RELOAD, SHUTDOWN). The expected column lists were read
from Debian's PgBouncer 1.18 (`SHOW ...` on its admin console); SCALEGATE_PG_TARGETS=pgbouncer
runs these tests against it. /metrics carries the same figures as scalegate_pg_* samples."""
import os
import subprocess
import threading
import time

import pytest

from pg_support import (ADMIN, PGBIN, PSQL, make_target, parse_unaligned, pg_server, pooler,  # noqa: F401
                        selected_targets, stop_pooler, wait_s, wait_until)
from conftest import parse_metrics

KINDS = selected_targets(("scalegate", "pgbouncer"))

# PgBouncer 1.18's columns, in order
COLUMNS = {
    "POOLS": ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
              "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login",
              "maxwait", "maxwait_us", "pool_mode"],
    "STATS": ["database", "total_xact_count", "total_query_count", "total_received", "total_sent",
              "total_xact_time", "total_query_time", "total_wait_time", "avg_xact_count", "avg_query_count",
              "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time"],
    "CLIENTS": ["type", "user", "database", "state", "addr", "port", "local_addr", "local_port", "connect_time",
                "request_time", "wait", "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
                "application_name"],
    "DATABASES": ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size", "reserve_pool",
                  "pool_mode", "max_connections", "current_connections", "paused", "disabled"],
    "CONFIG": ["key", "value", "default", "changeable"],
    "LISTS": ["list", "items"],
    "VERSION": ["version"],
}
COLUMNS["SERVERS"] = COLUMNS["CLIENTS"]
# scalegate's columns after PgBouncer's: a server's role and the lag monitor's view of it
SCALEGATE_EXTRA = {name: ["role", "health", "lag_ms", "lag_bytes"] for name in ("CLIENTS", "SERVERS")}
LIST_NAMES = ["databases", "users", "pools", "free_clients", "used_clients", "login_clients", "free_servers",
              "used_servers"]  # PgBouncer also has dns_names, dns_zones, dns_queries, dns_pending


def admin_dbs(kind):
    return ["scalegate", "pgbouncer"] if kind == "scalegate" else ["pgbouncer"]


@pytest.fixture(scope="module", params=KINDS)
def shared(request, pg_server, tmp_path_factory):  # noqa: F811
    """One pooler per kind for the read-only SHOW tests."""
    t = make_target(request.param, pg_server, tmp_path_factory, pool_size=2)
    try:
        yield t
    finally:
        stop_pooler(t)


def rows_for(target, command, db="pgbouncer", **match):
    _, rows = target.admin_rows(command, db=db)
    return [r for r in rows if all(r.get(k) == str(v) for k, v in match.items())]


@pytest.mark.parametrize("command", sorted(COLUMNS))
def test_show_columns(shared, command):
    for db in admin_dbs(shared.kind):
        columns, rows = shared.admin_rows("SHOW " + command, db=db)
        extra = SCALEGATE_EXTRA.get(command, []) if shared.kind == "scalegate" else []
        assert columns == COLUMNS[command] + extra, "SHOW %s on %s" % (command, db)
        if command != "SERVERS":  # no server may be connected yet
            assert rows, "SHOW %s returned no rows" % command


def test_show_is_case_insensitive(shared):
    columns, _ = shared.admin_rows("show pools;")
    assert columns == COLUMNS["POOLS"]


def test_show_pools_counts_active_and_waiting(pooler):  # noqa: F811
    for kind in KINDS:
        target = pooler(kind, pool_size=1)
        holder = target.connect()
        holder.execute("SELECT 1")  # holds the only server
        waiter_done = threading.Event()

        def waiter():
            with target.connect(autocommit=True) as c:
                c.execute("SELECT 1")
            waiter_done.set()
        thread = threading.Thread(target=waiter, daemon=True)
        thread.start()
        try:
            def pool_row():
                rows = rows_for(target, "SHOW POOLS", database="app", user="app")
                return rows[0] if rows and rows[0]["cl_waiting"] == "1" else None
            row = wait_until(pool_row, 10)
            assert row, rows_for(target, "SHOW POOLS")
            assert row["cl_active"] == "1" and row["sv_active"] == "1" and row["pool_mode"] == "transaction"
            assert not waiter_done.is_set()
        finally:
            holder.rollback()
            holder.close()
        thread.join(wait_s(10))
        assert waiter_done.is_set()
        row = wait_until(lambda: [r for r in rows_for(target, "SHOW POOLS", database="app", user="app")
                                  if r["cl_waiting"] == "0" and r["sv_active"] == "0"], 10)
        assert row and row[0]["sv_idle"] == "1", rows_for(target, "SHOW POOLS")


def test_show_databases_describes_the_entry(shared, pg_server):  # noqa: F811
    row = rows_for(shared, "SHOW DATABASES", name="app")
    assert len(row) == 1, rows_for(shared, "SHOW DATABASES")
    row = row[0]
    assert (row["host"], row["port"], row["database"], row["pool_size"]) == ("127.0.0.1", str(pg_server.port),
                                                                           "app", "2")
    assert row["paused"] == "0" and row["disabled"] == "0"


def test_show_clients_and_servers(shared):
    with shared.connect(autocommit=True, application_name="admin-test") as conn:
        conn.execute("BEGIN")
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        clients = rows_for(shared, "SHOW CLIENTS", user="app", database="app")
        assert len(clients) == 1 and clients[0]["type"] == "C", rows_for(shared, "SHOW CLIENTS")
        assert clients[0]["state"] == "active" and clients[0]["addr"] == "127.0.0.1"
        assert clients[0]["application_name"] == "admin-test"
        servers = rows_for(shared, "SHOW SERVERS", user="app", database="app", remote_pid=backend)
        assert len(servers) == 1 and servers[0]["type"] == "S", rows_for(shared, "SHOW SERVERS")
        assert servers[0]["state"] == "active" and servers[0]["port"] == str(shared.pg.port)
        conn.execute("COMMIT")


def test_show_stats_counts_transactions(shared):
    """Ten autocommit statements are ten transactions of one query each; nothing the pooler does
    itself is counted. (No prepares: psycopg prepares with a Parse + Sync of its own, a transaction
    PgBouncer counts as one query and scalegate as none.)"""
    def totals():
        rows = rows_for(shared, "SHOW STATS", database="app")
        return (int(rows[0]["total_xact_count"]), int(rows[0]["total_query_count"])) if rows else (0, 0)

    base = totals()
    with shared.connect(autocommit=True, prepare_threshold=None) as conn:
        for i in range(10):
            conn.execute("SELECT %s::int", (i,))
    assert wait_until(lambda: totals()[0] >= base[0] + 10, 5), (base, totals())
    time.sleep(0.1)  # anything counted late shows now
    after = totals()
    assert (after[0] - base[0], after[1] - base[1]) == (10, 10), "transactions, queries: %r -> %r" % (base, after)


def test_show_config_and_lists_and_version(shared):
    config = {r["key"]: r for r in shared.admin_rows("SHOW CONFIG")[1]}
    assert config["pool_mode"]["value"] == "transaction"
    assert config["default_pool_size"]["value"] == "2"
    assert config["max_client_conn"]["value"] == "100"
    lists = {r["list"]: int(r["items"]) for r in shared.admin_rows("SHOW LISTS")[1]}
    assert set(LIST_NAMES) <= set(lists), lists
    assert lists["databases"] >= 1 and lists["pools"] >= 1
    version = shared.admin_rows("SHOW VERSION")[1]
    assert len(version) == 1 and version[0]["version"].strip()


def test_non_admin_user_is_refused(shared):
    for db in admin_dbs(shared.kind):
        r = shared.admin_psql("SHOW POOLS", user="app", password="app_pw", db=db)
        assert r.returncode != 0 and not r.stdout.strip(), (r.stdout, r.stderr)
        assert "not allowed" in r.stderr or "permission denied" in r.stderr, r.stderr
        r = shared.admin_psql("SHOW POOLS", user=ADMIN[0], password="wrong", db=db)
        assert r.returncode != 0 and "authentication failed" in r.stderr, r.stderr


def test_unknown_admin_command_is_an_error(shared):
    r = shared.admin_psql("SHOW NONSENSE")
    assert r.returncode != 0 and "ERROR" in r.stderr, (r.stdout, r.stderr)
    assert shared.admin_rows("SHOW VERSION")[1]  # the console still answers


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scope", ["", "app"])
def test_pause_and_resume(pooler, kind, scope):  # noqa: F811
    """PAUSE [db]: queries wait (no error) until RESUME [db]."""
    target = pooler(kind, pool_size=2)
    with target.connect(autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
        r = target.admin_psql(("PAUSE " + scope).strip())
        assert r.returncode == 0, r.stderr
        done = threading.Event()
        thread = threading.Thread(target=lambda: (conn.execute("SELECT 2"), done.set()), daemon=True)
        try:
            thread.start()
            time.sleep(0.5)
            assert not done.is_set(), "a query ran while the pooler was paused"
            if scope:  # the column shows a PAUSE of that database (PgBouncer leaves it 0 for a global one)
                assert rows_for(target, "SHOW DATABASES", name="app")[0]["paused"] == "1"
        finally:
            r = target.admin_psql(("RESUME " + scope).strip())
            thread.join(wait_s(10))
        assert r.returncode == 0, r.stderr
        assert done.is_set(), "the query did not run after RESUME"
        assert rows_for(target, "SHOW DATABASES", name="app")[0]["paused"] == "0"


@pytest.mark.parametrize("kind", KINDS)
def test_pause_waits_for_running_transactions(pooler, kind):  # noqa: F811
    """PAUSE returns only once running transactions have finished, and leaves no server
    connected (PgBouncer's PAUSE disconnects from the servers, e.g. before a database restart)."""
    target = pooler(kind, pool_size=2)
    with target.connect() as conn:  # a transaction stays open until the commit below
        conn.execute("SELECT 1")
        result = {}
        pause = threading.Thread(target=lambda: result.setdefault("r", target.admin_psql("PAUSE app")),
                                 daemon=True)
        pause.start()
        pause.join(1.0)
        assert pause.is_alive(), "PAUSE returned while a transaction was running: %r" % result
        conn.commit()
        pause.join(wait_s(10))
        assert not pause.is_alive(), "PAUSE did not return after the transaction ended"
        assert result["r"].returncode == 0, result["r"].stderr
    try:
        assert wait_until(lambda: not rows_for(target, "SHOW SERVERS", database="app"), 10), \
            rows_for(target, "SHOW SERVERS", database="app")
    finally:
        r = target.admin_psql("RESUME app")
    assert r.returncode == 0, r.stderr
    with target.connect(autocommit=True) as conn:
        assert conn.execute("SELECT 2").fetchone()[0] == 2


@pytest.mark.parametrize("kind", KINDS)
def test_admin_gone_while_pause_waits(pooler, kind):  # noqa: F811
    """The admin client that asked for PAUSE disconnects while a transaction still runs: the
    pause stays in effect (it belongs to the database, not to the admin's connection), the
    transaction finishes, its server is closed, and RESUME from another admin session works."""
    target = pooler(kind, pool_size=2)
    with target.connect() as conn:  # a transaction stays open until the commit below
        conn.execute("SELECT 1")
        pause = subprocess.Popen([PSQL, "-X", "-h", target.host, "-p", str(target.port), "-U", ADMIN[0],
                                  "-d", "pgbouncer", "-c", "PAUSE app"], env=target.client_env(ADMIN[1]),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda: rows_for(target, "SHOW DATABASES", name="app", paused=1), 10)
            assert pause.poll() is None, "PAUSE returned while a transaction was running"
        finally:
            pause.kill()
            pause.communicate(timeout=wait_s(10))
        time.sleep(0.3)  # the proxy sees the admin connection close
        conn.commit()
    try:
        assert wait_until(lambda: not rows_for(target, "SHOW SERVERS", database="app"), 10), \
            rows_for(target, "SHOW SERVERS", database="app")
        assert rows_for(target, "SHOW DATABASES", name="app", paused=1)
    finally:
        r = target.admin_psql("RESUME app")
    assert r.returncode == 0, r.stderr
    with target.connect(autocommit=True) as conn:
        assert conn.execute("SELECT 2").fetchone()[0] == 2


@pytest.mark.parametrize("kind", KINDS)
def test_kill_database(pooler, kind):  # noqa: F811
    target = pooler(kind, pool_size=2)
    conn = target.connect(autocommit=True)
    try:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
        r = target.admin_psql("KILL app")
        assert r.returncode == 0, r.stderr
        with pytest.raises(Exception):
            conn.execute("SELECT 2")
    finally:
        conn.close()
    assert wait_until(lambda: not rows_for(target, "SHOW SERVERS", database="app"), 10)
    r = target.admin_psql("RESUME app")  # a killed database waits for RESUME, as a paused one
    assert r.returncode == 0, r.stderr
    with target.connect(autocommit=True) as c:
        assert c.execute("SELECT 3").fetchone()[0] == 3


@pytest.mark.parametrize("kind", KINDS)
def test_reconnect_replaces_servers(pooler, kind):  # noqa: F811
    target = pooler(kind, pool_size=1)
    with target.connect(autocommit=True) as conn:
        first = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        r = target.admin_psql("RECONNECT")
        assert r.returncode == 0, r.stderr
        assert wait_until(lambda: conn.execute("SELECT pg_backend_pid()").fetchone()[0] != first, 10), \
            "the server was not replaced after RECONNECT"
    # A server in a transaction during RECONNECT closes when released, and leaves the active count
    # once (it was counted twice, wrapping to 2^32-1).
    with target.connect() as conn:
        conn.execute("SELECT 1")
        assert target.admin_psql("RECONNECT").returncode == 0
        conn.commit()
        # Its client is not closed with it: the next transaction gets another server.
        assert conn.execute("SELECT 2").fetchone()[0] == 2
    assert wait_until(lambda: rows_for(target, "SHOW POOLS", database="app")[0]["sv_active"] == "0", 5), \
        rows_for(target, "SHOW POOLS", database="app")


@pytest.mark.parametrize("kind", KINDS)
def test_reload_reads_the_file_again(pooler, pg_server, kind):  # noqa: F811
    target = pooler(kind, pool_size=2)
    databases = {"app": {"primary": pg_server.address, "dbname": "app", "pool_size": 2},
                 "app2": {"primary": pg_server.address, "dbname": "app", "pool_size": 1}}
    target.reconfigure(databases=databases, max_client_conn=77)
    r = target.admin_psql("RELOAD")
    assert r.returncode == 0, r.stderr
    config = {row["key"]: row["value"] for row in target.admin_rows("SHOW CONFIG")[1]}
    databases = [row["name"] for row in target.admin_rows("SHOW DATABASES")[1]]
    assert (config["max_client_conn"], "app2" in databases) == ("77", True), \
        "after RELOAD: max_client_conn %s, databases %s" % (config["max_client_conn"], databases)
    with target.connect(dbname="app2", autocommit=True) as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "app"


@pytest.mark.parametrize("kind", KINDS)
def test_shutdown(pooler, kind):  # noqa: F811
    target = pooler(kind, pool_size=2)
    target.admin_psql("SHUTDOWN")  # the console may close before answering
    assert wait_until(lambda: not target.alive(), 10), "the pooler still runs after SHUTDOWN"


def test_metrics_have_pg_samples(pooler):  # noqa: F811
    if "scalegate" not in KINDS:
        pytest.skip("scalegate not selected")
    target = pooler("scalegate", pool_size=2)
    with target.connect(autocommit=True) as conn:
        for i in range(5):
            conn.execute("SELECT %s::int", (i,))
    samples = [s for s in parse_metrics(target.metrics_text()) if s[0].startswith("scalegate_pg_")]
    assert samples, "no scalegate_pg_* sample in /metrics"
    assert any(labels.get("database") == "app" for _, labels, _ in samples), samples[:20]


def test_parse_unaligned_skips_command_tags():
    assert parse_unaligned("a\x1fb\n1\x1f2\nSHOW\n") == (["a", "b"], [{"a": "1", "b": "2"}])


def test_health_shows_the_pools(pooler):  # noqa: F811
    """/health has the PostgreSQL pools with SHOW POOLS' figures: a client in a transaction
    holds one server (sv_active 1, cl_active 1), and a waiting client shows in cl_waiting."""
    if "scalegate" not in KINDS:
        pytest.skip("scalegate not selected")
    target = pooler("scalegate", pool_size=1)
    holder = target.connect()
    holder.execute("SELECT 1")  # a transaction holds the only server
    waiter = target.connect(autocommit=True)
    thread = threading.Thread(target=lambda: waiter.execute("SELECT 2"), daemon=True)
    thread.start()
    try:
        def pool():
            status, document = target.health()
            assert status == 200, document
            return document["postgres"]["pools"]["app"][0]
        assert wait_until(lambda: pool()["cl_waiting"] == 1, 5), pool()
        entry = pool()
        assert entry["user"] == "app" and entry["sv_active"] == 1 and entry["pool_size"] == 1, entry
        assert entry["maxwait_ms"] >= 0
    finally:
        holder.rollback()
        thread.join(5)
        holder.close()
        waiter.close()


def test_show_stats_transaction_time_is_bounded_by_the_run(pooler, pg_server):  # noqa: F811
    """A pool's first clients wait for its first server (their welcome) and may run their first
    transaction there: its time counts from the request, not from 0 (pgbench -S, whose first
    client asks the scale before the run, ran into it)."""
    if not pg_server.sql("SELECT to_regclass('pgbench_accounts') IS NOT NULL") == "t":
        r = subprocess.run([os.path.join(PGBIN, "pgbench"), "-i", "-s", "1", "-q", "-h",
                            pg_server.sock_dir, "-p", str(pg_server.port), "-U", "postgres", "app"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        pg_server.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app")
    for kind in KINDS:
        target = pooler(kind, pool_size=8)
        started = time.monotonic()
        r = target.pgbench(["-n", "-S", "-c", "4", "-T", "1"])
        assert r.returncode == 0, r.stderr
        elapsed_us = (time.monotonic() - started) * 1e6
        _, rows = target.admin_rows("SHOW STATS")
        app = [row for row in rows if row["database"] == "app"][0]
        assert int(app["total_xact_count"]) >= 100, (kind, app)
        assert 0 < int(app["total_xact_time"]) <= 4 * elapsed_us, (kind, app, elapsed_us)
