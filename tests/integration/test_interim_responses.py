"""1xx responses: relayed and followed by the final response even when both arrive in one
read; a 101 the client did not ask for is a bad gateway; a WebSocket's 101 settles a
half-open circuit breaker's trial."""
import socket
import time

import pytest

from conftest import Conn, build_request, make_config, wait_until
from scripted_upstream import ScriptedUpstream

FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: 1\r\n\r\nhello"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


def one_write(ex):
    """Answers /PREFIXES with the named interim responses and the final one in one send."""
    interim = {"hints": EARLY_HINTS, "continue": CONTINUE, "both": CONTINUE + EARLY_HINTS,
               "switch": SWITCHING}
    ex.read_body()
    name = ex.target.strip("/").split("?")[0]
    if name == "ws" and ex.header("upgrade"):
        ex.send(SWITCHING)
        while True:  # echo until the peer closes
            data = ex.sock.recv(65536)
            if not data:
                return False
            ex.send(data)
    if name == "fail":
        ex.respond(500, b"boom")
        return True
    ex.send(interim.get(name, b"") + FINAL)
    return True


@pytest.fixture
def interim_gateway(gateway):
    server = ScriptedUpstream(one_write)
    # A long response timeout: a stalled exchange shows as a client read timeout, not a 504.
    gw = gateway(make_config({"app": [server.address]}, workers=1,
                             upstream_opts={"app": {"response_timeout": "60s"}}))
    yield gw
    server.stop()


@pytest.mark.parametrize("name,codes", [("hints", [103]), ("continue", [100]),
                                        ("both", [100, 103])])
def test_interim_and_final_response_in_one_read(interim_gateway, name, codes):
    with Conn(interim_gateway.port, timeout=5) as c:
        r = c.request("GET", "/" + name)
        assert [i.status for i in r.interim] == codes
        assert r.status == 200 and r.body == b"hello" and r.header("X-Final") == "1"
        # the connection carries the next exchange as usual
        r = c.request("GET", "/hints")
        assert r.status == 200 and r.body == b"hello"


def test_interim_responses_are_not_sent_to_http10_clients(interim_gateway):
    with socket.create_connection(("127.0.0.1", interim_gateway.port), timeout=5) as s:
        s.sendall(b"GET /both HTTP/1.0\r\nHost: t\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 "), data
    assert b" 100 " not in data and b" 103 " not in data
    assert data.endswith(b"hello")


def test_101_without_an_upgrade_request_is_a_bad_gateway(interim_gateway):
    with Conn(interim_gateway.port, timeout=5) as c:
        r = c.request("GET", "/switch")
        assert r.status == 502, r
        assert r.interim == []


def test_websocket_101_settles_the_half_open_trial(gateway):
    server = ScriptedUpstream(one_write)
    gw = gateway(make_config(
        {"app": [server.address]}, workers=1,
        upstream_opts={"app": {"circuit_breaker": {
            "error_threshold_percent": 50, "volume_threshold": 4, "window": "10s",
            "reset_timeout": "1s", "half_open_requests": 1}}}))
    try:
        for _ in range(4):
            assert gw.get("/fail").status == 500
        assert gw.get("/anything").status == 503  # open
        assert wait_until(lambda: gw.metric("scalegate_circuit_breaker_state", upstream="app",
                                            state="open") == 1, timeout=5)
        time.sleep(1.2)  # reset_timeout: the next request is the half-open trial
        with Conn(gw.port, timeout=5) as ws:
            ws.send(build_request("GET", "/ws", headers=[("Upgrade", "websocket"),
                                                          ("Connection", "Upgrade")]))
            head = ws.read_head()
            assert head.status == 101
            # While the WebSocket stays open, the breaker is closed again.
            r = gw.get("/hints")
            assert r.status == 200, r
            assert gw.metric("scalegate_circuit_breaker_state", upstream="app",
                             state="closed") == 1
            ws.send(b"ping")
            assert ws.sock.recv(4) == b"ping"
    finally:
        server.stop()
