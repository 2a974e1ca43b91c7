"""An in-process HTTP/1.1 upstream for the async-route tests: records every delivery and
answers by script.

    sink = JobSink(default_status=200, delay=0.0)
    sink.script(job_id, attempt, 503)      # one (job, attempt) answers 503
    sink.default_status = 200              # everything else
    sink.delay = 0.1                       # seconds each request is held before the answer
    ...
    sink.records, sink.max_in_flight, sink.count_by_job()
    sink.close()

Bounded: full records are kept for the first `max_records` requests; after that only the
per-job counts (a Counter of ids) grow, so a 20,000-job run stays small. A request held by
`delay` or `hang()` waits on an Event, so close() releases it at once.
"""
import collections
import http.server
import socket
import threading
import time

JOB_ID_HEADER = "X-Scalegate-Job-Id"
ATTEMPT_HEADER = "X-Scalegate-Attempt"


class _QuietServer(http.server.ThreadingHTTPServer):
    # A gateway killed mid-delivery resets its connections: that is expected, not a traceback.
    def handle_error(self, request, client_address):
        pass


class _QuietServer6(_QuietServer):
    address_family = socket.AF_INET6


class Record:
    __slots__ = ("method", "path", "headers", "body", "job_id", "attempt", "arrival", "status")

    def __init__(self, method, path, headers, body, job_id, attempt, arrival):
        self.method = method
        self.path = path
        self.headers = headers      # list of (name, value) as received
        self.body = body
        self.job_id = job_id
        self.attempt = attempt
        self.arrival = arrival      # time.monotonic() when the head was read
        self.status = None          # what the sink answered

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None

    def header_list(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return "<Record %s %s job=%s attempt=%s body=%r>" % (
            self.method, self.path, self.job_id, self.attempt, self.body[:80])


class JobSink:
    def __init__(self, default_status=200, delay=0.0, body=b"done", max_records=50_000,
                 host="127.0.0.1"):
        self.lock = threading.Lock()
        self.default_status = default_status
        self.delay = delay
        self.body = body
        self.max_records = max_records
        self.records = []
        self.by_job = collections.Counter()   # job id -> deliveries (unbounded records not kept)
        self.total = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._script = {}                     # (job_id, attempt) -> status
        self._stop = threading.Event()
        self._release = threading.Event()     # hang(): requests wait for this
        self._release.set()
        server_class = _QuietServer6 if ":" in host else _QuietServer
        self.server = server_class((host, 0), self._handler_class())
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    # ---- scripting -------------------------------------------------------------------
    def script(self, job_id, attempt, status):
        with self.lock:
            self._script[(job_id, int(attempt))] = status

    def hang(self):
        """Requests from now on wait (inside the handler) until release() or close()."""
        self._release.clear()

    def release(self):
        self._release.set()

    # ---- inspection -----------------------------------------------------------------
    def snapshot(self):
        with self.lock:
            return list(self.records)

    def count(self):
        with self.lock:
            return self.total

    def count_by_job(self):
        with self.lock:
            return collections.Counter(self.by_job)

    def for_job(self, job_id):
        return [r for r in self.snapshot() if r.job_id == job_id]

    def reset_max_in_flight(self):
        with self.lock:
            self.max_in_flight = self.in_flight

    def close(self):
        self._stop.set()
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the handler -----------------------------------------------------------------
    def _status_for(self, job_id, attempt):
        with self.lock:
            return self._script.get((job_id, attempt), self.default_status)

    def _handler_class(self):
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and the body are two writes: with Nagle the body waits for the
            # gateway's delayed ACK (~40 ms a delivery), which no real upstream would add.
            disable_nagle_algorithm = True

            def _read_body(self):
                te = (self.headers.get("Transfer-Encoding") or "").lower()
                if "chunked" in te:
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _serve(self):
                arrival = time.monotonic()
                body = self._read_body()
                job_id = self.headers.get(JOB_ID_HEADER)
                try:
                    attempt = int(self.headers.get(ATTEMPT_HEADER))
                except (TypeError, ValueError):
                    attempt = None
                rec = Record(self.command, self.path, list(self.headers.items()), body, job_id, attempt,
                             arrival)
                with sink.lock:
                    sink.total += 1
                    if job_id is not None:
                        sink.by_job[job_id] += 1
                    if len(sink.records) < sink.max_records:
                        sink.records.append(rec)
                    sink.in_flight += 1
                    sink.max_in_flight = max(sink.max_in_flight, sink.in_flight)
                    delay = sink.delay
                try:
                    if delay > 0:
                        sink._stop.wait(delay)
                    while not sink._release.is_set() and not sink._stop.is_set():
                        sink._release.wait(0.05)
                finally:
                    with sink.lock:
                        sink.in_flight -= 1
                status = sink._status_for(job_id, attempt)
                rec.status = status
                out = sink.body if isinstance(sink.body, bytes) else str(sink.body).encode()
                out = out if status not in (204, 304) else b""
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Sink", "1")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, *args):
                pass

        return Handler
