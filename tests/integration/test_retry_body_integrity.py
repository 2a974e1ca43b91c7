"""A retried request carries exactly the client's bytes, and no upstream connection is pooled
unless its request was sent whole and its response read whole.

Both servers run one script: the first try of each scripted request fails (503 or a reset,
before, during or after the body), the retry answers with the SHA-1 of the body it received.
Every request head on every upstream connection is parsed strictly, so bytes left behind on a
pooled connection (a desynchronised connection: request smuggling) fail the test.
"""
import collections
import json
import random
import threading
import time

import pytest

from conftest import Conn, build_request, make_config, wait_s
from scripted_upstream import ScriptedUpstream, sha1

MAX_BODY = 16 * 1024 * 1024
FAIL_POINTS = ("before", "during", "after")
FAIL_KINDS = ("503", "reset")


class FirstTryFails:
    """The script of both servers: plan[case] = (point, kind, bytes read before failing)."""

    def __init__(self):
        self.plan = {}
        self.tries = collections.Counter()
        self.lock = threading.Lock()

    def __call__(self, ex):
        case = ex.header("x-case")
        if ex.method == "GET":
            ex.respond(200, b"ok")
            return True
        with self.lock:
            self.tries[case] += 1
            first = self.tries[case] == 1
        if first and case in self.plan:
            return self.fail(ex, *self.plan[case])
        body, _ = ex.read_body()
        ex.respond(200, json.dumps({"sha1": sha1(body), "length": len(body)}).encode())
        return True

    @staticmethod
    def fail(ex, point, kind, partial):
        if point == "before":
            time.sleep(0.7)  # the gateway's socket to this server fills up meanwhile
        elif point == "during":
            ex.read_body(limit=partial)
        else:
            ex.read_body()
        if kind == "reset":
            ex.reset()
            return False
        ex.respond(503, b"try elsewhere")
        # A server that answered before reading the whole body must close (it cannot find
        # the next request head); one that read it all may keep the connection.
        return point == "after"


@pytest.fixture
def retry_pair(gateway):
    script = FirstTryFails()
    a = ScriptedUpstream(script, "a")
    b = ScriptedUpstream(script, "b")
    gw = gateway(make_config(
        {"pool": [a.address, b.address]}, workers=1,
        listener={"max_body_size": "32MiB"},
        upstream_opts={"pool": {"balance": "round_robin", "keepalive": 8}},
        routes=[{"name": "r", "match": {"prefix": "/"}, "upstream": "pool",
                 "retries": {"attempts": 1, "on": ["5xx", "reset"], "backoff": "5ms"},
                 "retry_buffer_limit": "16MiB"}]))
    yield gw, script, (a, b)
    a.stop()
    b.stop()


def send_body(conn, head, body, trickle):
    """Sends head + body from a thread (the gateway may stop reading while a server stalls)."""
    def run():
        try:
            conn.send(head)
            if not trickle:
                conn.send(body)
                return
            step = max(1, len(body) // 8)
            for i in range(0, len(body), step):
                conn.send(body[i:i + step])
                time.sleep(0.05)
        except OSError:
            pass
    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    return sender


def put_and_check(gw, script, case, size, point, kind, partial, trickle):
    body = random.Random(case).randbytes(size)
    script.plan[case] = (point, kind, partial)
    with Conn(gw.port, timeout=30) as c:
        head = build_request("PUT", "/upload", headers=[("X-Case", case),
                                                         ("Content-Length", str(size))])
        sender = send_body(c, head, body, trickle)
        r = c.read_response("PUT")
        sender.join(wait_s(30))
        where = "%s: %d bytes, fail %s by %s after %d bytes, trickle=%s" % (
            case, size, point, kind, partial, trickle)
        assert r.status == 200, "%s: %r" % (where, r)
        got = r.json()
        assert got == {"sha1": sha1(body), "length": size}, where
        # The pooled connections carry the next requests; their heads must parse cleanly.
        for i in range(3):
            assert c.get("/after/%d" % i, headers={"X-Case": case}).status == 200, where


def chunked_body(body, rng):
    """Chunk framing with random chunk sizes (some with extensions)."""
    out, i = [], 0
    while i < len(body):
        n = min(len(body) - i, rng.choice((1, 7, 1000, 65536, 300000)))
        ext = b";ext=1" if rng.random() < 0.2 else b""
        out.append(b"%x%s\r\n" % (n, ext) + body[i:i + n] + b"\r\n")
        i += n
    return b"".join(out) + b"0\r\n\r\n"


@pytest.mark.timeout_s(120)
@pytest.mark.parametrize("point,kind", [("before", "503"), ("during", "reset"),
                                        ("during", "503"), ("after", "reset")])
def test_retry_of_a_chunked_body_resends_it_exactly(retry_pair, point, kind):
    gw, script, servers = retry_pair
    rng = random.Random(point + kind)
    for n, size in enumerate((5, 70000, 3 * 1024 * 1024)):
        case = "chunked-%s-%s-%d" % (point, kind, n)
        body = rng.randbytes(size)
        script.plan[case] = (point, kind, rng.randrange(0, size))
        with Conn(gw.port, timeout=30) as c:
            head = build_request("PUT", "/upload", headers=[("X-Case", case),
                                                             ("Transfer-Encoding", "chunked")])
            sender = send_body(c, head, chunked_body(body, rng), size > 100000)
            r = c.read_response("PUT")
            sender.join(wait_s(30))
            assert r.status == 200, "%s: %r" % (case, r)
            assert r.json() == {"sha1": sha1(body), "length": size}, case
            assert c.get("/after", headers={"X-Case": case}).status == 200
    assert_clean(servers)


def assert_clean(servers):
    for server in servers:
        assert server.errors == [], "%s saw a desynchronised connection: %r" % (
            server.name, server.errors)


def test_retry_after_503_from_a_stalled_server_resends_exactly_the_body(retry_pair):
    """The review's reproduction: the first server reads the head, does not read the 10 MB
    body for 0.7 s, then answers 503; the second must receive exactly the client's body."""
    gw, script, servers = retry_pair
    put_and_check(gw, script, "stalled-503", 10 * 1000 * 1000, "before", "503", 0, False)
    put_and_check(gw, script, "stalled-reset", 10 * 1000 * 1000, "before", "reset", 0, False)
    assert_clean(servers)


@pytest.mark.timeout_s(240)
@pytest.mark.parametrize("seed", [11, 12])
def test_random_sizes_and_failure_points_keep_the_body_exact(retry_pair, seed):
    gw, script, servers = retry_pair
    rng = random.Random(seed)
    cases = [(1, "before", "503"), (MAX_BODY, "during", "reset")]  # the extremes, always
    for _ in range(10):
        size = max(1, min(MAX_BODY, int(2 ** rng.uniform(0, 24))))
        cases.append((size, rng.choice(FAIL_POINTS), rng.choice(FAIL_KINDS)))
    for n, (size, point, kind) in enumerate(cases):
        partial = rng.randrange(0, size) if point == "during" else 0
        trickle = rng.random() < 0.3 and size > 1024
        put_and_check(gw, script, "s%d-%d" % (seed, n), size, point, kind, partial, trickle)
    assert_clean(servers)


def test_body_over_the_retry_buffer_is_not_retried_and_not_corrupted(retry_pair):
    """A body larger than retry_buffer_limit cannot be replayed: the client gets the first
    server's failure instead of a retry with half a body."""
    gw, script, servers = retry_pair
    size = MAX_BODY + 4096
    case = "too-big"
    script.plan[case] = ("after", "503", 0)
    body = b"x" * size
    with Conn(gw.port, timeout=30) as c:
        head = build_request("PUT", "/upload", headers=[("X-Case", case),
                                                         ("Content-Length", str(size))])
        sender = send_body(c, head, body, False)
        r = c.read_response("PUT")
        sender.join(wait_s(30))
    assert r.status == 503, r
    assert script.tries[case] == 1
    assert_clean(servers)
