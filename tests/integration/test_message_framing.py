"""Message framing across the gateway, byte for byte: transfer-codings the gateway cannot pass
on, Content-Length written once with one value, and request body limits that count the
bytes on the wire (chunk extensions and trailers included)."""
import gzip

import pytest

from conftest import build_request, make_config, raw_request as raw_request_waiting_for_close
from raw_upstream import RawUpstream, header_lines


def raw_request(*args, **kwargs):
    """These tests never look at whether the gateway closed: no wait for it."""
    kwargs.setdefault("close_wait", 0)
    return raw_request_waiting_for_close(*args, **kwargs)


@pytest.fixture
def raw_upstream():
    started = []

    def make(response):
        up = RawUpstream(response if callable(response) else (lambda head: response))
        started.append(up)
        return up

    yield make
    for up in started:
        up.stop()


def start(gateway, up, **listener):
    cfg = make_config({"app": [up.address]}, listener=listener or None)
    return gateway(cfg)


def chunked(payload, pieces=3):
    step = max(1, len(payload) // pieces)
    out = b""
    for i in range(0, len(payload), step):
        piece = payload[i:i + step]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


# ---- transfer-codings other than chunked (responses) ----

GZIPPED = gzip.compress(b"secret text " * 20)


@pytest.mark.parametrize("fields", [
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: chunked, chunked\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
], ids=["gzip-chunked", "gzip-then-chunked-lines", "chunked-chunked", "chunked-chunked-lines"])
def test_response_with_other_transfer_coding_is_502(gateway, raw_upstream, fields):
    body = chunked(GZIPPED) if b"gzip" in fields else chunked(chunked(b"hello world"))
    up = raw_upstream(b"HTTP/1.1 200 OK\r\n" + fields + b"Connection: close\r\n\r\n" + body)
    gw = start(gateway, up)
    r = raw_request(gw.port, build_request("GET", "/x"))
    assert r.status == 502, r
    assert GZIPPED not in r.body and b"hello world" not in r.body
    assert len(up.heads) == 1


def test_http10_response_with_transfer_encoding_is_502(gateway, raw_upstream):
    up = raw_upstream(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"abc"))
    gw = start(gateway, up)
    r = raw_request(gw.port, build_request("GET", "/x"))
    assert r.status == 502, r


def test_response_with_chunked_alone_still_passes(gateway, raw_upstream):
    up = raw_upstream(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
                      + chunked(b"hello world"))
    gw = start(gateway, up)
    r = raw_request(gw.port, build_request("GET", "/x"))
    assert r.status == 200, r
    assert r.body == b"hello world"
    assert r.header_list("Transfer-Encoding") == ["chunked"]


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"chunked, chunked", b"identity"])
def test_request_with_other_transfer_coding_is_400(gateway, raw_upstream, coding):
    up = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    gw = start(gateway, up)
    r = raw_request(gw.port, b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + coding
                    + b"\r\n\r\n" + chunked(b"abc"))
    assert r.status == 400, r
    assert up.heads == []


# ---- Content-Length: one normalised value (RFC 9110 8.6) ----

@pytest.mark.parametrize("fields", [
    b"Content-Length: 3, 3\r\n",
    b"Content-Length: 3\r\nContent-Length: 003\r\n",
], ids=["list", "repeated"])
def test_request_content_length_forwarded_once(gateway, raw_upstream, fields):
    up = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    gw = start(gateway, up)
    r = raw_request(gw.port, b"POST /x HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\nabc")
    assert r.status == 200, r
    assert len(up.heads) == 1
    assert header_lines(up.heads[0], "Content-Length") == ["3"], up.heads[0]
    assert up.bodies[0] == b"abc"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("fields", [
    b"Content-Length: 3, 3\r\n",
    b"Content-Length: 3\r\nContent-Length: 003\r\n",
], ids=["list", "repeated"])
def test_response_content_length_forwarded_once(gateway, raw_upstream, fields, method):
    body = b"" if method == "HEAD" else b"abc"
    up = raw_upstream(b"HTTP/1.1 200 OK\r\n" + fields + b"Connection: close\r\n\r\n" + body)
    gw = start(gateway, up)
    r = raw_request(gw.port, build_request(method, "/x"), method=method)
    assert r.status == 200, r
    assert r.header_list("Content-Length") == ["3"], r.headers
    assert r.body == body


def test_differing_content_lengths_stay_errors(gateway, raw_upstream):
    up = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n"
                      b"Connection: close\r\n\r\nabcd")
    gw = start(gateway, up)
    r = raw_request(gw.port, build_request("GET", "/x"))
    assert r.status == 502, r
    r = raw_request(gw.port, b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd")
    assert r.status == 400, r
    assert len(up.heads) == 1  # only the GET reached the upstream


# ---- max_body_size counts wire bytes; chunk extensions are capped per body ----

OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def chunked_post(body):
    return b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body


def test_chunk_extensions_count_against_max_body_size(gateway, raw_upstream):
    up = raw_upstream(OK_RESPONSE)
    gw = start(gateway, up, max_body_size="1KiB")
    # 2 payload bytes, ~6 KB on the wire: 6 times the limit (within the extension allowance).
    ext = b";e=" + b"a" * 3000
    body = b"".join(b"1" + ext + b"\r\nx\r\n" for _ in range(2)) + b"0\r\n\r\n"
    r = raw_request(gw.port, chunked_post(body))
    assert r.status == 413, r
    assert all(len(b) <= 1024 for b in up.bodies)


def test_trailers_count_against_max_body_size(gateway, raw_upstream):
    up = raw_upstream(OK_RESPONSE)
    gw = start(gateway, up, max_body_size="1KiB")
    body = b"1\r\nx\r\n0\r\nX-Pad: " + b"t" * 4000 + b"\r\n\r\n"
    r = raw_request(gw.port, chunked_post(body))
    assert r.status == 413, r


def test_chunk_extension_bytes_capped_per_body(gateway, raw_upstream):
    up = raw_upstream(OK_RESPONSE)
    gw = start(gateway, up, max_body_size="64MiB")
    # Every line is under the 4 KiB per-line cap; together they pass the per-body allowance.
    ext = b";e=" + b"a" * 4000
    body = b"".join(b"1" + ext + b"\r\nx\r\n" for _ in range(5)) + b"0\r\n\r\n"
    r = raw_request(gw.port, chunked_post(body))
    assert r.status == 400, r
    assert up.bodies == [] or not up.bodies[0].endswith(b"0\r\n\r\n")


def test_chunked_body_within_limits_passes_byte_for_byte(gateway, raw_upstream):
    up = raw_upstream(OK_RESPONSE)
    gw = start(gateway, up, max_body_size="1KiB")
    body = (b"10;sig=" + b"f" * 64 + b"\r\n" + b"p" * 16 + b"\r\n") * 4 + b"0\r\nX-T: 1\r\n\r\n"
    assert len(body) < 1024
    r = raw_request(gw.port, chunked_post(body))
    assert r.status == 200, r
    assert up.bodies == [body]
