"""Bad input on a TLS listener: plaintext HTTP, a truncated ClientHello, a stalled handshake,
garbage after the handshake, a client that stops reading a large response, and a config whose
key file is missing or does not match (scalegate check names it with file:line:col). Each is
closed (plain HTTP after a 400 in plain HTTP, as nginx answers it) and counted, and the gateway
keeps serving."""
import os
import socket
import time

import pytest
from conftest import metric_value, run_cli, to_yaml, wait_until

from tls_support import client_context, client_hello, get, make_certs, tls_config, tls_connect


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


def _closed_by_peer(sock, timeout=10.0):
    """Reads until the peer closes (b"" or a reset); returns what was read."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


def _still_serves(gw, certs):
    with tls_connect(gw.port, client_context(certs)) as sock:
        return get(sock, "/echo")[0] == 200


def _failures(gw, reason):
    return gw.metric("scalegate_tls_handshake_failures_total", listener="public", reason=reason)


def test_plain_http_to_the_tls_port_gets_a_plain_400_and_is_counted(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = _closed_by_peer(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"Connection: close" in head and body == b"The plain HTTP request was sent to HTTPS port\n"
    assert wait_until(lambda: _failures(gw, "plain_http") == 1)
    assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="failed") == 1
    assert _still_serves(gw, certs)


def test_plain_http_upload_to_the_tls_port_reads_the_400_not_a_reset(gateway, upstream, certs):
    # The client is still sending its body when the answer comes: the lingering close drops
    # what it sends, so it reads the 400 instead of losing it to a reset.
    gw = gateway(tls_config(upstream("u1"), certs))
    body = b"x" * (4 << 20)
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
                     % len(body))
        sent = 0
        try:
            while sent < len(body):
                sent += sock.send(body[sent:sent + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _closed_by_peer(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert wait_until(lambda: _failures(gw, "plain_http") == 1)
    assert _still_serves(gw, certs)


def test_stalled_handshake_times_out(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, handshake_timeout="1s"))
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        started = time.monotonic()
        assert _closed_by_peer(sock, timeout=10) == b""
        assert time.monotonic() - started < 9  # closed by the gateway, not by our read timeout
    assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="timeout") == 1
    assert _still_serves(gw, certs)


def test_truncated_client_hello_times_out(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, handshake_timeout="1s"))
    hello = client_hello()
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(hello[:len(hello) // 2])
        assert _closed_by_peer(sock, timeout=10) == b""
    assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="timeout") == 1


def test_truncated_client_hello_then_close_is_counted_as_failed(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    hello = client_hello()
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(hello[:40])
    assert wait_until(lambda: _failures(gw, "closed") == 1)
    assert wait_until(lambda: gw.metric("scalegate_connections_active", listener="public") == 0)


def test_garbage_record_after_the_handshake_closes_the_connection(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    with tls_connect(gw.port, client_context(certs)) as sock:
        assert get(sock, "/echo")[0] == 200
        # A record nobody sealed, written under the TLS layer.
        with socket.socket(fileno=os.dup(sock.fileno())) as raw:
            raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))
            _closed_by_peer(raw)  # returns once the gateway closes (an alert may come first)
    assert wait_until(lambda: gw.metric("scalegate_connections_active", listener="public") == 0)
    assert _still_serves(gw, certs)


def test_client_that_stops_reading_a_large_response_does_not_hang_the_worker(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, listener={"idle_timeout": "1s"}))
    stuck = tls_connect(gw.port, client_context(certs))
    stuck.sendall(b"GET /big?bytes=%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % (64 * 1024 * 1024))
    try:
        for _ in range(3):  # the only worker still answers others while this one is stuck
            assert _still_serves(gw, certs)
    finally:
        stuck.close()
    assert wait_until(lambda: gw.metric("scalegate_connections_active", listener="public") == 0, timeout=15)


def _check(tmp_path, cfg):
    path = tmp_path / "gw.yaml"
    path.write_text(to_yaml(cfg) + "\n")
    result = run_cli(["check", "-c", str(path)])
    return result, str(path), path.read_text().splitlines()


def _position_of(lines, text):
    for number, line in enumerate(lines, 1):
        if text in line:
            return number, line.index(text) + 1
    raise AssertionError("%r not in the file" % text)


def test_check_names_a_missing_key_file(tmp_path, upstream, certs):
    cfg = tls_config(upstream("u1"), certs, certificates=[{"cert": certs("server.crt"), "key": certs("nope.key")}])
    cfg["listeners"][0]["address"] = "127.0.0.1:0"
    result, path, lines = _check(tmp_path, cfg)
    assert result.returncode != 0
    line, column = _position_of(lines, certs("nope.key"))
    assert "%s:%d:%d" % (path, line, column) in result.stdout + result.stderr
    assert "cannot read '%s'" % certs("nope.key") in result.stdout + result.stderr


def test_check_names_a_key_that_does_not_match(tmp_path, upstream, certs):
    cfg = tls_config(upstream("u1"), certs, certificates=[{"cert": certs("server.crt"), "key": certs("wild.key")}])
    cfg["listeners"][0]["address"] = "127.0.0.1:0"
    result, path, lines = _check(tmp_path, cfg)
    assert result.returncode != 0
    line, column = _position_of(lines, certs("wild.key"))
    assert "%s:%d:%d" % (path, line, column) in result.stdout + result.stderr
    assert "does not match" in result.stdout + result.stderr
