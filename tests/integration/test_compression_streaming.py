"""Compressed streams reach the client as the upstream produces them: when the upstream has
no more bytes ready, the compressor is flushed (gzip Z_SYNC_FLUSH, brotli FLUSH) and what
it holds goes out as a chunk. The upstream here sends one chunk, then waits until the test
has decoded that chunk at the client before it sends the next: ordering by events, not by
timing. text/event-stream is never compressed unless listed by its own name."""
import ctypes
import socket
import threading
import zlib

import pytest

from conftest import Conn, make_config

FIRST = b'{"event": 1, "text": "the first chunk of a slow JSON stream"}\n'
SECOND = b'{"event": 2, "text": "the second chunk, sent only when the client saw the first"}\n'


class StreamingUpstream:
    """Answers every request with a chunked body: FIRST, then (once `go` is set) SECOND."""

    def __init__(self, content_type):
        self.content_type = content_type
        self.go = threading.Event()
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(60)
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            self.requests += 1
            head = ("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
                    "Connection: close\r\n\r\n" % self.content_type).encode()
            conn.sendall(head + b"%x\r\n%s\r\n" % (len(FIRST), FIRST))
            if not self.go.wait(60):
                return
            conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(SECOND), SECOND))

    def close(self):
        self.closed = True
        self.sock.close()


@pytest.fixture
def streaming_upstream():
    made = []

    def make(content_type="application/json"):
        u = StreamingUpstream(content_type)
        made.append(u)
        return u

    yield make
    for u in made:
        u.go.set()
        u.close()


class BrotliStream:
    """Incremental brotli decoding through libbrotlidec (the python module is not installed)."""
    SUCCESS, NEEDS_MORE_INPUT, NEEDS_MORE_OUTPUT = 1, 2, 3

    def __init__(self):
        lib = ctypes.CDLL("libbrotlidec.so.1")
        lib.BrotliDecoderCreateInstance.restype = ctypes.c_void_p
        lib.BrotliDecoderCreateInstance.argtypes = [ctypes.c_void_p] * 3
        lib.BrotliDecoderDestroyInstance.argtypes = [ctypes.c_void_p]
        size_p = ctypes.POINTER(ctypes.c_size_t)
        ptr_p = ctypes.POINTER(ctypes.c_void_p)
        lib.BrotliDecoderDecompressStream.restype = ctypes.c_int
        lib.BrotliDecoderDecompressStream.argtypes = [ctypes.c_void_p, size_p, ptr_p, size_p, ptr_p,
                                                      ctypes.c_void_p]
        self.lib = lib
        self.state = lib.BrotliDecoderCreateInstance(None, None, None)
        self.eof = False

    def decompress(self, data):
        source = ctypes.create_string_buffer(data, len(data))
        avail_in = ctypes.c_size_t(len(data))
        next_in = ctypes.c_void_p(ctypes.addressof(source))
        out = []
        while True:
            target = ctypes.create_string_buffer(65536)
            avail_out = ctypes.c_size_t(65536)
            next_out = ctypes.c_void_p(ctypes.addressof(target))
            result = self.lib.BrotliDecoderDecompressStream(
                self.state, ctypes.byref(avail_in), ctypes.byref(next_in), ctypes.byref(avail_out),
                ctypes.byref(next_out), None)
            out.append(target.raw[:65536 - avail_out.value])
            if result == self.SUCCESS:
                self.eof = True
                break
            if result == self.NEEDS_MORE_INPUT:
                break
            assert result == self.NEEDS_MORE_OUTPUT, "brotli decoding error"
        return b"".join(out)

    def __del__(self):
        self.lib.BrotliDecoderDestroyInstance(self.state)


class GzipStream:
    def __init__(self):
        self.d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    def decompress(self, data):
        return self.d.decompress(data)

    @property
    def eof(self):
        return self.d.eof


def decoder_for(coding):
    return GzipStream() if coding == "gzip" else BrotliStream()


def stream_through(gw_port, upstream, accept, version="1.1"):
    """GETs the stream; returns (response head, decoded body, whether FIRST was decoded before
    the upstream was let go). The upstream is let go as soon as FIRST is decoded; when it is
    not decoded within the read timeout (the gateway holds it back), (head, b"", False)."""
    with Conn(gw_port, timeout=10) as c:
        c.send(("GET /stream HTTP/%s\r\nHost: gateway.test\r\nAccept-Encoding: %s\r\n\r\n"
                % (version, accept)).encode())
        head = c.read_head()
        coding = head.header("content-encoding")
        decoder = decoder_for(coding) if coding else None
        decoded = b""
        pieces = c.iter_body(head)
        try:
            while FIRST not in decoded:
                piece = next(pieces)
                decoded += decoder.decompress(piece) if decoder else piece
        except socket.timeout:
            return head, b"", False
        finally:
            upstream.go.set()
        for piece in pieces:
            decoded += decoder.decompress(piece) if decoder else piece
        if decoder is not None:
            assert decoder.eof, "compressed stream not terminated"
        return head, decoded, True


def gateway_for(gateway, upstream, compression):
    routes = [{"name": "stream", "match": {"prefix": "/"}, "upstream": "s"}]
    cfg = make_config({"s": [upstream.address]}, routes=routes,
                      listener={"compression": compression})
    return gateway(cfg)


@pytest.mark.parametrize("coding,version", [("gzip", "1.1"), ("br", "1.1"), ("gzip", "1.0"),
                                            ("br", "1.0")])
def test_compressed_chunks_arrive_as_produced(gateway, streaming_upstream, coding, version):
    up = streaming_upstream("application/json")
    gw = gateway_for(gateway, up, {"algorithms": [coding]})
    head, body, first_early = stream_through(gw.port, up, coding, version)
    assert head.status == 200 and head.header("content-encoding") == coding, head
    assert first_early, ("the first %s chunk did not reach the client before the upstream sent "
                         "the second (the compressor was not flushed)" % coding)
    assert body == FIRST + SECOND


def test_event_stream_not_compressed_under_a_wildcard(gateway, streaming_upstream):
    up = streaming_upstream("text/event-stream")
    gw = gateway_for(gateway, up, {"algorithms": ["gzip"], "content_types": ["text/*"]})
    head, body, first_early = stream_through(gw.port, up, "gzip, br")
    assert head.header("content-encoding") is None, head
    assert first_early and body == FIRST + SECOND


def test_event_stream_compressed_when_listed_by_name(gateway, streaming_upstream):
    up = streaming_upstream("text/event-stream; charset=utf-8")
    gw = gateway_for(gateway, up, {"algorithms": ["gzip"], "content_types": ["text/event-stream"]})
    head, body, first_early = stream_through(gw.port, up, "gzip")
    assert head.header("content-encoding") == "gzip", head
    assert first_early and body == FIRST + SECOND
