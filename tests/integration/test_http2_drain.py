"""HTTP/2 connections when the gateway drains (SIGTERM) or hands over to a new process (binary
upgrade, SIGUSR2): GOAWAY (a shutdown notice with a PING, then the final GOAWAY with the last
stream accepted), the stream in flight finishes with its whole body, a stream opened after the
GOAWAY is refused (REFUSED_STREAM), idle connections are closed before the process exits, and
after the hand-over a new connection is served by the new configuration. A reload (SIGHUP) stays
in the process: it sends no GOAWAY, the sessions move to the new configuration (new streams use
it, a stream in flight finishes on the old one). Also: an upstream's chunked trailers reach an
HTTP/2 client as a trailing HEADERS frame.

The upstream holds its /long response half way until the test releases it, so "in flight"
is a state the test controls, not a race."""
import os
import signal
import socket
import subprocess
import threading

import pytest

from conftest import make_config, wait_s, wait_until
from h2_frame_client import MAX_STREAM_ID, NO_ERROR, REFUSED_STREAM, FrameClient, status
from hyperframe.frame import DataFrame, HeadersFrame, PingFrame
from scripted_upstream import ScriptedUpstream
from test_reload_upgrade import (successor_pids, successors,  # noqa: F401 (fixture)
                                 wait_for_drained, wait_for_in_process_reload, wait_for_successor,
                                 write)
from tls_support import client_context, make_certs

CURL = "/usr/bin/curl"
FIRST = bytes(range(256)) * 200         # sent at once (51200 bytes)
REST = bytes(range(255, -1, -1)) * 600  # sent once released (153600 bytes)
TRAILERS = {
    # the body, then trailer lines: forbidden ones (framing, connection-specific) are dropped
    "/trailers": (b"5\r\nhello\r\n",
                  b"Grpc-Status: 0\r\nX-Checksum:  abc \r\nContent-Length: 5\r\nConnection: x\r\n"),
    "/trailers-empty-body": (b"", b"X-Only: 1\r\n"),
    "/trailers-all-forbidden": (b"2\r\nhi\r\n", b"Transfer-Encoding: chunked\r\nTE: trailers\r\n"),
}


class HeldUpstream:
    """/long: a 200 whose body stops after FIRST until release(); /held: no answer until
    release(), then a 200 "held response NAME"; /trailers*: chunked bodies with trailers;
    anything else: a short 200 naming this upstream in X-Upstream. `started` is set when a /long
    or /held request arrived."""

    def __init__(self, name="held"):
        self.name = name
        self.started = threading.Event()
        self.released = threading.Event()
        self.paths = []
        self.server = ScriptedUpstream(self.handle, name=name)

    @property
    def address(self):
        return self.server.address

    def release(self):
        self.released.set()

    def handle(self, ex):
        path = ex.target.split("?")[0]
        self.paths.append(path)
        if path == "/long":
            ex.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(FIRST) + len(REST))
                    + FIRST)
            self.started.set()
            self.released.wait(timeout=wait_s(60))
            ex.send(REST)
        elif path == "/held":
            self.started.set()
            self.released.wait(timeout=wait_s(60))
            ex.respond(200, b"held response " + self.name.encode(),
                       headers=[("X-Upstream", self.name)])
        elif path in TRAILERS:
            body, trailers = TRAILERS[path]
            ex.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n"
                    + body + b"0\r\n" + trailers + b"\r\n")
        else:
            ex.respond(200, b"ok", headers=[("X-Upstream", self.name)])
        return True

    def stop(self):
        self.released.set()
        self.server.stop()


@pytest.fixture
def held():
    upstreams = []

    def make(name="held"):
        upstreams.append(HeldUpstream(name))
        return upstreams[-1]

    yield make
    for u in upstreams:
        u.stop()


def h2_config(upstreams, routes=None, **top):
    return make_config(upstreams, routes=routes, listener={"http2": {"h2c": True}},
                       upstream_opts={name: {"response_timeout": "60s"} for name in upstreams},
                       shutdown_timeout="60s", **top)


def goaway_sequence_checks(client, last_id):
    """The drain's frames: the notice (highest id) with a PING, then the final GOAWAY."""
    assert client.goaways[:2] == [(MAX_STREAM_ID, NO_ERROR), (last_id, NO_ERROR)], client.goaways
    pings = [f for f in client.frames if isinstance(f, PingFrame) and "ACK" not in f.flags]
    assert pings and pings[0].opaque_data == b"sg-drain", client.frames


def test_sigterm_lets_the_stream_in_flight_finish_whole_after_goaway(gateway, held):
    u = held()
    gw = gateway(h2_config({"app": [u.address]}))
    client = FrameClient(gw.port)
    try:
        sid = client.request("/long")
        r = client.responses[sid]
        client.wait_for(lambda: len(r["body"]) == len(FIRST), "the first half of the body")
        os.kill(gw.pid, signal.SIGTERM)
        client.wait_for(lambda: len(client.goaways) >= 2, "the final GOAWAY")
        goaway_sequence_checks(client, last_id=sid)
        assert gw.alive(), "the process exited with a stream in flight"
        u.release()
        client.wait_for(lambda: r["ended"], "the end of the stream")
        assert status(r) == 200 and bytes(r["body"]) == FIRST + REST and r["reset"] is None
        client.wait_closed()
    finally:
        client.close()
    assert gw.proc.wait(timeout=wait_s(30)) == 0
    assert "drain limit reached" not in gw.logs


def test_a_stream_that_never_ends_is_cut_at_the_drain_limit(gateway, held):
    u = held()
    cfg = h2_config({"app": [u.address]})
    cfg["shutdown_timeout"] = "1s"
    gw = gateway(cfg)
    client = FrameClient(gw.port)
    try:
        sid = client.request("/long")  # never released
        assert u.started.wait(timeout=wait_s(20))
        os.kill(gw.pid, signal.SIGTERM)
        client.wait_closed()
        goaway_sequence_checks(client, last_id=sid)
        assert not client.responses[sid]["ended"]
    finally:
        client.close()
    assert gw.proc.wait(timeout=wait_s(30)) == 0
    assert "drain limit reached" in gw.logs


def test_a_tls_h2_connection_drains_the_same_way(gateway, held, tmp_path):
    certs = make_certs(str(tmp_path))
    u = held()
    tls = {"certificates": [{"cert": certs("server.crt"), "key": certs("server.key")}],
           "alpn": ["h2", "http/1.1"]}
    gw = gateway(make_config({"app": [u.address]}, listener={"tls": tls},
                             upstream_opts={"app": {"response_timeout": "60s"}},
                             shutdown_timeout="60s"))
    client = FrameClient(gw.port, tls=client_context(certs, alpn=["h2"]))
    try:
        sid = client.request("/long")
        r = client.responses[sid]
        client.wait_for(lambda: len(r["body"]) == len(FIRST), "the first half of the body")
        os.kill(gw.pid, signal.SIGTERM)
        client.wait_for(lambda: len(client.goaways) >= 2, "the final GOAWAY")
        goaway_sequence_checks(client, last_id=sid)
        u.release()
        client.wait_for(lambda: r["ended"], "the end of the stream")
        assert status(r) == 200 and bytes(r["body"]) == FIRST + REST
        client.wait_closed()
    finally:
        client.close()
    assert gw.proc.wait(timeout=wait_s(30)) == 0
    assert "drain limit reached" not in gw.logs


def test_curl_gets_the_whole_body_of_a_request_in_flight_during_sigterm(gateway, held, tmp_path):
    u = held()
    gw = gateway(h2_config({"app": [u.address]}))
    out, err = tmp_path / "body", tmp_path / "curl.err"
    with open(err, "wb") as err_file:
        curl = subprocess.Popen([CURL, "-sS", "-v", "--http2-prior-knowledge", "-o", str(out),
                                 "--max-time", str(int(wait_s(60))),
                                 "http://127.0.0.1:%d/long" % gw.port],
                                stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        assert u.started.wait(timeout=wait_s(20)), "the request did not reach the upstream"
        os.kill(gw.pid, signal.SIGTERM)
        final = "GOAWAY, error=0, last_stream=1\n"  # curl 7.88 logs it as "recveived GOAWAY"
        assert wait_until(lambda: final in err.read_text(errors="replace"), timeout=wait_s(20)), \
            err.read_text(errors="replace")[-2000:]
        u.release()
        assert curl.wait(timeout=wait_s(60)) == 0, err.read_text(errors="replace")[-2000:]
    finally:
        if curl.poll() is None:
            curl.kill()
            curl.wait()
    assert out.read_bytes() == FIRST + REST
    assert gw.proc.wait(timeout=wait_s(30)) == 0


# A client that does not answer the PING still gets the final GOAWAY (after 1 s).
@pytest.mark.parametrize("answer_pings", [True, False], ids=["answering", "not_answering_pings"])
def test_an_idle_connection_gets_goaway_and_is_closed_before_the_process_exits(gateway, held,
                                                                                answer_pings):
    u = held()
    gw = gateway(h2_config({"app": [u.address]}))
    client = FrameClient(gw.port, answer_pings=answer_pings)
    try:
        sid = client.request("/short")
        client.wait_for(lambda: client.responses[sid]["ended"], "the response")
        os.kill(gw.pid, signal.SIGTERM)
        client.wait_closed()  # closed by the gateway, after its GOAWAYs
        goaway_sequence_checks(client, last_id=sid)
    finally:
        client.close()
    assert gw.proc.wait(timeout=wait_s(30)) == 0
    assert "drain limit reached" not in gw.logs


def test_a_stream_opened_after_the_final_goaway_is_refused_not_dropped(gateway, held):
    u = held()
    gw = gateway(h2_config({"app": [u.address]}))
    client = FrameClient(gw.port)
    try:
        first = client.request("/long")
        assert u.started.wait(timeout=wait_s(20))
        assert gw.metric("scalegate_http2_refused_streams_total", listener="public") == 0
        os.kill(gw.pid, signal.SIGTERM)
        client.wait_for(lambda: len(client.goaways) >= 2, "the final GOAWAY")
        late = client.request("/short")  # a client that ignores GOAWAY
        client.wait_for(lambda: client.responses[late]["reset"] is not None, "the refusal")
        assert client.responses[late]["reset"] == REFUSED_STREAM
        assert client.responses[late]["headers"] is None
        # Counted while the drain goes on (the admin listener answers until the process exits).
        assert gw.metric("scalegate_http2_refused_streams_total", listener="public") == 1
        assert gw.metric("scalegate_http2_streams_total", listener="public") == 1
        u.release()
        r = client.responses[first]
        client.wait_for(lambda: r["ended"], "the end of the first stream")
        assert bytes(r["body"]) == FIRST + REST
        client.wait_closed()
    finally:
        client.close()
    assert gw.proc.wait(timeout=wait_s(30)) == 0
    assert "/short" not in u.paths  # the refused request never reached the upstream


def test_binary_upgrade_sends_h2_clients_to_the_process_with_the_new_routes(gateway, held,
                                                                            successors):
    u1, u2 = held("u1"), held("u2")
    base = [{"name": "default", "match": {"prefix": "/"}, "upstream": "u1"}]
    cfg = h2_config({"u1": [u1.address], "u2": [u2.address]}, routes=base, workers=2)
    gw = successors.watch(gateway(cfg))
    idle, busy = FrameClient(gw.port), FrameClient(gw.port)
    try:
        sid = idle.request("/b")
        idle.wait_for(lambda: idle.responses[sid]["ended"], "the response before the reload")
        assert dict(idle.responses[sid]["headers"])["x-upstream"] == "u1"
        long_sid = busy.request("/long")
        assert u1.started.wait(timeout=wait_s(20))
        added = {"name": "b", "match": {"prefix": "/b"}, "upstream": "u2"}
        write(gw, dict(cfg, listeners=[dict(cfg["listeners"][0], routes=[added] + base)]))
        os.kill(gw.pid, signal.SIGUSR2)  # the successor reads the file again
        successors.append(wait_for_successor(gw, 1))
        idle.wait_closed()  # the old process told it to go, and closed it
        goaway_sequence_checks(idle, last_id=sid)
        busy.wait_for(lambda: len(busy.goaways) >= 2, "the final GOAWAY on the busy connection")
        goaway_sequence_checks(busy, last_id=long_sid)
        # a new connection (what curl or a browser opens next) gets the new configuration
        p = subprocess.run([CURL, "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null",
                            "--max-time", str(int(wait_s(20))), "http://127.0.0.1:%d/b" % gw.port],
                           capture_output=True, text=True, timeout=wait_s(30))
        assert p.returncode == 0 and p.stdout.startswith("HTTP/2 200"), (p.stdout, p.stderr)
        assert "x-upstream: u2" in p.stdout.lower(), p.stdout
        u1.release()
        r = busy.responses[long_sid]
        busy.wait_for(lambda: r["ended"], "the stream in flight across the reload")
        assert bytes(r["body"]) == FIRST + REST and r["reset"] is None
        busy.wait_closed()
    finally:
        idle.close()
        busy.close()
    assert gw.proc.wait(timeout=wait_s(30)) == 0  # the old process drained and exited


def test_sighup_moves_h2_sessions_to_the_new_routes_without_goaway(gateway, held):
    """In-process reload: no GOAWAY, no close; the idle session's next stream and a new stream
    on the busy session use the new routes, the stream in flight finishes whole on the old
    configuration, which is gone once it has."""
    u1, u2 = held("u1"), held("u2")
    base = [{"name": "default", "match": {"prefix": "/"}, "upstream": "u1"}]
    cfg = h2_config({"u1": [u1.address], "u2": [u2.address]}, routes=base, workers=2)
    gw = gateway(cfg)
    idle, busy = FrameClient(gw.port), FrameClient(gw.port)
    try:
        sid = idle.request("/b")
        idle.wait_for(lambda: idle.responses[sid]["ended"], "the response before the reload")
        assert dict(idle.responses[sid]["headers"])["x-upstream"] == "u1"
        long_sid = busy.request("/long")
        r = busy.responses[long_sid]
        busy.wait_for(lambda: len(r["body"]) == len(FIRST), "the first half of the body")
        added = {"name": "b", "match": {"prefix": "/b"}, "upstream": "u2"}
        write(gw, dict(cfg, listeners=[dict(cfg["listeners"][0], routes=[added] + base)]))
        os.kill(gw.pid, signal.SIGHUP)
        wait_for_in_process_reload(gw, 1)
        for client in (idle, busy):
            nxt = client.request("/b")
            client.wait_for(lambda: client.responses[nxt]["ended"], "the response after the reload")
            assert status(client.responses[nxt]) == 200
            assert dict(client.responses[nxt]["headers"])["x-upstream"] == "u2"
        assert gw.metric("scalegate_reloads_total", result="ok") == 1
        assert u1.paths.count("/b") == 1 and u2.paths.count("/b") == 2
        u1.release()
        busy.wait_for(lambda: r["ended"], "the stream in flight across the reload")
        assert bytes(r["body"]) == FIRST + REST and r["reset"] is None
        wait_for_drained(gw, 1)
        # Still open, never told to go: one more stream each on the same connections.
        for client in (idle, busy):
            again = client.request("/b")
            client.wait_for(lambda: client.responses[again]["ended"], "a response after the drain")
            assert dict(client.responses[again]["headers"])["x-upstream"] == "u2"
            assert client.goaways == [] and not client.closed, client.frames
    finally:
        idle.close()
        busy.close()
    assert gw.alive() and successor_pids(gw) == []
    assert gw.metric("scalegate_http2_goaways_total", listener="public") in (None, 0)
    assert gw.metric("scalegate_http2_connections_total", listener="public") == 2


@pytest.mark.parametrize("path,body,trailers", [
    ("/trailers", b"hello", [("grpc-status", "0"), ("x-checksum", "abc")]),
    ("/trailers-empty-body", b"", [("x-only", "1")]),
    ("/trailers-all-forbidden", b"hi", None),
])
def test_chunked_trailers_reach_h2_clients_as_a_trailing_headers_frame(gateway, held, path, body,
                                                                        trailers):
    u = held()
    gw = gateway(h2_config({"app": [u.address]}))
    client = FrameClient(gw.port)
    try:
        sid = client.request(path)
        r = client.responses[sid]
        client.wait_for(lambda: r["ended"] or r["reset"] is not None, "the response")
    finally:
        client.close()
    assert status(r) == 200 and bytes(r["body"]) == body and r["reset"] is None
    assert r["trailers"] == trailers
    frames = [f for f in client.frames if f.stream_id == sid]
    ends = [f for f in frames if "END_STREAM" in f.flags]
    assert len(ends) == 1 and ends[0] is frames[-1], frames
    # END_STREAM moves to the trailers' HEADERS when there are any
    assert isinstance(ends[0], HeadersFrame if trailers else DataFrame), frames


def test_http1_clients_still_get_the_trailers_byte_for_byte(gateway, held):
    u = held()
    gw = gateway(h2_config({"app": [u.address]}))
    with socket.create_connection(("127.0.0.1", gw.port), timeout=wait_s(20)) as s:
        s.sendall(b"GET /trailers HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    body, trailers = TRAILERS["/trailers"]
    assert data.endswith(b"\r\n\r\n" + body + b"0\r\n" + trailers + b"\r\n"), data
