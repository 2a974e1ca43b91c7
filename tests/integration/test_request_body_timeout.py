"""request_body_timeout: a client that stops sending its request body gets a 408 (or, once a
response has started, its connection or HTTP/2 stream cut); the upstream connection that
carried the partial body is closed, never pooled, and the request is not retried. A slow but
steady body is not cut."""
import json
import socket
import threading
import time

import pytest

from conftest import Conn, free_port, http_request, make_config, raw_request, run_cli, to_yaml, wait_until
from h2_client import H2Client
from raw_upstream import ThreadedServer

TIMEOUT = {"request_body_timeout": "1s"}
STALLED_HEAD = (b"POST /x HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 100000\r\n\r\n")


@pytest.fixture
def body_upstream():
    """A started BodyUpstream, stopped at the end of the test."""
    up = BodyUpstream()
    yield up
    up.stop()


class BodyUpstream(ThreadedServer):
    """A keep-alive upstream on a raw socket that reads whole request bodies (Content-Length
    or chunked) and answers 200 "ok". A request under /early is answered at once with a
    chunked 200 that never ends, while the body keeps coming. Each connection is recorded:
    the body bytes received and whether the gateway closed it."""

    def __init__(self):
        self.connections = []
        super().__init__()

    def closed_connections(self):
        with self._lock:
            return [c for c in self.connections if c["closed"]]

    def _accepted(self, conn):
        record = {"received": bytearray(), "requests": 0, "closed": False}
        with self._lock:
            self.connections.append(record)
        return (record,)

    def _serve(self, conn, record):
        conn.settimeout(30)
        buf = bytearray()
        try:
            while self._serve_one(conn, record, buf):
                pass
        except OSError:
            pass
        record["closed"] = True
        conn.close()

    def _serve_one(self, conn, record, buf):
        def fill():
            piece = conn.recv(65536)
            if not piece:
                return False
            buf.extend(piece)
            record["received"].extend(piece)
            return True

        while b"\r\n\r\n" not in buf:
            if not fill():
                return False
        end = buf.index(b"\r\n\r\n") + 4
        head = bytes(buf[:end]).lower()
        del buf[:end]
        record["requests"] += 1
        if b" /early" in head:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        if b"transfer-encoding: chunked" in head:
            while not buf.endswith(b"0\r\n\r\n"):
                if not fill():
                    return False
            del buf[:]
        else:
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0]) if b"content-length:" in head else 0
            while len(buf) < length:
                if not fill():
                    return False
            del buf[:length]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True


def body_gateway(gateway, tmp_path, up, listener=None):
    log_path = str(tmp_path / "access.log")
    lis = dict(TIMEOUT)
    lis.update(listener or {})
    cfg = make_config({"u1": [up.address]}, listener=lis, access_log={"enabled": True, "path": log_path})
    return gateway(cfg), log_path


def access_entries(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def body_timeouts(gw):
    return gw.metric("scalegate_rejected_requests_total", listener="public", reason="body_timeout") or 0


def assert_stall_answered_408(gw, up, log_path, request):
    r = raw_request(gw.port, request, timeout=10, close_wait=10)
    assert r.status == 408, r
    assert (r.header("Connection") or "").lower() == "close"
    assert r.closed
    assert wait_until(lambda: len(up.closed_connections()) == 1, timeout=10), up.connections
    assert up.connections[0]["requests"] == 1  # not retried
    assert body_timeouts(gw) == 1
    assert wait_until(lambda: [e["status"] for e in access_entries(log_path)] == [408], timeout=10)
    # The pool holds nothing of the cut request: the next one goes whole to the upstream.
    ok = http_request(gw.port, "POST", "/x", body=b"0123456789")
    assert ok.status == 200 and ok.body == b"ok", ok
    assert len(up.connections) == 2
    assert up.connections[1]["received"].endswith(b"\r\n\r\n0123456789")


def test_content_length_body_stall_gets_408_and_upstream_connection_closed(gateway, body_upstream, tmp_path):
    up = body_upstream
    gw, log_path = body_gateway(gateway, tmp_path, up)
    assert_stall_answered_408(gw, up, log_path, STALLED_HEAD + b"0123456789")
    assert up.connections[0]["received"].endswith(b"\r\n\r\n0123456789")


def test_chunked_body_stall_gets_408(gateway, body_upstream, tmp_path):
    up = body_upstream
    gw, log_path = body_gateway(gateway, tmp_path, up)
    head = b"POST /x HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert_stall_answered_408(gw, up, log_path, head + b"a\r\n0123456789\r\n")


def test_expect_continue_then_no_body_gets_408(gateway, body_upstream, tmp_path):
    up = body_upstream
    gw, _ = body_gateway(gateway, tmp_path, up)
    with Conn(gw.port, timeout=10) as c:
        c.send(b"POST /x HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 10\r\n"
               b"Expect: 100-continue\r\n\r\n")
        final = c.read_response("POST")
        assert [i.status for i in final.interim] == [100], final
        assert final.status == 408, final
        assert c.wait_closed(10)
    assert body_timeouts(gw) == 1


def test_slow_but_steady_chunked_body_is_not_cut(gateway, body_upstream, tmp_path):
    up = body_upstream
    gw, _ = body_gateway(gateway, tmp_path, up)
    with Conn(gw.port, timeout=15) as c:
        c.send(b"POST /x HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(10):  # a chunk every 0.3 s, 3 s in all: longer than the timeout
            time.sleep(0.3)
            c.send(b"1\r\n%d\r\n" % i)
        c.send(b"0\r\n\r\n")
        r = c.read_response("POST")
    assert r.status == 200 and r.body == b"ok", r
    assert body_timeouts(gw) == 0
    assert up.connections[0]["received"].endswith(b"1\r\n9\r\n0\r\n\r\n")


def test_upstream_slow_to_take_the_body_is_not_a_body_timeout(gateway, tmp_path):
    """Backpressure: the upstream reads nothing for 3 s (3 timeouts) while the client has far
    more body to send than the sockets hold; the gateway stops reading the client meanwhile,
    and that wait is not the client's stall."""
    size = 32 * 1024 * 1024
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited: no autotuning
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(15)
    got = {}

    def slow_upstream():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            received = len(data) - data.index(b"\r\n\r\n") - 4
            time.sleep(3)
            while received < size:
                piece = conn.recv(1024 * 1024)
                if not piece:
                    break
                received += len(piece)
            got["body"] = received
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=slow_upstream, daemon=True)
    thread.start()
    try:
        cfg = make_config({"u1": ["127.0.0.1:%d" % listener.getsockname()[1]]},
                          listener=dict(TIMEOUT, max_body_size="64MiB"))
        gw = gateway(cfg)
        with Conn(gw.port, timeout=30) as c:
            c.send(b"POST /x HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: %d\r\n\r\n" % size)
            c.send(b"x" * size)
            r = c.read_response("POST")
        assert r.status == 200 and r.body == b"ok", r
        thread.join(10)
        assert got.get("body") == size, got
        assert body_timeouts(gw) == 0
    finally:
        listener.close()


def test_stall_after_the_response_started_closes_without_a_second_response(gateway, body_upstream, tmp_path):
    up = body_upstream
    gw, log_path = body_gateway(gateway, tmp_path, up)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(STALLED_HEAD.replace(b"/x", b"/early") + b"0123456789")
        data = b""
        while True:  # until the gateway closes the connection
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
    assert data.endswith(b"5\r\nhello\r\n"), data  # cut: no last chunk
    assert data.count(b"HTTP/1.1") == 1, data
    assert wait_until(lambda: len(up.closed_connections()) == 1, timeout=10), up.connections
    assert body_timeouts(gw) == 1
    assert wait_until(lambda: [e["status"] for e in access_entries(log_path)] == [200], timeout=10)


def _h2_stalled_stream(c, path):
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                              (":authority", "gateway.test"), ("content-length", "100000")])
    c.conn.send_data(sid, b"0123456789")
    c.responses[sid] = {"status": None, "headers": [], "body": bytearray(), "ended": False, "reset": None}
    c.flush()
    return sid


def test_http2_stalled_stream_gets_408_and_the_connection_goes_on(gateway, body_upstream, tmp_path):
    up = body_upstream
    gw, _ = body_gateway(gateway, tmp_path, up, listener={"http2": {"h2c": True}})
    c = H2Client(gw.port)
    try:
        stalled = _h2_stalled_stream(c, "/x")
        other = c.request("/y", method="POST", body=b"abc")
        done = c.wait([other], timeout=10)[0]
        assert done["status"] == 200 and bytes(done["body"]) == b"ok"
        assert c.responses[stalled]["status"] is None  # still waiting for its body
        r = c.wait([stalled], timeout=10)[0]
        assert r["status"] == 408 and r["ended"], r
        assert wait_until(lambda: len(up.closed_connections()) == 1, timeout=10), up.connections
        assert body_timeouts(gw) == 1
        again = c.request("/z", method="POST", body=b"abc")
        assert c.wait([again], timeout=10)[0]["status"] == 200
        assert not c.closed and c.goaway is None
        # The 408 ended the stream before its request did: the client is told to stop
        # sending (RST_STREAM NO_ERROR), so the stream holds no slot.
        assert c.responses[stalled]["reset"] == 0, c.responses[stalled]
    finally:
        c.close()


def test_http2_stream_stalled_after_its_response_started_is_reset(gateway, body_upstream, tmp_path):
    up = body_upstream
    gw, _ = body_gateway(gateway, tmp_path, up, listener={"http2": {"h2c": True}})
    c = H2Client(gw.port)
    try:
        stalled = _h2_stalled_stream(c, "/early")
        r = c.wait([stalled], timeout=10)[0]
        assert r["status"] == 200 and bytes(r["body"]) == b"hello", r
        assert r["reset"] is not None and not r["ended"], r
        assert body_timeouts(gw) == 1
        again = c.request("/z", method="POST", body=b"abc")
        assert c.wait([again], timeout=10)[0]["status"] == 200
    finally:
        c.close()


def test_zero_request_body_timeout_is_refused_by_check(tmp_path):
    cfg = make_config({"u1": ["127.0.0.1:1"]},
                      listener={"address": "127.0.0.1:%d" % free_port(), "request_body_timeout": 0})
    path = tmp_path / "bad.yaml"
    path.write_text(to_yaml(cfg))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "request_body_timeout" in text)
    r = run_cli(["check", "-c", str(path)])
    assert r.returncode != 0, r.stdout
    assert "%s:%d:" % (path, line) in r.stderr, r.stderr
    assert "request_body_timeout: must be greater than zero" in r.stderr, r.stderr
