"""A small HTTP/2 client over python3-h2 for the HTTP/2 tests: several streams on one
connection, request bodies sent within the peer's flow-control windows, responses collected
whole (DATA acknowledged as read so the windows reopen)."""
import socket
import time

import h2.config
import h2.connection
import h2.events


class H2Client:
    def __init__(self, port, timeout=20.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()
        self.responses = {}  # stream id -> {"status", "headers", "body", "ended", "reset"}
        self.goaway = None  # the ConnectionTerminated event, once received
        self.closed = False
        self.pending_bodies = {}  # stream id -> bytes still to send

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", headers=(), body=None, authority="gateway.test"):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"), (":authority", authority)]
        hdrs += list(headers)
        if body is not None:
            hdrs.append(("content-length", str(len(body))))
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        self.responses[sid] = {"status": None, "headers": [], "body": bytearray(), "ended": False,
                               "reset": None}
        if body is not None:
            self.pending_bodies[sid] = body
            self._send_bodies()
        self.flush()
        return sid

    def _send_bodies(self):
        for sid in list(self.pending_bodies):
            body = self.pending_bodies[sid]
            while body:
                window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
                if window <= 0:
                    break
                self.conn.send_data(sid, body[:window])
                body = body[window:]
            if body:
                self.pending_bodies[sid] = body
            else:
                del self.pending_bodies[sid]
                self.conn.end_stream(sid)

    def reset(self, sid):
        self.conn.reset_stream(sid)
        self.flush()

    def receive_once(self):
        """Reads once and handles the events; False when the connection closed."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return False
        for event in self.conn.receive_data(data):
            self._handle(event)
        self._send_bodies()
        self.flush()
        return True

    def _handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            r = self.responses[event.stream_id]
            r["headers"] = [(k.decode(), v.decode()) for k, v in event.headers]
            r["status"] = int(dict(r["headers"])[":status"])
        elif isinstance(event, h2.events.DataReceived):
            self.responses[event.stream_id]["body"] += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.responses[event.stream_id]["ended"] = True
        elif isinstance(event, h2.events.StreamReset):
            self.pending_bodies.pop(event.stream_id, None)  # a reset stream takes no more DATA
            if event.stream_id in self.responses:
                self.responses[event.stream_id]["reset"] = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event

    def wait(self, sids, timeout=30.0):
        """Until every stream in sids ended or was reset; returns their responses."""
        deadline = time.monotonic() + timeout
        done = lambda: all(self.responses[s]["ended"] or self.responses[s]["reset"] is not None
                           for s in sids)
        while not done():
            assert time.monotonic() < deadline, "streams not finished in time"
            assert self.receive_once(), "the connection closed with streams open"
        return [self.responses[s] for s in sids]

    def get(self, path, **kw):
        return self.wait([self.request(path, **kw)])[0]

    def wait_closed(self, timeout=30.0):
        """Reads until the server closes the connection (bounded); returns the GOAWAY event."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            try:
                self.receive_once()
            except Exception:  # noqa: BLE001 - a protocol error on a dying connection ends it too
                self.closed = True
        return self.goaway

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def header(response, name):
    values = [v for k, v in response["headers"] if k == name]
    return ", ".join(values) if values else None
