"""Session state in transaction pooling: parameters follow their client and never leak, named
statements are per client and re-prepared after a server switch, cancel reaches the running
query, a client or a server that dies mid-transaction leaves nothing dirty behind, and the
pooler's limits (idle_transaction_timeout, query_wait_timeout, max_client_conn) fire.

Each test runs against PostgreSQL directly too where that is meaningful (its logic checked
against the real thing), and against the poolers selected by SCALEGATE_PG_TARGETS."""
import os
import socket
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import pq

from pg_support import (Background, DirectTarget, pg_server, pooler, selected_targets, wait_s,  # noqa: F401
                        wait_until)

POOLERS_ONLY = selected_targets(("scalegate", "pgbouncer"))


@pytest.fixture(params=selected_targets())
def kind(request):
    return request.param


def target_for(kind, pooler, pg_server, **opts):  # noqa: F811
    return DirectTarget(pg_server) if kind == "direct" else pooler(kind, **opts)


def pooled(target):
    return target.kind != "direct"


def skip_pgbouncer_prepared(target):
    if target.kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18 cannot keep named statements in transaction mode")


# ---------------------------------------------------------------------------
# session parameters
# ---------------------------------------------------------------------------
PARAMS = {"search_path": "pg_catalog, public", "TimeZone": "Asia/Tokyo", "application_name": "client-a",
          "DateStyle": "SQL, DMY"}
SETS = ("SET search_path = pg_catalog, public", "SET TimeZone = 'Asia/Tokyo'", "SET application_name = 'client-a'",
        "SET DateStyle = SQL, DMY")
SHOW_SQL = "SELECT pg_backend_pid(), %s" % ", ".join("current_setting('%s')" % p for p in PARAMS)


def pin_server(target, pid):
    """Holds, in an open transaction, the pooled server whose backend pid is `pid` (pool_size 2,
    both servers idle); returns that connection. The other server stays free."""
    held = []
    try:
        for _ in range(2):
            conn, got = hold_server(target)
            held.append(conn)
            if got == pid:
                held.remove(conn)
                return conn
        raise AssertionError("could not pin the server with backend %d" % pid)
    finally:
        for conn in held:
            conn.rollback()
            conn.close()


def test_session_parameters_follow_their_client(kind, pooler, pg_server):  # noqa: F811
    """pool_size 2. A sets four parameters on server X. Then X is pinned, so A and B both run on
    the other server Y, alternately: A must see its values (replayed on Y), B the defaults
    (A's values must not leak through Y). Then Y is pinned and both run on X."""
    target = target_for(kind, pooler, pg_server, pool_size=2)
    with target.connect(autocommit=True) as b, target.connect(autocommit=True) as a:
        defaults = b.execute(SHOW_SQL).fetchone()[1:]
        assert list(defaults) != list(PARAMS.values())
        for statement in SETS:
            a.execute(statement)
        x = a.execute(SHOW_SQL).fetchone()[0]
        seen = {"a": set(), "b": set()}

        def alternate():
            for _ in range(3):
                row = a.execute(SHOW_SQL).fetchone()
                seen["a"].add(row[0])
                assert dict(zip(PARAMS, row[1:])) == PARAMS, "client A lost its parameters"
                row = b.execute(SHOW_SQL).fetchone()
                seen["b"].add(row[0])
                assert tuple(row[1:]) == tuple(defaults), "a parameter of client A leaked to client B"
            return row[0]

        if not pooled(target):
            alternate()
            return
        holder = pin_server(target, x)
        try:
            y = alternate()
            assert y != x and seen["a"] == seen["b"] == {y}, seen
        finally:
            holder.rollback()
            holder.close()
        holder = pin_server(target, y)
        try:
            assert alternate() == x
        finally:
            holder.rollback()
            holder.close()
        assert seen["a"] == seen["b"] == {x, y}, seen
    with target.connect(autocommit=True) as c:  # a fresh client after both left: defaults
        assert tuple(c.execute(SHOW_SQL).fetchone()[1:]) == tuple(defaults)


def test_parameter_set_in_rolled_back_transaction_is_undone(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server, pool_size=1)
    with target.connect(autocommit=True) as a:
        default = a.execute("SHOW TimeZone").fetchone()[0]
        a.execute("BEGIN")
        a.execute("SET TimeZone = 'America/Lima'")
        assert a.execute("SHOW TimeZone").fetchone()[0] == "America/Lima"
        a.execute("ROLLBACK")
        assert a.execute("SHOW TimeZone").fetchone()[0] == default
        with target.connect(autocommit=True) as b:
            assert b.execute("SHOW TimeZone").fetchone()[0] == default


# ---------------------------------------------------------------------------
# named statements
# ---------------------------------------------------------------------------
def prepare(conn, name, text):
    res = conn.pgconn.prepare(name.encode(), text.encode())
    assert res.status == pq.ExecStatus.COMMAND_OK, res.error_message.decode()


def exec_prepared(conn, name, *params):
    """Runs a named statement (Bind/Execute/Sync: its own transaction) -> first row as str."""
    res = conn.pgconn.exec_prepared(name.encode(), [str(p).encode() for p in params])
    if res.status != pq.ExecStatus.TUPLES_OK:
        raise AssertionError(res.error_message.decode())
    return [None if res.get_value(0, i) is None else res.get_value(0, i).decode() for i in range(res.nfields)]


def test_same_statement_name_different_texts(kind, pooler, pg_server):  # noqa: F811
    """Two clients on one server (pool_size 1) each prepare "stmt" with their own text."""
    target = target_for(kind, pooler, pg_server, pool_size=1)
    skip_pgbouncer_prepared(target)
    with target.connect(autocommit=True) as a, target.connect(autocommit=True) as b:
        prepare(a, "stmt", "SELECT 'a:' || $1::text")
        prepare(b, "stmt", "SELECT 'b:' || $1::text, $2::int * 2")
        for i in range(10):
            assert exec_prepared(a, "stmt", i) == ["a:%d" % i]
            assert exec_prepared(b, "stmt", i, i) == ["b:%d" % i, str(i * 2)]
        desc = b.pgconn.describe_prepared(b"stmt")
        assert desc.nparams == 2 and desc.nfields == 2
        desc = a.pgconn.describe_prepared(b"stmt")
        assert desc.nparams == 1 and desc.nfields == 1
        # A's DEALLOCATE ALL forgets A's statements only
        a.execute("DEALLOCATE ALL")
        with pytest.raises(AssertionError, match="does not exist"):
            exec_prepared(a, "stmt", 1)
        assert exec_prepared(b, "stmt", 5, 5) == ["b:5", "10"]
        # and A may prepare the name again with yet another text
        prepare(a, "stmt", "SELECT 'again:' || $1::text")
        assert exec_prepared(a, "stmt", 3) == ["again:3"]


def test_duplicate_statement_name_is_an_error(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server, pool_size=1)
    skip_pgbouncer_prepared(target)
    with target.connect(autocommit=True) as a:
        prepare(a, "dup", "SELECT 1")
        res = a.pgconn.prepare(b"dup", b"SELECT 2")
        assert res.status == pq.ExecStatus.FATAL_ERROR
        assert res.error_field(pq.DiagnosticField.SQLSTATE) == b"42P05"
        assert exec_prepared(a, "dup") == ["1"]


def test_statements_beyond_max_prepared_statements(kind, pooler, pg_server):  # noqa: F811
    """max_prepared_statements 2: a client keeps five named statements; the server keeps at most
    two (LRU) and the others are prepared again when the client uses them."""
    if kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18 cannot keep named statements in transaction mode")
    target = target_for(kind, pooler, pg_server, pool_size=1, max_prepared_statements=2)
    with target.connect(autocommit=True, prepare_threshold=None) as a:
        for i in range(5):
            prepare(a, "lru%d" % i, "SELECT %d + $1::int" % (i * 100))
        for _ in range(2):
            for i in (0, 1, 2, 3, 4, 4, 0):
                assert exec_prepared(a, "lru%d" % i, 1) == [str(i * 100 + 1)]
        on_server = a.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        assert on_server == (2 if pooled(target) else 5), on_server


def hold_server(target):
    """A connection inside a transaction (holds one pooled server); returns (conn, backend pid)."""
    conn = target.connect()
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    return conn, pid


def test_statement_reprepared_after_server_switch(kind, pooler, pg_server):  # noqa: F811
    """pool_size 2: A prepares on server X; holders then pin X so that A's next Execute can only
    run on the other server, where the statement must be prepared again."""
    target = target_for(kind, pooler, pg_server, pool_size=2)
    skip_pgbouncer_prepared(target)
    with target.connect(autocommit=True) as a:
        prepare(a, "sw", "SELECT pg_backend_pid(), $1::int + 1")
        x = int(exec_prepared(a, "sw", 1)[0])
        holders = []
        try:
            if pooled(target):
                for _ in range(2):  # at most 2 servers: after <= 2 holders one of them has X
                    conn, pid = hold_server(target)
                    holders.append((conn, pid))
                    if pid == x:
                        break
                assert any(pid == x for _, pid in holders), "could not pin server %d" % x
                for conn, pid in holders:
                    if pid != x:
                        conn.rollback()  # frees the other server
            pid, value = exec_prepared(a, "sw", 41)
            assert value == "42"
            if pooled(target):
                assert int(pid) != x, "A ran on the pinned server"
        finally:
            for conn, _ in holders:
                conn.close()
        assert exec_prepared(a, "sw", 9)[1] == "10"


# ---------------------------------------------------------------------------
# cancel, dying clients and servers
# ---------------------------------------------------------------------------
def test_cancel_during_pg_sleep(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server, pool_size=2)
    for attempt in range(3):  # a new cancel connection each time (may reach another worker)
        with target.connect(autocommit=True) as conn:
            timer = threading.Timer(0.3, conn.cancel)
            started = time.monotonic()
            timer.start()
            try:
                with pytest.raises(psycopg.errors.QueryCanceled):
                    conn.execute("SELECT pg_sleep(10)")
            finally:
                timer.cancel()
            elapsed = time.monotonic() - started
            assert elapsed < 0.3 + wait_s(1.5), "cancel took %.2fs" % elapsed
            assert conn.execute("SELECT 'still usable'").fetchone()[0] == "still usable"


def kill_socket(conn):
    """Closes a client connection's TCP socket under the driver (a client that vanished)."""
    s = socket.socket(fileno=os.dup(conn.pgconn.socket))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    s.shutdown(socket.SHUT_RDWR)
    s.close()


def idle_in_transaction(pg):
    return [b for b in pg.backends() if b[1].startswith("idle in transaction")]


def test_client_disconnect_mid_transaction(kind, pooler, pg_server):  # noqa: F811
    """pool_size 1: the next client gets the very server the vanished client used."""
    target = target_for(kind, pooler, pg_server, pool_size=1)
    marker = "gone-%s" % uuid.uuid4().hex
    a = target.connect()
    a.execute("INSERT INTO items(name) VALUES (%s)", (marker,))
    assert a.execute("SELECT txid_current_if_assigned()").fetchone()[0] is not None
    kill_socket(a)
    a.close()
    if not pooled(target):  # PostgreSQL notices the dead client on its own
        assert wait_until(lambda: not idle_in_transaction(pg_server), 10)
    with target.connect(autocommit=True) as b:
        assert b.execute("SELECT count(*) FROM items WHERE name = %s", (marker,)).fetchone()[0] == 0
        assert b.execute("SELECT txid_current_if_assigned()").fetchone()[0] is None
        assert b.execute("SELECT now() = statement_timestamp()").fetchone()[0] is True
        assert b.pgconn.transaction_status == pq.TransactionStatus.IDLE
    assert wait_until(lambda: not idle_in_transaction(pg_server), 10), pg_server.backends()


def test_server_killed_mid_query(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server, pool_size=2)
    tag = "victim_%s" % uuid.uuid4().hex[:8]
    victim = target.connect(autocommit=True)
    other = target.connect(autocommit=True)
    try:
        sleeper = Background(lambda: victim.execute("SELECT pg_sleep(20) AS %s" % tag))

        def victim_backend():
            out = pg_server.sql("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(20) AS %s%%'"
                                % tag, db="postgres")
            return out.split()
        pids = wait_until(victim_backend, 10)
        assert pids, "the pg_sleep query never reached a server"
        assert other.execute("SELECT 1").fetchone()[0] == 1  # the other server answers meanwhile
        killed_at = time.monotonic()
        pg_server.sql("SELECT pg_terminate_backend(%s)" % pids[0], db="postgres")
        with pytest.raises(psycopg.Error):
            sleeper.result(timeout=10)
        assert time.monotonic() - killed_at < wait_s(5)
        for i in range(5):
            assert other.execute("SELECT %s::int", (i,)).fetchone()[0] == i
        with target.connect(autocommit=True) as fresh:
            for i in range(3):  # the pool replaces the dead server
                assert fresh.execute("SELECT %s::int + 1", (i,)).fetchone()[0] == i + 1
    finally:
        victim.close()
        other.close()


# ---------------------------------------------------------------------------
# pooler limits
# ---------------------------------------------------------------------------
def test_idle_transaction_timeout(kind, pooler, pg_server):  # noqa: F811
    if kind == "direct":  # PostgreSQL's own equivalent validates the test's logic
        target = DirectTarget(pg_server)
        conn = target.connect(options="-c idle_in_transaction_session_timeout=1000")
    else:
        target = pooler(kind, pool_size=2, idle_transaction_timeout="1s")
        conn = target.connect()
    try:
        conn.execute("SELECT 1")  # BEGIN + SELECT: the client holds a transaction
        time.sleep(1.0 + wait_s(1.5))
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 2")
    finally:
        conn.close()
    assert wait_until(lambda: not idle_in_transaction(pg_server), 10), pg_server.backends()
    with target.connect(autocommit=True) as c:  # the pool still works
        assert c.execute("SELECT 3").fetchone()[0] == 3


@pytest.mark.parametrize("kind", POOLERS_ONLY)
def test_query_wait_timeout(kind, pooler):  # noqa: F811
    target = pooler(kind, pool_size=1, query_wait_timeout="1s")
    holder = target.connect()
    try:
        holder.execute("SELECT 1")  # holds the only server
        started = time.monotonic()
        with pytest.raises(psycopg.Error) as err:
            with target.connect(autocommit=True) as waiter:
                waiter.execute("SELECT 1")
        elapsed = time.monotonic() - started
        assert "query_wait_timeout" in str(err.value), str(err.value)
        assert 0.8 <= elapsed < 1.0 + wait_s(3), "answered after %.2fs" % elapsed
        assert holder.execute("SELECT 2").fetchone()[0] == 2  # the holder was not disturbed
    finally:
        holder.close()
    with target.connect(autocommit=True) as c:
        assert c.execute("SELECT 3").fetchone()[0] == 3


@pytest.mark.parametrize("kind", POOLERS_ONLY)
def test_max_client_conn(kind, pooler):  # noqa: F811
    target = pooler(kind, pool_size=2, max_client_conn=3)
    conns = [target.connect(autocommit=True) for _ in range(3)]
    try:
        for c in conns:
            assert c.execute("SELECT 1").fetchone()[0] == 1
        with pytest.raises(psycopg.OperationalError, match=r"no more connections allowed \(max_client_conn\)"):
            target.connect()
        conns.pop().close()

        def one_more():
            try:
                conns.append(target.connect(autocommit=True))
                return True
            except psycopg.OperationalError:
                return False
        assert wait_until(one_more, 5), "a freed client slot was not reused"
        assert conns[-1].execute("SELECT 2").fetchone()[0] == 2
    finally:
        for c in conns:
            c.close()
