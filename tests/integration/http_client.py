"""A small, strict HTTP/1.1 client over raw sockets, for the integration tests."""
import json
import re
import socket
import time

from environment import wait_s


class IncompleteBody(Exception):
    def __init__(self, received, message):
        super().__init__(message)
        self.received = received


class NoResponse(Exception):
    pass


class Response:
    def __init__(self, version, status, reason, headers):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = b""
        self.interim = []       # 1xx responses seen before this one
        self.closed = None      # set by raw_request / Conn.wait_closed

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None

    def header_list(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def hdict(self):
        d = {}
        for k, v in self.headers:
            k = k.lower()
            d[k] = d[k] + ", " + v if k in d else v
        return d

    def json(self):
        return json.loads(self.body)

    # tuple-like view: (status, headers, body, closed)
    def __iter__(self):
        return iter((self.status, self.hdict, self.body, self.closed))

    def __repr__(self):
        return "<Response %s %s headers=%r body=%r closed=%r>" % (
            self.status, self.reason, self.headers, self.body[:300], self.closed)


def build_request(method, path, headers=None, body=None, host="gateway.test", chunked=False):
    """Serialises a request. headers: list of (name, value) or dict. Adds Host unless host=None."""
    hl = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hl}
    if host is not None and "host" not in names:
        hl.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        if chunked:
            hl.append(("Transfer-Encoding", "chunked"))
        else:
            hl.append(("Content-Length", str(len(body))))
    out = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in hl) + "\r\n"
    data = out.encode("latin-1")
    if body is not None:
        if chunked:
            step = 64 * 1024
            parts = []
            for i in range(0, len(body), step):
                piece = body[i:i + step]
                parts.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
            data += b"".join(parts) + b"0\r\n\r\n"
        else:
            data += body
    return data


class Conn:
    """One client connection. Reads responses with exact HTTP/1.1 framing."""

    def __init__(self, port, timeout=15.0, host="127.0.0.1"):
        self.port = port
        self.timeout = wait_s(timeout)
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        if self.eof:
            return False
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            data = self.sock.recv(1024 * 1024)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 1024 * 1024:
                raise NoResponse("response line too long")
            if not self._fill():
                raise NoResponse("connection closed while reading a response head (got %r)" % bytes(self.buf[:200]))

    def read_head(self, allow_interim=True):
        """Reads one response head; 1xx (except 101) heads are collected into .interim when allow_interim."""
        interim = []
        while True:
            line = self._line()
            m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", line)
            if not m:
                raise NoResponse("bad status line %r" % line)
            headers = []
            while True:
                h = self._line()
                if h == b"":
                    break
                name, sep, value = h.decode("latin-1").partition(":")
                if not sep:
                    raise NoResponse("bad response header line %r" % h)
                headers.append((name.strip(), value.strip()))
            resp = Response(m.group(1).decode(), int(m.group(2)), (m.group(3) or b"").decode("latin-1"), headers)
            if 100 <= resp.status < 200 and resp.status != 101 and allow_interim:
                interim.append(resp)
                continue
            resp.interim = interim
            return resp

    def iter_body(self, resp, method="GET", chunk_limit=1024 * 1024):
        """Yields the body of `resp` in pieces. Raises IncompleteBody if the peer closes early."""
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        received = 0
        if te is not None and "chunked" in te.lower():
            while True:
                try:
                    size_line = self._line()
                except NoResponse as e:
                    raise IncompleteBody(received, "chunked body ended early: %s" % e)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise IncompleteBody(received, "bad chunk size line %r" % size_line)
                if size == 0:
                    while True:
                        try:
                            if self._line() == b"":
                                break
                        except NoResponse as e:
                            raise IncompleteBody(received, "trailers ended early: %s" % e)
                    return
                left = size
                while left > 0:
                    if not self.buf and not self._fill():
                        raise IncompleteBody(received, "closed inside a chunk")
                    take = min(left, len(self.buf), chunk_limit)
                    piece = bytes(self.buf[:take])
                    del self.buf[:take]
                    left -= take
                    received += take
                    yield piece
                try:
                    if self._line() != b"":
                        raise IncompleteBody(received, "missing CRLF after chunk")
                except NoResponse as e:
                    raise IncompleteBody(received, "closed after chunk data: %s" % e)
        elif cl is not None:
            left = int(cl.split(",")[0].strip())
            while left > 0:
                if not self.buf and not self._fill():
                    raise IncompleteBody(received, "closed after %d of %s body bytes" % (received, cl))
                take = min(left, len(self.buf), chunk_limit)
                piece = bytes(self.buf[:take])
                del self.buf[:take]
                left -= take
                received += take
                yield piece
        else:  # read until close
            while True:
                if self.buf:
                    piece = bytes(self.buf)
                    self.buf.clear()
                    received += len(piece)
                    yield piece
                if not self._fill():
                    return

    def read_response(self, method="GET"):
        resp = self.read_head()
        resp.body = b"".join(self.iter_body(resp, method))
        return resp

    def request(self, method, path, headers=None, body=None, host="gateway.test", chunked=False):
        self.send(build_request(method, path, headers, body, host, chunked))
        return self.read_response(method)

    def get(self, path, headers=None, host="gateway.test"):
        return self.request("GET", path, headers, host=host)

    def wait_closed(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within timeout; extra bytes are kept in buf."""
        deadline = time.monotonic() + wait_s(timeout)
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._fill(timeout=left)
            except socket.timeout:
                return False
            except OSError:
                self.eof = True
        return True


def http_request(port, method, path, headers=None, body=None, host="gateway.test", timeout=15.0, chunked=False):
    """One request on a fresh connection. Returns the Response (with .closed=None)."""
    with Conn(port, timeout=timeout) as c:
        return c.request(method, path, headers, body, host, chunked)


def http_get(port, path, headers=None, host="gateway.test", timeout=15.0):
    return http_request(port, "GET", path, headers, host=host, timeout=timeout)


def raw_request(port, data, timeout=10.0, close_wait=5.0, method="GET"):
    """Sends raw bytes on a fresh connection; reads one response.

    Returns a Response (unpacks as (status, headers, body, closed)); status is None when the
    gateway closed or reset the connection without answering. closed tells whether the
    gateway closed the connection after its response (within close_wait seconds).
    """
    c = Conn(port, timeout=timeout)
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            resp = c.read_response(method)
        except (NoResponse, IncompleteBody, ConnectionResetError) as e:
            resp = Response(None, None, str(e), [])
            resp.closed = True
            return resp
        resp.closed = c.wait_closed(close_wait)
        return resp
    finally:
        c.close()
