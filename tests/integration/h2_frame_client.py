"""An HTTP/2 client that sees every frame and keeps going after GOAWAY, for the drain tests.

python3-h2 closes its connection state on the first GOAWAY, even a graceful one (h2 issue
#1181), so it can neither read the rest of a stream in flight nor open a stream afterwards.
This client speaks the few frames the tests need with hyperframe and hpack: it records every
frame received (`frames`), answers SETTINGS and (unless told not to) PING, gives flow-control
credit back for every DATA frame, and collects each stream's response, trailers and reset.
"""
import socket
import ssl
import time

from hpack import Decoder, Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR = 0
REFUSED_STREAM = 7
MAX_STREAM_ID = 2**31 - 1


class FrameClient:
    def __init__(self, port, answer_pings=True, timeout=20.0, tls=None):
        """tls: an ssl.SSLContext offering ALPN h2 (the server is "localhost"), else h2c."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
            assert self.sock.selected_alpn_protocol() == "h2"
        self.answer_pings = answer_pings
        self.encoder, self.decoder = Encoder(), Decoder()
        self.buffer = b""
        self.frames = []      # every frame received, in order
        self.goaways = []     # (last_stream_id, error_code) of each GOAWAY received
        self.responses = {}   # stream id -> {"headers", "trailers", "body", "ended", "reset"}
        self.closed = False   # the server closed the connection
        self.next_id = 1
        self._block = None    # (stream id, header block so far, END_STREAM) until END_HEADERS
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())

    def request(self, path, authority="gateway.test"):
        sid, self.next_id = self.next_id, self.next_id + 2
        block = self.encoder.encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                                     (":authority", authority)])
        self.responses[sid] = {"headers": None, "trailers": None, "body": bytearray(),
                               "ended": False, "reset": None}
        self.sock.sendall(HeadersFrame(sid, data=block,
                                       flags=["END_HEADERS", "END_STREAM"]).serialize())
        return sid

    def read_frame(self):
        """Reads and handles one frame; None once the server has closed the connection."""
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9:9 + length]))
                    self.buffer = self.buffer[9 + length:]
                    self.frames.append(frame)
                    self._handle(frame)
                    return frame
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLEOFError):
                data = b""
            if not data:
                self.closed = True
                return None
            self.buffer += data

    def _handle(self, frame):
        if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            self.sock.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(frame, PingFrame) and "ACK" not in frame.flags and self.answer_pings:
            self.sock.sendall(PingFrame(0, opaque_data=frame.opaque_data, flags=["ACK"]).serialize())
        elif isinstance(frame, GoAwayFrame):
            self.goaways.append((frame.last_stream_id, frame.error_code))
        elif isinstance(frame, RstStreamFrame):
            self.responses.setdefault(frame.stream_id, {})["reset"] = frame.error_code
        elif isinstance(frame, DataFrame):
            r = self.responses[frame.stream_id]
            r["body"] += frame.data
            r["ended"] = "END_STREAM" in frame.flags
            if frame.flow_controlled_length:
                self.sock.sendall(WindowUpdateFrame(0, window_increment=frame.flow_controlled_length)
                                  .serialize()
                                  + WindowUpdateFrame(frame.stream_id,
                                                      window_increment=frame.flow_controlled_length)
                                  .serialize())
        elif isinstance(frame, HeadersFrame):
            self._block = (frame.stream_id, frame.data, "END_STREAM" in frame.flags)
            if "END_HEADERS" in frame.flags:
                self._header_block_done()
        elif isinstance(frame, ContinuationFrame):
            sid, data, end = self._block
            self._block = (sid, data + frame.data, end)
            if "END_HEADERS" in frame.flags:
                self._header_block_done()

    def _header_block_done(self):
        sid, data, end = self._block
        self._block = None
        fields = [(str(k), str(v)) for k, v in self.decoder.decode(data)]
        r = self.responses[sid]
        if r["headers"] is None:
            r["headers"] = fields
        else:
            r["trailers"] = fields
        r["ended"] = r["ended"] or end

    def wait_for(self, predicate, what, timeout=30.0):
        """Reads frames until predicate() holds (bounded in time); fails with `what` if not."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting for " + what
            assert self.read_frame() is not None or predicate(), \
                "the connection closed before " + what
        return True

    def wait_closed(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not self.closed:
            assert time.monotonic() < deadline, "the server did not close the connection"
            self.read_frame()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def status(response):
    return int(dict(response["headers"])[":status"])
