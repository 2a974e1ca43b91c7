"""A raw PostgreSQL wire-protocol client for tests that must send messages by hand
(malformed or pipelined ones, exact message sequences): message builders, a reader, and
RawClient, a logged-in connection. pg_support re-exports these names."""
import socket

from conftest import can_connect, wait_until
from environment import wait_s


def wait_pg_port(port, timeout=10.0):
    return wait_until(lambda: can_connect(port), timeout)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_message(sock):
    """One backend message -> (type byte, payload bytes)."""
    head = recv_exact(sock, 5)
    length = int.from_bytes(head[1:5], "big")
    return head[:1], recv_exact(sock, length - 4)


def error_fields(payload):
    """ErrorResponse/NoticeResponse payload -> {field code: text} (S severity, C SQLSTATE, M message)."""
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def socket_to(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=wait_s(timeout))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def startup_packet(user, database, **params):
    """A protocol 3.0 StartupMessage."""
    body = b"".join(b"%s\0%s\0" % (k.encode(), v.encode())
                    for k, v in [("user", user), ("database", database)] + list(params.items())) + b"\0"
    return (8 + len(body)).to_bytes(4, "big") + (196608).to_bytes(4, "big") + body


def first_auth_request(port, user, database="app"):
    """Sends a StartupMessage; returns the first answer: ("R", auth code, rest of payload) for an
    Authentication request, or ("E", fields) for an error."""
    with socket_to(port) as s:
        s.sendall(startup_packet(user, database))
        kind, payload = read_message(s)
    if kind == b"R":
        return "R", int.from_bytes(payload[:4], "big"), payload[4:]
    if kind == b"E":
        return "E", error_fields(payload), b""
    raise AssertionError("unexpected first message %r %r" % (kind, payload[:100]))


# ---------------------------------------------------------------------------
# a raw frontend (extended protocol by hand)
# ---------------------------------------------------------------------------
def _msg(kind, body=b""):
    return kind + (4 + len(body)).to_bytes(4, "big") + body


def _cstr(text):
    return (text if isinstance(text, bytes) else text.encode()) + b"\0"


def parse_msg(name, query, types=()):
    return _msg(b"P", _cstr(name) + _cstr(query) + len(types).to_bytes(2, "big")
                + b"".join(t.to_bytes(4, "big") for t in types))


def bind_msg(statement, params=(), portal=""):
    body = _cstr(portal) + _cstr(statement) + (0).to_bytes(2, "big") + len(params).to_bytes(2, "big")
    for p in params:
        value = p if isinstance(p, bytes) else str(p).encode()
        body += len(value).to_bytes(4, "big") + value
    return _msg(b"B", body + (0).to_bytes(2, "big"))


def execute_msg(portal="", max_rows=0):
    return _msg(b"E", _cstr(portal) + max_rows.to_bytes(4, "big"))


def describe_msg(kind, name):
    return _msg(b"D", kind + _cstr(name))


def close_msg(kind, name):
    return _msg(b"C", kind + _cstr(name))


def query_msg(sql):
    return _msg(b"Q", _cstr(sql))


SYNC = _msg(b"S")
FLUSH = _msg(b"H")
TERMINATE = _msg(b"X")


class RawClient:
    """A logged-in raw connection (trust auth) that sends protocol messages by hand."""

    def __init__(self, port, user, database="app", timeout=10.0):
        self.sock = socket_to(port, timeout)
        self.sock.sendall(startup_packet(user, database))
        self.params = {}
        for kind, payload in self.until(b"Z"):
            if kind == b"E":
                raise AssertionError("login failed: %r" % error_fields(payload))
            if kind == b"S":
                name, value = payload[:-1].split(b"\0", 1)
                self.params[name.decode()] = value.decode()

    def send(self, *messages):
        self.sock.sendall(b"".join(messages))

    def until(self, last=b"Z", limit=1000):
        """Reads messages up to and including the first of type `last`."""
        out = []
        for _ in range(limit):
            kind, payload = read_message(self.sock)
            out.append((kind, payload))
            if kind == last:
                return out
        raise AssertionError("no %r within %d messages" % (last, limit))

    def close(self):
        try:
            self.sock.sendall(TERMINATE)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def data_rows(messages):
    """DataRow payloads -> lists of str (None for NULL)."""
    rows = []
    for kind, payload in messages:
        if kind != b"D":
            continue
        count, pos, row = int.from_bytes(payload[:2], "big"), 2, []
        for _ in range(count):
            n = int.from_bytes(payload[pos:pos + 4], "big", signed=True)
            pos += 4
            row.append(None if n < 0 else payload[pos:pos + n].decode())
            pos += max(n, 0)
        rows.append(row)
    return rows


def kinds(messages):
    return b"".join(k for k, _ in messages)
