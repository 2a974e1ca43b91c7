"""A large response served from the cache, while it is still being written to the client:
a drain (SIGTERM) closes the connection as soon as the response is complete instead of
keeping it until shutdown_timeout, and a client that keeps reading is not cut by
idle_timeout measured from the start of the response."""
import os
import signal
import socket
import time

import pytest

from conftest import Conn, can_connect, make_config, pattern_bytes, wait_s, wait_until

BIG = 12 * 1024 * 1024  # under one cache shard (16 MiB of the default 256 MiB)
PATH = "/big?bytes=%d" % BIG


def cached_gateway(upstream, gateway, **listener):
    u1 = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1",
               "cache": {"enabled": True, "default_ttl": "300s", "max_object_size": "32MiB"}}]
    cfg = make_config({"u1": [u1]}, routes=routes, shutdown_timeout="60s",
                      listener=dict({"idle_timeout": "60s"}, **listener))
    gw = gateway(cfg)
    with Conn(gw.port, timeout=30) as c:
        first = c.get(PATH)
        assert first.status == 200 and first.header("x-cache") == "MISS", first
        assert len(first.body) == BIG
    return gw


def small_receive_buffer_conn(port):
    """A connection whose receive buffer is small, so a large response stays in the gateway."""
    c = Conn.__new__(Conn)
    c.port = port
    c.timeout = wait_s(30)
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    c.sock.settimeout(c.timeout)
    c.sock.connect(("127.0.0.1", port))
    c.buf = bytearray()
    c.eof = False
    return c


def read_body(conn, head, pause_every=None, pause=0.0):
    received = bytearray()
    next_pause = pause_every
    for piece in conn.iter_body(head, chunk_limit=256 * 1024):
        received += piece
        if pause_every and len(received) >= next_pause:
            time.sleep(pause)
            next_pause += pause_every
    return bytes(received)


@pytest.mark.timeout_s(120)
def test_drain_closes_connection_after_cache_hit(upstream, gateway):
    gw = cached_gateway(upstream, gateway)
    c = small_receive_buffer_conn(gw.port)
    try:
        c.send(b"GET %s HTTP/1.1\r\nHost: gateway.test\r\n\r\n" % PATH.encode())
        head = c.read_head()
        assert head.status == 200 and head.header("x-cache") == "HIT", head
        os.kill(gw.pid, signal.SIGTERM)
        assert wait_until(lambda: not can_connect(gw.port, timeout=0.5), timeout=10), \
            "the gateway did not start draining"
        body = read_body(c, head)
        assert len(body) == BIG and body[:1000] == pattern_bytes(0, 1000)
        assert c.wait_closed(10), "the connection stayed open after the cache hit during drain"
    finally:
        c.close()
    try:
        rc = gw.proc.wait(timeout=wait_s(15))
    except Exception:
        rc = None
    assert rc == 0, "gateway did not exit once the cache hit was delivered (rc %r)" % rc


@pytest.mark.timeout_s(120)
def test_request_after_drain_began_gets_connection_close_from_cache(upstream, gateway):
    gw = cached_gateway(upstream, gateway)
    with Conn(gw.port, timeout=30) as c:
        c.send(b"GET %s HTTP/1.1\r\n" % PATH.encode())  # a head in progress when the drain begins
        time.sleep(0.2)
        os.kill(gw.pid, signal.SIGTERM)
        assert wait_until(lambda: not can_connect(gw.port, timeout=0.5), timeout=10)
        c.send(b"Host: gateway.test\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200 and resp.header("x-cache") == "HIT", resp
        assert (resp.header("connection") or "").lower() == "close", resp
        assert len(resp.body) == BIG
        assert c.wait_closed(10)


@pytest.mark.timeout_s(120)
def test_slow_reader_of_cache_hit_not_cut_by_idle_timeout(upstream, gateway):
    """The client reads steadily (never pausing as long as idle_timeout) but the whole
    response takes longer than idle_timeout."""
    gw = cached_gateway(upstream, gateway, idle_timeout="1s")
    c = small_receive_buffer_conn(gw.port)
    try:
        c.send(b"GET %s HTTP/1.1\r\nHost: gateway.test\r\n\r\n" % PATH.encode())
        head = c.read_head()
        assert head.header("x-cache") == "HIT", head
        started = time.monotonic()
        body = read_body(c, head, pause_every=1024 * 1024, pause=0.15)
        took = time.monotonic() - started
        assert len(body) == BIG, "cache hit cut after %d of %d bytes (%.1fs)" % (len(body), BIG, took)
    finally:
        c.close()
