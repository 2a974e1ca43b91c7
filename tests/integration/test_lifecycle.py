"""Timeouts, workers / SO_REUSEPORT, SIGTERM drain and shutdown_timeout."""
import glob
import json
import os
import select
import signal
import socket
import threading
import time

import pytest

from conftest import (Conn, IncompleteBody, NoResponse, build_request, can_connect, http_get, make_config,
                      wait_s, wait_until)


# ---------------------------------------------------------------------------
# client-side timeouts
# ---------------------------------------------------------------------------
def test_request_head_timeout_408(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, listener={"request_head_timeout": "1s"}))
    with Conn(gw.port, timeout=20) as c:
        c.send(b"GET /echo HTTP/1.1\r\nHost: gw.test\r\nX-Partial: ")  # and stall
        r = c.read_response()
        assert r.status == 408, r
        assert c.wait_closed(10), "connection not closed after 408"
    assert u1.stats()["requests"] == 0


def test_idle_keepalive_connection_closed(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, listener={"idle_timeout": "1s", "request_head_timeout": "10s"}))
    with Conn(gw.port, timeout=20) as c:
        assert c.get("/echo").status == 200
        assert c.wait_closed(15), "idle keep-alive connection still open long after idle_timeout=1s"
        assert not c.buf, "gateway sent bytes on an idle connection: %r" % bytes(c.buf[:200])


def test_active_keepalive_connection_not_closed_early(upstream, gateway):
    """Requests spaced below idle_timeout keep one connection alive past idle_timeout in total."""
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, listener={"idle_timeout": "2s"}))
    with Conn(gw.port, timeout=20) as c:
        for i in range(5):
            r = c.get("/echo/%d" % i)
            assert r.status == 200
            time.sleep(0.6)
        assert not c.eof


# ---------------------------------------------------------------------------
# upstream timeouts
# ---------------------------------------------------------------------------
def test_response_timeout_504(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, upstream_opts={"u1": {"response_timeout": "1s"}}))
    r = gw.get("/hang", timeout=30)
    assert r.status == 504, r
    assert gw.alive()


def test_response_timeout_does_not_mark_server_down(upstream, gateway):
    """max_fails counts failed connects: one slow response must not take the only server out."""
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, upstream_opts={"u1": {"response_timeout": "1s", "max_fails": 1,
                                                                 "fail_timeout": "10s"}}))
    assert gw.get("/hang", timeout=30).status == 504
    r = gw.get("/slow?ms=200")
    status, health = gw.health()
    assert r.status == 200, "request after a 504 got %r; /health: %s" % (r, health)
    assert health["upstreams"]["u1"]["servers"][0]["state"] == "up", health


def test_response_timeout_between_body_reads(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, upstream_opts={"u1": {"response_timeout": "1s"}}))
    with Conn(gw.port, timeout=30) as c:
        c.send(build_request("GET", "/partial?bytes=1000"))
        r = c.read_head()
        assert r.status == 200, r
        got = 0
        outcome = None
        try:
            for piece in c.iter_body(r):
                got += len(piece)
            outcome = "complete"
        except IncompleteBody:
            outcome = "truncated"
        except socket.timeout:
            outcome = "hang"
        assert outcome == "truncated", "stalled upstream body: client saw %s after %d bytes" % (outcome, got)
    assert gw.alive()


def make_blackhole():
    """A listening socket whose accept queue is full, so further connects hang in SYN_SENT.

    Returns (listener, fillers, port) or None when the kernel does not behave that way."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    hung = False
    for _ in range(16):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
        _, w, _ = select.select([], [s], [], 0.5)
        if not w:
            hung = True
            break
    if hung:
        # confirm with a fresh probe
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(("127.0.0.1", port))
            hung = False
        except (socket.timeout, BlockingIOError):
            pass
        except OSError:
            hung = False
        fillers.append(probe)
    if not hung:
        for s in fillers:
            s.close()
        ls.close()
        return None
    return ls, fillers, port


def test_connect_timeout(upstream, gateway):
    bh = make_blackhole()
    if bh is None:
        pytest.skip("cannot make a loopback address whose connects hang (accept queue trick failed)")
    ls, fillers, port = bh
    try:
        gw = gateway(make_config({"bh": ["127.0.0.1:%d" % port]},
                                 upstream_opts={"bh": {"connect_timeout": "1s", "response_timeout": "60s"}}))
        try:
            r = gw.get("/echo", timeout=30)  # the kernel alone would keep retrying the SYN for ~2 min
        except socket.timeout:
            pytest.fail("no answer within 30s although connect_timeout is 1s")
        assert r.status in (502, 504), "connect timeout answered %r (want 502 or 504)" % r
        assert gw.alive()
    finally:
        for s in fillers:
            s.close()
        ls.close()


# ---------------------------------------------------------------------------
# workers and SO_REUSEPORT
# ---------------------------------------------------------------------------
def listen_sockets(port):
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state = parts[1], parts[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def thread_switches(pid):
    out = {}
    for st in glob.glob("/proc/%d/task/*/status" % pid):
        tid = int(st.split("/")[4])
        try:
            with open(st) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        out[tid] = int(line.split()[1])
        except OSError:
            pass
    return out


def test_workers_threads_and_reuseport_listeners(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=2))
    tasks = os.listdir("/proc/%d/task" % gw.pid)
    assert len(tasks) >= 3, "workers: 2 but the process has %d threads" % len(tasks)
    n = listen_sockets(gw.port)
    assert n == 2, "workers: 2 should give 2 SO_REUSEPORT listening sockets on %d, found %d" % (gw.port, n)


def test_both_workers_serve(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=2))
    gw.get("/echo")
    t0 = thread_switches(gw.pid)
    time.sleep(1.0)
    t1 = thread_switches(gw.pid)
    start = time.monotonic()
    for i in range(80):
        with Conn(gw.port) as c:
            assert c.get("/echo/%d" % i).status == 200
    dur = time.monotonic() - start
    t2 = thread_switches(gw.pid)
    active = []
    for tid in t2:
        idle_rate = (t1.get(tid, 0) - t0.get(tid, 0)) / 1.0
        load = t2[tid] - t1.get(tid, 0)
        if load - idle_rate * dur >= 15:
            active.append((tid, load))
    assert len(active) >= 2, "only %d thread(s) did work for 80 connections: %s (all: %s)" % (
        len(active), active, {t: t2[t] - t1.get(t, 0) for t in t2})


# ---------------------------------------------------------------------------
# SIGTERM
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(90)
def test_sigterm_drains_in_flight_requests(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=2, shutdown_timeout="10s"))
    result = {}

    def slow():
        try:
            result["resp"] = http_get(gw.port, "/slow?ms=2000", timeout=30)
        except Exception as e:  # reported below
            result["error"] = repr(e)

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    assert wait_until(lambda: u1.stats()["requests"] >= 1, timeout=10), "slow request never reached upstream"
    time.sleep(0.3)
    os.kill(gw.pid, signal.SIGTERM)

    refused = wait_until(lambda: not can_connect(gw.port, timeout=0.5), timeout=5, interval=0.05)
    # while draining, the admin health (if still served) says so
    health = None
    try:
        h = http_get(gw.admin_port, "/health", host="127.0.0.1", timeout=3)
        health = (h.status, json.loads(h.body).get("status"))
    except (OSError, NoResponse, IncompleteBody, ValueError):
        pass

    t.join(wait_s(30))
    assert not t.is_alive()
    assert refused, "new connections still accepted after SIGTERM"
    assert "error" not in result, "in-flight request failed during drain: %s" % result.get("error")
    assert result["resp"].status == 200, result["resp"]
    try:
        rc = gw.proc.wait(timeout=wait_s(20))
    except Exception:
        rc = None
    assert rc == 0, "gateway exit code after drain: %r\n%s" % (rc, gw.logs[-3000:])
    if health is not None:
        assert health == (503, "draining"), "admin /health during drain: %s" % (health,)


@pytest.mark.timeout_s(90)
def test_sigterm_closes_idle_keepalive_connections(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=2, shutdown_timeout="60s",
                             listener={"idle_timeout": "60s"}))
    with Conn(gw.port, timeout=30) as c:
        assert c.get("/echo").status == 200
        os.kill(gw.pid, signal.SIGTERM)
        assert c.wait_closed(15), "idle keep-alive connection kept open during drain"
    try:
        rc = gw.proc.wait(timeout=wait_s(15))
    except Exception:
        rc = None
    assert rc == 0, "gateway did not exit promptly with idle connections only (rc %r)" % rc


@pytest.mark.timeout_s(90)
def test_shutdown_timeout_bounds_drain(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1, shutdown_timeout="1s",
                             upstream_opts={"u1": {"response_timeout": "120s"}}))
    with Conn(gw.port, timeout=60) as c:
        c.send(build_request("GET", "/hang"))
        assert wait_until(lambda: u1.stats()["requests"] >= 1, timeout=10)
        os.kill(gw.pid, signal.SIGTERM)
        try:
            rc = gw.proc.wait(timeout=wait_s(20))
        except Exception:
            rc = None
        assert rc is not None, "gateway still running long after shutdown_timeout=1s with a hung request"
        assert rc >= 0, "gateway died from signal %d" % -rc
        assert c.wait_closed(5)
