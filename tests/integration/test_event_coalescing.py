"""Event coalescing (top-level `event_coalescing_us`, src/net/coalescer.h): under concurrent
load on many client connections a worker sleeps briefly instead of blocking in epoll_wait.
These tests check that it engages only then, that it loses nothing, and that 0 turns it off.
They count through scalegate_worker_coalesced_polls_total; speed is the benchmark's business."""
import json

from conftest import Conn, build_request, make_config, metric_value

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
