"""PostgreSQL clients on an in-process reload (SIGHUP): the new configuration starts as a new
generation in the same process, and a PostgreSQL client MOVES to it instead of being closed.

An idle client (logged in, no transaction) moves at once: the same TCP/TLS connection, the same
BackendKeyData (psycopg's conn.info.backend_pid), its session parameters and its named
statements; its next transaction runs on the new configuration (a database entry's `dbname`
changed in the file: current_database() says the new one). A client inside a transaction
finishes it on the old configuration and moves at its ReadyForQuery 'I'; a cancel reaches a
query still running on the old generation. A client whose database (or listener) was removed
from the file is closed with FATAL 57P01. In session pool_mode a client keeps its server, so it
stays on the old generation until it disconnects. SIGTERM after a reload drains as before.

Checked with psycopg (and a raw protocol client for the exact SQLSTATE), pgbench, and the log
lines of test_reload_upgrade.py ("the new configuration serves", "the old configuration has
drained and is gone"). The configuration is rewritten with ScalegatePg.reconfigure and the
reload is a SIGHUP to the gateway's pid (once POST /admin/reload too), not the admin console's
RELOAD, which reloads the PostgreSQL service in place."""
import os
import signal
import socket

import psycopg
import pytest

from conftest import can_connect, free_port
from pg_support import (ADMIN, Background, DirectTarget, RawClient, connection_closed,  # noqa: F401
                        error_fields, pg_server, pgbench_summary, pooler, query_msg, read_message, wait_s, wait_until)
from test_pg_tls import certs, client_tls  # noqa: F401  (module fixture: openssl certificates)
from test_reload_upgrade import DRAINED, admin_reload, wait_for_drained, wait_for_in_process_reload

SECOND_DB = "app_b"  # a second database on the PostgreSQL server (owned by app)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def second_db(pg_server):  # noqa: F811
    """A second database on the module's PostgreSQL, owned by `app`; returns its name."""
    pg_server.sql("CREATE DATABASE %s OWNER app" % SECOND_DB, db="postgres")
    return SECOND_DB


def entry(pg, dbname="app", pool_size=2):
    return {"primary": pg.address, "dbname": dbname, "pool_size": pool_size}


def reload(target, count, databases=None, how="sighup", **settings):
    """Rewrites the file (databases / `postgres:` keys), sends SIGHUP (or POST /admin/reload)
    and waits for the count-th in-process reload to serve: the same process, no successor."""
    pid = target.pid
    target.reconfigure(databases=databases, **settings)
    if how == "sighup":
        os.kill(pid, signal.SIGHUP)
    else:
        r = admin_reload(target)
        assert r.status == 202, r
    wait_for_in_process_reload(target, count)
    assert target.pid == pid and target.alive(), target.logs[-3000:]


def drained(target):
    return target.logs.count(DRAINED)


def local_address(conn):
    """The client side's address of a psycopg connection's socket (same socket = same tuple)."""
    s = socket.socket(fileno=os.dup(conn.pgconn.socket))
    try:
        return s.getsockname()
    finally:
        s.close()


def app_clients(target, user="app"):
    """(addr, port) of `user`'s clients in SHOW CLIENTS."""
    _, rows = target.admin_rows("SHOW CLIENTS")
    return sorted((r["addr"], r["port"]) for r in rows if r["user"] == user)


def one(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()


# ---------------------------------------------------------------------------
# 1. an idle client moves, with its session
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["sighup", "admin"])
def test_an_idle_client_moves_with_its_session_parameters(pooler, how):  # noqa: F811
    target = pooler("scalegate", pool_size=2)
    pid = target.pid
    conn = target.connect(autocommit=True)
    conn.execute("SET application_name = 'moved-client'")
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    assert one(conn, "SELECT 1")[0] == 1
    key, local = conn.info.backend_pid, local_address(conn)

    reload(target, 1, how=how, default_pool_size=3)
    wait_for_drained(target, 1)  # nobody held the old generation: it is gone at once
    assert target.pid == pid and target.alive()
    assert target.metric("scalegate_reloads_total", result="ok") == 1
    assert one(conn, "SELECT 40 + 2")[0] == 42  # the same connection, no reconnect
    assert conn.info.backend_pid == key and local_address(conn) == local
    assert one(conn, "SHOW application_name")[0] == "moved-client"
    assert one(conn, "SHOW TimeZone")[0] == "Asia/Tokyo"
    # A fresh client of the new generation gets the defaults (nothing leaked to the pool).
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SHOW application_name")[0] != "moved-client"
    conn.close()


# ---------------------------------------------------------------------------
# 2. the moved client runs on the new configuration
# ---------------------------------------------------------------------------
def test_the_moved_client_runs_on_the_new_dbname(pooler, pg_server, second_db):  # noqa: F811
    target = pooler("scalegate", databases={"app": entry(pg_server, "app")})
    conn = target.connect(autocommit=True)
    assert one(conn, "SELECT current_database()")[0] == "app"
    key, local = conn.info.backend_pid, local_address(conn)

    reload(target, 1, databases={"app": entry(pg_server, second_db)})
    assert one(conn, "SELECT current_database()")[0] == second_db
    assert conn.info.backend_pid == key and local_address(conn) == local
    wait_for_drained(target, 1)
    assert one(conn, "SELECT current_database()")[0] == second_db
    conn.close()


# ---------------------------------------------------------------------------
# 3. a transaction open during the reload commits, then its client moves
# ---------------------------------------------------------------------------
def test_an_open_transaction_commits_then_its_client_moves(pooler, pg_server, second_db):  # noqa: F811
    target = pooler("scalegate", databases={"app": entry(pg_server, "app")})
    conn = target.connect()  # not autocommit: psycopg opens a transaction
    marker = "moved-tx-%d" % os.getpid()
    conn.execute("INSERT INTO items(name) VALUES (%s)", (marker,))

    reload(target, 1, databases={"app": entry(pg_server, second_db)})
    # Still inside the transaction: the old configuration's server (database app) runs it.
    assert one(conn, "SELECT current_database()")[0] == "app"
    assert drained(target) == 0, "the old generation went while a transaction was open"
    conn.commit()
    assert pg_server.sql("SELECT count(*) FROM items WHERE name = '%s'" % marker) == "1"
    # The transaction ended: the client moved, its next transaction runs on the new file.
    assert one(conn, "SELECT current_database()")[0] == second_db
    conn.commit()
    wait_for_drained(target, 1)  # well before shutdown_timeout (not timed)
    assert one(conn, "SELECT 7")[0] == 7
    conn.close()


def test_a_client_waiting_for_a_server_during_the_reload_gets_one(pooler, pg_server, second_db):  # noqa: F811
    """pool_size 1: a holder keeps the only server in a transaction, a waiter queues behind it;
    the reload comes; the holder commits: the waiter's query must run (on either
    configuration), and both clients then run on the new one."""
    target = pooler("scalegate", databases={"app": entry(pg_server, "app", pool_size=1)})
    holder = target.connect()
    assert one(holder, "SELECT current_database()")[0] == "app"  # in a transaction: holds the server
    waiter = target.connect(autocommit=True)
    waiting = Background(lambda: one(waiter, "SELECT 'served'"))

    def waiters():
        _, rows = target.admin_rows("SHOW POOLS")
        return sum(int(r["cl_waiting"]) for r in rows if r["database"] == "app")

    assert wait_until(lambda: waiters() == 1, 10), target.admin_rows("SHOW POOLS")[1]
    reload(target, 1, databases={"app": entry(pg_server, second_db, pool_size=1)})
    assert waiting.is_alive()
    holder.commit()
    assert wait_until(lambda: not waiting.is_alive(), 10), "the waiter was not served"
    assert waiting.error is None and waiting.value == ("served",), repr(waiting.error)
    assert one(waiter, "SELECT current_database()")[0] == second_db
    assert one(holder, "SELECT current_database()")[0] == second_db
    holder.commit()
    wait_for_drained(target, 1)
    holder.close()
    waiter.close()


# ---------------------------------------------------------------------------
# 4. named statements survive the move
# ---------------------------------------------------------------------------
def test_prepared_statements_survive_the_move(pooler, pg_server, second_db):  # noqa: F811
    target = pooler("scalegate", databases={"app": entry(pg_server, "app")})
    query = "SELECT current_database(), %s::int * 2"
    conn = target.connect(autocommit=True, prepare_threshold=0)
    for i in range(3):
        assert one(conn, query, (i,)) == ("app", i * 2)
    assert len(conn._prepared._names) == 1  # the test's premise: psycopg prepared it (_pg3_0)
    key = conn.info.backend_pid

    # The new dbname: the new generation's servers are other connections, which have never
    # seen the statement; psycopg only sends Bind/Execute for it.
    reload(target, 1, databases={"app": entry(pg_server, second_db)})
    for i in range(3, 6):
        assert one(conn, query, (i,)) == (second_db, i * 2)
    assert len(conn._prepared._names) == 1 and conn.info.backend_pid == key
    wait_for_drained(target, 1)
    assert one(conn, query, (21,)) == (second_db, 42)
    conn.close()


# ---------------------------------------------------------------------------
# 5. cancel a query that runs across the reload
# ---------------------------------------------------------------------------
def test_cancel_reaches_a_query_running_on_the_old_generation(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", pool_size=2)
    conn = target.connect(autocommit=True)
    key = conn.info.backend_pid
    sleeper = Background(lambda: conn.execute("SELECT pg_sleep(30)"))
    assert wait_until(lambda: any("pg_sleep(30)" in b[2] and b[1] == "active" for b in pg_server.backends()),
                      10), pg_server.backends()

    reload(target, 1, default_pool_size=3)
    assert sleeper.is_alive() and drained(target) == 0
    conn.cancel()  # a new connection to the listener, now the new generation's
    assert wait_until(lambda: not sleeper.is_alive(), 10), "the cancel did not stop pg_sleep(30)"
    assert isinstance(sleeper.error, psycopg.errors.QueryCanceled), repr(sleeper.error)
    # The query ended: the client moved and goes on.
    assert one(conn, "SELECT 'after cancel'")[0] == "after cancel"
    assert conn.info.backend_pid == key
    wait_for_drained(target, 1)
    conn.close()


# ---------------------------------------------------------------------------
# 6. a database removed by the reload
# ---------------------------------------------------------------------------
def test_a_removed_database_closes_its_idle_clients_with_57p01(pooler, pg_server):  # noqa: F811
    databases = {"app": entry(pg_server), "gone": entry(pg_server)}
    target = pooler("scalegate", auth="trust", databases=databases)
    kept = target.connect(autocommit=True)
    removed = target.connect(autocommit=True, dbname="gone")
    raw = RawClient(target.port, "app", "gone")  # reads the exact ErrorResponse
    try:
        assert one(kept, "SELECT 1")[0] == 1 and one(removed, "SELECT 2")[0] == 2
        raw.send(query_msg("SELECT 3"))
        raw.until(b"Z")
        key = kept.info.backend_pid

        reload(target, 1, databases={"app": entry(pg_server)})
        raw.sock.settimeout(wait_s(10))
        kind, payload = read_message(raw.sock)  # sent unasked: the client was idle
        fields = error_fields(payload)
        assert kind == b"E" and fields["S"] == "FATAL" and fields["C"] == "57P01", (kind, fields)
        assert "reloaded" in fields["M"], fields
        assert raw.sock.recv(1) == b""  # and closed
        with pytest.raises(psycopg.OperationalError) as exc_info:
            removed.execute("SELECT 1")
        error = exc_info.value
        # libpq reads the FATAL while it consumes input: psycopg keeps the text, not the code.
        assert error.sqlstate in (None, "57P01") and "reloaded" in str(error), repr(error)
        # The client of the database that stays moved and works.
        assert one(kept, "SELECT 'kept'")[0] == "kept" and kept.info.backend_pid == key
        wait_for_drained(target, 1)
    finally:
        raw.close()
        kept.close()
        removed.close()


def test_a_removed_listener_closes_its_idle_clients_with_57p01(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", auth="trust")
    main = target.cfg["postgres"]["listeners"][0]
    second = {"name": "second", "address": "127.0.0.1:%d" % free_port()}
    reload(target, 1, listeners=[main, second])
    wait_for_drained(target, 1)
    second_port = int(second["address"].rsplit(":", 1)[1])
    kept = target.connect(autocommit=True)
    raw = RawClient(second_port, "app")
    try:
        raw.send(query_msg("SELECT 1"))
        raw.until(b"Z")
        key = kept.info.backend_pid

        reload(target, 2, listeners=[main])
        raw.sock.settimeout(wait_s(10))
        kind, payload = read_message(raw.sock)
        fields = error_fields(payload)
        assert kind == b"E" and fields["S"] == "FATAL" and fields["C"] == "57P01", (kind, fields)
        assert "reloaded" in fields["M"], fields
        assert raw.sock.recv(1) == b""
        assert one(kept, "SELECT 'kept'")[0] == "kept" and kept.info.backend_pid == key
        wait_for_drained(target, 2)
        assert wait_until(lambda: not can_connect(second_port), 10), "the removed listener still accepts"
    finally:
        raw.close()
        kept.close()


# ---------------------------------------------------------------------------
# 7. the admin console's client moves
# ---------------------------------------------------------------------------
def test_an_admin_console_client_moves(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", databases={"app": entry(pg_server)})
    admin = target.connect(user=ADMIN[0], password=ADMIN[1], dbname="pgbouncer", autocommit=True)
    client = target.connect(autocommit=True)  # its pool shows in SHOW POOLS
    assert one(client, "SELECT 1")[0] == 1

    def rows(command, column):
        cur = admin.execute(command)
        index = [d.name for d in cur.description].index(column)
        return sorted(row[index] for row in cur.fetchall())

    assert "app" in rows("SHOW POOLS", "database")
    assert "added" not in rows("SHOW DATABASES", "name")
    key, local = admin.info.backend_pid, local_address(admin)

    reload(target, 1, databases={"app": entry(pg_server), "added": entry(pg_server)})
    wait_for_drained(target, 1)  # the idle admin client did not hold the old generation
    assert "added" in rows("SHOW DATABASES", "name")  # it asks the new generation
    assert one(client, "SELECT 2")[0] == 2
    assert "app" in rows("SHOW POOLS", "database")  # the moved client's pool, on the new one
    assert admin.info.backend_pid == key and local_address(admin) == local
    admin.close()
    client.close()


# ---------------------------------------------------------------------------
# 8. a TLS client moves on its TLS session
# ---------------------------------------------------------------------------
def test_a_tls_client_moves_without_a_new_handshake(pooler, pg_server, second_db, certs):  # noqa: F811
    target = pooler("scalegate", client_tls=client_tls(certs), databases={"app": entry(pg_server, "app")})
    conn = target.connect(autocommit=True, sslmode="require")
    assert conn.pgconn.ssl_in_use
    assert one(conn, "SELECT current_database()")[0] == "app"
    key, local = conn.info.backend_pid, local_address(conn)

    reload(target, 1, databases={"app": entry(pg_server, second_db)})
    assert one(conn, "SELECT current_database()")[0] == second_db
    assert conn.pgconn.ssl_in_use and conn.info.backend_pid == key and local_address(conn) == local
    wait_for_drained(target, 1)
    # The new generation knows the client as a TLS one.
    _, rows = target.admin_rows("SHOW CLIENTS")
    tls = [r["tls"] for r in rows if r["user"] == "app"]
    assert len(tls) == 1 and tls[0].startswith("TLSv1."), rows
    assert target.metric("scalegate_pg_tls_handshake_failures_total") in (None, 0)
    conn.close()


# ---------------------------------------------------------------------------
# 9. reloads under pgbench
# ---------------------------------------------------------------------------
def test_reloads_under_pgbench_fail_no_transaction(pooler, pg_server):  # noqa: F811
    init = DirectTarget(pg_server).pgbench(["-i", "-s", "1", "-q"])
    assert init.returncode == 0, init.stderr[-2000:]
    target = pooler("scalegate", databases={"app": entry(pg_server, pool_size=4)})
    seconds = int(wait_s(8))
    bench = Background(lambda: target.pgbench(["-c", "4", "-j", "2", "-T", str(seconds), "-S", "-n"],
                                              timeout=seconds + 60))
    assert wait_until(lambda: len(app_clients(target)) == 4 or not bench.is_alive(), 10), app_clients(target)
    before = app_clients(target)
    assert len(before) == 4 and bench.is_alive(), (before, bench.value, bench.error)

    reloads = 5
    for i in range(reloads):
        reload(target, i + 1, databases={"app": entry(pg_server, pool_size=3 + i % 2)})
        wait_for_drained(target, i + 1)  # every pgbench client moved at its next transaction's end
    assert bench.is_alive(), "pgbench ended before the reloads were done:\n%s" % (
        (bench.value.stdout + bench.value.stderr)[-2000:] if bench.value else repr(bench.error))
    after = app_clients(target)
    bench.join(wait_s(seconds + 60))
    assert not bench.is_alive() and bench.error is None, repr(bench.error)
    r = bench.value
    output = r.stdout + r.stderr
    tps, failed, done = pgbench_summary(output)
    assert r.returncode == 0, output[-2000:]
    assert failed == 0 and "aborted" not in output, output[-2000:]
    assert tps and done and done > 0, output[-2000:]
    # The same four client connections (addresses and ports) were on the newest generation:
    # none was closed and connected again (pgbench does not reconnect; it would abort).
    assert after == before, (after, before)
    assert target.metric("scalegate_reloads_total", result="ok") == reloads


# ---------------------------------------------------------------------------
# 10. session pool_mode: the client keeps the old generation until it leaves
# ---------------------------------------------------------------------------
def test_a_session_mode_client_moves_with_its_server(pooler, pg_server):  # noqa: F811
    """The reload leaves its database's server as it was: the session's server comes along, so
    the old configuration is gone at once and the session (its backend, a temporary table, a
    prepared statement) goes on under the new one."""
    target = pooler("scalegate", pool_mode="session", databases={"app": entry(pg_server, "app")})
    conn = target.connect(autocommit=True, prepare_threshold=0)
    server_pid = one(conn, "SELECT pg_backend_pid()")[0]
    conn.execute("CREATE TEMP TABLE session_only (a int)")
    conn.execute("INSERT INTO session_only VALUES (%s)", (7,))
    key = conn.info.backend_pid

    reload(target, 1, databases={"app": entry(pg_server, "app", pool_size=3),
                                 "other": entry(pg_server, "app")})
    wait_for_drained(target, 1)  # nothing stayed on the old configuration
    assert one(conn, "SELECT pg_backend_pid()")[0] == server_pid
    assert one(conn, "SELECT a FROM session_only WHERE a = %s", (7,))[0] == 7
    assert conn.info.backend_pid == key
    _, rows = target.admin_rows("SHOW POOLS")
    app = [r for r in rows if r["database"] == "app"]
    assert app and app[0]["sv_active"] == "1", rows  # the new pool counts the server it took
    conn.close()
    assert wait_until(lambda: [r["sv_active"] for r in target.admin_rows("SHOW POOLS")[1]
                               if r["database"] == "app"] == ["0"])


def test_a_session_mode_client_stays_on_the_old_generation(pooler, pg_server, second_db):  # noqa: F811
    target = pooler("scalegate", pool_mode="session", databases={"app": entry(pg_server, "app")})
    conn = target.connect(autocommit=True)
    database, server_pid = one(conn, "SELECT current_database(), pg_backend_pid()")
    assert database == "app"

    reload(target, 1, databases={"app": entry(pg_server, second_db)})
    # It keeps its server, so the old configuration: the same backend, the old dbname.
    assert one(conn, "SELECT current_database(), pg_backend_pid()") == ("app", server_pid)
    with target.connect(autocommit=True) as fresh:  # a new client gets the new configuration
        assert one(fresh, "SELECT current_database()")[0] == second_db
    assert one(conn, "SELECT 1")[0] == 1
    assert drained(target) == 0, "the old generation went while its session client was connected"
    conn.close()
    wait_for_drained(target, 1)  # gone once its last client disconnected
    assert target.alive()


# ---------------------------------------------------------------------------
# 11. SIGTERM after a reload
# ---------------------------------------------------------------------------
def test_sigterm_after_a_reload_closes_the_moved_client_and_exits(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", pool_size=2)
    conn = target.connect(autocommit=True)
    assert one(conn, "SELECT 1")[0] == 1
    reload(target, 1, default_pool_size=3)
    wait_for_drained(target, 1)  # the idle client moved
    assert one(conn, "SELECT 2")[0] == 2

    target.proc.send_signal(signal.SIGTERM)

    assert wait_until(lambda: connection_closed(conn), 10), "the moved idle client was not closed"
    assert wait_until(lambda: target.proc.poll() is not None, 10), target.logs[-3000:]
    assert target.proc.returncode == 0, target.logs[-3000:]
    conn.close()
