#!/usr/bin/python3
"""Test upstream HTTP/1.1 server for the scalegate integration tests (stdlib only).

Run: /usr/bin/python3 upstream_server.py --name u1 --port 0
The first line on stdout is the bound port. One thread per connection; keep-alive,
pipelining, Content-Length and chunked request bodies, Expect: 100-continue.

Every response carries `X-Upstream: <name>`. Paths:
  /echo...            (and any path not listed) 200 + JSON describing the request
  /status/NNN         that status, small body (none for 1xx/204/304)
  /chunked?n=K&size=S chunked response, K chunks of S bytes (repeating b"0123456789")
  /big?bytes=N        Content-Length N, written in 64 KiB pieces of the same pattern
  /slow?ms=M          waits M ms, then echoes
  /hang               never responds (keeps the connection until the peer closes it)
  /partial?bytes=N    head with Content-Length 2N, sends N body bytes, then stalls
  /close              200 without Content-Length/Transfer-Encoding, closes after the body
  /ws                 with Upgrade: websocket + Connection: Upgrade -> 101, then raw echo
  /expect             like /echo (used for 100-continue tests)
  /headers-out        response with hop-by-hop headers plus X-End: 1
  /text?bytes=N&type=T   200, Content-Type T (default text/plain), Content-Length N, body
                      text_bytes(N) (compressible text lines). Optional: etag=E (ETag: "E"),
                      weak_etag=E (ETag: W/"E"), cache_control=CC, vary=V, encoding=CE
                      (Content-Encoding: CE, the body is not encoded), status=S (204/304:
                      no body, no Content-Length, Content-Type and ETag still sent),
                      last_modified=D (Last-Modified: D, an HTTP-date), set_cookie=C
                      (Set-Cookie: C), expires=S (Expires: now + S seconds, S may be
                      negative, plus Date: now), expires_raw=X (Expires: X verbatim), age=A
                      (Age: A), delay_ms=M (waits M ms first), stamp=1 (a server-wide
                      counter, incremented by each stamped 200, is sent as X-Stamp: K and
                      the body starts with b"stamp K\n"; the body is then N bytes, or just
                      that line when it is longer).
                      Conditionals (GET/HEAD, status 200 only): If-None-Match matching the
                      etag / weak_etag (weak comparison, or "*"), else If-Modified-Since equal
                      to last_modified -> 304 with ETag, Last-Modified, Cache-Control, Vary,
                      Expires/Date, Age and X-Validated: V (V counts the server's 304s from 1;
                      no body, no Content-Length, no X-Stamp, no Set-Cookie). Any other method
                      gets the 200 as for GET.
  /text/ANYTHING?...  the same as /text (distinct paths for per-path counts and cache keys)
  /text-chunked?bytes=N&type=T&pieces=K   the same body, chunked in K pieces (default 4)
  /encoded?bytes=N    gzip of text_bytes(N), Content-Encoding: gzip, Content-Type text/plain
  /no-transform?bytes=N   like /text with Cache-Control: no-transform
  /random?bytes=N&type=T&seed=S   200, Content-Type T (default text/plain), Content-Length N,
                      body random_bytes(N, S) (pseudo-random, incompressible; seed default 1)
  /own-headers        small JSON body that sets X-Frame-Options: SAMEORIGIN and
                      X-Content-Type-Options: nosniff itself
  /stats              {"requests": N, "connections": M, "health_hits": H, "health_host": Host
                      of the last /health request, "accepted": A, "paths": {path: count},
                      "targets": {request target (path?query): count}}; /stats itself is not
                      counted, and a connection is counted when its first non-/stats request
                      arrives. "accepted" counts every connection, even one that sent nothing,
                      except those whose first request was /stats or /control/*.
  /stats?path=P       {"path": P, "count": requests whose path (no query) was P, "last": null
                      or the last such request as {"method", "target", "headers": {lower-case
                      name: value, repeated fields joined with ", "}}}
  /stats?target=T     the same per exact request target T (path?query as received)
  /health             like /echo while the health status is 200 (the default); otherwise that
                      status. Counted in "requests" and, separately, in "health_hits".
  /control/health?status=N   sets what /health answers (200 restores the echo)
  /control/status?status=N   every other path answers N from now on (0: normal behaviour)
  /control/hang?on=1|0       every other path hangs (like /hang) from now on, or not
  /control/delay?ms=N        every other path waits N ms before being served (0: no wait)
  /control/reset             zeroes requests, connections, health_hits and the per-path and
                             per-target counts (and forgets their last requests)
                      /control/* requests are not counted and are never affected by the modes.

Options: --status N answers N to every path except /stats and /control/* (as if
/control/status?status=N had been sent at start-up); --hang-all makes every such path hang;
--delay-ms N delays every such path by N ms.
TLS: --tls-cert FILE --tls-key FILE serve HTTPS on the port instead (handshake in the
connection's thread; a failed one is counted in "tls_failed"); --tls-client-ca FILE also
requires a client certificate signed by that CA. /stats then also reports "tls_resumed":
counted connections whose handshake resumed a session.
"""
import argparse
import email.utils
import gzip
import hashlib
import json
import random
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

PATTERN = b"0123456789"
WRITE_SIZE = 64 * 1024
MAX_HEAD = 256 * 1024


def pattern_bytes(offset, length):
    """`length` bytes of the endless PATTERN stream starting at `offset`."""
    start = offset % len(PATTERN)
    reps = (start + length) // len(PATTERN) + 1
    return (PATTERN * reps)[start:start + length]


def text_bytes(length):
    """`length` bytes of compressible text: numbered lines of English words."""
    out = []
    size = 0
    i = 0
    while size < length:
        line = b"%06d the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs\n" % i
        out.append(line)
        size += len(line)
        i += 1
    return b"".join(out)[:length]


def random_bytes(length, seed=1):
    """`length` deterministic pseudo-random bytes (incompressible)."""
    return random.Random(seed).randbytes(length)


class BadRequest(Exception):
    pass


class Closed(Exception):
    pass


class State:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.health_hits = 0
        self.accepted = 0         # every accepted connection, even one that sends nothing
        self.tls_resumed = 0      # counted connections whose TLS handshake resumed a session
        self.tls_failed = 0       # TLS handshakes that failed
        self.health_host = None   # Host header of the last /health request
        self.health_status = 200  # what /health answers (200: the echo)
        self.force_status = 0     # non-zero: every path except /stats, /control/* answers it
        self.hang_all = False     # every path except /stats, /control/* hangs
        self.delay_ms = 0         # every path except /stats, /control/* waits this long first
        self.paths = {}           # path (no query) -> request count
        self.targets = {}         # request target as received -> request count
        self.last_by_path = {}    # path -> {"method", "target", "headers"} of its last request
        self.last_by_target = {}  # target -> the same
        self.stamp = 0            # /text?stamp=1 counter
        self.validated = 0        # 304s sent by /text (X-Validated)


class Reader:
    """Buffered reader over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            raise Closed()
        self.buf += data

    def read_line(self, limit=MAX_HEAD):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            self.fill()

    def read_head(self):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("head too long")
            self.fill()

    def read_exact_into(self, n, sink):
        while n > 0:
            if not self.buf:
                self.fill()
            take = min(n, len(self.buf))
            sink(bytes(self.buf[:take]))
            del self.buf[:take]
            n -= take


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value) as received

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name]
        return ", ".join(vals) if vals else None

    def header_dict(self):
        d = {}
        for k, v in self.headers:
            k = k.lower()
            d[k] = d[k] + ", " + v if k in d else v
        return d

    @property
    def path(self):
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))

    def wants_close(self):
        conn = (self.header("connection") or "").lower()
        tokens = [t.strip() for t in conn.split(",")]
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


def parse_head(head):
    lines = head[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].decode("latin-1").split(" ")
    except ValueError:
        raise BadRequest("bad request line")
    headers = []
    for raw in lines[1:]:
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("bad header")
        headers.append((name, value.strip(" \t")))
    return Request(method, target, version, headers)


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.state = self.server.state
        if self.server.tls_context is not None:
            try:
                self.request = self.server.tls_context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                with self.state.lock:
                    self.state.tls_failed += 1
                raise
        self.counted_connection = False
        self.tool_connection = False  # first request was /stats or /control/*
        self.reader = Reader(self.request)
        with self.state.lock:
            self.state.accepted += 1

    def handle(self):
        try:
            while True:
                try:
                    head = self.reader.read_head()
                except Closed:
                    return
                try:
                    req = parse_head(head)
                    keep = self.serve(req)
                except BadRequest as e:
                    self.send_simple(400, str(e).encode(), close=True)
                    return
                if not keep:
                    return
        except (Closed, ConnectionError, OSError):
            return

    # ---- helpers -------------------------------------------------------
    def sendall(self, data):
        self.request.sendall(data)

    def head_bytes(self, status, reason, headers):
        out = ["HTTP/1.1 %d %s\r\n" % (status, reason), "X-Upstream: %s\r\n" % self.state.name]
        for k, v in headers:
            out.append("%s: %s\r\n" % (k, v))
        out.append("\r\n")
        return "".join(out).encode("latin-1")

    def send_simple(self, status, body, close=False, ctype="text/plain", extra=(), no_body=False):
        headers = [("Content-Type", ctype)]
        if not no_body:
            headers.append(("Content-Length", str(len(body))))
        headers.extend(extra)
        if close:
            headers.append(("Connection", "close"))
        self.sendall(self.head_bytes(status, REASONS.get(status, "Status"), headers)
                     + (b"" if no_body else body))

    def read_body(self, req):
        """Reads the request body; returns (length, sha256 hex)."""
        h = hashlib.sha256()
        total = [0]

        def sink(data):
            h.update(data)
            total[0] += len(data)

        te = req.header("transfer-encoding")
        cl = req.header("content-length")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            while True:
                line = self.reader.read_line()
                size_txt = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    raise BadRequest("bad chunk size")
                if size == 0:
                    while self.reader.read_line() not in (b"\r\n", b"\n"):
                        pass  # trailers
                    break
                self.reader.read_exact_into(size, sink)
                if self.reader.read_line() not in (b"\r\n", b"\n"):
                    raise BadRequest("bad chunk end")
        elif cl is not None:
            try:
                n = int(cl)
            except ValueError:
                raise BadRequest("bad content-length")
            self.reader.read_exact_into(n, sink)
        return total[0], h.hexdigest()

    def count(self, req):
        if req.path == "/stats" or req.path.startswith("/control/"):
            if not self.counted_connection and not self.tool_connection:
                self.tool_connection = True  # not reported in "accepted"
                with self.state.lock:
                    self.state.accepted -= 1
            return
        last = {"method": req.method, "target": req.target, "headers": req.header_dict()}
        with self.state.lock:
            self.state.requests += 1
            self.state.paths[req.path] = self.state.paths.get(req.path, 0) + 1
            self.state.targets[req.target] = self.state.targets.get(req.target, 0) + 1
            self.state.last_by_path[req.path] = last
            self.state.last_by_target[req.target] = last
            if req.path == "/health":
                self.state.health_hits += 1
                self.state.health_host = req.header("host")
            if not self.counted_connection:
                self.counted_connection = True
                self.state.connections += 1
                if getattr(self.request, "session_reused", False):
                    self.state.tls_resumed += 1

    # ---- request dispatch ------------------------------------------------
    def serve(self, req):
        path = req.path
        q = req.query
        if (req.header("expect") or "").lower() == "100-continue":
            self.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body_len, body_sha = self.read_body(req)
        self.count(req)
        close = req.wants_close()
        no_body = req.method == "HEAD"

        if path == "/stats":
            with self.state.lock:
                if "path" in q:
                    doc = {"path": q["path"], "count": self.state.paths.get(q["path"], 0),
                           "last": self.state.last_by_path.get(q["path"])}
                elif "target" in q:
                    doc = {"target": q["target"], "count": self.state.targets.get(q["target"], 0),
                           "last": self.state.last_by_target.get(q["target"])}
                else:
                    doc = {"requests": self.state.requests,
                           "connections": self.state.connections,
                           "health_hits": self.state.health_hits,
                           "health_host": self.state.health_host,
                           "accepted": self.state.accepted,
                           "tls_resumed": self.state.tls_resumed,
                           "tls_failed": self.state.tls_failed,
                           "paths": dict(self.state.paths),
                           "targets": dict(self.state.targets)}
                body = json.dumps(doc).encode()
            self.send_simple(200, body, close=close, ctype="application/json")
            return not close
        if path.startswith("/control/"):
            return self.control(req, close)
        if self.state.delay_ms:
            time.sleep(self.state.delay_ms / 1000.0)

        if self.state.hang_all:
            self.hang()
            return False
        elif self.state.force_status:
            status = self.state.force_status
            self.send_simple(status, b"forced status %d\n" % status, close=close, no_body=no_body)
        elif path == "/health" and self.state.health_status != 200:
            status = self.state.health_status
            self.send_simple(status, b"health %d\n" % status, close=close, no_body=no_body)
        elif path.startswith("/status/"):
            try:
                status = int(path[len("/status/"):])
            except ValueError:
                status = 400
            if status < 200 or status in (204, 304):
                self.sendall(self.head_bytes(status, REASONS.get(status, "Status"), []))
            else:
                self.send_simple(status, b"status %d\n" % status, close=close, no_body=no_body)
        elif path == "/chunked":
            n = int(q.get("n", "3"))
            size = int(q.get("size", "10"))
            headers = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
            if close:
                headers.append(("Connection", "close"))
            self.sendall(self.head_bytes(200, "OK", headers))
            if not no_body:
                offset = 0
                for _ in range(n):
                    if size > 0:
                        self.sendall(b"%x\r\n" % size + pattern_bytes(offset, size) + b"\r\n")
                    offset += size
                self.sendall(b"0\r\n\r\n")
        elif path == "/big":
            total = int(q.get("bytes", "0"))
            headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(total))]
            if close:
                headers.append(("Connection", "close"))
            self.sendall(self.head_bytes(200, "OK", headers))
            if not no_body:
                block = pattern_bytes(0, WRITE_SIZE + len(PATTERN))
                offset = 0
                while offset < total:
                    n = min(WRITE_SIZE, total - offset)
                    start = offset % len(PATTERN)
                    self.sendall(block[start:start + n])
                    offset += n
        elif path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            self.send_echo(req, body_len, body_sha, close, no_body)
        elif path == "/hang":
            self.hang()
            return False
        elif path == "/partial":
            n = int(q.get("bytes", "1000"))
            self.sendall(self.head_bytes(200, "OK", [("Content-Length", str(2 * n))]) + pattern_bytes(0, n))
            self.hang()
            return False
        elif path == "/close":
            self.sendall(self.head_bytes(200, "OK", [("Content-Type", "text/plain"), ("Connection", "close")]))
            if not no_body:
                self.sendall(b"read until close body\n" * 10)
            self.request.shutdown(socket.SHUT_WR)
            return False
        elif path == "/ws":
            return self.websocket(req)
        elif path == "/headers-out":
            extra = [("Connection", "keep-alive, X-Hop"), ("X-Hop", "secret"), ("Keep-Alive", "timeout=5"),
                     ("Proxy-Connection", "keep-alive"), ("X-End", "1")]
            body = b"headers-out\n"
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))] + extra
            self.sendall(self.head_bytes(200, "OK", headers) + (b"" if no_body else body))
        elif path in ("/text", "/no-transform") or path.startswith("/text/"):
            self.send_text(q, close, no_body, no_transform=(path == "/no-transform"), req=req)
        elif path == "/text-chunked":
            body = text_bytes(int(q.get("bytes", "2000")))
            pieces = max(1, int(q.get("pieces", "4")))
            headers = [("Content-Type", q.get("type", "text/plain")), ("Transfer-Encoding", "chunked")]
            if close:
                headers.append(("Connection", "close"))
            self.sendall(self.head_bytes(200, "OK", headers))
            if not no_body:
                step = max(1, -(-len(body) // pieces))
                for i in range(0, len(body), step):
                    piece = body[i:i + step]
                    self.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                self.sendall(b"0\r\n\r\n")
        elif path == "/encoded":
            body = gzip.compress(text_bytes(int(q.get("bytes", "4000"))))
            self.send_simple(200, body, close=close, no_body=no_body,
                             extra=[("Content-Encoding", "gzip")])
        elif path == "/random":
            body = random_bytes(int(q.get("bytes", "2000")), int(q.get("seed", "1")))
            self.send_simple(200, body, close=close, ctype=q.get("type", "text/plain"), no_body=no_body)
        elif path == "/own-headers":
            self.send_simple(200, b'{"own": true}', close=close, ctype="application/json", no_body=no_body,
                             extra=[("X-Frame-Options", "SAMEORIGIN"), ("X-Content-Type-Options", "nosniff")])
        else:  # /echo, /expect and anything else
            self.send_echo(req, body_len, body_sha, close, no_body)
        return not close

    def control(self, req, close):
        path = req.path
        q = req.query
        with self.state.lock:
            if path == "/control/health":
                self.state.health_status = int(q.get("status", "200"))
            elif path == "/control/status":
                self.state.force_status = int(q.get("status", "0"))
            elif path == "/control/delay":
                self.state.delay_ms = int(q.get("ms", "0"))
            elif path == "/control/hang":
                self.state.hang_all = q.get("on", "1") not in ("0", "false", "")
            elif path == "/control/reset":
                self.state.requests = 0
                self.state.connections = 0
                self.state.health_hits = 0
                self.state.paths.clear()
                self.state.targets.clear()
                self.state.last_by_path.clear()
                self.state.last_by_target.clear()
            else:
                self.send_simple(404, b"unknown control path\n", close=close)
                return not close
            body = json.dumps({"health_status": self.state.health_status,
                               "force_status": self.state.force_status,
                               "hang_all": self.state.hang_all,
                               "delay_ms": self.state.delay_ms}).encode()
        self.send_simple(200, body, close=close, ctype="application/json")
        return not close

    def send_text(self, q, close, no_body, no_transform=False, req=None):
        if "delay_ms" in q:
            time.sleep(int(q["delay_ms"]) / 1000.0)
        status = int(q.get("status", "200"))
        headers = [("Content-Type", q.get("type", "text/plain"))]
        if "etag" in q:
            headers.append(("ETag", '"%s"' % q["etag"]))
        if "weak_etag" in q:
            headers.append(("ETag", 'W/"%s"' % q["weak_etag"]))
        if "last_modified" in q:
            headers.append(("Last-Modified", q["last_modified"]))
        if no_transform:
            headers.append(("Cache-Control", "no-transform"))
        elif "cache_control" in q:
            headers.append(("Cache-Control", q["cache_control"]))
        if "vary" in q:
            headers.append(("Vary", q["vary"]))
        if "encoding" in q:
            headers.append(("Content-Encoding", q["encoding"]))
        if "expires" in q:
            now = time.time()
            headers.append(("Date", http_date(now)))
            headers.append(("Expires", http_date(now + int(q["expires"]))))
        if "expires_raw" in q:
            headers.append(("Expires", q["expires_raw"]))
        if "age" in q:
            headers.append(("Age", q["age"]))
        if status == 200 and req is not None and req.method in ("GET", "HEAD") and not_modified(req, q):
            with self.state.lock:
                self.state.validated += 1
                validated = self.state.validated
            self.sendall(self.head_bytes(304, REASONS[304], [h for h in headers if h[0] != "Content-Type"]
                                         + [("X-Validated", str(validated))]))
            return
        if "set_cookie" in q:
            headers.append(("Set-Cookie", q["set_cookie"]))
        if status in (204, 304):
            self.sendall(self.head_bytes(status, REASONS.get(status, "Status"), headers))
            return
        n = int(q.get("bytes", "2000"))
        if q.get("stamp") not in (None, "", "0"):
            with self.state.lock:
                self.state.stamp += 1
                stamp = self.state.stamp
            headers.append(("X-Stamp", str(stamp)))
            first = b"stamp %d\n" % stamp
            body = first + text_bytes(max(0, n - len(first)))
        else:
            body = text_bytes(n)
        headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        self.sendall(self.head_bytes(status, REASONS.get(status, "Status"), headers) + (b"" if no_body else body))

    def send_echo(self, req, body_len, body_sha, close, no_body):
        body = json.dumps({
            "name": self.state.name,
            "method": req.method,
            "path": req.target,
            "version": req.version,
            "headers": req.header_dict(),
            "body_len": body_len,
            "body_sha256": body_sha,
        }).encode()
        self.send_simple(200, body, close=close, ctype="application/json", no_body=no_body)

    def hang(self):
        # Keep the connection open, consuming input, until the peer closes it.
        self.request.settimeout(None)
        while True:
            data = self.request.recv(65536)
            if not data:
                return

    def websocket(self, req):
        upgrade = (req.header("upgrade") or "").lower()
        conn_tokens = [t.strip().lower() for t in (req.header("connection") or "").split(",")]
        if upgrade != "websocket" or "upgrade" not in conn_tokens:
            self.send_simple(426, b"upgrade required\n", close=req.wants_close())
            return not req.wants_close()
        self.sendall(self.head_bytes(101, "Switching Protocols",
                                     [("Upgrade", "websocket"), ("Connection", "Upgrade")]))
        if self.reader.buf:
            self.sendall(bytes(self.reader.buf))
            self.reader.buf.clear()
        while True:
            data = self.request.recv(65536)
            if not data:
                return False
            self.sendall(data)


def http_date(t):
    """An IMF-fixdate for the POSIX time t."""
    return email.utils.formatdate(t, usegmt=True)


def _etag_opaque(tag):
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(req, q):
    """RFC 9110 13.1.1/13.1.3 for /text: If-None-Match (weak comparison against the etag /
    weak_etag params, or *) decides when present; else If-Modified-Since equal to (or later
    than) last_modified."""
    inm = req.header("if-none-match")
    if inm is not None:
        tags = []
        if "etag" in q:
            tags.append('"%s"' % q["etag"])
        if "weak_etag" in q:
            tags.append('"%s"' % q["weak_etag"])
        wanted = [t.strip() for t in inm.split(",") if t.strip()]
        if "*" in wanted:
            return bool(tags)
        return any(_etag_opaque(w) == t for w in wanted for t in tags)
    ims = req.header("if-modified-since")
    if ims is not None and "last_modified" in q:
        if ims.strip() == q["last_modified"].strip():
            return True
        try:
            return email.utils.parsedate_to_datetime(ims) >= email.utils.parsedate_to_datetime(q["last_modified"])
        except (TypeError, ValueError):
            return False
    return False


REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
    204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    418: "I'm a teapot", 426: "Upgrade Required", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256
    tls_context = None

    def handle_error(self, request, client_address):
        if sys.exc_info()[0] in (ssl.SSLError, ConnectionResetError):
            return  # a refused TLS handshake is counted, not a crash to print
        super().handle_error(request, client_address)


def make_tls_context(cert, key, client_ca):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--status", type=int, default=0, help="answer this status to every path")
    ap.add_argument("--hang-all", action="store_true", help="every request hangs")
    ap.add_argument("--delay-ms", type=int, default=0, help="wait this long before answering")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate chain")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    args = ap.parse_args()
    server = Server((args.host, args.port), Handler)
    if args.tls_cert:
        server.tls_context = make_tls_context(args.tls_cert, args.tls_key, args.tls_client_ca)
    server.state = State(args.name)
    server.state.force_status = args.status
    server.state.hang_all = args.hang_all
    server.state.delay_ms = args.delay_ms
    sys.stdout.write("%d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
