"""Event coalescing (top-level `event_coalescing_us`, src/net/coalescer.h): under concurrent
load on many client connections a worker sleeps briefly instead of blocking in epoll_wait.
These tests check that it engages only then, that it loses nothing, and that 0 turns it off.
They count through scalegate_worker_coalesced_polls_total; speed is the benchmark's business."""
import json

from conftest import Conn, build_request, make_config, metric_value, wait_until

COALESCED = "scalegate_worker_coalesced_polls_total"


def _coalesced(gw):
    return metric_value(gw.metrics_text(), COALESCED, worker="0")


def _rounds_on_connections(port, connections, rounds):
    """Each round sends one request on every connection before reading any answer, so the
    worker sees many ready sockets at once; every answer must be the whole, right one."""
    conns = [Conn(port) for _ in range(connections)]
    try:
        for r in range(rounds):
            for i, c in enumerate(conns):
                c.send(build_request("GET", "/echo/%d/%d" % (r, i)))
            for i, c in enumerate(conns):
                resp = c.read_response()
                assert resp.status == 200, (r, i, resp.status)
                assert json.loads(resp.body)["path"] == "/echo/%d/%d" % (r, i)
    finally:
        for c in conns:
            c.close()


def test_many_concurrent_connections_are_coalesced_and_lose_nothing(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1))
    assert _coalesced(gw) == 0
    _rounds_on_connections(gw.port, connections=48, rounds=60)
    assert _coalesced(gw) > 0


def test_few_connections_never_sleep(upstream, gateway):
    """Below 16 client connections the sleep would only add latency to a closed loop."""
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1))
    _rounds_on_connections(gw.port, connections=8, rounds=100)
    with Conn(gw.port) as c:
        for i in range(200):
            assert c.get("/echo/one/%d" % i).status == 200
    assert _coalesced(gw) == 0


def test_zero_turns_it_off(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1, event_coalescing_us=0))
    _rounds_on_connections(gw.port, connections=48, rounds=60)
    assert _coalesced(gw) == 0


def test_each_worker_reports_its_own_count(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=2, event_coalescing_us=200))
    text = gw.metrics_text()
    assert metric_value(text, COALESCED, worker="0") == 0
    assert metric_value(text, COALESCED, worker="1") == 0


def _send_round(conns, tag):
    for i, c in enumerate(conns):
        c.send(build_request("GET", "/echo/%s/%d" % (tag, i)))


def test_upstream_killed_under_coalesced_load_every_request_still_answered(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1))
    conns = [Conn(gw.port) for _ in range(48)]
    try:
        for r in range(20):
            _send_round(conns, r)
            assert all(c.read_response().status == 200 for c in conns)
        assert _coalesced(gw) > 0
        u1.kill()
        for r in range(5):
            _send_round(conns, "dead%d" % r)
            statuses = [c.read_response().status for c in conns]
            assert statuses == [502] * len(conns), statuses
    finally:
        for c in conns:
            c.close()
    assert gw.proc.poll() is None
    assert gw.get("/echo/after").status == 502


def test_clients_vanishing_mid_request_lose_nothing_for_the_others(upstream, gateway):
    """Half the clients send a request and close without reading; the other half get
    whole answers, and once fewer than 16 connections remain the worker blocks again."""
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1))
    conns = [Conn(gw.port) for _ in range(48)]
    for r in range(10):
        _send_round(conns, r)
        assert all(c.read_response().status == 200 for c in conns)
    leaving, staying = conns[:40], conns[40:]
    try:
        _send_round(conns, "last")
        for c in leaving:
            c.close()
        for i, c in enumerate(staying):
            resp = c.read_response()
            assert resp.status == 200
            assert json.loads(resp.body)["path"] == "/echo/last/%d" % (40 + i)
        assert wait_until(lambda: gw.metric("scalegate_connections_active") == len(staying), timeout=10)
        before = _coalesced(gw)
        _rounds_on_connections(gw.port, connections=4, rounds=50)
        assert _coalesced(gw) == before
    finally:
        for c in staying:
            c.close()
