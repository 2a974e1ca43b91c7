"""HTTPS on an HTTP listener (listener key `tls`), certificates made by the openssl command at
run time: requests and keep-alive, SNI choosing the certificate, session resumption, ALPN,
client certificates (required and optional), X-Forwarded-Proto, pipelining, large bodies in
both directions, the WebSocket tunnel and lingering close, all over TLS; the handshake metrics."""
import json
import ssl
import subprocess

import pytest
from conftest import metric_value, wait_until

from tls_support import client_context, get, make_certs, read_response, tls_config, tls_connect


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


def test_get_over_tls_says_https_to_the_upstream(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    with tls_connect(gw.port, client_context(certs)) as sock:
        status, _, body = get(sock, "/echo")
    assert status == 200
    headers = json.loads(body)["headers"]
    assert headers["x-forwarded-proto"] == "https"
    assert "proto=https" in headers["forwarded"]
    assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="ok") == 1


def test_curl_keep_alive_uses_one_handshake(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    url = "https://localhost:%d/echo" % gw.port
    out = subprocess.run(["curl", "-sS", "--cacert", certs("ca.crt"), "--resolve", "localhost:%d:127.0.0.1" % gw.port,
                          "-w", "%{http_code} %{num_connects}\\n"] + ["-o", "/dev/null", url] * 3,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["200 1", "200 0", "200 0"]
    assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="ok") == 1


def test_sni_picks_the_certificate_and_falls_back_to_the_first(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    # Hostname checking on: each handshake succeeds only with the certificate for that name.
    for name in ("x.wild.test", "other.test", "localhost"):
        with tls_connect(gw.port, client_context(certs), server_hostname=name) as sock:
            assert get(sock, "/echo", host=name)[0] == 200
    unchecked = client_context(certs)
    unchecked.check_hostname = False
    with tls_connect(gw.port, unchecked, server_hostname="unknown.example") as sock:
        subject = dict(item[0] for item in sock.getpeercert()["subject"])
    assert subject["commonName"] == "localhost"
    with tls_connect(gw.port, unchecked, server_hostname=None) as sock:
        subject = dict(item[0] for item in sock.getpeercert()["subject"])
    assert subject["commonName"] == "localhost"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption(gateway, upstream, certs, version):
    gw = gateway(tls_config(upstream("u1"), certs))
    context = client_context(certs, max_version=version)
    with tls_connect(gw.port, context) as sock:
        assert get(sock, "/echo")[0] == 200  # TLS 1.3 tickets come after the handshake
        session = sock.session
        assert not sock.session_reused
    with tls_connect(gw.port, context, session=session) as sock:
        assert sock.session_reused
        assert get(sock, "/echo")[0] == 200
    assert gw.metric("scalegate_tls_resumed_handshakes_total", listener="public") == 1
    assert gw.metric("scalegate_tls_handshakes_total", listener="public", result="ok") == 2


def test_openssl_s_client_reuses_a_saved_session(gateway, upstream, certs, tmp_path):
    gw = gateway(tls_config(upstream("u1"), certs))
    saved = str(tmp_path / "session.pem")
    base = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % gw.port, "-servername", "localhost",
            "-CAfile", certs("ca.crt"), "-tls1_2"]
    first = subprocess.run(base + ["-sess_out", saved], input="", capture_output=True, text=True, timeout=30)
    assert "New, TLSv1.2" in first.stdout, first.stdout
    second = subprocess.run(base + ["-sess_in", saved], input="", capture_output=True, text=True, timeout=30)
    assert "Reused, TLSv1.2" in second.stdout, second.stdout


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_with_session_tickets_off_sessions_resume_from_the_server_cache(gateway, upstream, certs,
                                                                       version):
    gw = gateway(tls_config(upstream("u1"), certs, session_tickets=False))
    context = client_context(certs, max_version=version)
    with tls_connect(gw.port, context) as sock:
        assert get(sock, "/echo")[0] == 200
        session = sock.session
    if version == ssl.TLSVersion.TLSv1_2:
        assert not session.has_ticket  # a session id only
    # TLS 1.3 has no session ids: the tickets sent carry only a key to the server's cache.
    with tls_connect(gw.port, context, session=session) as sock:
        assert sock.session_reused
        assert get(sock, "/echo")[0] == 200
    assert gw.metric("scalegate_tls_resumed_handshakes_total", listener="public") == 1


def test_alpn_follows_the_listeners_list(gateway, upstream, certs):
    u1 = upstream("u1")
    listed = gateway(tls_config(u1, certs, alpn=["h2", "http/1.1"]))
    with tls_connect(listed.port, client_context(certs, alpn=["h2", "http/1.1"])) as sock:
        assert sock.selected_alpn_protocol() == "h2"
    with tls_connect(listed.port, client_context(certs, alpn=["http/1.1"])) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        assert get(sock, "/echo")[0] == 200
    # Nothing in common: no ALPN, and the connection goes on as HTTP/1.1 (as nginx does).
    with tls_connect(listed.port, client_context(certs, alpn=["spdy/3"])) as sock:
        assert sock.selected_alpn_protocol() is None
        assert get(sock, "/echo")[0] == 200
    # By default a TLS listener offers http/1.1 only (h2 when `alpn` lists it).
    default = gateway(tls_config(u1, certs))
    with tls_connect(default.port, client_context(certs, alpn=["h2", "http/1.1"])) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"


def test_http2_over_tls_with_curl_and_h2load(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, alpn=["h2", "http/1.1"]))
    url = "https://localhost:%d/echo" % gw.port
    out = subprocess.run(["curl", "-sS", "--http2", "--cacert", certs("ca.crt"), "--resolve",
                          "localhost:%d:127.0.0.1" % gw.port, "-w", "\n%{http_version} %{http_code}",
                          url], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    body, _, summary = out.stdout.rpartition("\n")
    assert summary == "2 200", out.stdout
    headers = json.loads(body)["headers"]
    assert headers["x-forwarded-proto"] == "https"  # a stream of a TLS connection
    load = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "10", url],
                          capture_output=True, text=True, timeout=60)
    assert "400 succeeded, 0 failed, 0 errored" in load.stdout, load.stdout
    assert "Application protocol: h2" in load.stdout, load.stdout
    assert gw.metric("scalegate_http2_connections_total", listener="public") >= 5


def _request_fails(port, context):
    try:
        with tls_connect(port, context) as sock:
            get(sock, "/echo")  # TLS 1.3: the server's refusal arrives after the client's Finished
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return False


def test_client_certificate_required(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, client_ca=certs("ca.crt")))
    with tls_connect(gw.port, client_context(certs, cert="client")) as sock:
        assert get(sock, "/echo")[0] == 200
    assert _request_fails(gw.port, client_context(certs))
    assert _request_fails(gw.port, client_context(certs, cert="stranger"))
    assert wait_until(lambda: gw.metric("scalegate_tls_handshakes_total", listener="public", result="failed") == 2)
    assert gw.metric("scalegate_tls_handshake_failures_total", listener="public",
                     reason="no_client_certificate") == 1
    assert gw.metric("scalegate_tls_handshake_failures_total", listener="public",
                     reason="bad_client_certificate") == 1


def test_client_certificate_optional(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, client_ca=certs("ca.crt"), client_verify="optional"))
    with tls_connect(gw.port, client_context(certs)) as sock:
        assert get(sock, "/echo")[0] == 200
    with tls_connect(gw.port, client_context(certs, cert="client")) as sock:
        assert get(sock, "/echo")[0] == 200
    assert _request_fails(gw.port, client_context(certs, cert="stranger"))  # given, it must be good


def test_pipelined_requests(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    with tls_connect(gw.port, client_context(certs)) as sock:
        sock.sendall(b"".join(b"GET /echo?n=%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i for i in range(5)))
        pending = b""
        for i in range(5):
            # read_response reads past the response it returns; pipelined ones follow it.
            status, _, body, pending = _read_pipelined(sock, pending)
            assert status == 200
            assert json.loads(body)["path"] == "/echo?n=%d" % i


def _read_pipelined(sock, pending):
    class Prefixed:
        def __init__(self):
            self.buffer = pending

        def recv(self, size):
            if self.buffer:
                out, self.buffer = self.buffer[:size], self.buffer[size:]
                return out
            return sock.recv(size)
    return read_response(Prefixed())


def test_large_bodies_both_directions(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, listener={"max_body_size": "64MiB"}))
    size = 24 * 1024 * 1024
    with tls_connect(gw.port, client_context(certs), timeout=60) as sock:
        status, headers, body = get(sock, "/big?bytes=%d" % size)
        assert status == 200 and len(body) == size
        upload = bytes(range(256)) * (size // 256)
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(upload))
        sock.sendall(upload)
        status, _, body, _ = read_response(sock)
        assert status == 200 and json.loads(body)["body_len"] == size
        assert get(sock, "/echo")[0] == 200  # the same connection goes on


def test_websocket_tunnel_over_tls(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs))
    with tls_connect(gw.port, client_context(certs)) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101")
        echoed = head.partition(b"\r\n\r\n")[2]
        payload = b"ping over tls " * 10000
        sock.sendall(payload)
        while len(echoed) < len(payload):
            chunk = sock.recv(65536)
            assert chunk
            echoed += chunk
        assert echoed == payload


def test_lingering_close_delivers_413_while_the_client_uploads(gateway, upstream, certs):
    gw = gateway(tls_config(upstream("u1"), certs, listener={"max_body_size": "1KiB"}))
    with tls_connect(gw.port, client_context(certs)) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4000000\r\n\r\n")
        sock.sendall(b"x" * 200000)  # more keeps coming after the gateway has answered
        status, headers, _, _ = read_response(sock)
    assert status == 413
    assert wait_until(lambda: gw.metric("scalegate_connections_active", listener="public") == 0)
