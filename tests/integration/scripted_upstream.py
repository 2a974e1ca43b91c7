"""An in-process upstream whose every exchange is scripted by the test (stdlib only).

Unlike upstream_server.py (a separate process with fixed behaviours), a ScriptedUpstream
runs in the test's own process: one thread per connection calls `handler(exchange)` for
every request head, with the raw socket at hand, so a test can stall before reading the
body, read part of it, reset the connection, or write several responses in one send.

Every request head on every connection is parsed strictly; bytes that do not form a valid
request head (for example the tail of an earlier body left on a pooled connection) are
recorded in `errors`, so a test can assert that the gateway never desynchronised a
connection.
"""
import hashlib
import re
import socket
import struct
import threading

_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.([01])$")
_FIELD = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$")


class ProtocolError(Exception):
    pass


class Exchange:
    """One request on one upstream connection, as the handler sees it."""

    def __init__(self, conn, method, target, headers):
        self.conn = conn
        self.method = method
        self.target = target
        self.headers = headers  # lowercase name -> list of values

    def header(self, name):
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    @property
    def sock(self):
        return self.conn.sock

    def chunked(self):
        coding = self.header("transfer-encoding")
        if coding is not None and coding.lower() != "chunked":
            raise ProtocolError("unexpected Transfer-Encoding %r" % coding)
        if coding is not None and "content-length" in self.headers:
            raise ProtocolError("both Content-Length and Transfer-Encoding")
        return coding is not None

    def body_length(self):
        values = self.headers.get("content-length", [])
        if len(values) > 1 or (values and not values[0].isdigit()):
            raise ProtocolError("Content-Length not a single number: %r" % values)
        return int(values[0]) if values else 0

    def read_body(self, limit=None):
        """Reads the body (or its first `limit` wire bytes). Returns (payload, complete)."""
        if self.chunked():
            return self.conn.read_chunked(limit)
        length = self.body_length()
        want = length if limit is None else min(limit, length)
        data = self.conn.read_exact(want)
        return data, len(data) == length

    def send(self, data):
        self.conn.sock.sendall(data)

    def respond(self, status, body=b"", headers=()):
        lines = ["HTTP/1.1 %d X" % status, "Content-Length: %d" % len(body)]
        lines += ["%s: %s" % h for h in headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def reset(self):
        """Closes the connection with a TCP RST (SO_LINGER 0)."""
        self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.close()


class _Connection:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""
        self.closed = False

    def _fill(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            raise EOFError
        self.buffer += data

    def read_exact(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _line(self):
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > 8192:
                raise ProtocolError("chunk line too long")
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_chunked(self, limit=None):
        """Decodes a chunked body strictly; stops after about `limit` wire bytes if given."""
        payload, wire = b"", 0
        while limit is None or wire < limit:
            line = self._line()
            wire += len(line) + 2
            if not re.match(rb"^[0-9a-fA-F]+(;.*)?$", line):
                raise ProtocolError("bad chunk size line %r" % line[:80])
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while self._line() != b"":  # trailers
                    pass
                return payload, True
            payload += self.read_exact(size)
            if self.read_exact(2) != b"\r\n":
                raise ProtocolError("no CRLF after chunk data")
            wire += size + 2
        return payload, False

    def read_head(self):
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > 64 * 1024:
                raise ProtocolError("no request head in %r" % self.buffer[:80])
            try:
                self._fill()
            except EOFError:
                if self.buffer:
                    raise ProtocolError("connection ended inside a head: %r" % self.buffer[:80])
                raise
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        match = _REQUEST_LINE.match(lines[0])
        if not match:
            raise ProtocolError("bad request line %r" % lines[0][:80])
        headers = {}
        for line in lines[1:]:
            field = _FIELD.match(line)
            if not field:
                raise ProtocolError("bad header line %r" % line[:80])
            headers.setdefault(field.group(1).decode().lower(), []).append(field.group(2).decode("latin-1"))
        return match.group(1).decode(), match.group(2).decode(), headers

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


class ScriptedUpstream:
    """Listens on 127.0.0.1:<port>; `handler(exchange)` answers each request.

    The handler returns True to keep the connection for the next request, False to close it.
    """

    def __init__(self, handler, name="scripted"):
        self.name = name
        self.handler = handler
        self.errors = []
        self.requests = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        self._conns = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept_loop(self):
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = _Connection(sock)
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            while not conn.closed:
                try:
                    method, target, headers = conn.read_head()
                except EOFError:
                    return
                with self._lock:
                    self.requests += 1
                if not self.handler(Exchange(conn, method, target, headers)):
                    return
        except ProtocolError as e:
            with self._lock:
                self.errors.append(str(e))
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def stop(self):
        self._stopped = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()


def sha1(data):
    return hashlib.sha1(data).hexdigest()
