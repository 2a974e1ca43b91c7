"""A byte-exact upstream for framing and header tests (stdlib only, in the test's process).

RawUpstream accepts connections on 127.0.0.1, reads one request per connection (head, then
a Content-Length or chunked body), records the exact bytes received, answers with the bytes
`respond(head)` returns and closes the connection. Tests assert on the raw request heads the
gateway sent (`heads`) and script responses the standard test upstream cannot produce
(several Content-Length fields, unusual Transfer-Encoding).
"""
import socket
import threading


class ThreadedServer:
    """A listening socket on 127.0.0.1 (port picked by the kernel) whose accepted connections
    are each served by self._serve(conn, *self._accepted(conn)) on a thread of their own."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self._sock.getsockname()[1]

    def stop(self):
        self._stopped.set()
        self._thread.join(5)
        self._sock.close()

    def _accepted(self, conn):
        """Extra arguments for _serve (a record of the connection, say)."""
        return ()

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            extra = self._accepted(conn)
            threading.Thread(target=self._serve, args=(conn,) + tuple(extra), daemon=True).start()


class RawUpstream(ThreadedServer):
    def __init__(self, respond):
        self.respond = respond
        self.heads = []    # raw request heads as received, in order
        self.bodies = []   # raw body bytes (chunk framing included) as received
        super().__init__()

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            end = data.index(b"\r\n\r\n") + 4
            head, rest = data[:end], data[end:]
            body = self._read_body(conn, head, rest)
            with self._lock:
                self.heads.append(head)
                self.bodies.append(body)
            conn.sendall(self.respond(head))
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read_body(conn, head, rest):
        buf = bytearray(rest)
        pos = 0

        def need(n):  # at least n bytes in buf from pos on
            while len(buf) - pos < n:
                piece = conn.recv(65536)
                if not piece:
                    raise EOFError
                buf.extend(piece)

        def line():
            nonlocal pos
            while True:
                end = buf.find(b"\r\n", pos)
                if end >= 0:
                    out, pos = bytes(buf[pos:end]), end + 2
                    return out
                need(len(buf) - pos + 1)

        lower = head.lower()
        try:
            if b"\r\ntransfer-encoding: chunked\r\n" in lower:
                while True:
                    size = int(line().split(b";")[0], 16)
                    if size == 0:
                        while line() != b"":
                            pass
                        break
                    need(size + 2)
                    pos += size + 2
            else:
                length = 0
                for field in lower.split(b"\r\n"):
                    if field.startswith(b"content-length:"):
                        length = int(field.split(b":", 1)[1].split(b",")[0].strip())
                need(length)
                pos = length
        except (EOFError, ValueError):
            pos = len(buf)
        return bytes(buf[:pos])


def header_lines(head, name):
    """The values of every field line named `name` (any case) in a raw head, in order."""
    out = []
    for line in head.split(b"\r\n")[1:]:
        field, sep, value = line.partition(b":")
        if sep and field.strip().lower() == name.lower().encode():
            out.append(value.strip().decode("latin-1"))
    return out
