"""HTTP/2 to clients (listener `http2`): h2c prior knowledge (curl, h2load, python3-h2), many
concurrent streams on one connection to several routes, large bodies both ways through the
flow-control windows, a client's RST_STREAM, and the request path's phases over HTTP/2 (cache
HIT, a rate limit's 429, a retry, gzip, an async route's 202). The abuse cases are in
test_http2_abuse.py."""
import gzip
import hashlib
import json
import os
import subprocess

import pytest

from conftest import http_get, make_config, run_cli, wait_until, wait_s
from h2_client import H2Client, header
from job_sink import JobSink
from test_async_routes import async_config

CURL = "/usr/bin/curl"
H2C = {"h2c": True}


def h2_gateway(gateway, upstreams, routes=None, http2=None, listener=None, **top):
    lis = dict(listener or {})
    lis["http2"] = dict(http2 if http2 is not None else H2C)
    return gateway(make_config(upstreams, routes=routes, listener=lis, **top))


def test_curl_prior_knowledge_and_http1_on_the_same_listener(upstream, gateway, tmp_path):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]})
    out = tmp_path / "body"
    p = subprocess.run([CURL, "-sS", "--http2-prior-knowledge", "-D", "-", "-o", str(out),
                        "--max-time", str(int(wait_s(20))), "http://127.0.0.1:%d/echo?x=1" % gw.port],
                       capture_output=True, text=True, timeout=wait_s(30))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("HTTP/2 200"), p.stdout
    echo = json.loads(out.read_bytes())
    assert echo["path"] == "/echo?x=1" and echo["version"] == "HTTP/1.1", echo
    assert echo["headers"]["host"] == "127.0.0.1:%d" % gw.port, echo
    # Connection-specific fields never reach an HTTP/2 client.
    assert "connection:" not in p.stdout.lower() and "keep-alive" not in p.stdout.lower(), p.stdout
    r = http_get(gw.port, "/echo")  # HTTP/1.1 still served
    assert r.status == 200, r
    assert gw.metric("scalegate_http2_connections_total", listener="public") == 1
    assert gw.metric("scalegate_http2_streams_total", listener="public") == 1


def test_h2c_off_by_default_answers_the_preface_as_http1(upstream, gateway):
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}))
    p = subprocess.run([CURL, "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                        "--max-time", str(int(wait_s(10))), "http://127.0.0.1:%d/echo" % gw.port],
                       capture_output=True, text=True, timeout=wait_s(20))
    assert p.returncode != 0, "an HTTP/1.1-only listener spoke HTTP/2"
    assert gw.metric("scalegate_http2_connections_total", listener="public") == 0
    assert u.stats()["requests"] == 0


def test_many_concurrent_streams_to_several_routes(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    routes = [{"name": "ra", "match": {"prefix": "/a/"}, "upstream": "a"},
              {"name": "rb", "match": {"prefix": "/"}, "upstream": "b"}]
    gw = h2_gateway(gateway, {"a": [a], "b": [b]}, routes=routes)
    c = H2Client(gw.port)
    try:
        want = {}
        for i in range(60):
            kind = i % 3
            if kind == 0:
                sid = c.request("/a/echo?i=%d" % i)
                want[sid] = ("a", None)
            elif kind == 1:
                sid = c.request("/big?bytes=%d" % (100000 + i))
                want[sid] = ("b", 100000 + i)
            else:
                sid = c.request("/chunked?n=7&size=1000")
                want[sid] = ("b", 7000)
        got = c.wait(list(want))
        for (sid, (name, size)), r in zip(want.items(), got):
            assert r["status"] == 200 and r["ended"] and r["reset"] is None, (sid, r["status"], r["reset"])
            if size is None:
                assert json.loads(bytes(r["body"]))["name"] == name
            else:
                assert len(r["body"]) == size, (sid, len(r["body"]), size)
        assert header(got[2], "transfer-encoding") is None
    finally:
        c.close()
    assert a.stats()["requests"] == 20 and b.stats()["requests"] == 40
    assert gw.metric("scalegate_http2_streams_total", listener="public") == 60
    assert wait_until(lambda: gw.metric("scalegate_http2_streams_active", listener="public") == 0)


def test_large_bodies_both_ways_through_small_windows(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]}, http2={"h2c": True, "initial_window_size": 16384},
                    listener={"max_body_size": "16MB"})
    body = os.urandom(3 * 1024 * 1024 + 7)
    c = H2Client(gw.port)
    try:
        up = c.request("/echo", method="POST", body=body)
        down = c.request("/big?bytes=%d" % (5 * 1024 * 1024))
        r_up, r_down = c.wait([up, down], timeout=wait_s(60))
    finally:
        c.close()
    echo = json.loads(bytes(r_up["body"]))
    assert r_up["status"] == 200 and echo["body_len"] == len(body), echo
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert r_down["status"] == 200 and len(r_down["body"]) == 5 * 1024 * 1024


def test_request_body_without_content_length_goes_chunked(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]})
    c = H2Client(gw.port)
    try:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "POST"), (":path", "/echo"), (":scheme", "http"),
                                  (":authority", "gateway.test")])
        c.responses[sid] = {"status": None, "headers": [], "body": bytearray(), "ended": False, "reset": None}
        c.conn.send_data(sid, b"x" * 1000)
        c.conn.send_data(sid, b"y" * 500, end_stream=True)
        c.flush()
        r = c.wait([sid])[0]
    finally:
        c.close()
    echo = json.loads(bytes(r["body"]))
    assert r["status"] == 200 and echo["body_len"] == 1500, echo
    assert echo["headers"].get("transfer-encoding") == "chunked", echo


def test_client_reset_ends_the_exchange_and_the_connection_goes_on(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]})
    c = H2Client(gw.port)
    try:
        sid = c.request("/hang")
        assert wait_until(lambda: u.stats()["requests"] == 1)
        assert gw.metric("scalegate_http2_streams_active", listener="public") == 1
        c.reset(sid)
        assert wait_until(lambda: gw.metric("scalegate_http2_streams_active", listener="public") == 0)
        r = c.get("/echo")
        assert r["status"] == 200
    finally:
        c.close()
    # The upstream connection of the reset exchange was not given back dirty: the next
    # request's went to a fresh (or clean) connection and the upstream saw two requests.
    assert u.stats()["requests"] == 2


def test_streams_one_after_another_on_one_connection_each_start_clean(upstream, gateway):
    # The session reuses a finished stream's object for the next one (Http2Stream::reuse):
    # nothing of a stream (its request fields, body framing, response head or body, a big
    # buffer) may reach the next one on the connection.
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]}, listener={"max_body_size": "4MB"})
    c = H2Client(gw.port)
    big = os.urandom(300 * 1024)
    try:
        first = c.wait([c.request("/echo", method="POST", body=big,
                                  headers=[("x-first", "1"), ("cookie", "a=1")])])[0]
        chunked = c.wait([c.request("/chunked?n=5&size=300")])[0]
        head = c.wait([c.request("/big?bytes=777", method="HEAD")])[0]
        last = c.wait([c.request("/echo?last=1", headers=[("cookie", "b=2")])])[0]
    finally:
        c.close()
    echo = json.loads(bytes(first["body"]))
    assert first["status"] == 200 and echo["body_len"] == len(big), echo
    assert echo["body_sha256"] == hashlib.sha256(big).hexdigest()
    assert chunked["status"] == 200 and bytes(chunked["body"]) == b"0123456789" * 150
    assert head["status"] == 200 and head["ended"] and len(head["body"]) == 0, head
    assert header(head, "content-length") == "777", head["headers"]
    echo = json.loads(bytes(last["body"]))
    assert last["status"] == 200 and echo["method"] == "GET" and echo["path"] == "/echo?last=1"
    assert echo["body_len"] == 0 and "x-first" not in echo["headers"], echo
    assert echo["headers"]["cookie"] == "b=2" and "transfer-encoding" not in echo["headers"], echo
    assert header(last, "content-length") == str(len(last["body"])), last["headers"]
    assert gw.metric("scalegate_http2_connections_total", listener="public") == 1
    assert gw.metric("scalegate_http2_streams_total", listener="public") == 4


def test_settings_advertise_the_configured_limits(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]}, http2={"h2c": True, "max_concurrent_streams": 7,
                                                  "initial_window_size": 100000,
                                                  "max_header_list_size": "8KB"})
    c = H2Client(gw.port)
    try:
        assert c.get("/echo")["status"] == 200
        s = c.conn.remote_settings
        assert s.max_concurrent_streams == 7
        assert s.initial_window_size == 100000
        assert s.max_header_list_size == 8192
    finally:
        c.close()


def test_h2load_ten_streams_per_connection_no_failures(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]})
    p = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "10", "http://127.0.0.1:%d/echo" % gw.port],
                       capture_output=True, text=True, timeout=wait_s(60))
    assert p.returncode == 0, p.stderr
    assert "400 succeeded, 0 failed, 0 errored" in p.stdout, p.stdout
    assert "status codes: 400 2xx" in p.stdout, p.stdout


# ---------------------------------------------------------------------------
# the request path's phases over HTTP/2
# ---------------------------------------------------------------------------
def test_cache_hit_over_http2(upstream, gateway):
    u = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1", "cache": {"enabled": True}}]
    gw = h2_gateway(gateway, {"u1": [u]}, routes=routes)
    c = H2Client(gw.port)
    try:
        path = "/text?bytes=3000&stamp=1&cache_control=max-age%3D60"
        first = c.get(path)
        second = c.get(path)
    finally:
        c.close()
    assert first["status"] == 200 and second["status"] == 200
    assert header(first, "x-cache") == "MISS", first["headers"]
    assert header(second, "x-cache") == "HIT", second["headers"]
    assert bytes(second["body"]) == bytes(first["body"]) and len(second["body"]) == 3000
    assert u.stats()["requests"] == 1


def test_rate_limit_429_over_http2(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]},
                    listener={"rate_limit": {"algorithm": "token_bucket", "rate": "2/m", "burst": 2}})
    c = H2Client(gw.port)
    try:
        statuses = [c.get("/echo")["status"] for _ in range(4)]
    finally:
        c.close()
    assert statuses == [200, 200, 429, 429]
    assert u.stats()["requests"] == 2


def test_retry_over_http2(upstream, gateway):
    bad, good = upstream("bad", "--status", "500"), upstream("good")
    routes = [{"name": "r", "match": {"prefix": "/"}, "upstream": "pool",
               "retries": {"attempts": 1, "on": ["5xx"], "backoff": "10ms"}}]
    gw = h2_gateway(gateway, {"pool": [bad, good]}, routes=routes)
    c = H2Client(gw.port)
    try:
        got = [c.get("/echo") for _ in range(4)]
    finally:
        c.close()
    assert [r["status"] for r in got] == [200] * 4
    assert {json.loads(bytes(r["body"]))["name"] for r in got} == {"good"}
    assert bad.stats()["requests"] >= 1, "the failing server was never tried"


def test_gzip_over_http2(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]}, listener={"compression": {"enabled": True}})
    c = H2Client(gw.port)
    try:
        r = c.get("/text?bytes=20000", headers=[("accept-encoding", "gzip")])
    finally:
        c.close()
    assert r["status"] == 200 and header(r, "content-encoding") == "gzip", r["headers"]
    assert len(gzip.decompress(bytes(r["body"]))) == 20000


@pytest.fixture
def sink():
    s = JobSink()
    yield s
    s.close()


def test_async_route_202_over_http2(gateway, sink, tmp_path):
    cfg = async_config(tmp_path, sink.address, listener={"http2": H2C})
    gw = gateway(cfg)
    c = H2Client(gw.port)
    try:
        r = c.get("/api/orders", method="POST", body=b'{"n": 1}',
                  headers=[("content-type", "application/json")])
    finally:
        c.close()
    assert r["status"] == 202, (r["status"], bytes(r["body"]))
    assert wait_until(lambda: sink.count() == 1, timeout=wait_s(15))
    assert sink.snapshot()[0].body == b'{"n": 1}'


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("http2, message", [
    ({"h2c": "yes"}, "h2c"),
    ({"max_concurrent_streams": 0}, "max_concurrent_streams"),
    ({"initial_window_size": 4294967295}, "initial_window_size"),
    ({"max_header_list_size": "10"}, "max_header_list_size"),
    ({"push": True}, "push"),
])
def test_bad_http2_config_is_refused_by_check(tmp_path, http2, message):
    cfg = make_config({"u1": ["127.0.0.1:1"]}, listener={"address": "127.0.0.1:0", "http2": http2})
    from conftest import to_yaml
    path = tmp_path / "bad.yaml"
    path.write_text(to_yaml(cfg))
    r = run_cli(["check", "-c", str(path)])
    assert r.returncode != 0, r.stdout
    assert message in r.stderr + r.stdout, r.stderr
