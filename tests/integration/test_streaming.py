"""Bodies stream through the gateway in both directions (Content-Length and chunked)."""
import hashlib
import os
import socket
import time

import pytest

from conftest import Conn, build_request, make_config, pattern_bytes, sha256, wait_s

MiB = 1024 * 1024


@pytest.fixture
def gw_unlimited(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=2, listener={"max_body_size": 0},
                             upstream_opts={"u1": {"response_timeout": "60s"}}))
    return u1, gw


def pattern_sha(n):
    h = hashlib.sha256()
    off = 0
    while off < n:
        take = min(MiB, n - off)
        h.update(pattern_bytes(off, take))
        off += take
    return h.hexdigest()


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@pytest.mark.timeout_s(90)
def test_upload_20mib_content_length(gw_unlimited):
    _, gw = gw_unlimited
    data = os.urandom(20 * MiB)
    with Conn(gw.port, timeout=60) as c:
        r = c.request("POST", "/echo", body=data)
        assert r.status == 200, r
        assert r.json()["body_len"] == len(data)
        assert r.json()["body_sha256"] == sha256(data)
        assert c.get("/echo/after").status == 200


@pytest.mark.timeout_s(90)
def test_upload_20mib_chunked(gw_unlimited):
    _, gw = gw_unlimited
    data = os.urandom(20 * MiB + 12345)
    with Conn(gw.port, timeout=60) as c:
        r = c.request("POST", "/echo", body=data, chunked=True)
        assert r.status == 200, r
        assert r.json()["body_len"] == len(data)
        assert r.json()["body_sha256"] == sha256(data)
        assert c.get("/echo/after").status == 200


def test_upload_many_small_chunks_with_trailer(gw_unlimited):
    _, gw = gw_unlimited
    pieces = [bytes([i % 251]) * (i % 13 + 1) for i in range(3000)]
    body = b"".join(b"%x;ext=1\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\nX-Trailer: t\r\n\r\n"
    head = build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
    with Conn(gw.port) as c:
        c.send(head + body)
        r = c.read_response("POST")
        assert r.status == 200, r
        whole = b"".join(pieces)
        assert r.json()["body_len"] == len(whole)
        assert r.json()["body_sha256"] == sha256(whole)
        assert c.get("/echo/after").status == 200


@pytest.mark.timeout_s(90)
def test_download_50mib(gw_unlimited):
    _, gw = gw_unlimited
    n = 50 * MiB
    with Conn(gw.port, timeout=60) as c:
        c.send(build_request("GET", "/big?bytes=%d" % n))
        r = c.read_head()
        assert r.status == 200, r
        h = hashlib.sha256()
        got = 0
        for piece in c.iter_body(r):
            h.update(piece)
            got += len(piece)
        assert got == n
        assert h.hexdigest() == pattern_sha(n), "downloaded bytes differ from what the upstream sent"
        # framing intact: the keep-alive connection still works
        assert c.get("/echo/after").json()["path"] == "/echo/after"


@pytest.mark.parametrize("n,size", [(200, 4096), (2000, 1), (3, 300000)])
def test_chunked_response_intact(gw_unlimited, n, size):
    _, gw = gw_unlimited
    with Conn(gw.port, timeout=30) as c:
        r = c.get("/chunked?n=%d&size=%d" % (n, size))
        assert r.status == 200, r
        assert len(r.body) == n * size
        assert r.body == pattern_bytes(0, n * size)
        assert c.get("/echo/after").status == 200


@pytest.mark.timeout_s(120)
def test_download_200mib_not_buffered(gw_unlimited):
    """A slow reader of a 200 MiB response must not make the gateway buffer it: VmRSS < 200 MiB."""
    _, gw = gw_unlimited
    n = 200 * MiB
    limit_kib = 200 * 1024
    peak = vm_kib(gw.pid, "VmRSS")
    with Conn(gw.port, timeout=60) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        c.send(build_request("GET", "/big?bytes=%d" % n))
        r = c.read_head()
        assert r.status == 200, r
        got = 0
        body = c.iter_body(r, chunk_limit=256 * 1024)
        # read a little, then stall: a buffering gateway would now swallow the upstream's 200 MiB
        for piece in body:
            got += len(piece)
            if got >= MiB:
                break
        deadline = time.monotonic() + wait_s(2)
        while time.monotonic() < deadline:
            peak = max(peak, vm_kib(gw.pid, "VmRSS"))
            time.sleep(0.1)
        last_sample = time.monotonic()
        for piece in body:
            got += len(piece)
            if time.monotonic() - last_sample > 0.05:
                peak = max(peak, vm_kib(gw.pid, "VmRSS"))
                last_sample = time.monotonic()
        assert got == n
    hwm = vm_kib(gw.pid, "VmHWM")
    assert peak < limit_kib, "gateway VmRSS reached %d KiB during a 200 MiB download" % peak
    assert hwm < limit_kib, "gateway VmHWM reached %d KiB during a 200 MiB download" % hwm
