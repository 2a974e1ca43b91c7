"""Malformed frontend input on raw sockets: a message before the startup packet, length fields
that lie, a 1 GiB length, an unknown message type after login, a truncated or oversized startup
packet. scalegate answers each with a FATAL ErrorResponse (SQLSTATE 08P01) and closes; memory
stays bounded; the gateway and its other clients carry on.

Directly against PostgreSQL the same input is checked too: PostgreSQL closes without a word on
framing errors (it only logs them), so the direct runs accept a silent close."""
import socket
import time

import pytest

from pg_support import (error_fields, make_target, pg_server, read_message,  # noqa: F401
                        selected_targets, socket_to, startup_packet, stop_pooler, vm_rss_kib, wait_s)

GIB = 1 << 30


@pytest.fixture(scope="module", params=selected_targets())
def target(request, pg_server, tmp_path_factory):  # noqa: F811
    t = make_target(request.param, pg_server, tmp_path_factory, pool_size=2, auth="trust")
    try:
        yield t
    finally:
        stop_pooler(t)


def login_user(target):
    # Through the pooler auth is trust for everyone; directly only trustuser logs in without a password.
    return "trustuser" if target.kind == "direct" else "app"


def read_until_close(sock, limit_s=5.0):
    """Reads backend messages until the peer closes; returns (messages, closed)."""
    sock.settimeout(wait_s(limit_s))
    messages = []
    try:
        for _ in range(100):
            messages.append(read_message(sock))
    except ConnectionError:
        return messages, True  # EOF or reset after zero or more messages
    except socket.timeout:
        return messages, False
    return messages, False


def login(target):
    """A raw connection past startup and auth (trust), at ReadyForQuery."""
    s = socket_to(target.port)
    s.sendall(startup_packet(login_user(target), "app"))
    for _ in range(100):
        kind, payload = read_message(s)
        assert kind != b"E", error_fields(payload)
        if kind == b"Z":
            return s
    raise AssertionError("no ReadyForQuery after login")


# PostgreSQL's own codes for two semantic (not framing) errors, accepted beside 08P01
OTHER_SQLSTATES = {"startup_without_user": "28000", "unknown_protocol_version": "0A000"}


def assert_fatal_and_closed(target, messages, closed, case=None):
    assert closed, "the connection was left open after bad input (got %r)" % messages
    errors = [error_fields(p) for k, p in messages if k == b"E"]
    if target.kind == "direct" and not errors:
        return  # PostgreSQL logs framing errors (COMMERROR) and closes without a word
    if target.kind == "pgbouncer" and not errors:
        pytest.skip("PgBouncer closes this one without an ErrorResponse")
    assert errors, "closed without an ErrorResponse (got %r)" % messages
    fields = errors[-1]
    assert fields.get("V", fields.get("S")) == "FATAL", fields
    if target.kind != "pgbouncer":  # PgBouncer uses 08P01 for most, not all, of these
        assert fields.get("C") in ("08P01", OTHER_SQLSTATES.get(case)), fields


def assert_still_serving(target):
    if hasattr(target, "alive"):
        assert target.alive(), "the pooler died"
    user = login_user(target)
    with target.connect(user=user, password="") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


QUERY = b"Q" + (13).to_bytes(4, "big") + b"SELECT 1\0"

# name -> bytes sent before any startup packet
BEFORE_STARTUP = {
    "http_request": b"GET / HTTP/1.1\r\nHost: db\r\n\r\n",
    "query_message_first": QUERY,
    "length_shorter_than_header": (4).to_bytes(4, "big") + (196608).to_bytes(4, "big"),
    "one_gib_length": GIB.to_bytes(4, "big") + (196608).to_bytes(4, "big") + b"user\0app\0",
    "huge_startup_packet": (200008).to_bytes(4, "big") + (196608).to_bytes(4, "big") + b"x" * 200000,
    "unknown_protocol_version": (8).to_bytes(4, "big") + (0x12345678).to_bytes(4, "big"),
    "startup_without_user": (9).to_bytes(4, "big") + (196608).to_bytes(4, "big") + b"\0",
    "garbage_bytes": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("case", sorted(BEFORE_STARTUP))
def test_bad_startup(target, case):
    with socket_to(target.port) as s:
        try:
            s.sendall(BEFORE_STARTUP[case])
        except OSError:
            pass  # the peer may close while we still send: what it sent first is read below
        messages, closed = read_until_close(s)
    assert_fatal_and_closed(target, messages, closed, case)
    assert_still_serving(target)


def test_truncated_startup_then_close(target):
    with socket_to(target.port) as s:
        s.sendall(startup_packet("app", "app")[:6])
    with socket_to(target.port) as s:  # and one that stalls mid-packet while others go on
        s.sendall(startup_packet("app", "app")[:10])
        assert_still_serving(target)
    assert_still_serving(target)


# name -> bytes sent after login, at ReadyForQuery
AFTER_LOGIN = {
    "unknown_message_type": b"z" + (4).to_bytes(4, "big"),
    "length_below_four": b"Q" + (2).to_bytes(4, "big") + b"SELECT 1\0",
    "negative_length": b"Q" + (0xFFFFFFF0).to_bytes(4, "big"),
    "one_gib_query": b"Q" + GIB.to_bytes(4, "big") + b"SELECT ",
    "startup_packet_again": startup_packet("app", "app"),
}


@pytest.mark.parametrize("case", sorted(AFTER_LOGIN))
def test_bad_message_after_login(target, case):
    with login(target) as s:
        try:
            s.sendall(AFTER_LOGIN[case])
        except OSError:
            pass
        messages, closed = read_until_close(s)
    assert_fatal_and_closed(target, messages, closed, case)
    assert_still_serving(target)


def test_one_gib_length_does_not_grow_memory(target):
    """The gateway must refuse the length, not buffer toward it: 8 MiB of body follow the header."""
    if target.kind != "scalegate":
        pytest.skip("measures scalegate's own memory")
    before = vm_rss_kib(target.pid)
    chunk = b"x" * (1 << 20)
    with login(target) as s:
        s.sendall(b"Q" + GIB.to_bytes(4, "big"))
        sent = 0
        deadline = time.monotonic() + wait_s(5)
        try:
            while sent < 8 and time.monotonic() < deadline:
                s.sendall(chunk)
                sent += 1
        except OSError:
            pass  # closed by the gateway: what we want
        messages, closed = read_until_close(s)
    grown_mib = (vm_rss_kib(target.pid) - before) / 1024
    assert grown_mib < 64, "RSS grew by %.0f MiB after a 1 GiB length" % grown_mib
    assert_fatal_and_closed(target, messages, closed)
    assert_still_serving(target)


def test_other_clients_unaffected(target):
    """A client in the middle of a transaction keeps working while others send garbage."""
    user = login_user(target)
    with target.connect(user=user, password="") as conn:
        conn.execute("SELECT 1")
        for data in (BEFORE_STARTUP["http_request"], BEFORE_STARTUP["garbage_bytes"]):
            with socket_to(target.port) as s:
                try:
                    s.sendall(data)
                except OSError:
                    pass
                read_until_close(s)
        with login(target) as s:
            s.sendall(AFTER_LOGIN["unknown_message_type"])
            read_until_close(s)
        assert conn.execute("SELECT 2").fetchone()[0] == 2
        conn.rollback()


def test_ssl_and_gssenc_requests_are_refused_politely(target):
    """SSLRequest and GSSENCRequest are answered 'N' (no TLS configured); the startup then goes on."""
    # PostgreSQL built with GSSAPI may accept GSSENCRequest ('G'): directly only SSLRequest is sent
    codes = (80877103,) if target.kind == "direct" else (80877103, 80877104)  # SSLRequest, GSSENCRequest
    for code in codes:
        with socket_to(target.port) as s:
            s.sendall((8).to_bytes(4, "big") + code.to_bytes(4, "big"))
            assert s.recv(1) == b"N"
            s.sendall(startup_packet(login_user(target), "app"))
            kinds = []
            for _ in range(100):
                kind, payload = read_message(s)
                kinds.append(kind)
                if kind in (b"Z", b"E"):
                    break
            assert kinds[-1] == b"Z", kinds

