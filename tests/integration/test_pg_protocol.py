"""The extended protocol by hand (raw sockets) through the pooler: unnamed and named
statements, Close, Describe, errors that skip to Sync, pipelined Syncs, and the rule that a
server stays with its client until ReadyForQuery 'I' (never released on Flush). Also session
pool mode (the reset query), idle server closing and a database that is down.

Clients log in with trust: directly as trustuser, through the pooler as app (auth.type trust;
the pooler logs in to PostgreSQL with app's password from the users file)."""
import threading
import time

import psycopg
import pytest

from pg_support import (FLUSH, SYNC, DirectTarget, RawClient, bind_msg, close_msg, data_rows,  # noqa: F401
                        describe_msg, error_fields, execute_msg, free_port, kinds, parse_msg, pg_server, pooler,
                        query_msg, selected_targets, socket_to, wait_s, wait_until)

POOLERS_ONLY = selected_targets(("scalegate", "pgbouncer"))


@pytest.fixture(params=selected_targets())
def kind(request):
    return request.param


def target_for(kind, pooler, pg_server, **opts):  # noqa: F811
    return DirectTarget(pg_server) if kind == "direct" else pooler(kind, auth="trust", **opts)


def user_of(target):
    return "trustuser" if target.kind == "direct" else "app"


def raw(target):
    return RawClient(target.port, user_of(target))


def skip_pgbouncer_prepared(target):
    if target.kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18 cannot keep named statements in transaction mode")


def test_unnamed_statement_round_trip(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    with raw(target) as c:
        c.send(parse_msg("", "SELECT $1::int * 2 AS v"), bind_msg("", [21]), describe_msg(b"P", ""),
               execute_msg(), SYNC)
        out = c.until(b"Z")
        assert kinds(out) == b"12TDCZ", kinds(out)
        assert data_rows(out) == [["42"]]
        assert out[-1][1] == b"I"


def test_close_statement_then_reuse_the_name(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    skip_pgbouncer_prepared(target)
    with raw(target) as c:
        c.send(parse_msg("s1", "SELECT 1"), SYNC)
        assert kinds(c.until()) == b"1Z"
        c.send(close_msg(b"S", "s1"), SYNC)
        assert kinds(c.until()) == b"3Z"
        c.send(bind_msg("s1"), execute_msg(), SYNC)  # closed: 26000 invalid_sql_statement_name
        out = c.until()
        assert kinds(out) == b"EZ" and error_fields(out[0][1])["C"] == "26000", out
        c.send(parse_msg("s1", "SELECT 2"), bind_msg("s1"), execute_msg(), SYNC)
        out = c.until()
        assert data_rows(out) == [["2"]], out
        c.send(close_msg(b"S", "never-prepared"), SYNC)  # closing an unknown name is not an error
        assert kinds(c.until()) == b"3Z"


def test_describe_named_statement(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    skip_pgbouncer_prepared(target)
    with raw(target) as c:
        c.send(parse_msg("d1", "SELECT $1::int AS x, 'a'::text AS y"), SYNC)
        assert kinds(c.until()) == b"1Z"
        c.send(describe_msg(b"S", "d1"), SYNC)
        out = c.until()
        assert kinds(out) == b"tTZ", kinds(out)
        assert int.from_bytes(out[0][1][:2], "big") == 1  # one parameter
        assert b"x\0" in out[1][1] and b"y\0" in out[1][1]


def test_error_skips_to_sync_and_pipelined_syncs(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    with raw(target) as c:
        batch = []
        for i in range(20):
            sql = "SELECT 1/0" if i == 7 else "SELECT %d" % i
            batch += [parse_msg("", sql), bind_msg(""), execute_msg(), SYNC]
        c.send(*batch)  # 20 transactions in one write: each Sync may release the server
        for i in range(20):
            out = c.until()
            if i == 7:
                # ParseComplete, then the error (constant folding fails at Bind), then nothing until Sync
                assert kinds(out) == b"1EZ" and error_fields(out[1][1])["C"] == "22012", out
            else:
                assert kinds(out) == b"12DCZ" and data_rows(out) == [[str(i)]], (i, out)
            assert out[-1][1] == b"I"


def test_simple_query_multi_statement_error(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    with raw(target) as c:
        c.send(query_msg("SELECT 1; SELECT 1/0; SELECT 3"))
        out = c.until()
        assert kinds(out) == b"TDCEZ", kinds(out)
        c.send(query_msg(""))
        assert kinds(c.until()) == b"IZ"  # EmptyQueryResponse
        c.send(query_msg("BEGIN; SELECT 1/0"))
        out = c.until()
        assert kinds(out)[-1:] == b"Z" and out[-1][1] == b"E"  # failed transaction
        c.send(query_msg("ROLLBACK"))
        out = c.until()
        assert out[-1][1] == b"I"


def test_server_is_not_released_on_flush(kind, pooler, pg_server):  # noqa: F811
    """pool_size 1: A has run Execute + Flush (results back, no Sync yet). B must wait until A's
    Sync; A's next statement runs on the same backend."""
    target = target_for(kind, pooler, pg_server, pool_size=1)
    with raw(target) as a:
        a.send(parse_msg("", "SELECT pg_backend_pid()"), bind_msg(""), execute_msg(), FLUSH)
        out = a.until(b"C")
        assert kinds(out) == b"12DC", kinds(out)
        backend = data_rows(out)[0][0]
        done = threading.Event()

        def other():
            with target.connect(user=user_of(target), password="", autocommit=True) as b:
                b.execute("SELECT 1")
            done.set()
        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        try:
            time.sleep(0.5)
            if target.kind != "direct":
                assert not done.is_set(), "another client got the server between Flush and Sync"
            a.send(parse_msg("", "SELECT pg_backend_pid()"), bind_msg(""), execute_msg(), FLUSH)
            out = a.until(b"C")
            assert data_rows(out)[0][0] == backend
        finally:
            a.send(SYNC)
            assert a.until()[-1][1] == b"I"
            thread.join(wait_s(10))
        assert done.is_set()


def test_copy_fail_from_client(kind, pooler, pg_server):  # noqa: F811
    target = target_for(kind, pooler, pg_server)
    with target.connect(user=user_of(target), password="") as conn:
        with pytest.raises(psycopg.errors.QueryCanceled):
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE cf (a int) ON COMMIT DROP")
                with conn.cursor().copy("COPY cf FROM STDIN") as copy:
                    copy.write(b"1\n")
                    raise psycopg.errors.QueryCanceled("client gave up")  # psycopg sends CopyFail
        assert conn.execute("SELECT 'usable'").fetchone()[0] == "usable"


def test_session_mode_resets_the_server(kind, pooler, pg_server):  # noqa: F811
    """pool_mode session, pool_size 1: what A left on its server (a setting, a prepared statement,
    a temp table) is gone for B, who gets the same server (server_reset_query DISCARD ALL)."""
    target = target_for(kind, pooler, pg_server, pool_size=1, pool_mode="session")
    with target.connect(user=user_of(target), password="", autocommit=True) as a:
        a.execute("SET search_path = pg_catalog")
        a.execute("PREPARE left_over AS SELECT 1")
        a.execute("CREATE TEMP TABLE left_over_t (a int)")
        first = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("BEGIN")
        assert a.execute("SELECT pg_backend_pid()").fetchone()[0] == first  # session: one server
        a.execute("COMMIT")
    with target.connect(user=user_of(target), password="", autocommit=True) as b:
        if target.kind != "direct":
            assert b.execute("SELECT pg_backend_pid()").fetchone()[0] == first
        assert b.execute("SHOW search_path").fetchone()[0] == '"$user", public'
        assert b.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
        assert b.execute("SELECT to_regclass('left_over_t')").fetchone()[0] is None


@pytest.mark.parametrize("kind", POOLERS_ONLY)
def test_idle_servers_are_closed(pooler, pg_server, kind):  # noqa: F811
    target = pooler(kind, auth="trust", pool_size=2, server_idle_timeout="1s")
    with target.connect(autocommit=True) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
        assert pg_server.backends(), "no server connection was opened"
        assert wait_until(lambda: not pg_server.backends(), 8), pg_server.backends()
        assert c.execute("SELECT 2").fetchone()[0] == 2  # a new server on demand


@pytest.mark.parametrize("kind", POOLERS_ONLY)
def test_database_down_gives_an_error_not_a_hang(pooler, kind):  # noqa: F811
    dead = "127.0.0.1:%d" % free_port()  # nothing listens there
    target = pooler(kind, auth="trust", databases={"app": {"primary": dead, "dbname": "app", "pool_size": 1}},
                    server_connect_timeout="1s", query_wait_timeout="2s")
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as err:
        with target.connect(autocommit=True, connect_timeout=30) as c:
            c.execute("SELECT 1")
    elapsed = time.monotonic() - started
    assert elapsed < wait_s(8), "the error took %.1fs" % elapsed
    assert str(err.value).strip(), "an error without a message"


def test_cancel_with_a_wrong_key_cancels_nothing(kind, pooler, pg_server):  # noqa: F811
    """A CancelRequest whose key matches no client is dropped: the running query finishes."""
    target = target_for(kind, pooler, pg_server, pool_size=2)
    with target.connect(user=user_of(target), password="", autocommit=True) as conn:
        pid = conn.pgconn.backend_pid  # the pid the client was given (the pooler's, through one)
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            v=conn.execute("SELECT pg_sleep(0.6), 'finished'").fetchone()[1]), daemon=True)
        thread.start()
        time.sleep(0.2)
        # the client's pid with wrong keys, then a pid nobody has
        for pid_sent, key in ((pid, 0), (pid, 0x7FFFFFFF), (pid, 12345), (pid ^ 0x5A5A5A, 1)):
            with socket_to(target.port) as s:
                s.sendall((16).to_bytes(4, "big") + (80877102).to_bytes(4, "big") + pid_sent.to_bytes(4, "big")
                          + key.to_bytes(4, "big"))
                s.settimeout(wait_s(5))
                assert s.recv(1) == b"", "a cancel connection is closed without an answer"
        thread.join(wait_s(10))
        assert result.get("v") == "finished", "the query was cancelled by a wrong key"
