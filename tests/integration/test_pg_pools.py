"""Pools shared by all workers: pool_size and reserve_pool are exact however many workers the
clients land on, waiting clients are served first come first served, a server that died while
idle is never handed out, and DISCARD ALL forgets a client's session state in transaction mode.
Pooler-only behaviour: checked against scalegate and, on request, PgBouncer (the reference)."""
import threading
import time

import psycopg
import pytest

from pg_support import DirectTarget, pg_server, pooler, selected_targets, wait_s, wait_until  # noqa: F401

KINDS = selected_targets(("scalegate", "pgbouncer"))


def app_backends(pg):
    return [b for b in pg.backends() if b[0]]


def load(target, clients, seconds, sql="SELECT pg_sleep(0.02)"):
    """`clients` threads run short transactions for `seconds`; returns the errors they met."""
    errors, stop = [], time.monotonic() + seconds

    def client():
        try:
            # prepare_threshold None: no named statements (PgBouncer 1.18 runs these tests too)
            with target.connect(autocommit=True, prepare_threshold=None) as conn:
                for _ in range(10000):
                    if time.monotonic() > stop:
                        return
                    with conn.transaction():
                        conn.execute(sql)
        except psycopg.Error as e:
            errors.append(e)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads, errors


def join_all(threads, timeout=20):
    deadline = time.monotonic() + wait_s(timeout)
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "load clients did not finish"


@pytest.mark.parametrize("kind", KINDS)
def test_pool_size_is_exact_across_workers(pooler, pg_server, kind):  # noqa: F811
    target = pooler(kind, pool_size=3, workers=2)
    threads, errors = load(target, clients=10, seconds=1.0)
    peak = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        peak = max(peak, len(app_backends(pg_server)))
        time.sleep(0.05)
    join_all(threads)
    assert not errors, errors[:3]
    assert peak == 3, "server connections peaked at %d with pool_size 3" % peak


@pytest.mark.parametrize("kind", KINDS)
def test_reserve_pool_opens_after_the_timeout(pooler, pg_server, kind):  # noqa: F811
    target = pooler(kind, pool_size=2, workers=2, reserve_pool_timeout="200ms",
                    databases={"app": {"primary": pg_server.address, "dbname": "app", "pool_size": 2,
                                       "reserve_pool": 1}})
    threads, errors = load(target, clients=8, seconds=1.2, sql="SELECT pg_sleep(0.3)")
    peak = 0
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        peak = max(peak, len(app_backends(pg_server)))
        time.sleep(0.05)
    join_all(threads)
    assert not errors, errors[:3]
    assert peak == 3, "server connections peaked at %d with pool_size 2 + reserve_pool 1" % peak


@pytest.mark.parametrize("kind", KINDS)
def test_waiting_clients_are_served_in_arrival_order(pooler, kind):  # noqa: F811
    target = pooler(kind, pool_size=1, workers=2)
    holder = target.connect()
    holder.execute("SELECT 1")  # holds the only server
    served = {}  # waiter -> when its statement ran on the (only) server
    conns = [target.connect(autocommit=True) for _ in range(4)]  # logged in before the race

    def waiter(i):
        served[i] = conns[i].execute("SELECT clock_timestamp()").fetchone()[0]

    threads = []
    try:
        for i in range(4):
            t = threading.Thread(target=waiter, args=(i,), daemon=True)
            t.start()
            threads.append(t)
            time.sleep(wait_s(0.15))  # arrival order is the start order
        assert not served, "a client ran while the only server was held"
        holder.rollback()
        join_all(threads, 10)
        order = sorted(served, key=served.get)
        assert order == [0, 1, 2, 3], served
    finally:
        holder.close()
        for c in conns:
            c.close()


@pytest.mark.parametrize("kind", KINDS)
def test_server_that_died_idle_is_not_handed_out(pooler, pg_server, kind):  # noqa: F811
    target = pooler(kind, pool_size=1)
    with target.connect(autocommit=True) as conn:
        first = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        pg_server.sql("SELECT pg_terminate_backend(%d)" % first, db="postgres")
        assert wait_until(lambda: str(first) not in [b[0] for b in pg_server.backends()], 5)
        time.sleep(0.2)
        # the client never sees the dead server: its next transaction runs on a new one
        second = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert second != first


@pytest.mark.parametrize("kind", KINDS)
def test_discard_all_in_transaction_mode(pooler, kind):  # noqa: F811
    target = pooler(kind, pool_size=1)
    with target.connect(autocommit=True) as conn:
        default = conn.execute("SHOW TimeZone").fetchone()[0]
        conn.execute("SET TimeZone = 'Pacific/Auckland'")
        assert conn.execute("SHOW TimeZone").fetchone()[0] == "Pacific/Auckland"
        conn.execute("DISCARD ALL")
        assert conn.execute("SHOW TimeZone").fetchone()[0] == default
        with target.connect(autocommit=True) as other:
            assert other.execute("SHOW TimeZone").fetchone()[0] == default


def test_direct_has_no_pool(pg_server):  # noqa: F811
    """The premise of the pool tests: PostgreSQL alone opens a backend per client."""
    target = DirectTarget(pg_server)
    conns = [target.connect() for _ in range(4)]
    try:
        pids = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in conns}
        assert len(pids) == 4
    finally:
        for c in conns:
            c.close()


@pytest.mark.parametrize("kind", KINDS)
def test_statement_mode_refuses_transactions(pooler, kind):  # noqa: F811
    """pool_mode statement: single statements run; a transaction block is refused with an error."""
    target = pooler(kind, pool_size=1, pool_mode="statement")
    with target.connect(autocommit=True, prepare_threshold=None) as conn:
        for i in range(3):
            assert conn.execute("SELECT %s::int", (i,)).fetchone()[0] == i
    with pytest.raises(psycopg.Error, match="transaction blocks not allowed"):
        with target.connect(autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute("SELECT 1")
    with target.connect(autocommit=True, prepare_threshold=None) as conn:  # the server was not left in it
        assert conn.execute("SELECT txid_current_if_assigned() IS NULL").fetchone()[0] is True


def test_idle_servers_answer_the_check_query_before_reuse(pooler, pg_server):  # noqa: F811
    """server_check_delay 0: a server taken from the idle list runs server_check_query first
    (here it advances a sequence, so the checks can be counted). The login's welcome used the
    new server, so each of the 4 transactions takes it from the idle list."""
    pg_server.sql("CREATE SEQUENCE IF NOT EXISTS check_seq; GRANT USAGE ON check_seq TO app;"
                  " SELECT nextval('check_seq');")
    before = int(pg_server.sql("SELECT last_value FROM check_seq"))
    target = pooler("scalegate", auth="trust", pool_size=1, server_check_delay=0,
                    server_check_query="SELECT nextval('public.check_seq')")
    with target.connect(autocommit=True) as conn:
        for i in range(4):
            assert conn.execute("SELECT %s::int", (i,)).fetchone()[0] == i
    after = int(pg_server.sql("SELECT last_value FROM check_seq"))
    assert after - before == 4, (before, after)


def test_many_concurrent_clients_turn_event_coalescing_on(pooler):  # noqa: F811
    """PostgreSQL clients count toward event coalescing like HTTP ones (a pooler-only process
    defaults to event_coalescing_us 150): 40 clients querying at once make the worker sleep
    and poll, and every answer is still the right one."""
    import asyncio

    from conftest import metric_value

    target = pooler("scalegate", pool_size=4, workers=1)

    def coalesced():
        return metric_value(target.metrics_text(), "scalegate_worker_coalesced_polls_total", worker="0")

    assert coalesced() == 0

    async def run():
        conns = [await target.aconnect() for _ in range(40)]
        try:
            for r in range(40):
                values = await asyncio.gather(*(c.fetchval("SELECT $1::int", r * 100 + i)
                                                for i, c in enumerate(conns)))
                assert values == [r * 100 + i for i in range(40)]
        finally:
            for c in conns:
                await c.close()

    asyncio.run(asyncio.wait_for(run(), wait_s(60)))
    assert coalesced() > 0
