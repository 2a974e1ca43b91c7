"""PostgreSQL clients whose connection fails while an in-process reload (SIGHUP) moves them.

test_pg_reload_in_process.py checks the moves that go well; here something breaks in the middle:

1. a client inside a transaction during the reload goes away before COMMIT: it closes its
   connection (Terminate), its TCP connection is reset (no Terminate), or its process (psql) is
   killed while a query of the transaction runs. The gateway stays up, the transaction is rolled
   back (its row never appears), the old generation drains and is gone, and none of its servers
   is left behind: the new file names another dbname, so once the old configuration is gone no
   backend of the old database may remain in pg_stat_activity. A new client works.
2. a session-mode client that moved WITH its server (same server/database/user in the new file)
   loses that server: the backend is terminated (pg_terminate_backend from a direct superuser
   connection) right after the reload. The client gets an error (not a hang), the pool does not
   keep counting the dead server, a new session client works, and the old generation drains.
3. the admin console's RECONNECT right after a session client moved with its server: the moved
   server belongs to the new generation's pool, so RECONNECT reaches it: the session goes on
   (same backend) while the client stays, the server is closed when the client leaves, and the
   next client gets another backend. Checked first without a reload (the control), then with one.
4. a session client that moved with its server is reset mid-query (pg_sleep): the pool counts
   neither afterwards and a new client works.
5. the server of a transaction held on the old generation is terminated: the client gets an
   error, the transaction is gone, the old generation drains, none of its servers stays.
6. an idle server of a drained generation (same database in both files, pool_size 1): at most
   one server remains once the old generation is gone.
7. two reloads (app -> app_b -> app) while a session client holds generation 1: nothing is gone
   while it stays idle; its next transaction moves it with its server to generation 3, then
   both old generations go with their servers.

Real processes on 127.0.0.1 (ports chosen at run time, stopped by pid by the fixtures); the
reload is a SIGHUP to the gateway's pid (helpers of test_pg_reload_in_process.py).
"""
import os
import socket
import struct
import subprocess

import psycopg
import pytest

from conftest import wait_until
from pg_support import PSQL, Background, pg_server, pooler  # noqa: F401  (fixtures)
from test_pg_reload_in_process import SECOND_DB, drained, entry, one, reload, second_db  # noqa: F401
from test_reload_upgrade import DRAINED, wait_for_drained


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def pools(target, database="app"):
    _, rows = target.admin_rows("SHOW POOLS")
    return [r for r in rows if r["database"] == database and r["user"] == "app"]


def pool_counts(target, database="app"):
    """(cl_active, cl_waiting, sv_active) summed over `database`'s pools of user app."""
    rows = pools(target, database)
    return tuple(sum(int(r[k]) for r in rows) for k in ("cl_active", "cl_waiting", "sv_active"))


def committed(pg, marker):
    return int(pg.sql("SELECT count(*) FROM items WHERE name = '%s'" % marker))


def reset(conn):
    """Resets the client's TCP connection (SO_LINGER 0, then close): no Terminate message."""
    s = socket.socket(fileno=os.dup(conn.pgconn.socket))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # the dup'ed descriptor: RST only once the last one closes
    conn.pgconn.finish()  # libpq's descriptor (its Terminate cannot pass a reset connection)


def backend_gone_or_idle(pg, pid, db="app"):
    rows = [b for b in pg.backends(db=db) if b[0] == str(pid)]
    return not rows or rows[0][1] == "idle"


# ---------------------------------------------------------------------------
# 1. a client in an open transaction goes away during the move
# ---------------------------------------------------------------------------
def psql_in_a_transaction(target, marker, sleep_s):
    """A psql (our child) that opens a transaction, inserts `marker` and runs pg_sleep(sleep_s);
    its stdin stays open, so it neither commits nor exits by itself."""
    proc = subprocess.Popen([PSQL, "-X", "-q", "-h", target.host, "-p", str(target.port), "-U", "app", "-d", "app"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=target.client_env("app_pw"))
    proc.stdin.write(("BEGIN;\nINSERT INTO items(name) VALUES ('%s');\nSELECT pg_sleep(%d);\n"
                      % (marker, sleep_s)).encode())
    proc.stdin.flush()
    return proc


@pytest.mark.timeout_s(40)
@pytest.mark.parametrize("how", ["terminate", "reset", "killed_mid_query"])
@pytest.mark.parametrize("new_db", [SECOND_DB, "app"], ids=["other_dbname", "same_dbname"])
def test_a_client_leaving_its_open_transaction_during_a_reload_leaks_no_server(pooler, pg_server,
                                                                                  second_db, how, new_db):  # noqa: F811
    """other_dbname: no backend on app may remain once the old generation is gone;
    same_dbname: at most the new pool's one server (pool_size 1) may remain."""
    target = pooler("scalegate", databases={"app": entry(pg_server, "app", pool_size=1)})
    pid = target.pid
    marker = "left-tx-%s-%d" % (how, os.getpid())
    proc = conn = None
    if how == "killed_mid_query":
        proc = psql_in_a_transaction(target, marker, 3)
        assert wait_until(lambda: any("pg_sleep" in b[2] and b[1] == "active" for b in pg_server.backends()),
                          10), pg_server.backends()
        server_pid = [b[0] for b in pg_server.backends() if "pg_sleep" in b[2]][0]
    else:
        conn = target.connect()  # not autocommit: psycopg opens a transaction
        conn.execute("INSERT INTO items(name) VALUES (%s)", (marker,))
        server_pid = one(conn, "SELECT pg_backend_pid()")[0]
    try:
        reload(target, 1, databases={"app": entry(pg_server, new_db, pool_size=1)})
        assert drained(target) == 0, "the old generation went while a transaction was open"
        assert not backend_gone_or_idle(pg_server, server_pid), pg_server.backends()

        if how == "terminate":
            conn.close()
        elif how == "reset":
            reset(conn)
        else:
            proc.kill()
            proc.wait(10)
    finally:
        if conn is not None:
            conn.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    wait_for_drained(target, 1)  # its last client left: the old generation is gone
    assert target.alive() and target.pid == pid, target.logs[-3000:]
    # The transaction never committed and its server did not stay behind (idle in
    # transaction, or idle in a pool nobody owns any more).
    assert committed(pg_server, marker) == 0
    left = 0 if new_db != "app" else 1
    assert wait_until(lambda: len(pg_server.backends(db="app")) <= left, 10), (pg_server.backends(db="app"),
                                                                              target.logs[-3000:])
    # The new generation works, and its pool (size 1) is free: no client or server counted.
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SELECT current_database()")[0] == new_db
    assert wait_until(lambda: len(pg_server.backends(db="app")) <= 1, 10), pg_server.backends(db="app")
    assert wait_until(lambda: pool_counts(target) == (0, 0, 0), 10), pools(target)
    with target.connect() as fresh:  # a transaction of two statements on the size-1 pool
        assert one(fresh, "SELECT txid_current() = txid_current()")[0] is True
        assert one(fresh, "SELECT 1")[0] == 1
    assert target.alive() and target.logs.count(DRAINED) == 1, target.logs[-3000:]


# ---------------------------------------------------------------------------
# 2. a session client's server dies right after it moved with it
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
def test_a_moved_session_server_terminated_after_the_reload_fails_its_client_only(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", pool_mode="session", databases={"app": entry(pg_server, "app", pool_size=1)})
    pid = target.pid
    conn = target.connect(autocommit=True)
    server_pid = one(conn, "SELECT pg_backend_pid()")[0]

    # The same server/database/user in the new file: the session's server comes along.
    reload(target, 1, databases={"app": entry(pg_server, "app", pool_size=1),
                                 "other": entry(pg_server, "app", pool_size=1)})
    with pg_server.superuser() as su:
        assert one(su, "SELECT pg_terminate_backend(%s)", (server_pid,))[0] is True
    assert wait_until(lambda: all(b[0] != str(server_pid) for b in pg_server.backends()), 10), \
        pg_server.backends()

    # The client's next query fails, promptly: its server is gone.
    attempt = Background(lambda: one(conn, "SELECT 'still here?'"))
    assert wait_until(lambda: not attempt.is_alive(), 10), "the session client hangs on its dead server"
    assert isinstance(attempt.error, psycopg.OperationalError), repr(attempt.error or attempt.value)
    conn.close()

    assert target.alive() and target.pid == pid, target.logs[-3000:]
    wait_for_drained(target, 1)
    # The pool does not keep the dead server: pool_size 1 leaves room for a new session.
    assert wait_until(lambda: pool_counts(target) == (0, 0, 0), 10), pools(target)
    with target.connect(autocommit=True, connect_timeout=5) as fresh:
        new_pid = one(fresh, "SELECT pg_backend_pid()")[0]
        assert new_pid != server_pid
        assert one(fresh, "SELECT 'new session'")[0] == "new session"
    with target.connect(autocommit=True, dbname="other") as other:
        assert one(other, "SELECT 2")[0] == 2
    assert target.alive() and target.logs.count(DRAINED) == 1, target.logs[-3000:]


# ---------------------------------------------------------------------------
# 3. RECONNECT on the admin console right after a session client moved with its server
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
@pytest.mark.parametrize("reloaded", [False, True], ids=["no_reload", "after_reload"])
def test_reconnect_reaches_a_server_that_moved_with_its_session(pooler, pg_server, reloaded):  # noqa: F811
    target = pooler("scalegate", pool_mode="session", databases={"app": entry(pg_server, "app", pool_size=1)})
    conn = target.connect(autocommit=True)
    server_pid = one(conn, "SELECT pg_backend_pid()")[0]
    conn.execute("CREATE TEMP TABLE session_only (a int)")
    if reloaded:
        reload(target, 1, databases={"app": entry(pg_server, "app", pool_size=1)})
        wait_for_drained(target, 1)  # the server moved with its client: nothing stays behind

    r = target.admin_psql("RECONNECT")
    assert r.returncode == 0, r.stderr
    # The session goes on while its client stays (RECONNECT closes a server once released).
    assert one(conn, "SELECT pg_backend_pid()")[0] == server_pid
    assert one(conn, "SELECT count(*) FROM session_only")[0] == 0
    conn.close()
    # Released: closed, not given to the next client.
    assert wait_until(lambda: all(b[0] != str(server_pid) for b in pg_server.backends()), 10), \
        (pg_server.backends(), target.logs[-3000:])
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SELECT pg_backend_pid()")[0] != server_pid
    assert wait_until(lambda: pool_counts(target) == (0, 0, 0), 10), pools(target)
    assert target.alive(), target.logs[-3000:]


# ---------------------------------------------------------------------------
# 4. a session client killed while its moved server runs a query
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
def test_a_session_client_reset_mid_query_after_moving_frees_its_server(pooler, pg_server):  # noqa: F811
    """The client moved with its server, runs pg_sleep on it, and its TCP connection is reset:
    the server must not go back to the pool in the middle of a query, nor stay counted."""
    target = pooler("scalegate", pool_mode="session", databases={"app": entry(pg_server, "app", pool_size=1)})
    conn = target.connect(autocommit=True)
    server_pid = one(conn, "SELECT pg_backend_pid()")[0]
    reload(target, 1, databases={"app": entry(pg_server, "app", pool_size=1)})
    wait_for_drained(target, 1)
    sleeper = Background(lambda: conn.execute("SELECT pg_sleep(2)"))
    assert wait_until(lambda: any(b[0] == str(server_pid) and b[1] == "active" for b in pg_server.backends()),
                      10), pg_server.backends()
    sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    assert wait_until(lambda: not sleeper.is_alive(), 10)
    conn.close()

    assert wait_until(lambda: pool_counts(target) == (0, 0, 0), 10), pools(target)
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SELECT 'after reset'")[0] == "after reset"
        assert one(fresh, "SELECT 40 + 2")[0] == 42
    assert target.alive(), target.logs[-3000:]


# ---------------------------------------------------------------------------
# 5. a transaction's server terminated while its client is held on the old generation
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
def test_a_server_terminated_inside_a_transaction_held_across_a_reload(pooler, pg_server, second_db):  # noqa: F811
    target = pooler("scalegate", databases={"app": entry(pg_server, "app", pool_size=1)})
    conn = target.connect()
    marker = "killed-server-%d" % os.getpid()
    conn.execute("INSERT INTO items(name) VALUES (%s)", (marker,))
    server_pid = one(conn, "SELECT pg_backend_pid()")[0]
    reload(target, 1, databases={"app": entry(pg_server, second_db, pool_size=1)})
    assert drained(target) == 0

    with pg_server.superuser() as su:
        assert one(su, "SELECT pg_terminate_backend(%s)", (server_pid,))[0] is True
    attempt = Background(lambda: one(conn, "SELECT 'still here?'"))
    assert wait_until(lambda: not attempt.is_alive(), 10), "the client hangs on its dead server"
    assert isinstance(attempt.error, psycopg.OperationalError), repr(attempt.error or attempt.value)
    conn.close()

    wait_for_drained(target, 1)
    assert target.alive(), target.logs[-3000:]
    assert committed(pg_server, marker) == 0
    assert wait_until(lambda: pg_server.backends(db="app") == [], 10), pg_server.backends(db="app")
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SELECT current_database()")[0] == second_db
    assert wait_until(lambda: pool_counts(target) == (0, 0, 0), 10), pools(target)


# ---------------------------------------------------------------------------
# 6. idle servers of a drained generation are closed, not left open
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
def test_a_drained_generation_leaves_no_idle_server_open(pooler, pg_server):  # noqa: F811
    """The same database in both files, pool_size 1: once the old generation is gone, at most
    the new pool's one server may be connected (the old pool's idle server is closed or taken
    over, never left open outside any pool)."""
    target = pooler("scalegate", databases={"app": entry(pg_server, "app", pool_size=1)})
    with target.connect(autocommit=True) as conn:
        assert one(conn, "SELECT 1")[0] == 1  # the old pool now has one idle server
        assert len(pg_server.backends()) == 1
        reload(target, 1, databases={"app": entry(pg_server, "app", pool_size=1)})
        wait_for_drained(target, 1)
        for i in range(3):
            assert one(conn, "SELECT %s::int", (i,))[0] == i
        with target.connect(autocommit=True) as fresh:
            assert one(fresh, "SELECT 'fresh'")[0] == "fresh"
    assert wait_until(lambda: len(pg_server.backends()) <= 1, 10), pg_server.backends()
    _, rows = target.admin_rows("SHOW SERVERS")
    assert len([r for r in rows if r["database"] == "app"]) <= 1, rows


# ---------------------------------------------------------------------------
# 7. two reloads while a session client holds the first generation
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
def test_two_reloads_while_a_session_client_holds_the_first_generation(pooler, pg_server, second_db):  # noqa: F811
    """app -> app_b -> app: at the first reload the session client keeps generation 1 (its
    server on app; another dbname in the new file); a fresh client uses generation 2 (a server
    on app_b). The second reload names app again: the client, idle, moves with its server to
    generation 3 at once (each reload looks again at the clients older generations kept), so
    both old generations go, with generation 2's server, without the client doing anything;
    generation 3's pool counts the client and its server."""
    target = pooler("scalegate", pool_mode="session", databases={"app": entry(pg_server, "app")})
    conn = target.connect(autocommit=True)
    server_pid = one(conn, "SELECT pg_backend_pid()")[0]

    reload(target, 1, databases={"app": entry(pg_server, second_db)})
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SELECT current_database()")[0] == second_db
    assert drained(target) == 0, target.logs[-3000:]  # the session client holds generation 1
    reload(target, 2, databases={"app": entry(pg_server, "app")})
    wait_for_drained(target, 2)  # the client has not sent anything since
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SELECT current_database()")[0] == "app"
    assert target.alive(), target.logs[-3000:]
    assert one(conn, "SELECT current_database(), pg_backend_pid()") == ("app", server_pid)
    assert wait_until(lambda: pg_server.backends(db=second_db) == [], 10), pg_server.backends(db=second_db)
    assert wait_until(lambda: pool_counts(target) == (1, 0, 1), 10), pools(target)
    conn.close()
    assert wait_until(lambda: pool_counts(target) == (0, 0, 0), 10), pools(target)
    with target.connect(autocommit=True) as fresh:
        assert one(fresh, "SELECT current_database()")[0] == "app"
