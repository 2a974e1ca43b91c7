"""SIGTERM with PostgreSQL clients connected: the listener stops accepting, an idle client is
closed at once with 57P01 (admin_shutdown), a transaction that is running may still commit,
and its client is closed once it has ended; then the process exits, well before
shutdown_timeout."""
import signal
import threading
import time

import psycopg
import pytest

from pg_support import connection_closed, pg_server, pooler, wait_until  # noqa: F401


def test_sigterm_lets_the_running_transaction_commit(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", auth="trust", pool_size=2)
    idle = target.connect(autocommit=True)
    idle.execute("CREATE TABLE IF NOT EXISTS drain_t (a int)")
    busy = target.connect()
    busy.execute("INSERT INTO drain_t VALUES (1)")  # a transaction is open on a server
    started = time.monotonic()
    target.proc.send_signal(signal.SIGTERM)
    # The idle client is closed as soon as the drain begins (the signal is handled a little later).
    assert wait_until(lambda: connection_closed(idle), 10), "the idle client was not closed"
    # The running transaction still commits...
    busy.commit()
    assert pg_server.sql("SELECT count(*) FROM drain_t WHERE a = 1").strip() == "1"
    # ...and then its client goes too, and the gateway exits.
    with pytest.raises(psycopg.OperationalError):
        busy.execute("SELECT 1")
    assert wait_until(lambda: target.proc.poll() is not None, 10), "the gateway still runs"
    assert time.monotonic() - started < 10  # not the 30 s shutdown_timeout
    assert target.proc.returncode == 0
    idle.close()
    busy.close()


def test_sigterm_refuses_new_clients(pooler):  # noqa: F811
    target = pooler("scalegate", auth="trust", pool_size=2)
    holder = target.connect()
    holder.execute("SELECT 1")  # a transaction keeps the gateway draining
    target.proc.send_signal(signal.SIGTERM)
    refused = threading.Event()

    def try_connect():
        try:
            target.connect(connect_timeout=2).close()
        except psycopg.OperationalError:
            refused.set()

    assert wait_until(lambda: (try_connect(), refused.is_set())[1], 5), "a new client got in"
    holder.rollback()
    holder.close()
    assert wait_until(lambda: target.proc.poll() is not None, 10)

