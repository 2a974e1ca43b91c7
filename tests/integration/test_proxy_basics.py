"""Proxying basics: keep-alive, pipelining, 100-continue, upgrade, hop-by-hop and forwarding
headers, request ids, routing."""
import re
import socket
import time

import pytest

from conftest import Conn, build_request, make_config, sha256, wait_s

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)


@pytest.fixture
def one(upstream, gateway):
    """One upstream u1 behind a gateway with a catch-all route."""
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1))
    return u1, gw


def test_simple_get(one):
    u1, gw = one
    r = gw.get("/echo/hello?x=1")
    assert r.status == 200, r
    assert r.header("X-Upstream") == "u1"
    body = r.json()
    assert body["method"] == "GET"
    assert body["path"] == "/echo/hello?x=1"
    assert u1.stats()["requests"] == 1


def test_post_content_length_and_chunked(one):
    _, gw = one
    data = bytes(range(256)) * 40
    with Conn(gw.port) as c:
        r = c.request("POST", "/echo", body=data)
        assert r.status == 200, r
        assert r.json()["body_len"] == len(data) and r.json()["body_sha256"] == sha256(data)
        r = c.request("PUT", "/echo", body=data, chunked=True)
        assert r.status == 200, r
        assert r.json()["body_len"] == len(data) and r.json()["body_sha256"] == sha256(data)
        r = c.request("POST", "/echo", body=b"")
        assert r.status == 200 and r.json()["body_len"] == 0


def test_keepalive_reuses_upstream_connections(upstream, gateway):
    u1 = upstream("u1")
    workers = 2
    gw = gateway(make_config({"u1": [u1]}, workers=workers))
    with Conn(gw.port) as c:
        for i in range(50):
            r = c.get("/echo/%d" % i)
            assert r.status == 200, "request %d: %r" % (i, r)
            assert r.json()["path"] == "/echo/%d" % i
            assert not c.eof, "gateway closed the client keep-alive connection after request %d" % i
    st = u1.stats()
    assert st["requests"] >= 50, st
    assert st["connections"] <= workers * 2, "upstream connections are not reused: %s" % st


def test_pipelined_requests_answered_in_order(one):
    _, gw = one
    data = (build_request("GET", "/echo/1")
            + build_request("POST", "/echo/2", body=b"hello")
            + build_request("GET", "/echo/3"))
    with Conn(gw.port) as c:
        c.send(data)
        paths = []
        for _ in range(3):
            r = c.read_response()
            assert r.status == 200, r
            assert r.header("X-Upstream") == "u1"
            paths.append(r.json()["path"])
        assert paths == ["/echo/1", "/echo/2", "/echo/3"]
        # the connection is still usable
        assert c.get("/echo/4").json()["path"] == "/echo/4"


def test_head_and_204_keep_framing(one):
    _, gw = one
    with Conn(gw.port) as c:
        r = c.request("HEAD", "/echo")
        assert r.status == 200 and r.body == b""
        r = c.get("/status/204")
        assert r.status == 204 and r.body == b""
        r = c.get("/status/304")
        assert r.status == 304 and r.body == b""
        r = c.get("/echo/after")
        assert r.status == 200 and r.json()["path"] == "/echo/after"


@pytest.mark.parametrize("code", [201, 404, 418, 500, 503])
def test_upstream_status_passed_through(one, code):
    _, gw = one
    r = gw.get("/status/%d" % code)
    assert r.status == code, r
    assert r.body == b"status %d\n" % code


def test_read_until_close_response_delivered(one):
    """Upstream body delimited by its close: the client gets all of it, then EOF (or a framed body)."""
    _, gw = one
    for i in range(5):
        with Conn(gw.port, timeout=5) as c:
            c.send(build_request("GET", "/close"))
            try:
                r = c.read_response()
            except socket.timeout:
                pytest.fail("attempt %d: response never ended (no close, no framing); got so far %r"
                            % (i, bytes(c.buf[:300])))
            assert r.status == 200
            assert r.body == b"read until close body\n" * 10


def test_expect_100_continue(one):
    _, gw = one
    body = b"x" * 5000
    with Conn(gw.port) as c:
        c.send(build_request("POST", "/expect", headers=[("Expect", "100-continue"),
                                                         ("Content-Length", str(len(body)))]))
        first = c.read_head(allow_interim=False)
        assert first.status == 100, "expected 100 Continue before the body, got %r" % first
        c.send(body)
        r = c.read_response("POST")
        assert r.status == 200, r
        assert r.json()["body_len"] == len(body)
        assert r.json()["body_sha256"] == sha256(body)
        # keep-alive still fine afterwards
        assert c.get("/echo/next").status == 200


def test_expect_100_continue_too_large_gets_413(one):
    u1, gw = one
    before = u1.stats()["requests"]
    with Conn(gw.port) as c:
        c.send(build_request("POST", "/expect", headers=[("Expect", "100-continue"),
                                                         ("Content-Length", str(2 * 1024 * 1024))]))
        r = c.read_head(allow_interim=False)
        assert r.status == 413, "expected an immediate 413 (no 100 Continue), got %r" % r
        list(c.iter_body(r))
        assert c.wait_closed(5), "connection should close after 413"
    assert u1.stats()["requests"] == before


def test_websocket_upgrade_tunnel(one):
    _, gw = one
    with Conn(gw.port) as c:
        c.send(build_request("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]))
        r = c.read_head()
        assert r.status == 101, r
        assert (r.header("Upgrade") or "").lower() == "websocket"
        for payload in (b"hello tunnel", b"\x00\x01\x02\xff" * 1000, bytes(range(256)) * 400):
            c.send(payload)
            got = bytearray(c.buf)
            c.buf.clear()
            deadline = time.monotonic() + wait_s(10)
            while len(got) < len(payload) and time.monotonic() < deadline:
                c.sock.settimeout(max(0.1, deadline - time.monotonic()))
                chunk = c.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            assert bytes(got) == payload, "tunnel echo mismatch (%d of %d bytes)" % (len(got), len(payload))


def test_request_hop_by_hop_headers_not_forwarded(one):
    _, gw = one
    r = gw.get("/echo", headers=[
        ("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Trailer", "X-Trail"),
        ("Upgrade", "h2c"), ("X-Normal", "yes")])
    assert r.status == 200, r
    h = r.json()["headers"]
    for name in ("x-secret", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"):
        assert name not in h, "hop-by-hop header %r was forwarded: %s" % (name, h)
    assert "x-secret" not in h.get("connection", "").lower(), h
    assert h.get("x-normal") == "yes", "end-to-end header lost: %s" % h


def test_response_hop_by_hop_headers_not_forwarded(one):
    _, gw = one
    r = gw.get("/headers-out")
    assert r.status == 200
    assert r.header("X-End") == "1"
    for name in ("X-Hop", "Keep-Alive", "Proxy-Connection"):
        assert r.header(name) is None, "response hop-by-hop header %s leaked: %s" % (name, r.headers)
    assert "x-hop" not in (r.header("Connection") or "").lower()


def test_forwarded_headers(one):
    _, gw = one
    r = gw.get("/echo", headers=[("X-Forwarded-For", "1.2.3.4")], host="shop.example.com:8080")
    h = r.json()["headers"]
    assert h.get("x-forwarded-for") == "1.2.3.4, 127.0.0.1", h
    assert h.get("x-forwarded-proto") == "http", h
    assert h.get("x-forwarded-host") == "shop.example.com:8080", h
    r = gw.get("/echo", host="plain.test")
    h = r.json()["headers"]
    assert h.get("x-forwarded-for") == "127.0.0.1", h
    assert h.get("x-forwarded-host") == "plain.test", h


def test_request_id_generated_and_returned(one):
    _, gw = one
    ids = []
    for _ in range(2):
        r = gw.get("/echo")
        seen = r.json()["headers"].get("x-request-id")
        assert seen and UUID4_RE.match(seen), "upstream saw X-Request-Id %r (want a UUID v4)" % seen
        assert r.header("X-Request-Id") == seen, "client got %r, upstream saw %r" % (r.header("X-Request-Id"), seen)
        ids.append(seen)
    assert ids[0] != ids[1]


def test_request_id_kept(one):
    _, gw = one
    r = gw.get("/echo", headers=[("X-Request-Id", "client-chosen-id-42")])
    assert r.json()["headers"].get("x-request-id") == "client-chosen-id-42"


# ---------------------------------------------------------------------------
# routing
# ---------------------------------------------------------------------------
def test_route_by_prefix_first_match_wins(upstream, gateway):
    ua, ub, uc = upstream("ua"), upstream("ub"), upstream("uc")
    routes = [
        {"name": "a", "match": {"prefix": "/a"}, "upstream": "ua"},
        {"name": "a-special", "match": {"prefix": "/a/special"}, "upstream": "ub"},  # shadowed by "a"
        {"name": "b", "match": {"prefix": "/b"}, "upstream": "ub"},
        {"name": "rest", "match": {"prefix": "/"}, "upstream": "uc"},
    ]
    gw = gateway(make_config({"ua": [ua], "ub": [ub], "uc": [uc]}, routes=routes))
    expect = {"/a/x": "ua", "/a": "ua", "/a/special/1": "ua", "/b/y": "ub", "/c": "uc", "/": "uc"}
    for path, name in expect.items():
        r = gw.get(path)
        assert r.status == 200 and r.header("X-Upstream") == name, "%s -> %r (want %s)" % (path, r, name)
        assert r.json()["path"] == path


def test_route_by_host(upstream, gateway):
    u1, u2 = upstream("u1"), upstream("u2")
    routes = [
        {"name": "api", "match": {"prefix": "/", "host": "api.example.com"}, "upstream": "u1"},
        {"name": "wild", "match": {"prefix": "/", "host": "*.example.com"}, "upstream": "u2"},
    ]
    gw = gateway(make_config({"u1": [u1], "u2": [u2]}, routes=routes))
    assert gw.get("/echo", host="api.example.com").header("X-Upstream") == "u1"
    assert gw.get("/echo", host="API.Example.COM:9999").header("X-Upstream") == "u1"
    assert gw.get("/echo", host="shop.example.com").header("X-Upstream") == "u2"
    r = gw.get("/echo", host="other.org")
    assert r.status == 404, r


def test_route_by_method(upstream, gateway):
    u1, u2 = upstream("u1"), upstream("u2")
    routes = [
        {"name": "rw", "match": {"prefix": "/", "methods": ["GET", "POST"]}, "upstream": "u1"},
        {"name": "other", "match": {"prefix": "/"}, "upstream": "u2"},
    ]
    gw = gateway(make_config({"u1": [u1], "u2": [u2]}, routes=routes))
    with Conn(gw.port) as c:
        assert c.request("GET", "/echo").header("X-Upstream") == "u1"
        assert c.request("POST", "/echo", body=b"1").header("X-Upstream") == "u1"
        assert c.request("DELETE", "/echo").header("X-Upstream") == "u2"
        assert c.request("PUT", "/echo", body=b"2").header("X-Upstream") == "u2"


def test_route_method_mismatch_is_404(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "ro", "match": {"prefix": "/", "methods": ["GET"]}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    assert gw.get("/echo").status == 200
    with Conn(gw.port) as c:
        r = c.request("DELETE", "/echo")
    assert r.status == 404, r
    assert u1.stats()["requests"] == 1


def test_strip_prefix(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "users", "match": {"prefix": "/api/users"}, "upstream": "u1", "strip_prefix": True}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    assert gw.get("/api/users/5").json()["path"] == "/5"
    assert gw.get("/api/users").json()["path"] == "/"
    assert gw.get("/api/users/a/b").json()["path"] == "/a/b"


def test_strip_prefix_keeps_query(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "users", "match": {"prefix": "/api/users"}, "upstream": "u1", "strip_prefix": True}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    assert gw.get("/api/users/5?q=1&r=2").json()["path"] == "/5?q=1&r=2"


def test_no_route_404(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "api", "match": {"prefix": "/api"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    with Conn(gw.port) as c:
        r = c.get("/elsewhere")
        assert r.status == 404, r
    assert u1.stats()["requests"] == 0
    assert gw.get("/api/x").status == 200


def test_client_connection_close_honoured(one):
    _, gw = one
    with Conn(gw.port) as c:
        r = c.request("GET", "/echo", headers=[("Connection", "close")])
        assert r.status == 200, r
        assert c.wait_closed(5), "gateway kept the connection open after Connection: close"


def test_concurrent_clients(upstream, gateway):
    import threading
    u1, u2 = upstream("u1"), upstream("u2")
    gw = gateway(make_config({"pool": [u1, u2]}, workers=2))
    errors = []
    counts = []

    def client(k):
        n = 0
        try:
            with Conn(gw.port, timeout=30) as c:
                for i in range(40):
                    body = b"%d-%d" % (k, i)
                    r = c.request("POST", "/echo/%d/%d" % (k, i), body=body)
                    if r.status != 200 or r.json()["path"] != "/echo/%d/%d" % (k, i) \
                            or r.json()["body_sha256"] != sha256(body):
                        errors.append((k, i, r))
                    n += 1
        except Exception as e:  # reported below
            errors.append((k, "exception", repr(e)))
        counts.append(n)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(wait_s(60))
    assert not any(t.is_alive() for t in threads), "clients still running"
    assert not errors, errors[:5]
    assert sum(counts) == 320
    assert u1.stats()["requests"] + u2.stats()["requests"] == 320
