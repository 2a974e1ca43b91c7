"""In-process reload (SIGHUP, POST /admin/reload): the new configuration starts as a new
generation on the same worker threads of the same process (same pid), and the old generation
drains into it. Idle client connections (plain HTTP/1.1, TLS HTTP/1.1, HTTP/2 over TLS or h2c)
move to the new generation at once, without GOAWAY, close or new handshake; a busy one moves
once its request in flight is done; an Upgrade tunnel keeps the old generation until it closes.
A connection whose listener is gone, or changed between plain and TLS, is closed when idle.
A reload that changes `workers` still hands over to a new process.

Checked with real clients and real upstreams: the socket's local port tells the connection is
the same one, the listener's TLS handshake counter that no new handshake happened, and the
X-Upstream header which configuration routed a request. Upstreams that must hold a response
"in flight" are held by the test (an event), not by a delay, so nothing depends on timing."""
import json
import os
import re
import signal
import socket
import threading

import pytest

from conftest import (Conn, IncompleteBody, NoResponse, build_request,
                      can_connect, free_port, http_get, make_config, metric_value, wait_s,
                      wait_until)
from h2_frame_client import FrameClient, status
from test_http2_drain import held  # noqa: F401
from test_reload_upgrade import (KeepAliveLoad, admin_reload, process_alive, successor_pids,  # noqa: F401
                                 successors, wait_for_successor, write)
from tls_support import client_context, make_certs, tls_connect
from tls_support import get as tls_get

SERVES = "reload: the new configuration serves; the old one drains into it"
GONE = "reload: the old configuration has drained and is gone"
STARTING = "reload: starting "


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


def copy(cfg):
    return json.loads(json.dumps(cfg))


def with_routes(cfg, routes, listener=0):
    new = copy(cfg)
    new["listeners"][listener]["routes"] = routes
    return new


def route(name, prefix, upstream):
    return {"name": name, "match": {"prefix": prefix}, "upstream": upstream}


def served(gw):
    return gw.logs.count(SERVES)


def gone(gw):
    return gw.logs.count(GONE)


def reload_in_process(gw, cfg, count=1, how="sighup"):
    """Writes cfg, reloads (SIGHUP or POST /admin/reload) and waits for the `count`th
    "the new configuration serves" line. The process must stay the same."""
    pid = gw.pid
    write(gw, cfg)
    if how == "sighup":
        os.kill(pid, signal.SIGHUP)
    else:
        r = admin_reload(gw)
        assert r.status == 202, r
    assert wait_until(lambda: served(gw) >= count or not gw.alive(), timeout=15), gw.logs[-3000:]
    assert gw.alive() and gw.pid == pid, gw.logs[-3000:]
    assert served(gw) == count, gw.logs[-3000:]


def wait_gone(gw, count=1, timeout=15):
    assert wait_until(lambda: gone(gw) >= count, timeout=timeout), gw.logs[-3000:]
    assert gone(gw) == count, gw.logs[-3000:]


def upstream_of(resp):
    return resp.header("X-Upstream")


def h2_header(response, name):
    values = [v for k, v in (response["headers"] or []) if k == name]
    return values[0] if values else None


def thread_count(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def read_some(sock, n, timeout=10.0):
    """Reads exactly n bytes (bounded in time) from a raw socket."""
    sock.settimeout(wait_s(timeout))
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return bytes(got)


def wait_peer_close(sock, timeout=5.0):
    """What the peer did with an idle connection: "closed" (orderly EOF, nothing sent),
    "reset", "data: ..." (it sent bytes) or "open" (still open after timeout)."""
    sock.settimeout(wait_s(timeout))
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "open"
    return "closed" if data == b"" else "data: %r" % data[:200]


# ---------------------------------------------------------------------------
# same process, new routes, counted as "ok"
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["sighup", "admin"])
def test_reload_keeps_the_pid_and_serves_the_new_routes(gateway, upstream, successors, how):
    u1, u2, u3 = upstream("u1"), upstream("u2"), upstream("u3")
    cfg = make_config({"app": [u1], "other": [u2]}, routes=[route("default", "/", "app")])
    gw = successors.watch(gateway(cfg))
    pid = gw.pid
    assert upstream_of(gw.get("/x")) == "u1"
    assert upstream_of(gw.get("/added")) == "u1"

    new = with_routes(gw.cfg, [route("added", "/added", "other"), route("default", "/", "app")])
    new["upstreams"]["app"] = {"servers": [{"address": u3.address}]}
    reload_in_process(gw, new, how=how)
    assert STARTING + gw.config_path + " in this process" in gw.logs, gw.logs[-2000:]
    assert successor_pids(gw) == [] and "a new process takes over" not in gw.logs
    assert gw.alive() and gw.proc.pid == pid
    assert re.search(r"reload: carried over the state of \d+ upstream\(s\) \(\d+ servers\).*"
                     r"1 changed upstream\(s\) start fresh", gw.logs), gw.logs[-2000:]

    for i in range(3):
        r = gw.get("/added/%d" % i)
        assert r.status == 200 and upstream_of(r) == "u2", r  # the route the new file adds
        r = gw.get("/x%d" % i)
        assert r.status == 200 and upstream_of(r) == "u3", r  # the changed upstream
    assert u1.stats()["requests"] == 2  # only the two answered before the reload
    metrics = gw.metrics_text()
    assert metric_value(metrics, "scalegate_reloads_total", result="ok") == 1, metrics
    assert metric_value(metrics, "scalegate_reloads_total", result="invalid_config") == 0
    assert metric_value(metrics, "scalegate_reloads_total", result="failed") == 0
    wait_gone(gw)
    assert gw.alive() and gw.proc.pid == pid


# ---------------------------------------------------------------------------
# plain HTTP/1.1 keep-alive connection moves
# ---------------------------------------------------------------------------
def test_an_idle_plain_keepalive_connection_moves_and_its_next_request_uses_the_new_routes(
        gateway, upstream, successors):
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")])
    gw = successors.watch(gateway(cfg))
    idle = Conn(gw.port)
    local = idle.sock.getsockname()
    assert upstream_of(idle.get("/before")) == "u1"
    accepted = gw.metric("scalegate_connections_total", listener="public")

    reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", "u2")]))
    wait_gone(gw)  # the old generation could only go once the idle connection moved
    resp = idle.get("/after")  # the same socket: no exception, no reconnect
    assert resp.status == 200 and upstream_of(resp) == "u2", resp
    assert idle.sock.getsockname() == local
    resp = idle.get("/again")
    assert resp.status == 200 and upstream_of(resp) == "u2", resp
    idle.close()
    assert u1.stats()["requests"] == 1 and u2.stats()["requests"] == 2
    # No new client connection was accepted for it.
    assert gw.metric("scalegate_connections_total", listener="public") == accepted


# ---------------------------------------------------------------------------
# TLS HTTP/1.1 keep-alive connection moves without a new handshake
# ---------------------------------------------------------------------------
def test_an_idle_tls_keepalive_connection_moves_without_a_new_handshake(
        gateway, upstream, certs, successors):
    u1, u2 = upstream("u1"), upstream("u2")
    tls = {"certificates": [{"cert": certs("server.crt"), "key": certs("server.key")}]}
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")],
                      listener={"tls": tls})
    gw = successors.watch(gateway(cfg))
    sock = tls_connect(gw.port, client_context(certs))
    try:
        local = sock.getsockname()
        st, headers, _ = tls_get(sock, "/before")
        assert st == 200 and headers["x-upstream"] == "u1"
        assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="ok") == 1
        accepted = gw.metric("scalegate_connections_total", listener="public")

        reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", "u2")]))
        wait_gone(gw)
        st, headers, _ = tls_get(sock, "/after")  # the same TLS session, no new handshake
        assert st == 200 and headers["x-upstream"] == "u2", headers
        assert sock.getsockname() == local
        st, headers, _ = tls_get(sock, "/again")
        assert st == 200 and headers["x-upstream"] == "u2", headers
    finally:
        sock.close()
    metrics = gw.metrics_text()
    assert metric_value(metrics, "scalegate_tls_handshakes_total", listener="public",
                        result="ok") == 1, metrics
    assert metric_value(metrics, "scalegate_tls_handshakes_total", listener="public",
                        result="failed") == 0
    assert metric_value(metrics, "scalegate_connections_total", listener="public") == accepted
    assert u1.stats()["requests"] == 1 and u2.stats()["requests"] == 2


# ---------------------------------------------------------------------------
# HTTP/2 sessions (TLS ALPN h2, h2c) move without GOAWAY
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["tls", "h2c"])
def test_an_http2_connection_gets_no_goaway_and_new_streams_use_the_new_routes(
        gateway, upstream, certs, successors, transport):
    u1, u2 = upstream("u1"), upstream("u2")
    if transport == "tls":
        listener = {"tls": {"certificates": [{"cert": certs("server.crt"),
                                              "key": certs("server.key")}],
                            "alpn": ["h2", "http/1.1"]}}
        context = client_context(certs, alpn=["h2"])
    else:
        listener = {"http2": {"h2c": True}}
        context = None
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")],
                      listener=listener)
    gw = successors.watch(gateway(cfg))
    client = FrameClient(gw.port, tls=context, timeout=wait_s(20))
    try:
        local = client.sock.getsockname()
        r = client.responses[client.request("/before")]
        client.wait_for(lambda: r["ended"], "the first response", timeout=wait_s(10))
        assert status(r) == 200 and h2_header(r, "x-upstream") == "u1", r
        accepted = gw.metric("scalegate_connections_total", listener="public")

        reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", "u2")]))
        wait_gone(gw)
        sids = [client.request("/after/%d" % i) for i in range(3)]
        client.wait_for(lambda: all(client.responses[s]["ended"] or client.responses[s]["reset"]
                                    is not None for s in sids),
                        "the responses after the reload", timeout=wait_s(10))
        for sid in sids:
            r = client.responses[sid]
            assert r["reset"] is None and status(r) == 200, r
            assert h2_header(r, "x-upstream") == "u2", r
        assert client.goaways == [], client.goaways
        assert not client.closed
        assert client.sock.getsockname() == local
    finally:
        client.close()
    metrics = gw.metrics_text()
    assert metric_value(metrics, "scalegate_connections_total", listener="public") == accepted
    if transport == "tls":
        assert metric_value(metrics, "scalegate_tls_handshakes_total", listener="public",
                            result="ok") == 1, metrics
    assert u1.stats()["requests"] == 1 and u2.stats()["requests"] == 3


def test_an_http2_stream_in_flight_finishes_on_the_old_routes_and_new_ones_use_the_new(
        gateway, upstream, held, successors):
    old, u2 = held("old"), upstream("u2")
    cfg = make_config({"app": [old.address], "u2": [u2]}, routes=[route("default", "/", "app")],
                      listener={"http2": {"h2c": True}},
                      upstream_opts={"app": {"response_timeout": "60s"}}, shutdown_timeout="60s")
    gw = successors.watch(gateway(cfg))
    client = FrameClient(gw.port, timeout=wait_s(20))
    try:
        long_sid = client.request("/held")
        assert old.started.wait(wait_s(10))
        reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", "u2")]))
        new_sid = client.request("/new")
        new = client.responses[new_sid]
        client.wait_for(lambda: new["ended"] or new["reset"] is not None, "the new stream",
                        timeout=wait_s(10))
        assert new["reset"] is None and status(new) == 200 and h2_header(new, "x-upstream") == "u2"
        assert gone(gw) == 0  # the old generation still has the stream in flight
        old.released.set()
        r = client.responses[long_sid]
        client.wait_for(lambda: r["ended"] or r["reset"] is not None, "the held stream",
                        timeout=wait_s(10))
        assert r["reset"] is None and status(r) == 200 and h2_header(r, "x-upstream") == "old", r
        assert bytes(r["body"]) == b"held response old"
        wait_gone(gw)
        again = client.responses[client.request("/again")]
        client.wait_for(lambda: again["ended"], "the last stream", timeout=wait_s(10))
        assert status(again) == 200 and h2_header(again, "x-upstream") == "u2"
        assert client.goaways == [] and not client.closed
    finally:
        client.close()


# ---------------------------------------------------------------------------
# a request in flight finishes on the old configuration, the next one uses the new
# ---------------------------------------------------------------------------
def test_a_request_in_flight_finishes_on_the_old_routes_and_the_next_uses_the_new(
        gateway, upstream, held, successors):
    old, u2 = held("old"), upstream("u2")
    cfg = make_config({"app": [old.address], "u2": [u2]}, routes=[route("default", "/", "app")],
                      upstream_opts={"app": {"response_timeout": "60s"}}, shutdown_timeout="60s")
    gw = successors.watch(gateway(cfg))
    conn = Conn(gw.port)
    try:
        local = conn.sock.getsockname()
        conn.send(build_request("GET", "/held"))
        assert old.started.wait(wait_s(10)), "the request did not reach the upstream"
        reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", "u2")]))
        # A new connection is served by the new configuration at once.
        assert upstream_of(http_get(gw.port, "/fresh")) == "u2"
        assert gone(gw) == 0  # the old generation waits for the request in flight
        old.released.set()
        resp = conn.read_response()
        assert resp.status == 200 and upstream_of(resp) == "old", resp
        assert resp.body == b"held response old"
        assert resp.header("Connection") is None or "close" not in resp.header("Connection").lower()
        # The very next request on the same connection: the new configuration.
        resp = conn.get("/next")
        assert resp.status == 200 and upstream_of(resp) == "u2", resp
        assert conn.sock.getsockname() == local
        wait_gone(gw)
        resp = conn.get("/last")
        assert resp.status == 200 and upstream_of(resp) == "u2", resp
    finally:
        conn.close()
    assert old.server.requests == 1
    assert u2.stats()["requests"] == 3


# ---------------------------------------------------------------------------
# counters never go back
# ---------------------------------------------------------------------------
def test_a_reload_under_keepalive_load_fails_no_request_and_the_worker_serves_on(
        gateway, upstream, successors):
    """One worker thread, four keep-alive clients sending requests back to back, one reload:
    no request fails, the clients go on to the end, a new connection is served by the new
    configuration, and the old generation goes."""
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")], workers=1,
                      shutdown_timeout="10s")
    gw = successors.watch(gateway(cfg))
    with KeepAliveLoad(gw.port, clients=4, path="/load", per_client=150, join_s=30) as load:
        assert wait_until(lambda: load.ok >= 100, timeout=10), (load.ok, load.failures[:5])
        reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", "u2")]))
        r = http_get(gw.port, "/fresh", timeout=5)
        assert r.status == 200 and upstream_of(r) == "u2", r
        for t in load.threads:
            t.join(wait_s(30))
    assert load.failures == [], (load.ok, load.failures[:5])
    assert load.ok == 4 * 150
    wait_gone(gw, timeout=5)
    assert gw.metric("scalegate_requests_total", route="default") == load.ok + 1


def test_request_counters_never_go_back_across_in_process_reloads(gateway, upstream, successors):
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")])
    gw = successors.watch(gateway(cfg))
    labels = {"listener": "public", "route": "default", "class": "2xx"}
    seen = []  # (total of the route, its 2xx class) as scrapes saw them, in order
    stop = threading.Event()

    def scrape():
        while not stop.is_set() and len(seen) < 5000:
            try:
                text = http_get(gw.admin_port, "/metrics", host="127.0.0.1").body.decode()
            except (OSError, NoResponse, IncompleteBody):
                stop.wait(0.05)
                continue
            seen.append((metric_value(text, "scalegate_requests_total", route="default"),
                         metric_value(text, "scalegate_requests_total", **labels)))
            stop.wait(0.01)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    reloads = 3
    try:
        assert wait_until(lambda: len(seen) >= 3, timeout=10)
        with KeepAliveLoad(gw.port, clients=4, path="/load", per_client=150, join_s=30) as load:
            for i in range(reloads):
                assert wait_until(lambda: load.ok >= 60 * (i + 1) or
                                  not any(t.is_alive() for t in load.threads), timeout=10), \
                    (i, load.ok, load.failures[:5], gw.logs[-3000:])
                target = "u2" if i % 2 == 0 else "u1"
                reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", target)]),
                                  count=i + 1)
            for t in load.threads:
                t.join(wait_s(30))
        wait_gone(gw, reloads)
        before_end = len(seen)
        assert wait_until(lambda: len(seen) >= before_end + 3, timeout=10)
    finally:
        stop.set()
        scraper.join(wait_s(10))
    assert load.failures == [], load.failures[:5]
    assert load.ok == 4 * 150
    totals = [t for t, _ in seen if t is not None]
    by_class = [c for _, c in seen if c is not None]
    assert len(totals) > 10, seen
    assert totals == sorted(totals), [(a, b) for a, b in zip(totals, totals[1:]) if b < a][:5]
    assert by_class == sorted(by_class), [(a, b) for a, b in zip(by_class, by_class[1:]) if b < a][:5]
    metrics = gw.metrics_text()
    assert metric_value(metrics, "scalegate_requests_total", **labels) == load.ok, metrics
    assert metric_value(metrics, "scalegate_requests_total", route="default") == load.ok
    assert metric_value(metrics, "scalegate_request_duration_seconds_count", route="default") == load.ok
    assert metric_value(metrics, "scalegate_reloads_total", result="ok") == reloads
    assert u1.stats()["requests"] + u2.stats()["requests"] == load.ok
    assert totals[-1] == load.ok


# ---------------------------------------------------------------------------
# reloads in a row while a request is in flight on the first generation
# ---------------------------------------------------------------------------
def test_five_reloads_in_a_row_over_a_long_request_leak_no_thread(gateway, upstream, held,
                                                                   successors):
    old, u2 = held("old"), upstream("u2")
    cfg = make_config({"app": [old.address], "u2": [u2]}, routes=[route("default", "/", "app")],
                      upstream_opts={"app": {"response_timeout": "60s"}}, shutdown_timeout="60s",
                      workers=2)
    gw = successors.watch(gateway(cfg))
    pid = gw.pid
    assert http_get(gw.port, "/warm").status == 200
    gw.metrics_text()
    threads_before = thread_count(pid)
    conn = Conn(gw.port)
    try:
        conn.send(build_request("GET", "/held"))
        assert old.started.wait(wait_s(10))
        for i in range(5):
            routes = [route("r%d" % i, "/r%d" % i, "u2"), route("default", "/", "u2")]
            reload_in_process(gw, with_routes(gw.cfg, routes), count=i + 1)
            r = http_get(gw.port, "/r%d/x" % i)
            assert r.status == 200 and upstream_of(r) == "u2", r
        assert gw.metric("scalegate_reloads_total", result="ok") == 5
        assert gone(gw) == 0  # the first generation holds the request; the others wait for it
        threads_during = thread_count(pid)  # each generation has threads of its own
        old.released.set()
        resp = conn.read_response()
        assert resp.status == 200 and upstream_of(resp) == "old", resp
        wait_gone(gw, 5, timeout=20)
        resp = conn.get("/r4/after")
        assert resp.status == 200 and upstream_of(resp) == "u2", resp
    finally:
        conn.close()
    assert gw.alive() and gw.pid == pid
    assert successor_pids(gw) == []
    assert wait_until(lambda: thread_count(pid) <= threads_before + 2, timeout=10), \
        (threads_before, threads_during, thread_count(pid))


# ---------------------------------------------------------------------------
# a listener removed, a listener added
# ---------------------------------------------------------------------------
def test_a_removed_listener_stops_accepting_and_closes_its_idle_connection(
        gateway, upstream, successors):
    u1 = upstream("u1")
    cfg = make_config({"u1": [u1]})
    extra = dict(copy(cfg["listeners"][0]), name="extra", address="127.0.0.1:%d" % free_port())
    cfg["listeners"].append(extra)
    gw = successors.watch(gateway(cfg))
    public, removed = gw.ports["public"], gw.ports["extra"]
    idle = Conn(removed)
    try:
        r = idle.get("/idle")
        assert r.status == 200 and upstream_of(r) == "u1", r

        added = dict(copy(cfg["listeners"][0]), name="added", address="127.0.0.1:%d" % free_port())
        new = copy(gw.cfg)
        new["listeners"] = [new["listeners"][0], added]
        reload_in_process(gw, new)
        added_port = int(added["address"].rsplit(":", 1)[1])
        r = http_get(added_port, "/on-added")
        assert r.status == 200 and upstream_of(r) == "u1", r
        assert http_get(public, "/on-public").status == 200
        # The idle connection of the removed listener is closed by the gateway: an orderly
        # close, no reset, no bytes.
        assert wait_peer_close(idle.sock) == "closed"
    finally:
        idle.close()
    wait_gone(gw)
    assert wait_until(lambda: not can_connect(removed), timeout=10), "the removed listener accepts"
    assert can_connect(added_port) and can_connect(public)
    assert gw.alive()


# ---------------------------------------------------------------------------
# a listener changed from plain to TLS under the same name
# ---------------------------------------------------------------------------
def test_an_idle_plain_connection_is_closed_when_its_listener_gains_tls(
        gateway, upstream, certs, successors):
    u1 = upstream("u1")
    cfg = make_config({"app": [u1]})
    gw = successors.watch(gateway(cfg))
    idle = Conn(gw.port)
    try:
        assert idle.get("/echo").status == 200
        tls = {"certificates": [{"cert": certs("server.crt"), "key": certs("server.key")}]}
        reload_in_process(gw, dict(copy(gw.cfg), listeners=[dict(gw.cfg["listeners"][0], tls=tls)]))
        assert wait_peer_close(idle.sock) == "closed"  # not served as HTTPS over plaintext
    finally:
        idle.close()
    with tls_connect(gw.port, client_context(certs)) as sock:
        st, headers, _ = tls_get(sock, "/echo")
        assert st == 200 and headers["x-upstream"] == "u1"
    assert u1.stats()["requests"] == 2
    wait_gone(gw)
    assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="ok") == 1


# ---------------------------------------------------------------------------
# changing `workers` still replaces the process
# ---------------------------------------------------------------------------
def test_a_reload_changing_workers_hands_over_to_a_new_process(gateway, upstream, successors):
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")], workers=1)
    gw = successors.watch(gateway(cfg))
    new = with_routes(gw.cfg, [route("default", "/", "u2")])
    new["workers"] = 2
    write(gw, new)
    os.kill(gw.pid, signal.SIGHUP)
    pid = wait_for_successor(gw, 1)
    successors.append(pid)
    assert "reload: workers changes from 1 to 2: a new process takes over" in gw.logs
    assert pid != gw.pid
    assert " in this process" not in gw.logs and SERVES not in gw.logs
    assert gw.proc.wait(timeout=wait_s(20)) == 0  # the old process drained and exited
    assert process_alive(pid)
    r = http_get(gw.port, "/x")
    assert r.status == 200 and upstream_of(r) == "u2", r
    assert len(os.listdir("/proc/%d/task" % pid)) >= 2


# ---------------------------------------------------------------------------
# an Upgrade tunnel survives the reload and keeps the old generation until it closes
# ---------------------------------------------------------------------------
def echo(conn, payload):
    conn.send(payload)
    got = bytearray(conn.buf)
    conn.buf.clear()
    got += read_some(conn.sock, len(payload) - len(got)) if len(got) < len(payload) else b""
    return bytes(got)


def test_a_websocket_tunnel_survives_the_reload_and_the_old_generation_waits_for_it(
        gateway, upstream, successors):
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")],
                      shutdown_timeout="60s")
    gw = successors.watch(gateway(cfg))
    tunnel = Conn(gw.port)
    try:
        tunnel.send(build_request("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]))
        r = tunnel.read_head()
        assert r.status == 101 and upstream_of(r) == "u1", r
        assert echo(tunnel, b"before the reload") == b"before the reload"

        reload_in_process(gw, with_routes(gw.cfg, [route("default", "/", "u2")]))
        assert upstream_of(http_get(gw.port, "/x")) == "u2"
        payload = bytes(range(256)) * 100
        assert echo(tunnel, b"after the reload") == b"after the reload"
        assert echo(tunnel, payload) == payload
        assert gone(gw) == 0  # the tunnel keeps the old generation
    finally:
        tunnel.close()
    wait_gone(gw)
    assert gw.alive()


# ---------------------------------------------------------------------------
# a new generation that cannot start leaves the running one serving
# ---------------------------------------------------------------------------
def test_a_new_generation_that_cannot_start_leaves_the_running_one_serving(
        gateway, upstream, successors):
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=[route("default", "/", "u1")])
    gw = successors.watch(gateway(cfg))
    pid = gw.pid
    idle = Conn(gw.port)
    taken = socket.socket()
    try:
        assert upstream_of(idle.get("/before")) == "u1"
        # A valid file whose added listener's port is taken: the new generation cannot listen.
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        new = with_routes(gw.cfg, [route("default", "/", "u2")])
        new["listeners"].append(dict(copy(new["listeners"][0]), name="second",
                                     address="127.0.0.1:%d" % taken.getsockname()[1]))
        write(gw, new)
        os.kill(pid, signal.SIGHUP)
        failed = re.compile(r"reload: the new configuration failed to start: .*; the running one stays")
        assert wait_until(lambda: failed.search(gw.logs), timeout=10), gw.logs[-2000:]
        assert gw.alive() and gw.pid == pid and successor_pids(gw) == []
        assert SERVES not in gw.logs
        # The running configuration serves on: the idle connection, new connections, admin.
        resp = idle.get("/after")
        assert resp.status == 200 and upstream_of(resp) == "u1", resp
        r = http_get(gw.port, "/fresh")
        assert r.status == 200 and upstream_of(r) == "u1", r
        metrics = gw.metrics_text()
        assert metric_value(metrics, "scalegate_reloads_total", result="failed") == 1, metrics
        assert metric_value(metrics, "scalegate_reloads_total", result="ok") == 0
        assert gw.admin_get("/health").status == 200
    finally:
        idle.close()
        taken.close()
    # Once the port is free, the same file loads.
    assert admin_reload(gw).status == 202
    assert wait_until(lambda: served(gw) == 1, timeout=15), gw.logs[-2000:]
    r = http_get(gw.port, "/later")
    assert r.status == 200 and upstream_of(r) == "u2", r
    assert gw.metric("scalegate_reloads_total", result="ok") == 1
