"""HTTP/2 streams crossed with the request path's features that test_http2.py does not cross:
a POST body replayed byte for byte when the first server resets mid-body, answers sent before
the request body (413, 429) with the body larger than the stream window, the circuit breaker's
503, 204/304 responses (no DATA), cached range and conditional requests, a client's
RST_STREAM in the middle of a response body, and CONNECT (refused, the connection goes on)."""
import json
import os

from conftest import make_config, qpath, wait_until
from h2_client import H2Client, header
from scripted_upstream import ScriptedUpstream, sha1
from test_http2 import H2C, h2_gateway
from upstream_server import text_bytes


def open_stream(client, fields, end_stream):
    """A stream with exactly these fields (pseudo-fields first), for requests H2Client.request
    cannot make (no :path, no Content-Length)."""
    sid = client.conn.get_next_available_stream_id()
    client.conn.send_headers(sid, fields, end_stream=end_stream)
    client.responses[sid] = {"status": None, "headers": [], "body": bytearray(), "ended": False,
                             "reset": None}
    client.flush()
    return sid


def echo(response):
    assert response["status"] == 200, (response["status"], bytes(response["body"])[:200])
    return json.loads(bytes(response["body"]))


def test_a_post_body_is_replayed_whole_after_the_first_server_resets_mid_body(gateway):
    tries = []

    def script(ex):
        tries.append(ex.method)
        if len(tries) == 1:
            ex.read_body(limit=50000)  # part of the body, then the connection is reset
            ex.reset()
            return False
        body, _ = ex.read_body()
        ex.respond(200, json.dumps({"sha1": sha1(body), "length": len(body)}).encode())
        return True

    a, b = ScriptedUpstream(script, "a"), ScriptedUpstream(script, "b")
    try:
        routes = [{"name": "r", "match": {"prefix": "/"}, "upstream": "pool",
                   "retries": {"attempts": 1, "on": ["reset"], "backoff": "5ms"},
                   "retry_buffer_limit": "1MiB"}]
        gw = h2_gateway(gateway, {"pool": [a.address, b.address]}, routes=routes,
                        http2={"h2c": True, "initial_window_size": 16384},
                        upstream_opts={"pool": {"balance": "round_robin"}})
        body = os.urandom(300000)
        c = H2Client(gw.port)
        try:
            r = c.get("/upload", method="POST", body=body, headers=[("idempotency-key", "k1")])
        finally:
            c.close()
        assert echo(r) == {"sha1": sha1(body), "length": len(body)}
        assert tries == ["POST", "POST"]
        assert a.errors == [] and b.errors == []
    finally:
        a.stop()
        b.stop()


def test_answers_before_the_body_leave_the_connection_window_open(upstream, gateway):
    # Each refused stream's unread DATA still counts against the connection window: were it
    # not given back, the connection would stall after the first refusal.
    u = upstream("u1")
    routes = [{"name": "limited", "match": {"prefix": "/limited/"}, "upstream": "u1",
               "rate_limit": {"algorithm": "token_bucket", "rate": "1/m", "burst": 1}},
              {"name": "free", "match": {"prefix": "/"}, "upstream": "u1"}]
    gw = h2_gateway(gateway, {"u1": [u]}, routes=routes, listener={"max_body_size": "100KB"})
    c = H2Client(gw.port)
    try:
        assert c.get("/limited/echo")["status"] == 200
        statuses = []
        # 429s to bodies within max_body_size, then 413s to bodies past it: all larger than
        # the stream window (65535), so each refused stream holds DATA the gateway never reads.
        refused = []
        for path, size in [("/limited/echo", 90000)] * 3 + [("/echo", 200000)] * 3:
            sid = c.request(path, method="POST", body=b"z" * size)
            statuses.append(c.wait([sid])[0]["status"])
            c.pending_bodies.pop(sid, None)  # answered: the rest of the body is not sent
            refused.append(sid)
        last = c.get("/echo", method="POST", body=b"s" * 90000)
        # Each early answer is followed by RST_STREAM(NO_ERROR): stop sending (RFC 9113 8.1).
        def all_reset():
            return all(c.responses[sid]["reset"] is not None for sid in refused)
        assert wait_until(lambda: all_reset() or (c.receive_once() and all_reset()), timeout=5)
    finally:
        c.close()
    assert [c.responses[sid]["reset"] for sid in refused] == [0] * 6
    assert last["reset"] is None, last  # its request ended first: nothing to stop
    assert statuses == [429] * 3 + [413] * 3, statuses
    assert echo(last)["body_len"] == 90000
    assert u.stats()["requests"] == 2


def test_an_open_breaker_answers_503_on_each_stream(upstream, gateway):
    u = upstream("u1", "--status", "500")
    breaker = {"error_threshold_percent": 50, "volume_threshold": 2, "window": "10s",
               "reset_timeout": "10s"}
    gw = gateway(make_config({"u1": [u]}, listener={"http2": H2C},
                             upstream_opts={"u1": {"circuit_breaker": breaker}}))
    c = H2Client(gw.port)
    try:
        first = [c.get("/echo") for _ in range(2)]
        refused = c.wait([c.request("/echo?i=%d" % i) for i in range(5)])
    finally:
        c.close()
    assert [r["status"] for r in first] == [500, 500]
    for r in refused:
        assert r["status"] == 503 and r["ended"] and r["reset"] is None, r
        assert header(r, "retry-after") is not None, r["headers"]
        assert len(r["body"]) == int(header(r, "content-length")), r
    assert u.stats()["requests"] == 2


def test_204_and_304_end_their_streams_without_data(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]})
    c = H2Client(gw.port)
    try:
        no_content = c.get("/status/204")
        not_modified = c.get("/text?bytes=100&etag=abc", headers=[("if-none-match", '"abc"')])
        after = c.get("/echo")
    finally:
        c.close()
    for r, status in ((no_content, 204), (not_modified, 304)):
        assert r["status"] == status and r["ended"] and r["reset"] is None, r
        assert r["body"] == b"" and header(r, "content-length") is None, r["headers"]
    assert header(not_modified, "etag") == '"abc"'
    assert echo(after)["path"] == "/echo"


def test_cached_ranges_and_conditionals_over_http2(upstream, gateway):
    u = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1",
               "cache": {"enabled": True}}]
    gw = h2_gateway(gateway, {"u1": [u]}, routes=routes)
    body = text_bytes(5000)
    path = qpath("/text/r", bytes=5000, cache_control="max-age=60", etag="v1")
    c = H2Client(gw.port)
    try:
        miss = c.get(path)
        part = c.get(path, headers=[("range", "bytes=10-19")])
        past = c.get(path, headers=[("range", "bytes=9000-")])
        same = c.get(path, headers=[("if-none-match", '"v1"')])
    finally:
        c.close()
    assert header(miss, "x-cache") == "MISS" and bytes(miss["body"]) == body
    assert part["status"] == 206 and bytes(part["body"]) == body[10:20]
    assert header(part, "content-range") == "bytes 10-19/5000" and header(part, "x-cache") == "HIT"
    assert past["status"] == 416 and header(past, "content-range") == "bytes */5000"
    assert same["status"] == 304 and same["body"] == b"" and same["ended"]
    assert u.stats()["requests"] == 1


def test_a_reset_in_the_middle_of_a_response_body_leaves_the_next_streams_clean(upstream,
                                                                                gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]})
    c = H2Client(gw.port)
    try:
        sid = c.request("/partial?bytes=5000")  # half its body, then the server waits
        while len(c.responses[sid]["body"]) < 5000:
            assert c.receive_once()
        c.reset(sid)
        after = [c.get("/echo?i=%d" % i) for i in range(3)]
    finally:
        c.close()
    # The upstream connection still owing half a body was not pooled: each answer is its own.
    assert [echo(r)["path"] for r in after] == ["/echo?i=0", "/echo?i=1", "/echo?i=2"]
    assert u.stats()["requests"] == 4


def test_connect_is_refused_and_the_connection_goes_on(upstream, gateway):
    u = upstream("u1")
    gw = h2_gateway(gateway, {"u1": [u]})
    c = H2Client(gw.port)
    c.conn.config.validate_outbound_headers = False  # python-h2 wants a :path even here
    try:
        sid = open_stream(c, [(":method", "CONNECT"), (":authority", "127.0.0.1:%d" % u.port)],
                          end_stream=False)
        refused = c.wait([sid])[0]
        after = c.get("/echo")
    finally:
        c.close()
    assert refused["status"] == 400 and refused["ended"], refused
    assert echo(after)["path"] == "/echo"
    assert u.stats()["requests"] == 1
