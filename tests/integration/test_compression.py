"""Response compression (listener or route `compression`): br and gzip round trips decoded by
curl and zlib, Accept-Encoding negotiation, the headers a compressed response changes
(Content-Encoding, Content-Length, Transfer-Encoding, Vary, ETag), what is never compressed,
chunked upstream bodies, HTTP/1.0 clients, a large body to a slow reader, keep-alive
sequences, route overrides and the metrics."""
import os
import re
import socket
import subprocess
import time
import zlib

import pytest

from conftest import Conn, build_request, make_config, metric_value, wait_s
from upstream_server import random_bytes, text_bytes

CURL = "/usr/bin/curl"


def gunzip(data):
    """Decodes one complete gzip stream; fails on a truncated stream or trailing bytes."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = d.decompress(data)
    assert d.eof, "gzip stream is truncated (%d compressed bytes)" % len(data)
    assert d.unused_data == b"", "bytes after the gzip stream: %r" % d.unused_data[:50]
    return out


def curl_get(port, path, accept_encoding=None, extra=(), tmpdir="/tmp"):
    """GET through curl --compressed (decodes br and gzip). Returns (status, headers list,
    decoded body, bytes on the wire)."""
    hfile = os.path.join(tmpdir, "curl-headers")
    bfile = os.path.join(tmpdir, "curl-body")
    args = [CURL, "-sS", "--compressed", "-D", hfile, "-o", bfile, "-w", "%{size_download}",
            "--max-time", str(int(wait_s(20)))]
    if accept_encoding is not None:
        args += ["-H", "Accept-Encoding: " + accept_encoding]
    args += list(extra) + ["http://127.0.0.1:%d%s" % (port, path)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=wait_s(30))
    assert p.returncode == 0, "curl failed (%d): %s" % (p.returncode, p.stderr)
    with open(hfile, "rb") as f:
        lines = f.read().decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
    with open(bfile, "rb") as f:
        body = f.read()
    return status, headers, body, int(p.stdout.strip())


def hget(headers, name):
    vals = [v for k, v in headers if k.lower() == name.lower()]
    return ", ".join(vals) if vals else None


def comp_gateway(upstream, gateway, compression=None, routes=None, workers=1, listener=None):
    u = upstream("u1")
    lis = dict(listener or {})
    if compression is not None:
        lis["compression"] = compression
    return u, gateway(make_config({"u1": [u]}, routes=routes, workers=workers, listener=lis))


def assert_gzip_response(r, original):
    assert r.status == 200, r
    assert r.header("Content-Encoding") == "gzip", r
    assert r.header("Content-Length") is None, r
    assert r.header("Transfer-Encoding") == "chunked", r
    assert r.header_list("Vary") == ["Accept-Encoding"], r
    assert gunzip(r.body) == original


def assert_identity_response(r, original, vary=True):
    assert r.status == 200, r
    assert r.header("Content-Encoding") is None, r
    assert r.header("Content-Length") == str(len(original)), r
    if vary:
        assert r.header_list("Vary") == ["Accept-Encoding"], r
    else:
        assert r.header("Vary") is None, r
    assert r.body == original


# ---------------------------------------------------------------------------
# round trips and negotiation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("accept,coding", [(None, "br"), ("gzip", "gzip"), ("br", "br")],
                         ids=["curl-default", "gzip", "br"])
def test_round_trip_decodes_with_curl(upstream, gateway, tmp_path, accept, coding):
    """curl --compressed offers br and gzip; br wins at equal q. The decoded body is the
    upstream's, the strong ETag becomes weak and the length goes."""
    u, gw = comp_gateway(upstream, gateway, {})
    n = 50000
    status, headers, body, wire = curl_get(gw.port, "/text?bytes=%d&etag=v1" % n, accept, tmpdir=str(tmp_path))
    assert status == 200, headers
    assert hget(headers, "Content-Encoding") == coding, headers
    assert body == text_bytes(n), "decoded body differs (%d bytes, want %d)" % (len(body), n)
    assert wire < n // 5, "%d bytes on the wire for %d of text" % (wire, n)
    assert hget(headers, "Content-Length") is None, headers
    assert hget(headers, "Transfer-Encoding") == "chunked", headers
    assert [v for k, v in headers if k.lower() == "vary"] == ["Accept-Encoding"], headers
    assert hget(headers, "ETag") == 'W/"v1"', headers
    assert hget(headers, "X-Content-Type-Options") == "nosniff", headers


NEGOTIATION = [
    ("gzip", "gzip"),
    ("br", "br"),
    ("gzip, br", "br"),
    ("br;q=0.5, gzip;q=0.8", "gzip"),
    ("gzip;q=1.0, br;q=0.9", "gzip"),
    ("GZIP", "gzip"),
    ("*", "br"),
    ("*;q=0.1, gzip", "gzip"),
    ("identity", None),
    (None, None),
    ("", None),
    ("gzip;q=0, br;q=0", None),
    ("deflate, zstd", None),
]


@pytest.mark.parametrize("accept,coding", NEGOTIATION, ids=[repr(a) for a, _ in NEGOTIATION])
def test_accept_encoding_negotiation(upstream, gateway, accept, coding):
    u, gw = comp_gateway(upstream, gateway, {})
    original = text_bytes(3000)
    with Conn(gw.port) as c:
        r = c.get("/text?bytes=3000&etag=e1", headers={"Accept-Encoding": accept} if accept is not None else None)
        if coding is None:
            assert_identity_response(r, original)
            assert r.header("ETag") == '"e1"', "ETag changed on an uncompressed response: %r" % r
        elif coding == "gzip":
            assert_gzip_response(r, original)
            assert r.header("ETag") == 'W/"e1"', r
        else:
            assert r.header("Content-Encoding") == "br", r
            assert r.header("Content-Length") is None and r.header("Transfer-Encoding") == "chunked", r
            assert r.header_list("Vary") == ["Accept-Encoding"], r
            assert 0 < len(r.body) < 1000 and r.body != original[:len(r.body)], r
        # the connection is still in sync: a second exchange on it works
        r2 = c.get("/echo/next")
        assert r2.status == 200 and r2.json()["path"] == "/echo/next", r2


def test_headers_merged_with_upstream_vary_and_weak_etag(upstream, gateway):
    """An upstream Vary gains Accept-Encoding in one line (no duplicate); a weak ETag stays
    as it is."""
    u, gw = comp_gateway(upstream, gateway, {})
    with Conn(gw.port) as c:
        r = c.get("/text?bytes=4000&vary=Cookie&weak_etag=w1", headers={"Accept-Encoding": "gzip"})
        assert len(r.header_list("Vary")) == 1, r
        assert [t.strip().lower() for t in r.header("Vary").split(",")] == ["cookie", "accept-encoding"], r
        assert r.header("ETag") == 'W/"w1"', r
        assert gunzip(r.body) == text_bytes(4000)
        r = c.get("/text?bytes=4000&vary=Accept-Encoding", headers={"Accept-Encoding": "gzip"})
        assert [t.strip().lower() for t in r.header("Vary").split(",")] == ["accept-encoding"], r
        assert gunzip(r.body) == text_bytes(4000)
        r = c.get("/text?bytes=4000&vary=*", headers={"Accept-Encoding": "gzip"})
        assert r.header_list("Vary") == ["*"], r
        assert gunzip(r.body) == text_bytes(4000)


def test_accept_encoding_over_several_lines(upstream, gateway):
    u, gw = comp_gateway(upstream, gateway, {})
    with Conn(gw.port) as c:
        r = c.get("/text?bytes=5000", headers=[("Accept-Encoding", "identity"), ("Accept-Encoding", "gzip")])
        assert_gzip_response(r, text_bytes(5000))
        r = c.get("/text?bytes=5000", headers=[("Accept-Encoding", "gzip;q=0.5"), ("Accept-Encoding", "br")])
        assert r.header("Content-Encoding") == "br", r


def test_upstream_content_encoding_identity(upstream, gateway, tmp_path):
    """An upstream body labelled `Content-Encoding: identity` is not encoded. Whether the
    gateway compresses it or not, the response must name exactly the codings applied (a
    client decoding "identity, gzip" literally, such as python-requests, fails)."""
    u, gw = comp_gateway(upstream, gateway, {})
    original = text_bytes(5000)
    with Conn(gw.port) as c:
        r = c.get("/text?bytes=5000&encoding=identity", headers={"Accept-Encoding": "gzip"})
    codings = [t.strip().lower() for v in r.header_list("Content-Encoding") for t in v.split(",")]
    assert codings in (["identity"], ["gzip"]), \
        "Content-Encoding %r: the upstream's identity was kept next to the gateway's coding\n%r" % (
            r.header_list("Content-Encoding"), r)
    assert (gunzip(r.body) if codings == ["gzip"] else r.body) == original


# ---------------------------------------------------------------------------
# never compressed
# ---------------------------------------------------------------------------
NOT_COMPRESSED = {
    # name: (method, path, status, body, vary expected)
    "below_min_size": ("GET", "/text?bytes=1023", 200, text_bytes(1023), False),
    "image_png": ("GET", "/text?bytes=3000&type=image/png", 200, text_bytes(3000), False),
    "no_transform": ("GET", "/no-transform?bytes=3000", 200, text_bytes(3000), False),
    "head": ("HEAD", "/text?bytes=3000", 200, b"", True),
    "status_204": ("GET", "/text?status=204", 204, b"", False),
    "status_304": ("GET", "/text?status=304&etag=n1", 304, b"", False),
}


@pytest.mark.parametrize("case", sorted(NOT_COMPRESSED))
def test_not_compressed(upstream, gateway, case):
    method, path, status, body, vary = NOT_COMPRESSED[case]
    u, gw = comp_gateway(upstream, gateway, {"min_size": "1KiB"})
    with Conn(gw.port) as c:
        r = c.request(method, path, headers={"Accept-Encoding": "br, gzip"})
        assert r.status == status, r
        assert r.header("Content-Encoding") is None, "%s was compressed: %r" % (case, r)
        assert r.header("Transfer-Encoding") is None, r
        assert r.body == body
        if status == 200:
            want = "3000" if method == "HEAD" else str(len(body))
            assert r.header("Content-Length") == want, r
        if vary:
            assert r.header_list("Vary") == ["Accept-Encoding"], r
        else:
            assert r.header("Vary") is None, r
        if case == "status_304":
            assert r.header("ETag") == '"n1"', r
        assert c.get("/echo/next").status == 200
    assert gw.metric("scalegate_compressed_responses_total", listener="public") == 0


def test_already_encoded_passes_untouched(upstream, gateway):
    u, gw = comp_gateway(upstream, gateway, {})
    with Conn(gw.port) as c:
        r = c.get("/encoded?bytes=8000", headers={"Accept-Encoding": "br, gzip"})
    assert r.status == 200, r
    assert r.header_list("Content-Encoding") == ["gzip"], r
    assert r.header("Content-Length") == str(len(r.body)), r
    assert gunzip(r.body) == text_bytes(8000), "the upstream's gzip body was changed"
    assert gw.metric("scalegate_compressed_responses_total", listener="public") == 0


def test_min_size_boundary_and_content_types(upstream, gateway):
    """min_size 2KiB: a Content-Length of 2047 is sent as it is, 2048 is compressed. The
    configured content_types (with text/*) match case-insensitively, ignoring parameters."""
    u, gw = comp_gateway(upstream, gateway, {"min_size": "2KiB", "algorithms": ["gzip"],
                                             "content_types": ["text/*", "application/json"]})
    with Conn(gw.port) as c:
        assert_identity_response(c.get("/text?bytes=2047", headers={"Accept-Encoding": "gzip"}),
                                 text_bytes(2047), vary=False)
        assert_gzip_response(c.get("/text?bytes=2048", headers={"Accept-Encoding": "gzip"}), text_bytes(2048))
        for ctype in ("text/csv", "text/html; charset=utf-8", "application/json", "TEXT/Plain"):
            r = c.get("/text?bytes=3000&type=" + ctype.replace(" ", "%20").replace(";", "%3B"),
                      headers={"Accept-Encoding": "gzip"})
            assert r.header("Content-Type") == ctype, r
            assert_gzip_response(r, text_bytes(3000))
        for ctype in ("application/xml", "image/svg+xml", "application/octet-stream"):
            r = c.get("/text?bytes=3000&type=" + ctype, headers={"Accept-Encoding": "gzip"})
            assert_identity_response(r, text_bytes(3000), vary=False)
        # br is not configured: a br-only client gets the identity
        assert_identity_response(c.get("/text?bytes=3000", headers={"Accept-Encoding": "br"}), text_bytes(3000))


# ---------------------------------------------------------------------------
# framing: chunked upstream bodies, HTTP/1.0, large bodies, keep-alive
# ---------------------------------------------------------------------------
def test_chunked_upstream_body_compressed(upstream, gateway, tmp_path):
    """A chunked upstream body of unknown length is compressed whatever its size."""
    u, gw = comp_gateway(upstream, gateway, {})
    with Conn(gw.port) as c:
        assert_gzip_response(c.get("/text-chunked?bytes=60000&pieces=7", headers={"Accept-Encoding": "gzip"}),
                             text_bytes(60000))
        assert_gzip_response(c.get("/text-chunked?bytes=100&pieces=3", headers={"Accept-Encoding": "gzip"}),
                             text_bytes(100))
    status, headers, body, _ = curl_get(gw.port, "/text-chunked?bytes=60000&pieces=5", tmpdir=str(tmp_path))
    assert status == 200 and hget(headers, "Content-Encoding") == "br", headers
    assert body == text_bytes(60000)


@pytest.mark.parametrize("path,original", [("/text?bytes=20000", text_bytes(20000)),
                                           ("/text-chunked?bytes=20000", text_bytes(20000))],
                         ids=["content-length", "chunked"])
def test_http10_client_gets_close_delimited_body(upstream, gateway, tmp_path, path, original):
    u, gw = comp_gateway(upstream, gateway, {})
    c = Conn(gw.port)
    try:
        c.send(("GET %s HTTP/1.0\r\nHost: gw\r\nAccept-Encoding: gzip\r\n\r\n" % path).encode())
        r = c.read_head()
        assert r.status == 200, r
        assert r.header("Content-Encoding") == "gzip", r
        assert r.header("Transfer-Encoding") is None, "chunked sent to an HTTP/1.0 client: %r" % r
        assert r.header("Content-Length") is None, r
        body = b"".join(c.iter_body(r))  # until the gateway closes
        assert c.eof, "the connection was not closed after the body"
        assert gunzip(body) == original
    finally:
        c.close()
    status, headers, body, _ = curl_get(gw.port, path, extra=["--http1.0"], tmpdir=str(tmp_path))
    assert status == 200 and hget(headers, "Content-Encoding") == "br", headers
    assert hget(headers, "Transfer-Encoding") is None, headers
    assert body == original


def test_http10_keep_alive_request_still_closes(upstream, gateway):
    """An HTTP/1.0 client asking for keep-alive cannot be given a compressed body of unknown
    length on a kept connection: the gateway closes after it."""
    u, gw = comp_gateway(upstream, gateway, {})
    c = Conn(gw.port)
    try:
        c.send(b"GET /text?bytes=5000 HTTP/1.0\r\nHost: gw\r\nConnection: keep-alive\r\n"
               b"Accept-Encoding: gzip\r\n\r\n")
        r = c.read_head()
        assert r.header("Content-Encoding") == "gzip" and r.header("Content-Length") is None, r
        assert "keep-alive" not in (r.header("Connection") or "").lower(), r
        body = b"".join(c.iter_body(r))
        assert c.eof
        assert gunzip(body) == text_bytes(5000)
    finally:
        c.close()


def test_close_delimited_upstream_body_compressed(upstream, gateway):
    """An upstream body ended by the upstream closing its connection is compressed and
    re-framed as chunks; the stream is complete."""
    u, gw = comp_gateway(upstream, gateway, {})
    with Conn(gw.port) as c:
        r = c.get("/close", headers={"Accept-Encoding": "gzip"})
        assert_gzip_response(r, b"read until close body\n" * 10)
    with Conn(gw.port) as c:
        r = c.get("/close", headers={"Accept-Encoding": "identity"})
        assert r.status == 200 and r.header("Content-Encoding") is None, r
        assert r.body == b"read until close body\n" * 10


def test_clients_leaving_mid_stream_do_not_break_compression(upstream, gateway):
    """Clients that close during compressed 1 MiB responses leave the gateway healthy:
    later compressed responses (same worker, reused compressors) are still correct."""
    u, gw = comp_gateway(upstream, gateway, {"content_types": ["application/octet-stream", "text/plain"]})
    n = 1024 * 1024
    for i in range(6):
        c = Conn(gw.port)
        try:
            enc = "gzip" if i % 2 else "br"
            c.send(build_request("GET", "/random?bytes=%d&seed=%d&type=application/octet-stream" % (n, i),
                                 {"Accept-Encoding": enc}))
            r = c.read_head()
            assert r.header("Content-Encoding") == enc, r
            c._fill()
        finally:
            c.close()
    with Conn(gw.port) as c:
        for n2 in (3000, 200000):
            assert_gzip_response(c.get("/text?bytes=%d" % n2, headers={"Accept-Encoding": "gzip"}), text_bytes(n2))
        r = c.get("/random?bytes=300000&seed=3&type=application/octet-stream", headers={"Accept-Encoding": "gzip"})
        assert_gzip_response(r, random_bytes(300000, 3))
    assert gw.alive()


def test_large_body_slow_reader(upstream, gateway, tmp_path):
    """1 MiB of incompressible data, gzip to a client with a small receive buffer that reads
    slowly, and br through curl with a rate limit: both decode to the original."""
    u, gw = comp_gateway(upstream, gateway, {"content_types": ["application/octet-stream"]})
    n = 1024 * 1024
    original = random_bytes(n, 7)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.settimeout(wait_s(20))
        sock.connect(("127.0.0.1", gw.port))
        sock.sendall(build_request("GET", "/random?bytes=%d&seed=7&type=application/octet-stream" % n,
                                   {"Accept-Encoding": "gzip", "Connection": "close"}))
        time.sleep(0.2)  # let the gateway's writes back up
        data = bytearray()
        while True:
            piece = sock.recv(16384)
            if not piece:
                break
            data += piece
            time.sleep(0.001)
    finally:
        sock.close()
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert b"\r\ncontent-encoding: gzip" in head.lower() and b"transfer-encoding: chunked" in head.lower(), head
    # de-chunk
    payload = bytearray()
    pos = 0
    while True:
        eol = rest.index(b"\r\n", pos)
        size = int(rest[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            break
        payload += rest[pos:pos + size]
        assert rest[pos + size:pos + size + 2] == b"\r\n", "bad chunk framing at %d" % pos
        pos += size + 2
    assert gunzip(bytes(payload)) == original
    status, headers, body, wire = curl_get(gw.port, "/random?bytes=%d&seed=7&type=application/octet-stream" % n,
                                           extra=["--limit-rate", "4M"], tmpdir=str(tmp_path))
    assert status == 200 and hget(headers, "Content-Encoding") == "br", headers
    assert body == original


def test_keepalive_sequence_of_compressed_and_plain(upstream, gateway):
    """Compressed responses (gzip, br, chunked upstream), then uncompressed ones, then
    compressed again, all on one connection and all correctly framed."""
    u, gw = comp_gateway(upstream, gateway, {})
    gz = {"Accept-Encoding": "gzip"}
    with Conn(gw.port) as c:
        for i, n in enumerate([3000, 70000, 1500]):
            assert_gzip_response(c.get("/text?bytes=%d&i=%d" % (n, i), headers=gz), text_bytes(n))
        r = c.get("/text?bytes=9000", headers={"Accept-Encoding": "br"})
        assert r.header("Content-Encoding") == "br" and r.body, r
        assert_gzip_response(c.get("/text-chunked?bytes=9000", headers=gz), text_bytes(9000))
        assert_identity_response(c.get("/text?bytes=5000"), text_bytes(5000))
        assert_identity_response(c.get("/text?bytes=500", headers=gz), text_bytes(500), vary=False)
        r = c.get("/echo/plain", headers=gz)  # JSON echo, under min_size
        assert r.status == 200 and r.json()["path"] == "/echo/plain", r
        assert_gzip_response(c.get("/text?bytes=4000", headers=gz), text_bytes(4000))
        # pipelined: two compressed responses sent back to back
        c.send(build_request("GET", "/text?bytes=6000", gz) + build_request("GET", "/text?bytes=7000", gz))
        assert_gzip_response(c.read_response(), text_bytes(6000))
        assert_gzip_response(c.read_response(), text_bytes(7000))
    assert u.stats()["connections"] >= 1


# ---------------------------------------------------------------------------
# configuration per route, metrics
# ---------------------------------------------------------------------------
def test_route_overrides_listener_compression(upstream, gateway):
    routes = [{"name": "plain", "match": {"prefix": "/plain"}, "upstream": "u1", "strip_prefix": True,
               "compression": {"enabled": False}},
              {"name": "gz", "match": {"prefix": "/gz"}, "upstream": "u1", "strip_prefix": True,
               "compression": {"algorithms": ["gzip"], "min_size": 10, "gzip_level": 9}},
              {"name": "default", "match": {"prefix": "/"}, "upstream": "u1"}]
    u, gw = comp_gateway(upstream, gateway, {"min_size": "1KiB"}, routes=routes)
    both = {"Accept-Encoding": "br, gzip"}
    with Conn(gw.port) as c:
        r = c.get("/plain/text?bytes=5000", headers=both)
        assert_identity_response(r, text_bytes(5000), vary=False)
        assert_gzip_response(c.get("/gz/text?bytes=100", headers=both), text_bytes(100))
        assert_identity_response(c.get("/gz/text?bytes=5000", headers={"Accept-Encoding": "br"}), text_bytes(5000))
        r = c.get("/text?bytes=5000", headers=both)
        assert r.header("Content-Encoding") == "br", r
        assert_identity_response(c.get("/text?bytes=100", headers=both), text_bytes(100), vary=False)


def test_route_compression_without_listener_compression(upstream, gateway):
    routes = [{"name": "c", "match": {"prefix": "/c"}, "upstream": "u1", "strip_prefix": True,
               "compression": {"enabled": True}},
              {"name": "default", "match": {"prefix": "/"}, "upstream": "u1"}]
    u, gw = comp_gateway(upstream, gateway, None, routes=routes)
    gz = {"Accept-Encoding": "gzip"}
    with Conn(gw.port) as c:
        assert_gzip_response(c.get("/c/text?bytes=5000", headers=gz), text_bytes(5000))
        assert_identity_response(c.get("/text?bytes=5000", headers=gz), text_bytes(5000), vary=False)


def test_compression_metrics_exact(upstream, gateway):
    """compressed_responses_total counts compressed responses; bytes_in is the upstream
    payload and bytes_out the compressed payload (without chunk framing)."""
    u, gw = comp_gateway(upstream, gateway, {}, workers=2)
    gz = {"Accept-Encoding": "gzip"}
    sizes = [3000, 50000, 12345]
    wire = 0
    for n in sizes:
        with Conn(gw.port) as c:
            r = c.get("/text?bytes=%d" % n, headers=gz)
            assert_gzip_response(r, text_bytes(n))
            wire += len(r.body)
    with Conn(gw.port) as c:
        assert_identity_response(c.get("/text?bytes=3000"), text_bytes(3000))  # not counted
    text = gw.metrics_text()
    assert metric_value(text, "scalegate_compressed_responses_total", listener="public") == len(sizes)
    assert metric_value(text, "scalegate_compression_bytes_in_total", listener="public") == sum(sizes)
    assert metric_value(text, "scalegate_compression_bytes_out_total", listener="public") == wire
