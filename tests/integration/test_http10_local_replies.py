"""HTTP/1.0 keep-alive clients and the answers the gateway writes itself (no route, rate
limit, no server left, only-if-cached miss, cache hit). A 1.0 client keeps a connection
only when the response says `Connection: keep-alive`; without it the client waits for the
close, so every response on a connection the gateway keeps open must say so."""
import socket

import pytest

from conftest import Conn, free_port, make_config

REQUEST = "GET %s HTTP/1.0\r\nHost: gateway.test\r\nConnection: keep-alive\r\n%s\r\n"


def ask(conn, path, extra=""):
    conn.send((REQUEST % (path, extra)).encode())
    return conn.read_response()


def assert_kept_alive(conn, resp, status, next_path, next_status):
    """`resp` (status `status`) says keep-alive, and the connection takes another request."""
    assert resp.status == status, resp
    assert (resp.header("connection") or "").lower() == "keep-alive", \
        "HTTP/1.0 keep-alive client got %d without Connection: keep-alive: %r" % (status, resp)
    again = ask(conn, next_path)
    assert again.status == next_status, again


def dead_address():
    """A loopback address nothing listens on (connections are refused)."""
    return "127.0.0.1:%d" % free_port()


def test_no_route_404_keeps_http10_connection(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "api", "match": {"prefix": "/echo"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    with Conn(gw.port) as c:
        assert_kept_alive(c, ask(c, "/nowhere"), 404, "/echo/after", 200)


def test_rate_limit_429_keeps_http10_connection(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, listener={"rate_limit": {"rate": "1/m", "burst": 1}}))
    with Conn(gw.port) as c:
        first = ask(c, "/echo/one")
        assert first.status == 200, first
        assert first.header("connection").lower() == "keep-alive", first
        assert_kept_alive(c, ask(c, "/echo/two"), 429, "/echo/three", 429)


def test_no_server_502_keeps_http10_connection(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "dead", "match": {"prefix": "/dead"}, "upstream": "dead"},
              {"name": "live", "match": {"prefix": "/"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1], "dead": [dead_address()]}, routes=routes))
    with Conn(gw.port) as c:
        assert_kept_alive(c, ask(c, "/dead/x"), 502, "/echo/after", 200)


def test_only_if_cached_miss_keeps_http10_connection(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1",
               "cache": {"enabled": True, "default_ttl": "60s"}}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    with Conn(gw.port) as c:
        miss = ask(c, "/echo/never-fetched", "Cache-Control: only-if-cached\r\n")
        assert_kept_alive(c, miss, 504, "/echo/after", 200)


def test_cache_hit_keeps_http10_connection(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1",
               "cache": {"enabled": True, "default_ttl": "60s"}}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    with Conn(gw.port) as c:
        first = ask(c, "/big?bytes=3000")
        assert first.status == 200 and first.header("x-cache") == "MISS", first
        hit = ask(c, "/big?bytes=3000")
        assert hit.header("x-cache") == "HIT", hit
        assert hit.body == first.body
        assert_kept_alive(c, hit, 200, "/big?bytes=3000", 200)


def test_local_reply_to_http10_without_keep_alive_closes(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "api", "match": {"prefix": "/echo"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    with Conn(gw.port) as c:
        c.send(b"GET /nowhere HTTP/1.0\r\nHost: gateway.test\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 404
        assert (resp.header("connection") or "").lower() != "keep-alive", resp
        assert c.wait_closed(5), "HTTP/1.0 connection without keep-alive left open"
