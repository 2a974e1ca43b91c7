"""PgBouncer's socket settings on the PostgreSQL listener: tcp_defer_accept (a connection that
has sent nothing stays in the kernel; the first packet wakes the worker and is answered at
once) and tcp_keepalive with tcp_keepidle/tcp_keepintvl/tcp_keepcnt on client and server
sockets, read back from the kernel with `ss`."""
import re
import subprocess
import time

from pg_support import pg_server, pooler, socket_to, wait_s, wait_until  # noqa: F401

SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


def clients(target):
    return target.metric("scalegate_pg_client_connections")


def keepalive_timers(pid, port_filter):
    """The keepalive timer of each established socket of `pid` matching the ss filter: the time
    left as ss prints it (a number, then ms/sec/min: this ss prints seconds as "6.688ms"), or
    the whole line for a socket without one."""
    out = subprocess.run(["ss", "-tnopH", "state", "established", port_filter],
                         capture_output=True, text=True, check=True).stdout
    timers = []
    for line in out.splitlines():
        if "pid=%d," % pid not in line:
            continue
        m = re.search(r"timer:\(keepalive,([0-9.]+)([a-z]+)", line)
        timers.append((float(m.group(1)), m.group(2)) if m else line)
    return timers


def idle_at_most(timer, seconds):
    """A keepalive timer with no more than `seconds` left (the system default is 2 hours)."""
    return isinstance(timer, tuple) and timer[1] in ("ms", "sec") and 0 < timer[0] <= seconds


def test_silent_connection_waits_in_the_kernel_until_it_speaks(pooler):  # noqa: F811
    target = pooler("scalegate", auth="trust", tcp_defer_accept="30s")
    with socket_to(target.port) as s:
        time.sleep(0.5)
        assert clients(target) == 0  # connected at the TCP level, not yet accepted
        s.sendall(SSL_REQUEST)
        s.settimeout(wait_s(5))
        assert s.recv(1) == b"N"
        assert clients(target) == 1


def test_without_defer_accept_a_silent_connection_is_accepted_and_timed_out(pooler):  # noqa: F811
    target = pooler("scalegate", auth="trust", tcp_defer_accept=0, client_login_timeout="1s")
    with socket_to(target.port) as s:
        assert wait_until(lambda: clients(target) == 1, wait_s(5))
        s.settimeout(wait_s(10))
        data = b""
        while True:  # the login timeout's FATAL, then the close
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b"client_login_timeout" in data
    assert wait_until(lambda: clients(target) == 0, wait_s(5))


def test_client_and_server_sockets_get_the_keepalive_settings(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", auth="trust", tcp_keepidle="7s", tcp_keepintvl="3s", tcp_keepcnt=4)
    with target.connect() as conn:
        conn.execute("SELECT 1")

        def timers():
            return (keepalive_timers(target.pid, "( sport = :%d )" % target.port)
                    + keepalive_timers(target.pid, "( dport = :%d )" % pg_server.port))

        # A socket with data not yet acknowledged shows its retransmit timer instead.
        wait_until(lambda: len(timers()) == 2 and all(idle_at_most(t, 7.0) for t in timers()), wait_s(5))
        found = timers()
    assert len(found) == 2, found  # the client's socket and its server's
    for timer in found:
        assert idle_at_most(timer, 7.0), found


def test_keepalive_off(pooler, pg_server):  # noqa: F811
    target = pooler("scalegate", auth="trust", tcp_keepalive=False)
    with target.connect() as conn:
        conn.execute("SELECT 1")
        time.sleep(0.3)  # past the delayed acknowledgements
        found = (keepalive_timers(target.pid, "( sport = :%d )" % target.port)
                 + keepalive_timers(target.pid, "( dport = :%d )" % pg_server.port))
    assert len(found) == 2, found
    assert all(isinstance(timer, str) for timer in found), found


def client_timers(target):
    return keepalive_timers(target.pid, "( sport = :%d )" % target.port)


def system_keepalive(timer):
    """A keepalive timer on the system's timing (tcp_keepalive_time: 2 hours by default): minutes
    left, where the configured tests above see seconds."""
    return isinstance(timer, tuple) and timer[1] == "min"


def test_default_keepalive_uses_the_system_timing(pooler):  # noqa: F811
    # tcp_keepalive defaults to on, with the system's probe timing (no tcp_keepidle given).
    target = pooler("scalegate", auth="trust")
    with target.connect() as conn:
        conn.execute("SELECT 1")
        wait_until(lambda: len(client_timers(target)) == 1
                   and system_keepalive(client_timers(target)[0]), wait_s(5))
        found = client_timers(target)
    assert len(found) == 1 and system_keepalive(found[0]), found


def reload(target, **settings):
    """Rewrites the `postgres:` keys and sends the admin console's RELOAD (in place)."""
    target.reconfigure(**settings)
    r = target.admin_psql("RELOAD")
    assert r.returncode == 0, r.stderr


def test_reload_turns_keepalive_off_then_sets_a_timing(pooler):  # noqa: F811
    # An in-place RELOAD applies to clients accepted after it: off, then on with a timing,
    # while the first client keeps what it was accepted with.
    target = pooler("scalegate", auth="trust")

    def kinds():
        timers = client_timers(target)
        return (sum(system_keepalive(t) for t in timers), sum(isinstance(t, str) for t in timers),
                sum(idle_at_most(t, 7.0) for t in timers))

    with target.connect(autocommit=True) as first:
        first.execute("SELECT 1")
        reload(target, tcp_keepalive=False)
        with target.connect(autocommit=True) as second:
            second.execute("SELECT 1")
            # (system timing, no timer, 7 s): the first client, the second
            wait_until(lambda: kinds() == (1, 1, 0), wait_s(5))
            assert kinds() == (1, 1, 0), client_timers(target)
            reload(target, tcp_keepalive=True, tcp_keepidle="7s")
            with target.connect(autocommit=True) as third:
                third.execute("SELECT 1")
                wait_until(lambda: kinds() == (1, 1, 1), wait_s(5))
                assert kinds() == (1, 1, 1), client_timers(target)
