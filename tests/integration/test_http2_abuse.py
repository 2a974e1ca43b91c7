"""HTTP/2 abuse: rapid reset (CVE-2023-44487), a CONTINUATION flood, an HPACK bomb, SETTINGS and
PING floods whose ACKs the client never reads, a SETTINGS frame with too many entries. Each
closes the offending connection (with GOAWAY where it can still be sent), counts it in
scalegate_http2_abuse_total{reason}, and leaves other clients served meanwhile."""
import socket
import time

import hpack
from hyperframe.frame import (ContinuationFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              SettingsFrame)

from conftest import make_config, wait_until, wait_s
from h2_client import H2Client

ENHANCE_YOUR_CALM = 0xB
REQUEST = [(":method", "GET"), (":path", "/echo"), (":scheme", "http"), (":authority", "gateway.test")]


def abuse_gateway(upstream, gateway, **http2):
    u = upstream("u1")
    settings = {"h2c": True}
    settings.update(http2)
    return gateway(make_config({"u1": [u]}, listener={"http2": settings}))


def abuse_count(gw, reason):
    return gw.metric("scalegate_http2_abuse_total", listener="public", reason=reason)


def assert_others_served(gw):
    other = H2Client(gw.port)
    try:
        assert other.get("/echo")["status"] == 200
    finally:
        other.close()


class RawConnection:
    """A client socket past the preface, for frames python3-h2 would not send; what the
    server sends is kept raw and parsed with hyperframe."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=wait_s(10))
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize())
        self.received = b""
        self.closed = False

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def wait_closed(self, timeout=10.0):
        deadline = time.monotonic() + wait_s(timeout)
        while not self.closed and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                continue
            if not data:
                self.closed = True
            self.received += data
        return self.closed

    def frames(self):
        pos, data = 0, self.received
        while pos + 9 <= len(data):
            frame, length = Frame.parse_frame_header(memoryview(data[pos:pos + 9]))
            frame.parse_body(memoryview(data[pos + 9:pos + 9 + length]))
            yield frame
            pos += 9 + length

    def goaway_code(self):
        codes = [f.error_code for f in self.frames() if isinstance(f, GoAwayFrame)]
        return codes[-1] if codes else None

    def close(self):
        self.sock.close()


def test_rapid_reset_closes_with_enhance_your_calm(upstream, gateway):
    gw = abuse_gateway(upstream, gateway, stream_reset_burst=20, stream_reset_rate=1)
    c = H2Client(gw.port)
    try:
        for _ in range(200):
            if c.closed:
                break
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, REQUEST, end_stream=True)
            c.conn.reset_stream(sid)
            try:
                c.flush()
            except (BrokenPipeError, ConnectionResetError):
                break
        goaway = c.wait_closed(timeout=wait_s(10))
    finally:
        c.close()
    assert goaway is not None and goaway.error_code == ENHANCE_YOUR_CALM, goaway
    assert abuse_count(gw, "rapid_reset") == 1
    assert gw.metric("scalegate_http2_goaways_total", listener="public") >= 1
    assert_others_served(gw)


def test_resets_within_the_rate_are_fine(upstream, gateway):
    gw = abuse_gateway(upstream, gateway, stream_reset_burst=50, stream_reset_rate=1)
    c = H2Client(gw.port)
    try:
        for _ in range(10):
            sid = c.request("/slow?ms=200")
            c.reset(sid)
        assert c.get("/echo")["status"] == 200
    finally:
        c.close()
    assert abuse_count(gw, "rapid_reset") == 0


def test_continuation_flood_closed(upstream, gateway):
    # Ended by nghttp2's limit of 8 CONTINUATION frames per block (the block is refused at 4 KB
    # and would be abuse at 16 KB: test_http2_header_limits.py has that case).
    gw = abuse_gateway(upstream, gateway, max_header_list_size="4KB")
    c = RawConnection(gw.port)
    enc = hpack.Encoder()
    try:
        block = enc.encode(REQUEST)
        c.send(HeadersFrame(1, data=block, flags=[]).serialize())
        # CONTINUATION frames that never end the block, each a new 1000-byte field (bounded).
        for i in range(2000):
            frame = ContinuationFrame(1, data=enc.encode([("x-flood-%d" % i, "v" * 1000)]))
            if not c.send(frame.serialize()):
                break
        assert c.wait_closed(), "the connection survived the CONTINUATION flood"
    finally:
        c.close()
    assert c.goaway_code() == ENHANCE_YOUR_CALM, list(c.frames())
    assert abuse_count(gw, "header_list_too_large") == 1
    assert_others_served(gw)


def test_hpack_bomb_refused(upstream, gateway):
    gw = abuse_gateway(upstream, gateway, max_header_list_size="16KB")
    c = RawConnection(gw.port)
    enc = hpack.Encoder()
    try:
        big = ("x-bomb", "b" * 3000)
        # Once in the dynamic table, each repeat is one byte on the wire and 3 KB decoded.
        block = enc.encode(REQUEST + [big] * 200)
        assert len(block) < 16384, len(block)
        c.send(HeadersFrame(1, data=block, flags=["END_HEADERS", "END_STREAM"]).serialize())
        assert c.wait_closed()
    finally:
        c.close()
    assert c.goaway_code() == ENHANCE_YOUR_CALM, list(c.frames())
    assert not [f for f in c.frames() if isinstance(f, HeadersFrame)], "the bomb's request was answered"
    assert abuse_count(gw, "header_list_too_large") == 1
    assert_others_served(gw)


def flood_unread(gw, frame_bytes, max_frames=3_000_000):
    """Sends frames that each ask for an ACK, never reading: until the server closes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the ACKs pile up at the server
    s.settimeout(wait_s(10))
    s.connect(("127.0.0.1", gw.port))
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize())
    batch = frame_bytes * 1000
    sent = 0
    deadline = time.monotonic() + wait_s(30)
    try:
        while sent < max_frames and time.monotonic() < deadline:
            s.sendall(batch)
            sent += 1000
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    finally:
        s.close()
    return sent


def test_ping_flood_closed(upstream, gateway):
    gw = abuse_gateway(upstream, gateway)
    sent = flood_unread(gw, PingFrame(0, opaque_data=b"12345678").serialize())
    assert wait_until(lambda: abuse_count(gw, "ack_flood") == 1, timeout=wait_s(10)), sent
    assert_others_served(gw)


def test_settings_flood_closed(upstream, gateway):
    gw = abuse_gateway(upstream, gateway)
    sent = flood_unread(gw, SettingsFrame(0).serialize())
    assert wait_until(lambda: abuse_count(gw, "ack_flood") == 1, timeout=wait_s(10)), sent
    assert_others_served(gw)


def test_settings_frame_with_too_many_entries_closed(upstream, gateway):
    gw = abuse_gateway(upstream, gateway)
    c = RawConnection(gw.port)
    try:
        frame = SettingsFrame(0)
        frame.settings = {0x100 + i: i for i in range(40)}  # unknown ids are allowed, but 40 of them
        c.send(frame.serialize())
        assert c.wait_closed()
    finally:
        c.close()
    assert c.goaway_code() == ENHANCE_YOUR_CALM, list(c.frames())
    assert abuse_count(gw, "too_many_settings") == 1
    assert_others_served(gw)
