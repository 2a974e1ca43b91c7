"""Bad input: every malformed or oversized request gets the right status, the connection is
closed, nothing is forwarded, a rejection counter is incremented, and the gateway survives.
Also dead, slow and dying upstreams (502, 504, truncated responses)."""
import random
import signal
import socket
import pytest

from conftest import (Conn, IncompleteBody, NoResponse, build_request, free_port, make_config, metric_value, parse_metrics,
                      raw_request, start_gateway, start_upstream, stop_gateway_checked, stop_process)

LIMITS = {"max_header_size": "4KiB", "max_headers": 20, "max_body_size": "1MiB", "request_head_timeout": "10s"}


def bad_config(u1):
    routes = [{"name": "echo", "match": {"prefix": "/echo"}, "upstream": "u1"},
              {"name": "expect", "match": {"prefix": "/expect"}, "upstream": "u1"}]
    return make_config({"u1": [u1]}, routes=routes, workers=1, listener=dict(LIMITS))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    u1 = start_upstream("u1")
    gw = None
    try:
        gw = start_gateway(bad_config(u1), str(tmp_path_factory.mktemp("badinput")))
        yield u1, gw
    finally:
        stop_process(u1.proc, signal.SIGKILL)
        stop_gateway_checked(gw)


H = "Host: gw.test\r\n"

# id -> (request bytes, expected status, rejection reason)
BAD_REQUESTS = {
    "request_line_without_version": (b"GET /\r\n\r\n", 400, "bad_request_line"),
    "request_line_double_space": (b"GET  /echo HTTP/1.1\r\n" + H.encode() + b"\r\n", 400, "bad_request_line"),
    "request_line_garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\xff\xfe\r\n\r\n", 400, None),
    "request_line_bad_method_char": (b"G(T /echo HTTP/1.1\r\n" + H.encode() + b"\r\n", 400, None),
    "header_name_space_before_colon": (b"GET /echo HTTP/1.1\r\n" + H.encode() + b"X-Bad : 1\r\n\r\n", 400,
                                       "bad_header_name"),
    "header_without_colon": (b"GET /echo HTTP/1.1\r\n" + H.encode() + b"NoColonHere\r\n\r\n", 400, None),
    "header_value_control_char": (b"GET /echo HTTP/1.1\r\n" + H.encode() + b"X-Bad: a\x01b\r\n\r\n", 400,
                                  "bad_header_value"),
    "header_value_bare_cr": (b"GET /echo HTTP/1.1\r\n" + H.encode() + b"X-Bad: a\rb\r\n\r\n", 400, None),
    "obs_fold": (b"GET /echo HTTP/1.1\r\n" + H.encode() + b"X-A: 1\r\n  folded\r\n\r\n", 400, "obs_fold"),
    "bare_line_feed": (b"GET /echo HTTP/1.1\r\nHost: gw.test\nX-A: 1\r\n\r\n", 400, "bare_line_feed"),
    "missing_host": (b"GET /echo HTTP/1.1\r\nX-A: 1\r\n\r\n", 400, "missing_host"),
    "duplicate_host": (b"GET /echo HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400, None),
    "unsupported_version": (b"GET /echo HTTP/2.0\r\n" + H.encode() + b"\r\n", 505, "unsupported_version"),
    "content_length_and_transfer_encoding": (
        b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n", 400, "content_length_and_transfer_encoding"),
    "conflicting_content_length": (
        b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400, "conflicting_content_length"),
    "content_length_not_a_number": (b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: abc\r\n\r\n",
                                    400, None),
    "content_length_negative": (b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: -5\r\n\r\nhello",
                                400, None),
    "transfer_encoding_gzip": (b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: gzip\r\n\r\nxxxx",
                               400, "bad_transfer_encoding"),
    "head_too_large": (b"GET /echo HTTP/1.1\r\n" + H.encode() + b"X-Big: " + b"a" * 6000 + b"\r\n\r\n", 431,
                       "head_too_large"),
    "too_many_headers": (b"GET /echo HTTP/1.1\r\n" + H.encode()
                         + b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(30)) + b"\r\n", 431,
                         "too_many_headers"),
    "body_too_large_content_length": (
        b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024), 413,
        "body_too_large"),
}


def send_bad_chunk(port):
    data = (b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n")
    return raw_request(port, data)


def send_chunked_too_large(port):
    c = Conn(port, timeout=15)
    try:
        try:
            c.send(b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
            piece = b"%x\r\n" % 65536 + b"z" * 65536 + b"\r\n"
            for _ in range(40):  # 2.5 MiB > 1 MiB
                c.send(piece)
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = c.read_response("POST")
        except (NoResponse, IncompleteBody, ConnectionResetError):
            r = None
        closed = c.wait_closed(5) if r is not None else True
        return r, closed
    finally:
        c.close()


def assert_alive(gw):
    assert gw.alive(), "gateway died (exit %s)\n%s" % (gw.proc.returncode, gw.logs[-3000:])


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_rejected(env, case):
    u1, gw = env
    data, status, _ = BAD_REQUESTS[case]
    before = u1.stats()["requests"]
    r = raw_request(gw.port, data)
    assert r.status == status, "%s: got %r (want %d)" % (case, r, status)
    assert r.closed, "%s: connection not closed after the %d" % (case, status)
    assert u1.stats()["requests"] == before, "%s: request was forwarded upstream" % case
    assert_alive(gw)


def test_bad_chunk_size(env):
    u1, gw = env
    before = u1.stats()["requests"]
    r = send_bad_chunk(gw.port)
    assert r.status in (400, None), "bad chunk size: got %r (want 400 or a closed connection)" % r
    assert r.closed
    assert u1.stats()["requests"] == before, "upstream received a complete request"
    assert_alive(gw)


def test_chunked_body_too_large(env):
    u1, gw = env
    before = u1.stats()["requests"]
    r, closed = send_chunked_too_large(gw.port)
    assert r is None or r.status == 413, "chunked body over max_body_size: got %r (want 413 or close)" % r
    assert closed
    assert u1.stats()["requests"] == before, "upstream received the whole oversized body"
    assert_alive(gw)


def test_body_exactly_at_limit_is_accepted(env):
    u1, gw = env
    body = b"b" * (1024 * 1024)
    with Conn(gw.port) as c:
        r = c.request("POST", "/echo", body=body)
    assert r.status == 200 and r.json()["body_len"] == len(body), r


def test_no_route_404(env):
    u1, gw = env
    before = u1.stats()["requests"]
    with Conn(gw.port) as c:
        r = c.get("/not-routed")
    assert r.status == 404, r
    assert u1.stats()["requests"] == before


def test_random_garbage_never_crashes(env):
    """Random bytes and mutated request heads: each gets an answer or a close, never a hang."""
    u1, gw = env
    rnd = random.Random(1234)
    valid = b"GET /echo HTTP/1.1\r\nHost: gw.test\r\nX-A: b\r\n\r\n"
    for i in range(80):
        if i % 2:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))) + b"\r\n\r\n"
        else:
            m = bytearray(valid)
            for _ in range(rnd.randrange(1, 4)):
                m[rnd.randrange(len(m))] = rnd.randrange(256)
            data = bytes(m) + b"\r\n\r\n"
        try:
            r = raw_request(gw.port, data, timeout=15, close_wait=0.2)
        except socket.timeout:
            pytest.fail("no answer within the wait for input %r" % data)
        assert r.status is None or 200 <= r.status < 600, (data, r)
        assert_alive(gw)
    with Conn(gw.port) as c:
        assert c.get("/echo/ok").status == 200


# ---------------------------------------------------------------------------
# every rejection is counted under an exact reason label
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def after_all_bad(tmp_path_factory):
    """A fresh gateway that received every bad input once; yields (gateway, metrics text)."""
    u1 = start_upstream("u1")
    gw = None
    try:
        gw = start_gateway(bad_config(u1), str(tmp_path_factory.mktemp("reasons")))
        for case, (data, _, _) in BAD_REQUESTS.items():
            raw_request(gw.port, data, close_wait=1)
        send_bad_chunk(gw.port)
        send_chunked_too_large(gw.port)
        with Conn(gw.port) as c:
            c.get("/not-routed")
        stats_before = u1.stats()["requests"]
        text = gw.metrics_text() if gw.alive() else ""
        yield gw, text, u1, stats_before
    finally:
        stop_process(u1.proc, signal.SIGKILL)
        stop_gateway_checked(gw)


REASONS = ["bad_request_line", "bad_header_name", "bad_header_value", "obs_fold", "bare_line_feed",
           "missing_host", "unsupported_version", "content_length_and_transfer_encoding",
           "conflicting_content_length", "bad_transfer_encoding", "bad_chunk", "head_too_large",
           "too_many_headers", "body_too_large", "no_route"]


def test_gateway_alive_after_all_bad_inputs(after_all_bad):
    gw, text, u1, before = after_all_bad
    assert_alive(gw)
    r = gw.get("/echo/good")
    assert r.status == 200 and r.json()["path"] == "/echo/good", r
    assert u1.stats()["requests"] == before + 1


@pytest.mark.parametrize("reason", REASONS)
def test_rejection_counted_by_reason(after_all_bad, reason):
    gw, text, _, _ = after_all_bad
    assert text, "gateway died before /metrics could be read"
    v = metric_value(text, "scalegate_rejected_requests_total", listener="public", reason=reason)
    have = sorted({l.get("reason") for n, l, _ in parse_metrics(text)
                   if n == "scalegate_rejected_requests_total"})
    assert v is not None and v >= 1, \
        "no scalegate_rejected_requests_total{listener=\"public\",reason=\"%s\"} >= 1; reasons present: %s" % (
            reason, have)


# ---------------------------------------------------------------------------
# upstream failures
# ---------------------------------------------------------------------------
def test_upstream_unreachable_502(upstream, gateway):
    dead = "127.0.0.1:%d" % free_port()  # nothing listens there
    gw = gateway(make_config({"dead": [dead]}, workers=1))
    r = gw.get("/echo")
    assert r.status == 502, r
    assert_alive(gw)


def test_upstream_timeout_504(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=1, upstream_opts={"u1": {"response_timeout": "1s"}}))
    r = gw.get("/hang", timeout=30)
    assert r.status == 504, r
    assert_alive(gw)


@pytest.mark.timeout_s(90)
def test_upstream_killed_mid_response(upstream, gateway):
    dying, healthy = upstream("dying"), upstream("healthy")
    routes = [{"name": "big", "match": {"prefix": "/big"}, "upstream": "dying"},
              {"name": "rest", "match": {"prefix": "/"}, "upstream": "healthy"}]
    gw = gateway(make_config({"dying": [dying], "healthy": [healthy]}, routes=routes, workers=2,
                             upstream_opts={"dying": {"response_timeout": "60s"}}))
    total = 500 * 1024 * 1024
    got = 0
    ended = None
    with Conn(gw.port, timeout=30) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        c.send(build_request("GET", "/big?bytes=%d" % total))
        r = c.read_head()
        assert r.status == 200, r
        body = c.iter_body(r, chunk_limit=64 * 1024)
        try:
            for piece in body:
                got += len(piece)
                if got >= 2 * 1024 * 1024 and dying.alive():
                    dying.kill()
            ended = "complete"
        except IncompleteBody:
            ended = "truncated"
        except socket.timeout:
            ended = "hang"
    assert ended == "truncated", "client saw %s after %d of %d bytes (want a truncated, closed response)" % (
        ended, got, total)
    assert got < total
    assert_alive(gw)
    assert gw.get("/echo/still-serving").status == 200
