"""Real PostgreSQL drivers through scalegate's PostgreSQL listener in transaction mode (and
directly against PostgreSQL, which validates each test's own logic): psql, pgbench in its three
query modes, psycopg 3 (automatic prepares, pipeline mode, COPY both ways) and asyncpg (its
statement cache, prepare() + executemany).

The pool is smaller than the number of concurrent clients, so a client's transactions run on
different server connections: a driver's named statements must follow it (issue 16)."""
import asyncio
import threading
import time
import uuid

import psycopg
import pytest

from pg_support import make_target, pg_server, pgbench_summary, selected_targets, stop_pooler, wait_s  # noqa: F401

POOL_SIZE = 2
CLIENTS = 4  # > POOL_SIZE: clients wait for servers and switch between them


@pytest.fixture(scope="module", params=selected_targets(("direct", "scalegate", "pgbouncer")))
def target(request, pg_server, tmp_path_factory):  # noqa: F811
    t = make_target(request.param, pg_server, tmp_path_factory, pool_size=POOL_SIZE)
    try:
        yield t
    finally:
        stop_pooler(t)


def pooled(target):
    return target.kind != "direct"


def needs_prepared_statements(target):
    # PgBouncer 1.18 (the reference) has no prepared statement support in transaction mode.
    if target.kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18 cannot keep named statements in transaction mode")


def run_threads(count, work):
    """Runs work(index) on `count` threads started together; returns their results, re-raises
    the first exception."""
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as e:  # reported to the test below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + wait_s(20)
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not stuck, "client threads %s did not finish within %.0fs (other errors: %r)" % (stuck, wait_s(20), errors)
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------
# psql and pgbench
# ---------------------------------------------------------------------------
def test_psql_simple_queries(target):
    r = target.psql("SELECT 1; SELECT 'x' || 'y'; SELECT current_user, current_database()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["1", "xy", "app|app"]

    r = target.psql("SELECT 1/0")
    assert r.returncode != 0 and "division by zero" in r.stderr

    marker = "psql-%s" % uuid.uuid4().hex
    r = target.psql("BEGIN; INSERT INTO items(name) VALUES ('%s'); COMMIT; SELECT count(*) FROM items "
                    "WHERE name = '%s'" % (marker, marker))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().split("\n")[-1] == "1"


@pytest.fixture(scope="module")
def pgbench_tables(target):
    r = target.pgbench(["-i", "-q", "-s", "1"], timeout=120)
    assert r.returncode == 0, "pgbench -i failed:\n%s" % r.stderr[-2000:]
    return target


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_select_only(pgbench_tables, mode):
    target = pgbench_tables
    if mode == "prepared":
        needs_prepared_statements(target)
    seconds = 2 if pooled(target) else 1
    r = target.pgbench(["-S", "-n", "-T", str(seconds), "-c", str(CLIENTS), "-j", "2", "-M", mode])
    output = r.stdout + r.stderr
    tps, failed, done = pgbench_summary(output)
    assert r.returncode == 0, "pgbench -M %s failed:\n%s" % (mode, output[-2000:])
    assert failed == 0, output[-2000:]
    assert tps and tps > 0 and done and done > 0, output[-2000:]


# ---------------------------------------------------------------------------
# psycopg 3
# ---------------------------------------------------------------------------
QUERIES = ("SELECT %s::int * 2, pg_backend_pid()", "SELECT %s::int + 1000, pg_backend_pid()")


@pytest.mark.parametrize("threshold", [0, 2])
def test_psycopg_automatic_prepares(target, threshold):
    """Each client runs the same two statements in many transactions; once prepare_threshold is
    reached psycopg sends them as named statements (_pg3_N, the same names on every client)."""
    needs_prepared_statements(target)
    rounds = 15

    def client(index):
        backends = set()
        with target.connect(prepare_threshold=threshold, autocommit=True) as conn:
            for i in range(rounds):
                for q, query in enumerate(QUERIES):
                    value = index * 100 + i
                    row = conn.execute(query, (value,)).fetchone()
                    assert row[0] == (value * 2 if q == 0 else value + 1000)
                    backends.add(row[1])
                with conn.transaction():  # several statements in one transaction as well
                    a = conn.execute(QUERIES[0], (i,)).fetchone()[0]
                    b = conn.execute(QUERIES[1], (i,)).fetchone()[0]
                    assert (a, b) == (i * 2, i + 1000)
            if not pooled(target):  # the test's premise: psycopg did prepare them
                prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
                assert prepared >= 2
        return backends

    backends = run_threads(CLIENTS, client)
    if pooled(target):
        assert any(len(b) > 1 for b in backends), "no client switched servers: %r" % backends
        assert len(set().union(*backends)) <= POOL_SIZE


def test_psycopg_pipeline(target):
    marker = "pipe-%s" % uuid.uuid4().hex
    with target.connect(autocommit=True) as conn:
        with conn.pipeline():
            cursors = []
            for i in range(20):
                cur = conn.cursor()
                cur.execute("SELECT %s::int * 3", (i,))
                cursors.append(cur)
            conn.execute("INSERT INTO items(name) VALUES (%s)", (marker,))
            count = conn.execute("SELECT count(*) FROM items WHERE name = %s", (marker,))
        assert [c.fetchone()[0] for c in cursors] == [i * 3 for i in range(20)]
        assert count.fetchone()[0] == 1

        # An error inside a pipeline: psycopg raises, the connection is usable afterwards.
        with pytest.raises(psycopg.errors.DivisionByZero):
            with conn.pipeline():
                conn.execute("SELECT 1")
                conn.execute("SELECT 1/0")
                conn.execute("SELECT 2")
        assert conn.execute("SELECT 42").fetchone()[0] == 42


def test_psycopg_pipeline_in_transaction_mixed_with_prepares(target):
    needs_prepared_statements(target)

    def client(index):
        with target.connect(prepare_threshold=0, autocommit=True) as conn:
            for i in range(5):
                with conn.pipeline():
                    curs = [conn.execute("SELECT %s::int - 1", (index * 10 + j,)) for j in range(5)]
                assert [c.fetchone()[0] for c in curs] == [index * 10 + j - 1 for j in range(5)]
        return True

    assert all(run_threads(CLIENTS, client))


def test_psycopg_copy_in_and_out(target):
    rows = [(i, "row %d\twith tab" % i) for i in range(5000)]
    with target.connect() as conn:
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE copy_t (a int, b text) ON COMMIT DROP")
            with conn.cursor().copy("COPY copy_t (a, b) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            count, total = conn.execute("SELECT count(*), sum(a) FROM copy_t").fetchone()
            assert (count, total) == (len(rows), sum(r[0] for r in rows))
            with conn.cursor().copy("COPY (SELECT a, b FROM copy_t ORDER BY a) TO STDOUT") as copy:
                out = [(int(a), b) for a, b in copy.rows()]
            assert out == rows
    # COPY out outside an explicit transaction, and a large one (several network reads)
    with target.connect(autocommit=True) as conn:
        with conn.cursor().copy("COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g) TO STDOUT") as c:
            data = b"".join(bytes(chunk) for chunk in c)
        assert data.count(b"\n") == 20000
        assert conn.execute("SELECT 7").fetchone()[0] == 7


def test_psycopg_copy_in_error_then_usable(target):
    with target.connect() as conn:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE copy_e (a int) ON COMMIT DROP")
                with conn.cursor().copy("COPY copy_e (a) FROM STDIN") as copy:
                    copy.write(b"1\n2\nnot-a-number\n4\n")
        assert conn.execute("SELECT 'after'").fetchone()[0] == "after"
        conn.rollback()


# ---------------------------------------------------------------------------
# asyncpg
# ---------------------------------------------------------------------------
def run_async(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_asyncpg_statement_cache(target):
    """asyncpg prepares every query as a named statement (__asyncpg_stmt_N__) and reuses it from
    its cache: the names are the same on every connection, the texts are not."""
    needs_prepared_statements(target)

    async def client(index):
        conn = await target.aconnect()
        try:
            backends = set()
            for i in range(20):
                if index % 2:
                    v = await conn.fetchval("SELECT $1::int + $2::int", i, index)
                    assert v == i + index
                else:
                    v = await conn.fetchval("SELECT $1::text || '-' || $2::text", str(i), str(index))
                    assert v == "%d-%d" % (i, index)
                row = await conn.fetchrow("SELECT pg_backend_pid() AS pid, $1::int AS i", i)
                assert row["i"] == i
                backends.add(row["pid"])
            return backends
        finally:
            await conn.close()

    async def main():
        return await asyncio.gather(*(client(i) for i in range(CLIENTS)))

    backends = run_async(main())
    if pooled(target):
        assert any(len(b) > 1 for b in backends), "no client switched servers: %r" % backends


def test_asyncpg_prepare_and_executemany(target):
    """asyncpg's prepare() sends Parse + Describe + Flush and no Sync: the client keeps its server
    until its next Sync (a pooler must not release it on Flush). So each client uses its statement
    right away; with more clients than servers the others wait for those Syncs."""
    needs_prepared_statements(target)
    marker = "many-%s" % uuid.uuid4().hex

    async def client(k, conn):
        stmt = await conn.prepare("SELECT $1::int * $2::int")
        for i in range(10):  # each call its own transaction: servers change under the statement
            assert await stmt.fetchval(i, k) == i * k
        await conn.executemany("INSERT INTO items(name) VALUES ($1)", [("%s-%d" % (marker, k),)] * 25)

    async def main():
        conns = [await target.aconnect() for _ in range(CLIENTS)]
        try:
            await asyncio.gather(*(client(k, c) for k, c in enumerate(conns)))
            return await conns[0].fetchval("SELECT count(*) FROM items WHERE name LIKE $1", marker + "-%")
        finally:
            for c in conns:
                await c.close()

    assert run_async(main(), timeout=wait_s(30)) == 25 * CLIENTS
