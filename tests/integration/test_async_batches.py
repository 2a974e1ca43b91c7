"""Async-route batches (issue 15): a queue with `batch: {max_items, max_wait}` delivers jobs on
their first attempt as one upstream request per batch (JSON array or multipart/mixed body,
X-Scalegate-Batch-Size / X-Scalegate-Job-Ids headers); a failed batch falls back to single
deliveries (attempt 2+ is never batched). The upstream is job_sink.JobSink, in-process, so
every request the gateway sends is recorded."""
import email.parser
import email.policy
import json
import threading
import time

import pytest

from conftest import metric_value, wait_until
from job_sink import JobSink
from test_async_routes import Q, accept, async_config, wait_state

JSON = [("Content-Type", "application/json")]
FAST_RETRY = {"type": "fixed", "delay": "100ms", "max": "100ms", "jitter": "none"}


class BatchSink(JobSink):
    """JobSink that answers batch_status to a batch (a request with X-Scalegate-Batch-Size);
    single deliveries keep the usual default_status/script. JobSink picks the status from
    (job id, attempt) only, so the handler notes per thread whether the request is a batch."""

    def __init__(self, batch_status=None, **kw):
        self._local = threading.local()  # before JobSink.__init__ builds the handler
        self.batch_status = batch_status
        super().__init__(**kw)

    def _handler_class(self):
        base = super()._handler_class()
        sink = self

        class Handler(base):
            def _serve(self):
                sink._local.batch = self.headers.get("X-Scalegate-Batch-Size") is not None
                try:
                    base._serve(self)
                finally:
                    sink._local.batch = False

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        return Handler

    def _status_for(self, job_id, attempt):
        if getattr(self._local, "batch", False) and self.batch_status is not None:
            return self.batch_status
        return super()._status_for(job_id, attempt)


@pytest.fixture
def sink():
    s = BatchSink()
    yield s
    s.close()


def batch_config(tmp_path, addr, max_items, max_wait, queue=None):
    q = {"batch": {"max_items": max_items, "max_wait": max_wait}}
    q.update(queue or {})
    return async_config(tmp_path, addr, queue=q)


def job_ids(rec):
    """X-Scalegate-Job-Ids of a batch record, as a list (comma+space separated)."""
    vals = rec.header_list("X-Scalegate-Job-Ids")
    assert len(vals) == 1, rec.headers
    ids = vals[0].split(", ")
    assert all(i and "," not in i and " " not in i for i in ids), vals
    return ids


def settle(sink, n, timeout=5.0, quiet=0.3):
    """Waits for n requests at the sink, then a quiet spell in which an extra one would show."""
    assert wait_until(lambda: sink.count() >= n, timeout), (sink.count(), sink.snapshot())
    time.sleep(quiet)
    recs = sink.snapshot()
    assert len(recs) == n, recs
    return recs


def assert_batch_head(rec, ids, path="/api/orders"):
    assert rec.method == "POST" and rec.path == path, rec
    assert job_ids(rec) == ids, (rec.headers, ids)
    assert rec.header_list("X-Scalegate-Batch-Size") == [str(len(ids))], rec.headers
    assert rec.header_list("X-Scalegate-Attempt") == ["1"], rec.headers
    assert rec.header_list("X-Scalegate-Job-Id") == [], rec.headers
    assert rec.header("Content-Length") == str(len(rec.body)), rec.headers


def assert_json_batch(rec, ids, bodies, path="/api/orders"):
    """bodies: job id -> body bytes. The batch body is [b1,b2,...] byte for byte, in id order."""
    assert_batch_head(rec, ids, path)
    assert rec.header_list("Content-Type") == ["application/json"], rec.headers
    assert rec.body == b"[" + b",".join(bodies[i] for i in ids) + b"]", (rec.body, ids)
    assert len(json.loads(rec.body)) == len(ids)


def multipart_parts(rec):
    """Parses a multipart/mixed batch two ways (the email parser, and a strict split on the
    framing) and returns [(job id, content type or None, body bytes)] after checking both agree."""
    ct = rec.header("Content-Type")
    assert ct is not None, rec.headers
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ct.encode("latin-1") + b"\r\n\r\n" + rec.body)
    assert msg.get_content_type() == "multipart/mixed", ct
    assert msg.is_multipart() and not msg.defects, (msg.defects, rec.body)
    boundary = msg.get_boundary().encode("latin-1")
    parsed = []
    for part in msg.iter_parts():
        assert not part.defects, (part.defects, rec.body)
        raw = {k.lower(): v for k, v in part.raw_items()}  # as sent (the policy would re-quote values)
        parsed.append((raw.get("x-scalegate-job-id"), raw.get("content-type"), part.get_payload(decode=True)))

    # The framing itself: --B CRLF part CRLF --B CRLF ... CRLF --B-- CRLF, nothing after.
    body = rec.body
    assert body.startswith(b"--" + boundary + b"\r\n"), body[:200]
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n"), body[-200:]
    inner = body[len(boundary) + 4:-(len(boundary) + 8)]
    strict = []
    for piece in inner.split(b"\r\n--" + boundary + b"\r\n"):
        head, sep, content = piece.partition(b"\r\n\r\n")
        assert sep, piece
        fields = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        strict.append((fields.get("x-scalegate-job-id"), fields.get("content-type"), content))
    assert strict == parsed, (strict, parsed)
    return parsed, boundary


def wait_all(gw, ids, state, attempts=None):
    for i in ids:
        st = wait_state(gw, i, state)
        if attempts is not None:
            assert st["attempts"] == attempts, st


def assert_result(gw, job_id, status, body):
    res = gw.get("/jobs/%s/result" % job_id)
    assert res.status == 200, res
    out = res.json()
    assert out["status"] == status and out["body"] == body, out


def qmetric(gw, suffix):
    return metric_value(gw.metrics_text(), "scalegate_queue_" + suffix, queue=Q)


# ---------------------------------------------------------------------------
# 1, 2: what sends a batch
# ---------------------------------------------------------------------------
def test_max_items_sends_full_batches(gateway, sink, tmp_path):
    gw = gateway(batch_config(tmp_path, sink.address, 5, "10s"))
    bodies = {}
    ids = []
    for i in range(10):
        body = b'{"n": %d, "pad" : [1, 2]}' % i if i % 2 else b'{"n":%d}' % i
        jid = accept(gw, body)
        bodies[jid] = body
        ids.append(jid)
    # Well inside max_wait (10 s): only max_items can have sent these.
    recs = settle(sink, 2)
    recs.sort(key=lambda r: r.arrival)
    assert job_ids(recs[0]) + job_ids(recs[1]) == ids, (recs, ids)
    for rec in recs:
        assert_json_batch(rec, job_ids(rec), bodies)
        assert len(job_ids(rec)) == 5
    wait_all(gw, ids, "succeeded", attempts=1)
    for i in ids:
        assert_result(gw, i, 200, "done")
    assert wait_until(lambda: qmetric(gw, "delivered_total") == 10, 3), qmetric(gw, "delivered_total")


def test_max_wait_flushes_a_partial_batch(gateway, sink, tmp_path):
    gw = gateway(batch_config(tmp_path, sink.address, 100, "300ms"))
    first = accept(gw, b'{"i":0}')
    t_first = time.monotonic()
    ids = [first] + [accept(gw, b'{"i":%d}' % i) for i in (1, 2)]
    recs = settle(sink, 1, timeout=5)
    rec = recs[0]
    waited = rec.arrival - t_first
    assert 0.25 <= waited <= 5.0, waited
    assert_json_batch(rec, ids, dict(zip(ids, [b'{"i":0}', b'{"i":1}', b'{"i":2}'])))
    wait_all(gw, ids, "succeeded", attempts=1)


# ---------------------------------------------------------------------------
# 3, 4: the body format
# ---------------------------------------------------------------------------
def test_non_json_bodies_make_a_multipart_batch(gateway, sink, tmp_path):
    jobs = [
        ([("Content-Type", "text/plain")], b"plain one"),
        ([("Content-Type", "text/plain; charset=utf-8")],
         b"--\r\n--xyz\r\nnot: a header\r\n\r\n--\r\ntrailing dashes--\r\n"),
        (JSON, b'{"json": "mixed in"}'),
        ([("X-Note", "no content type")], b"\x00\xff no content type \r\n"),
        ([("Content-Type", "text/plain")], "caf\u00e9 \u2603".encode("utf-8")),
    ]
    gw = gateway(batch_config(tmp_path, sink.address, len(jobs), "10s"))
    ids = [accept(gw, body, headers) for headers, body in jobs]
    rec = settle(sink, 1)[0]
    assert_batch_head(rec, ids)
    assert rec.header("Content-Type").lower().startswith("multipart/mixed"), rec.headers
    parts, boundary = multipart_parts(rec)
    for _, body in jobs:
        assert boundary not in body
    expected = [(jid, dict(h).get("Content-Type"), body) for jid, (h, body) in zip(ids, jobs)]
    assert parts == expected, (parts, expected)
    wait_all(gw, ids, "succeeded", attempts=1)
    for i in ids:
        assert_result(gw, i, 200, "done")


def test_invalid_json_labelled_json_makes_the_batch_multipart(gateway, sink, tmp_path):
    bodies = [b'{"ok": 1}', b'{"broken": ', b"[1, 2]"]
    gw = gateway(batch_config(tmp_path, sink.address, len(bodies), "10s"))
    ids = [accept(gw, b) for b in bodies]
    rec = settle(sink, 1)[0]
    assert_batch_head(rec, ids)
    parts, _ = multipart_parts(rec)
    assert parts == [(i, "application/json", b) for i, b in zip(ids, bodies)], parts
    wait_all(gw, ids, "succeeded", attempts=1)


def test_json_suffix_types_with_parameters_make_a_json_batch(gateway, sink, tmp_path):
    jobs = [
        ("application/problem+json; charset=utf-8", b' {"type": "a"}\n'),
        ("application/json; charset=utf-8", b'"just a string"'),
        ("application/vnd.example+json", b"[]"),
    ]
    gw = gateway(batch_config(tmp_path, sink.address, len(jobs), "10s"))
    ids = [accept(gw, body, [("Content-Type", ct)]) for ct, body in jobs]
    rec = settle(sink, 1)[0]
    assert_json_batch(rec, ids, dict(zip(ids, [b for _, b in jobs])))


# ---------------------------------------------------------------------------
# 5, 6: what a batch shares
# ---------------------------------------------------------------------------
def test_different_targets_go_in_separate_batches(gateway, sink, tmp_path):
    """A batch takes the oldest waiting job's method and target and more jobs of the same: jobs
    that wait interleaved (a, b, a, b) go as one batch per target. (The max_items trigger counts
    the whole queue: at low load, interleaved targets can leave before their batch is full.)"""
    gw = gateway(batch_config(tmp_path, sink.address, 2, "10s", queue={"concurrency": 1}))
    sink.hang()  # the first batch holds the only slot while the interleaved jobs arrive
    blockers = [accept(gw, b'{"z": %d}' % n, path="/api/orders/z") for n in range(2)]
    assert wait_until(lambda: sink.count() >= 1, 5), sink.snapshot()
    by_path = {"/api/orders/a": [], "/api/orders/b": []}
    bodies = {}
    for n in range(2):
        for path in by_path:
            body = b'{"path": "%s", "n": %d}' % (path.encode(), n)
            jid = accept(gw, body, path=path)
            by_path[path].append(jid)
            bodies[jid] = body
    sink.release()
    recs = settle(sink, 3)
    assert [(r.path, r.header("X-Scalegate-Batch-Size")) for r in recs] == [
        ("/api/orders/z", "2"), ("/api/orders/a", "2"), ("/api/orders/b", "2")], recs
    for rec in recs[1:]:
        assert_json_batch(rec, by_path[rec.path], bodies, path=rec.path)
    wait_all(gw, blockers + [i for v in by_path.values() for i in v], "succeeded", attempts=1)


def test_batch_headers_keep_only_what_every_job_shares(gateway, sink, tmp_path):
    gw = gateway(batch_config(tmp_path, sink.address, 3, "10s"))
    ids = []
    for i in range(3):
        hdrs = JSON + [("X-Tenant", "a"), ("X-Request-Id", "req-%d" % i), ("X-Order-Ref", "ref-%d" % i),
                       # forged by the client: never forwarded as such
                       ("X-Scalegate-Job-Id", "forged"), ("X-Scalegate-Attempt", "9"),
                       ("X-Scalegate-Batch-Size", "99"), ("X-Scalegate-Job-Ids", "forged, ids")]
        if i < 2:
            hdrs.append(("X-Partial", "only-some"))
        ids.append(accept(gw, b'{"i": %d}' % i, hdrs))
    rec = settle(sink, 1)[0]
    assert_batch_head(rec, ids)  # exactly one Batch-Size, Job-Ids, Attempt: 1; no X-Scalegate-Job-Id
    assert rec.header_list("X-Tenant") == ["a"], rec.headers
    assert rec.header_list("X-Order-Ref") == [], rec.headers
    # The jobs' differing X-Request-Id values are dropped. The gateway itself gives every request
    # it proxies an X-Request-Id (kept or generated, docs/life-of-a-request.md), so the batch
    # carries one id of its own: none of the jobs'.
    rids = rec.header_list("X-Request-Id")
    assert len(rids) <= 1 and not set(rids) & {"req-0", "req-1", "req-2"}, rec.headers
    assert rec.header_list("X-Partial") == [], rec.headers
    assert rec.header_list("Content-Type") == ["application/json"], rec.headers


# ---------------------------------------------------------------------------
# 7, 8: a failed batch
# ---------------------------------------------------------------------------
def test_failed_batch_retries_each_job_alone(gateway, sink, tmp_path):
    sink.batch_status = 503
    gw = gateway(batch_config(tmp_path, sink.address, 4, "10s", queue={"attempts": 3, "backoff": FAST_RETRY}))
    jobs = [(JSON, b'{"k": 0}'), ([("Content-Type", "text/plain")], b"k one"), (JSON, b'{"k": 2}'),
            ([("Content-Type", "text/plain"), ("X-Only-Here", "3")], b"k three")]
    ids = [accept(gw, body, headers) for headers, body in jobs]
    recs = settle(sink, 5, timeout=6)
    batch = [r for r in recs if r.header("X-Scalegate-Batch-Size") is not None]
    singles = [r for r in recs if r.header("X-Scalegate-Batch-Size") is None]
    assert len(batch) == 1 and batch[0].status == 503, recs
    assert_batch_head(batch[0], ids)
    assert sorted(r.job_id for r in singles) == sorted(ids), singles
    for rec in singles:
        headers, body = jobs[ids.index(rec.job_id)]
        assert rec.header_list("X-Scalegate-Job-Id") == [rec.job_id], rec.headers
        assert rec.header_list("X-Scalegate-Attempt") == ["2"], rec.headers
        assert rec.header("X-Scalegate-Job-Ids") is None, rec.headers
        assert rec.method == "POST" and rec.path == "/api/orders", rec
        assert rec.body == body, (rec.body, body)
        assert rec.header("Content-Type") == dict(headers)["Content-Type"], rec.headers
        assert rec.arrival - batch[0].arrival >= 0.09, (rec.arrival, batch[0].arrival)
        assert rec.status == 200
    # a single delivery is a normal one: the job's own headers, not only those the batch shared
    assert [r.header("X-Only-Here") for r in singles if r.job_id == ids[3]] == ["3"], singles
    wait_all(gw, ids, "succeeded", attempts=2)
    for i in ids:
        assert_result(gw, i, 200, "done")


def test_3xx_answer_settles_every_job_of_the_batch(gateway, sink, tmp_path):
    sink.default_status = 303
    sink.body = b"see the batch"
    gw = gateway(batch_config(tmp_path, sink.address, 2, "10s", queue={"attempts": 3, "backoff": FAST_RETRY}))
    ids = [accept(gw, b'{"s": %d}' % i) for i in range(2)]
    settle(sink, 1)
    wait_all(gw, ids, "succeeded", attempts=1)
    for i in ids:
        assert_result(gw, i, 303, "see the batch")


def test_failed_batch_with_one_attempt_sends_every_job_to_the_dead_letters(gateway, sink, tmp_path):
    sink.batch_status = 503
    gw = gateway(batch_config(tmp_path, sink.address, 3, "10s", queue={"attempts": 1, "backoff": FAST_RETRY}))
    ids = [accept(gw, b'{"d": %d}' % i) for i in range(3)]
    recs = settle(sink, 1)
    assert_batch_head(recs[0], ids)
    wait_all(gw, ids, "dead", attempts=1)
    dead = gw.admin_get("/admin/queues/%s/dead" % Q)
    assert dead.status == 200, dead
    assert sorted(j["id"] for j in dead.json()["jobs"]) == sorted(ids), dead.json()
    for i in ids:
        assert_result(gw, i, 503, "done")
    assert wait_until(lambda: qmetric(gw, "dead_letters") == 3, 3), qmetric(gw, "dead_letters")
    time.sleep(0.3)
    assert sink.count() == 1, sink.snapshot()


# ---------------------------------------------------------------------------
# 9, 10: concurrency and rate count requests
# ---------------------------------------------------------------------------
def test_concurrency_counts_batches(gateway, sink, tmp_path):
    sink.delay = 0.2
    gw = gateway(batch_config(tmp_path, sink.address, 2, "10s", queue={"concurrency": 1}))
    ids = [accept(gw, b'{"c": %d}' % i) for i in range(6)]
    recs = settle(sink, 3, timeout=6)
    assert sink.max_in_flight == 1, sink.max_in_flight
    recs.sort(key=lambda r: r.arrival)
    assert [i for r in recs for i in job_ids(r)] == ids, recs
    assert all(len(job_ids(r)) == 2 for r in recs), recs
    wait_all(gw, ids, "succeeded", attempts=1)
    assert wait_until(lambda: qmetric(gw, "delivered_total") == 6, 3), qmetric(gw, "delivered_total")


def test_rate_counts_batches_not_jobs(gateway, sink, tmp_path):
    """15 jobs at rate 4/s would need over 3 s as singles; as 3 batches they need well under 2.5 s."""
    gw = gateway(batch_config(tmp_path, sink.address, 5, "10s", queue={"rate": "4/s", "concurrency": 4}))
    t0 = time.monotonic()
    ids = [accept(gw, b'{"r": %d}' % i) for i in range(15)]
    recs = settle(sink, 3, timeout=5)
    assert sorted(i for r in recs for i in job_ids(r)) == sorted(ids), recs
    last = max(r.arrival for r in recs)
    assert last - t0 < 2.5, last - t0
    wait_all(gw, ids, "succeeded", attempts=1)
