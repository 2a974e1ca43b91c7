"""Async-route callbacks (issue 15): a job accepted with X-Callback-Url on a route with
`async.callback` is reported, when it ends through a delivery (succeeded, failed, dead), by a
signed POST to that URL. The receiver is a second JobSink on 127.0.0.1."""
import hashlib
import hmac
import json
import time

import pytest

from conftest import metric_value, wait_until
from job_sink import JobSink
from test_async_routes import Q, accept, async_config, post, queue_info, wait_state

SECRET = b"s3cret-key"


class Receiver(JobSink):
    """A JobSink answering the given statuses in turn, then default_status."""

    def __init__(self, statuses=(), **kw):
        super().__init__(**kw)
        self.statuses = list(statuses)

    def _status_for(self, job_id, attempt):
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.default_status


@pytest.fixture
def sink():
    s = JobSink()
    yield s
    s.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def callback_config(tmp_path, upstream, secret=SECRET, allow=("127.0.0.1", "hooks.example.com"),
                    queue=None, secret_file=None):
    path = secret_file or tmp_path / "hook.key"
    if secret_file is None:
        path.write_bytes(secret + b"\n")
    return async_config(tmp_path, upstream, queue=queue, route={
        "async": {"queue": Q, "callback": {"allow": list(allow), "secret_file": str(path)}}})


def hook_url(receiver, path="/hook"):
    return "http://127.0.0.1:%d%s" % (receiver.port, path)


def with_callback(url):
    return [("Content-Type", "application/json"), ("X-Callback-Url", url)]


def cb_metric(gw, result):
    return metric_value(gw.metrics_text(), "scalegate_queue_callbacks_total", queue=Q, result=result) or 0


def check_signature(rec, secret=SECRET):
    ts = rec.header("X-Scalegate-Timestamp")
    assert ts and ts.isdigit(), rec.headers
    assert abs(int(ts) - time.time()) < 60, ts
    expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + rec.body, hashlib.sha256).hexdigest()
    assert rec.header("X-Scalegate-Signature") == expected, rec.headers


def one_callback(receiver, job_id, timeout=8.0):
    assert wait_until(lambda: len(receiver.for_job(job_id)) >= 1, timeout), \
        "no callback for %s: %r" % (job_id, receiver.snapshot())
    time.sleep(0.3)  # a second one would show by now
    recs = receiver.for_job(job_id)
    assert len(recs) == 1, recs
    return recs[0]


# An allow list may name an IPv6 literal in any spelling; the URL's may differ too.
def test_callback_to_an_ipv6_literal(gateway, sink, tmp_path):
    receiver6 = Receiver(host="::1")
    try:
        gw = gateway(callback_config(tmp_path, sink.address, allow=("0:0::1",)))
        url = "http://[0:0:0:0:0:0:0:1]:%d/hook6" % receiver6.port
        job_id = accept(gw, body=b'{"n": 6}', headers=with_callback(url))
        wait_state(gw, job_id, "succeeded")
        rec = one_callback(receiver6, job_id)
        assert rec.path == "/hook6", rec
        assert rec.header("Host") == "[::1]:%d" % receiver6.port, rec.headers
        check_signature(rec)
        r = post(gw, body=b"{}", headers=with_callback("http://[::2]:%d/hook6" % receiver6.port))
        assert r.status == 400, r
        assert "[::2] is not in this route's callback allow list" in r.json()["error"], r.json()
    finally:
        receiver6.close()


# 1. success
def test_success_calls_back_once_signed(gateway, sink, receiver, tmp_path):
    gw = gateway(callback_config(tmp_path, sink.address))
    url = hook_url(receiver, "/hook?order=7")
    job_id = accept(gw, body=b'{"n": 1}', headers=with_callback(url) + [("X-Scalegate-Callback-Route", "forged")])
    wait_state(gw, job_id, "succeeded")
    rec = one_callback(receiver, job_id)
    assert rec.method == "POST" and rec.path == "/hook?order=7", rec
    assert rec.header("Content-Type") == "application/json", rec.headers
    assert rec.header("X-Scalegate-Job-Id") == job_id, rec.headers
    assert rec.header("User-Agent") == "scalegate", rec.headers
    assert rec.header("Host") == "127.0.0.1:%d" % receiver.port, rec.headers
    assert rec.header("Content-Length") == str(len(rec.body)), rec.headers
    check_signature(rec)
    doc = json.loads(rec.body)
    assert doc["id"] == job_id and doc["queue"] == Q, doc
    assert doc["state"] == "succeeded" and doc["attempts"] == 1, doc
    assert doc["result"] == gw.get("/jobs/%s/result" % job_id).json(), doc
    assert doc["result"]["status"] == 200 and doc["result"]["body"] == "done", doc
    # The upstream got the URL like any header, never the gateway's internal marker.
    (delivered,) = sink.for_job(job_id)
    assert delivered.header("X-Callback-Url") == url, delivered.headers
    assert delivered.header("X-Scalegate-Callback-Route") is None, delivered.headers
    assert wait_until(lambda: cb_metric(gw, "sent") == 1, 3), cb_metric(gw, "sent")
    assert cb_metric(gw, "failed") == 0 and cb_metric(gw, "dropped") == 0


# 2. refused at accept: nothing stored, nothing delivered
@pytest.mark.parametrize("headers, reason", [
    (with_callback("http://evil.example/hook"), "not in this route's callback allow list"),
    (with_callback("https://127.0.0.1/hook"), "https callbacks are not supported yet"),
    (with_callback("127.0.0.1/hook"), "absolute http://"),
    (with_callback("http://user@127.0.0.1/hook"), "user information"),
    (with_callback("http://127.0.0.1:99999/hook"), "port"),
    (with_callback("http://127.0.0.1/a") + [("X-Callback-Url", "http://127.0.0.1/b")], "at most once"),
])
def test_bad_callback_url_is_400_and_not_stored(gateway, sink, receiver, tmp_path, headers, reason):
    gw = gateway(callback_config(tmp_path, sink.address))
    r = post(gw, body=b'{"n": 1}', headers=headers)
    assert r.status == 400, r
    assert reason in r.json()["error"], r.json()
    assert sum(queue_info(gw)["jobs"].values()) == 0, queue_info(gw)
    time.sleep(0.3)
    assert sink.count() == 0 and receiver.count() == 0
    # The connection was closed (the body was not read); the next request is served normally.
    job_id = accept(gw, headers=with_callback(hook_url(receiver)))
    one_callback(receiver, job_id)


# 3. failed and dead call back with that state
def test_failed_and_dead_call_back(gateway, sink, receiver, tmp_path):
    gw = gateway(callback_config(tmp_path, sink.address, queue={"attempts": 1}))
    sink.default_status = 404  # not in retry_on: failed
    failed = accept(gw, headers=with_callback(hook_url(receiver, "/failed")))
    wait_state(gw, failed, "failed")
    rec = one_callback(receiver, failed)
    check_signature(rec)
    doc = json.loads(rec.body)
    assert doc["state"] == "failed" and doc["attempts"] == 1, doc
    assert doc["result"]["status"] == 404, doc

    sink.default_status = 503  # retryable, but attempts: 1 -> dead
    dead = accept(gw, headers=with_callback(hook_url(receiver, "/dead")))
    wait_state(gw, dead, "dead")
    rec = one_callback(receiver, dead)
    assert rec.path == "/dead"
    doc = json.loads(rec.body)
    assert doc["state"] == "dead" and doc["attempts"] == 1, doc
    assert doc["result"]["status"] == 503, doc


def test_retry_then_success_calls_back_only_at_the_end(gateway, sink, receiver, tmp_path):
    gw = gateway(callback_config(tmp_path, sink.address, queue={
        "attempts": 3, "backoff": {"type": "fixed", "delay": "50ms", "max": "50ms", "jitter": "none"}}))
    sink.default_status = 503
    job_id = accept(gw, headers=with_callback(hook_url(receiver)))
    sink.script(job_id, 3, 200)
    wait_state(gw, job_id, "succeeded")
    doc = json.loads(one_callback(receiver, job_id).body)
    assert doc["state"] == "succeeded" and doc["attempts"] == 3, doc


# 4. the receiver fails twice, then takes it
def test_receiver_errors_are_retried(gateway, sink, tmp_path):
    receiver = Receiver(statuses=[500, 500])
    try:
        gw = gateway(callback_config(tmp_path, sink.address))
        job_id = accept(gw, headers=with_callback(hook_url(receiver)))
        wait_state(gw, job_id, "succeeded")
        # Tries at about 0 s, 1 s and 3 s.
        assert wait_until(lambda: cb_metric(gw, "sent") == 1, 10), cb_metric(gw, "sent")
        recs = receiver.for_job(job_id)
        assert [r.status for r in recs] == [500, 500, 200], recs
        for rec in recs:
            check_signature(rec)
        assert recs[1].arrival - recs[0].arrival >= 0.9, recs
        assert recs[2].arrival - recs[1].arrival >= 1.9, recs
        assert cb_metric(gw, "failed") == 0
    finally:
        receiver.close()


# 5. a route without callback ignores the field
def test_route_without_callback_ignores_the_url(gateway, sink, receiver, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address))
    url = hook_url(receiver)
    job_id = accept(gw, headers=with_callback(url) + [("X-Scalegate-Callback-Route", "orders")])
    wait_state(gw, job_id, "succeeded")
    (delivered,) = sink.for_job(job_id)
    assert delivered.header("X-Callback-Url") == url, delivered.headers
    time.sleep(0.5)
    assert receiver.count() == 0, receiver.snapshot()
    # Even one the allow list of a callback route would refuse.
    assert accept(gw, headers=with_callback("https://evil.example/"))


def test_no_callback_url_means_no_callback(gateway, sink, receiver, tmp_path):
    gw = gateway(callback_config(tmp_path, sink.address))
    job_id = accept(gw)
    wait_state(gw, job_id, "succeeded")
    time.sleep(0.5)
    assert receiver.count() == 0


# Each job of a batch gets its own callback.
def test_batch_jobs_each_call_back(gateway, sink, receiver, tmp_path):
    gw = gateway(callback_config(tmp_path, sink.address, queue={"batch": {"max_items": 2, "max_wait": "5s"}}))
    first = accept(gw, body=b'{"n": 1}', headers=with_callback(hook_url(receiver, "/one")))
    second = accept(gw, body=b'{"n": 2}', headers=with_callback(hook_url(receiver, "/two")))
    wait_state(gw, first, "succeeded")
    wait_state(gw, second, "succeeded")
    assert sink.count() == 1, sink.snapshot()  # one batch request
    one, two = one_callback(receiver, first), one_callback(receiver, second)
    assert one.path == "/one" and two.path == "/two", (one, two)
    for rec, job_id in ((one, first), (two, second)):
        check_signature(rec)
        doc = json.loads(rec.body)
        assert doc["id"] == job_id and doc["state"] == "succeeded", doc


# Best effort: a receiver that hangs does not hold up shutdown; what was pending is dropped.
def test_shutdown_with_a_hanging_receiver_is_prompt(gateway, sink, receiver, tmp_path):
    gw = gateway(callback_config(tmp_path, sink.address))
    receiver.hang()
    first = accept(gw, headers=with_callback(hook_url(receiver)))
    second = accept(gw, headers=with_callback(hook_url(receiver)))
    wait_state(gw, first, "succeeded")
    wait_state(gw, second, "succeeded")
    assert wait_until(lambda: receiver.count() == 1, 5), receiver.count()  # the first one hangs
    started = time.monotonic()
    assert gw.stop() == 0, gw.logs[-3000:]
    assert time.monotonic() - started < 5, "shutdown waited for the receiver"
    assert "callbacks still pending at shutdown were dropped" in gw.logs, gw.logs[-3000:]


# 6. a secret file that cannot be used stops start-up
@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_bad_secret_file_stops_startup(gateway, sink, tmp_path, kind):
    path = tmp_path / ("absent.key" if kind == "missing" else "empty.key")
    if kind == "empty":
        path.write_bytes(b"\n")
    gw = gateway(callback_config(tmp_path, sink.address, secret_file=path), wait=False)
    try:
        gw.proc.wait(timeout=10)
    except Exception:
        pytest.fail("the gateway kept running with an unusable secret_file\n" + gw.logs[-3000:])
    assert gw.proc.returncode != 0, gw.logs
    assert str(path) in gw.logs, gw.logs[-3000:]
    assert "route orders" in gw.logs, gw.logs[-3000:]
