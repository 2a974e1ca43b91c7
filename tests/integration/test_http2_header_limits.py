"""HTTP/2 request header limits: a header block past `http2.max_header_list_size` or with more
fields than the listener's `max_headers` is answered 431 on its own stream, as HTTP/1.1 answers
the same request, while the connection and its other streams go on. A client that keeps sending
oversized blocks, or one block past 4 times the limit, is abuse: GOAWAY ENHANCE_YOUR_CALM,
counted as header_list_too_large. (The HPACK bomb and CONTINUATION flood are in
test_http2_abuse.py.)"""
import json
import time

import hpack
from hyperframe.frame import ContinuationFrame, HeadersFrame

from conftest import SLOW, http_get, rss_kib, make_config, wait_until, wait_s
from h2_client import H2Client
from test_http2_abuse import ENHANCE_YOUR_CALM, REQUEST, RawConnection, abuse_count, assert_others_served

BIG_COOKIE = ("cookie", "session=" + "c" * 20 * 1024)  # past the default 16 KiB


def header_gateway(upstream, gateway, tmp_path=None, listener=None, **http2):
    u = upstream("u1")
    lis = {"http2": dict({"h2c": True}, **http2)}
    lis.update(listener or {})
    top = {}
    if tmp_path is not None:
        top["access_log"] = {"enabled": True, "path": str(tmp_path / "access.log")}
    return u, gateway(make_config({"u1": [u]}, listener=lis, **top))


def rejected(gw, reason):
    return gw.metric("scalegate_rejected_requests_total", listener="public", reason=reason)


def access_lines(gw, tmp_path, count):
    path = tmp_path / "access.log"

    def lines():
        if not path.exists():
            return None
        got = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
        return got if len(got) >= count else None

    return wait_until(lines, timeout=wait_s(10)) or []


def test_oversized_cookie_gets_431_and_the_connection_goes_on(upstream, gateway, tmp_path):
    u, gw = header_gateway(upstream, gateway, tmp_path)
    c = H2Client(gw.port)
    try:
        slow = c.request("/slow?ms=1500&which=inflight")  # in flight while the big one comes
        big = c.request("/echo?which=big", headers=[BIG_COOKIE])
        r_big = c.wait([big])[0]
        assert r_big["status"] == 431 and r_big["ended"] and r_big["reset"] is None, r_big
        assert bytes(r_big["body"]) == b"431 Request Header Fields Too Large\n", r_big
        r_slow = c.wait([slow])[0]
        assert r_slow["status"] == 200 and r_slow["reset"] is None, r_slow
        after = c.get("/echo?which=after")
        assert after["status"] == 200, after
        assert not c.closed and c.goaway is None
    finally:
        c.close()
    targets = u.stats()["targets"]
    assert "/echo?which=big" not in targets, targets
    assert targets.get("/echo?which=after") == 1 and targets.get("/slow?ms=1500&which=inflight") == 1
    assert rejected(gw, "head_too_large") == 1
    assert abuse_count(gw, "header_list_too_large") == 0
    assert gw.metric("scalegate_http2_goaways_total", listener="public") == 0
    # The same request over HTTP/1.1: 431 too, logged alike.
    r = http_get(gw.port, "/echo?which=big-h1", headers=[("Cookie", BIG_COOKIE[1])])
    assert r.status == 431 and r.body == bytes(r_big["body"]), r
    assert rejected(gw, "head_too_large") == 2
    assert "/echo?which=big-h1" not in u.stats()["targets"]
    lines = access_lines(gw, tmp_path, 4)
    assert sorted(int(l["status"]) for l in lines) == [200, 200, 431, 431], lines
    h2_431, h1_431 = [l for l in lines if int(l["status"]) == 431]
    # bytes_sent differs: an HTTP/2 response counts its body only (README, HTTP/2).
    same = ("listener", "route", "method", "path", "upstream", "upstream_server", "request_id")
    assert {k: h2_431[k] for k in same} == {k: h1_431[k] for k in same}, lines
    assert int(h2_431["bytes_sent"]) == len("431 Request Header Fields Too Large\n"), h2_431


def test_oversized_post_gets_431_and_its_body_goes_nowhere(upstream, gateway):
    u, gw = header_gateway(upstream, gateway)
    c = H2Client(gw.port)
    try:
        r = c.wait([c.request("/echo?which=post", method="POST", headers=[BIG_COOKIE],
                              body=b"x" * 10000)])[0]
        assert r["status"] == 431, r
        assert c.get("/echo?which=after")["status"] == 200
    finally:
        c.close()
    assert "/echo?which=post" not in u.stats()["targets"]


def test_too_many_header_fields_get_431_and_the_connection_goes_on(upstream, gateway):
    u, gw = header_gateway(upstream, gateway, listener={"max_headers": 20})
    fields = [("x-field-%d" % i, "v") for i in range(30)]  # well within the list size
    c = H2Client(gw.port)
    try:
        r = c.get("/echo?which=many", headers=fields)
        assert r["status"] == 431 and r["reset"] is None, r
        assert c.get("/echo?which=after", headers=fields[:10])["status"] == 200
        assert not c.closed and c.goaway is None
    finally:
        c.close()
    assert "/echo?which=many" not in u.stats()["targets"]
    assert rejected(gw, "too_many_headers") == 1
    r = http_get(gw.port, "/echo?which=many-h1", headers=fields)  # parity with HTTP/1.1
    assert r.status == 431, r
    assert rejected(gw, "too_many_headers") == 2
    # Cookie crumbs (RFC 9113 8.2.3) are joined into one field, as HTTP/1.1 sends them: 30
    # crumbs are not 30 fields.
    c = H2Client(gw.port)
    try:
        crumbs = [("cookie", "c%d=v" % i) for i in range(30)]
        assert c.get("/echo?which=crumbs", headers=crumbs)["status"] == 200
    finally:
        c.close()


def test_block_past_four_times_the_limit_is_abuse(upstream, gateway):
    _, gw = header_gateway(upstream, gateway, max_header_list_size="4KB")
    c = RawConnection(gw.port)
    enc = hpack.Encoder()
    try:
        # Four CONTINUATION frames (within nghttp2's 8) of fresh 1000-byte fields: 4 KB is
        # refused, 16 KB is abuse.
        c.send(HeadersFrame(1, data=enc.encode(REQUEST), flags=[]).serialize())
        for i in range(4):
            fields = [("x-part-%d-%d" % (i, j), "v" * 1000) for j in range(5)]
            flags = ["END_HEADERS"] if i == 3 else []
            c.send(ContinuationFrame(1, data=enc.encode(fields), flags=flags).serialize())
        assert c.wait_closed()
    finally:
        c.close()
    assert c.goaway_code() == ENHANCE_YOUR_CALM, list(c.frames())
    assert not [f for f in c.frames() if isinstance(f, HeadersFrame)], "the block was answered"
    assert abuse_count(gw, "header_list_too_large") == 1
    assert_others_served(gw)


def test_repeated_oversized_blocks_end_the_connection(upstream, gateway):
    # Each refused block takes a token of the rapid reset bucket. A small bucket (100, refilled
    # at 1/s) keeps the outcome independent of the gateway's speed: under a sanitizer the
    # default one (1000 at 33/s) refills faster than 2,000 blocks are decoded.
    u, gw = header_gateway(upstream, gateway, stream_reset_burst=100, stream_reset_rate=1)
    other = H2Client(gw.port)  # opened before the burst, used after it
    c = RawConnection(gw.port)
    enc = hpack.Encoder()
    try:
        assert other.get("/echo?which=before")["status"] == 200
        rss_before = rss_kib(gw.pid)
        # 3 KB fits the 4 KB HPACK table: after the first block each repeat costs the client
        # one byte, and each block decodes to 18 KB (past the limit, within 4 times it).
        big = ("x-big", "b" * 3000)
        sent = 0
        started = time.monotonic()
        for i in range(2000):
            block = enc.encode(REQUEST + [big] * 6)
            frame = HeadersFrame(2 * i + 1, data=block, flags=["END_HEADERS", "END_STREAM"])
            if not c.send(frame.serialize()):
                break
            sent += 1
        assert c.wait_closed(), "the connection survived %d oversized blocks" % sent
        elapsed = time.monotonic() - started
        rss_after = rss_kib(gw.pid)
        assert other.get("/echo?which=after")["status"] == 200
    finally:
        c.close()
        other.close()
    assert c.goaway_code() == ENHANCE_YOUR_CALM, c.goaway_code()
    answered = [f for f in c.frames() if isinstance(f, HeadersFrame)]
    # The burst's tokens, plus what the bucket refilled meanwhile (1/s).
    assert 0 < len(answered) <= 100 + elapsed + 1, (len(answered), elapsed)
    assert abuse_count(gw, "header_list_too_large") == 1
    print("oversized blocks sent %d, answered 431 %d, gateway RSS %d -> %d KiB"
          % (sent, len(answered), rss_before, rss_after))
    # Sanitizer builds (SLOW > 1) hold shadow memory for what is allocated: 14 MiB under TSan.
    assert rss_after - rss_before < 16 * 1024 * SLOW, (rss_before, rss_after)
    assert u.stats()["targets"].get("/echo", 0) == 0
    assert_others_served(gw)


def test_oversized_trailers_reset_their_stream_only(upstream, gateway):
    u, gw = header_gateway(upstream, gateway, max_header_list_size="4KB")
    c = H2Client(gw.port)
    try:
        sid = c.conn.get_next_available_stream_id()
        c.responses[sid] = {"status": None, "headers": [], "body": bytearray(), "ended": False,
                            "reset": None}
        c.conn.send_headers(sid, [(":method", "POST"), (":path", "/echo?which=trailers"),
                                  (":scheme", "http"), (":authority", "gateway.test"),
                                  ("content-length", "5")])
        c.conn.send_data(sid, b"hello")
        c.conn.send_headers(sid, [("x-trailer", "t" * 5000)], end_stream=True)
        c.flush()
        r = c.wait([sid])[0]
        assert r["reset"] is not None, r
        assert c.get("/echo?which=after")["status"] == 200
        assert not c.closed and c.goaway is None
    finally:
        c.close()
    assert abuse_count(gw, "header_list_too_large") == 0
