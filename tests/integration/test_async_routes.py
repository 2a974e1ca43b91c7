"""Async routes (issue 15): a POST to an async route is stored durably and answered 202; a
dispatcher delivers it to the route's upstream (retries, dead letters, concurrency, rate);
the job API (/jobs/{id}) and the admin queue API report it. The upstream is job_sink.JobSink,
in-process, so every delivery is recorded with its job id and attempt."""
import json
import os
import re
import threading
import time

import pytest

from conftest import Conn, http_request, make_config, metric_value, raw_request, wait_until
from job_sink import JobSink

ID_RE = re.compile(r"^[0-9a-f]{44}$")
Q = "orders"


@pytest.fixture
def sink():
    s = JobSink()
    yield s
    s.close()


def async_config(tmp_path, upstream_addr, queue=None, listener=None, route=None, workers=1, extra_routes=()):
    """One async route POST /api/orders -> queue `orders` -> upstream `sink`."""
    q = {"path": str(tmp_path / "orders.db")}
    q.update(queue or {})
    r = {"name": "orders", "match": {"prefix": "/api/orders", "methods": ["POST"]}, "upstream": "sink",
         "async": {"queue": Q}}
    r.update(route or {})
    return make_config({"sink": [upstream_addr]}, routes=[r] + list(extra_routes), workers=workers,
                       listener=listener, queues={Q: q})


def post(gw, path="/api/orders", body=b"{}", headers=None, chunked=False):
    return http_request(gw.port, "POST", path, headers or [("Content-Type", "application/json")], body=body,
                        chunked=chunked)


def accept(gw, body=b"{}", headers=None, path="/api/orders"):
    r = post(gw, path, body, headers)
    assert r.status == 202, r
    return r.json()["id"]


def job(gw, job_id):
    r = gw.get("/jobs/" + job_id)
    assert r.status == 200, r
    return r.json()


def wait_state(gw, job_id, states, timeout=8.0):
    states = (states,) if isinstance(states, str) else tuple(states)
    seen = [None]

    def reached():
        seen[0] = job(gw, job_id)
        return seen[0]["state"] in states

    assert wait_until(reached, timeout), "job %s never reached %s: %r" % (job_id, states, seen[0])
    return seen[0]


def queue_info(gw, name=Q):
    r = gw.admin_get("/admin/queues")
    assert r.status == 200, r
    found = [q for q in r.json()["queues"] if q["name"] == name]
    assert len(found) == 1, r.json()
    return found[0]


def qmetric(gw, suffix):
    return metric_value(gw.metrics_text(), "scalegate_queue_" + suffix, queue=Q)


# ---------------------------------------------------------------------------
# 1, 2: accept and deliver
# ---------------------------------------------------------------------------
def test_accept_then_deliver_once_with_same_request(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address))
    payload = bytes(range(256)) * 4 + b"\x00\xff tail"
    r = post(gw, "/api/orders/new?x=1", payload,
             [("Content-Type", "application/octet-stream"), ("X-Scalegate-Job-Id", "forged"), ("X-Scalegate-Attempt", "9"),
              ("X-Custom", "kept")])
    assert r.status == 202, r
    assert r.header("Retry-After") == "1", r
    doc = r.json()
    job_id = doc["id"]
    assert ID_RE.match(job_id), doc
    assert doc["location"] == "/jobs/" + job_id, doc
    assert "existing" not in doc, doc
    assert r.header("Location") == "/jobs/" + job_id, r

    st = wait_state(gw, job_id, "succeeded")
    assert st["id"] == job_id and st["queue"] == Q and st["attempts"] == 1, st
    assert wait_until(lambda: sink.count() >= 1, 5)
    time.sleep(0.3)  # a second delivery would show by now
    recs = sink.snapshot()
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec.method == "POST" and rec.path == "/api/orders/new?x=1", rec
    assert rec.body == payload, rec
    assert rec.header("Content-Length") == str(len(payload)), rec.headers
    assert rec.header_list("X-Scalegate-Job-Id") == [job_id], rec.headers
    assert rec.header_list("X-Scalegate-Attempt") == ["1"], rec.headers
    assert rec.header("X-Custom") == "kept", rec.headers
    assert "127.0.0.1" in (rec.header("X-Forwarded-For") or ""), rec.headers
    for key in ("created_at", "updated_at", "started_at"):
        assert st.get(key), (key, st)

    res = gw.get("/jobs/%s/result" % job_id)
    assert res.status == 200, res
    assert res.header("Cache-Control") == "no-store", res
    out = res.json()
    assert out["status"] == 200, out
    assert out["body"] == "done" and out["body_encoding"] == "utf-8", out
    assert out["body_size"] == 4 and out["body_omitted"] is False, out
    assert ["Content-Type", "text/plain"] in [list(h) for h in out["headers"]] or \
        ["content-type", "text/plain"] in [[n.lower(), v] for n, v in out["headers"]], out
    assert job(gw, job_id)["state"] == "succeeded"


def test_chunked_body_is_stored_dechunked(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address))
    payload = os.urandom(150 * 1024)  # three chunks of the client's framing
    r = post(gw, body=payload, headers=[("Content-Type", "application/octet-stream")], chunked=True)
    assert r.status == 202, r
    wait_state(gw, r.json()["id"], "succeeded")
    rec = sink.snapshot()[0]
    assert rec.body == payload, (len(rec.body), len(payload))
    assert rec.header("Content-Length") == str(len(payload)), rec.headers
    assert rec.header("Transfer-Encoding") is None, rec.headers


# ---------------------------------------------------------------------------
# 3, 4, 10, 15: refused before or at the store
# ---------------------------------------------------------------------------
def test_body_over_max_body_size_is_413_and_not_stored(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address, listener={"max_body_size": 1024}))
    r = post(gw, body=b"x" * 4096)
    assert r.status == 413, r
    assert queue_info(gw)["depth"] == 0
    assert queue_info(gw)["store"] == "sqlite", queue_info(gw)
    assert sum(queue_info(gw)["jobs"].values()) == 0, queue_info(gw)
    assert (qmetric(gw, "accepted_total") or 0) == 0
    time.sleep(0.2)
    assert sink.count() == 0


def test_stalled_body_is_408_and_not_stored(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address, listener={"request_body_timeout": "1s"}))
    r = raw_request(gw.port, b"POST /api/orders HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 100\r\n\r\n"
                    b"{\"a\": 1", timeout=10, close_wait=10)
    assert r.status == 408, r
    assert r.closed
    assert gw.metric("scalegate_rejected_requests_total", listener="public", reason="body_timeout") == 1
    assert sum(queue_info(gw)["jobs"].values()) == 0, queue_info(gw)
    assert (qmetric(gw, "accepted_total") or 0) == 0
    assert sink.count() == 0


def test_full_queue_is_503_with_retry_after(gateway, sink, tmp_path):
    sink.hang()
    gw = gateway(async_config(tmp_path, sink.address, queue={"max_length": 2, "concurrency": 1}))
    first = accept(gw)
    assert wait_until(lambda: sink.count() == 1, 5), "the first job was not delivered"
    accept(gw)
    accept(gw)  # two waiting: the queue is full
    r = post(gw)
    assert r.status == 503, r
    assert r.header("Retry-After") is not None, r
    assert queue_info(gw)["depth"] == 2, queue_info(gw)
    assert (qmetric(gw, "refused_total") or 0) >= 1
    sink.release()
    wait_state(gw, first, "succeeded")


def test_rate_limited_request_is_429_and_not_stored(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address,
                              route={"rate_limit": {"rate": "1/h", "burst": 1, "key": "global"}}))
    accept(gw)
    r = post(gw)
    assert r.status == 429, r
    assert wait_until(lambda: sink.count() == 1, 5)
    time.sleep(0.2)
    assert sink.count() == 1
    assert qmetric(gw, "accepted_total") == 1
    assert sum(queue_info(gw)["jobs"].values()) == 1, queue_info(gw)


def test_method_not_in_route_is_not_stored(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address))
    r = gw.get("/api/orders")
    assert r.status != 202, r
    assert r.status in (404, 405), r
    time.sleep(0.2)
    assert sum(queue_info(gw)["jobs"].values()) == 0, queue_info(gw)
    assert (qmetric(gw, "accepted_total") or 0) == 0
    assert sink.count() == 0


# ---------------------------------------------------------------------------
# 5, 6, 13: retries, failure, dead letters
# ---------------------------------------------------------------------------
def test_retry_then_dead_then_replay(gateway, sink, tmp_path):
    sink.default_status = 503
    gw = gateway(async_config(tmp_path, sink.address, queue={
        "attempts": 2, "backoff": {"type": "fixed", "delay": "50ms", "max": "50ms", "jitter": "none"}}))
    job_id = accept(gw, b'{"n": 5}')
    st = wait_state(gw, job_id, "dead")
    assert st["attempts"] == 2 and st.get("dead_reason"), st
    recs = sink.for_job(job_id)
    assert [r.attempt for r in recs] == [1, 2], recs
    assert recs[1].arrival - recs[0].arrival >= 0.045, recs

    res = gw.get("/jobs/%s/result" % job_id)
    assert res.status == 200 and res.json()["status"] == 503, res

    dead = gw.admin_get("/admin/queues/%s/dead" % Q)
    assert dead.status == 200, dead
    assert [j["id"] for j in dead.json()["jobs"]] == [job_id], dead.json()
    assert qmetric(gw, "dead_letters") == 1

    sink.default_status = 200
    rep = gw.admin_request("POST", "/admin/queues/%s/dead/replay" % Q, {"ids": [job_id]})
    assert rep.status == 200 and rep.json() == {"replayed": 1}, rep
    wait_state(gw, job_id, "succeeded")
    assert len(sink.for_job(job_id)) == 3
    assert gw.admin_get("/admin/queues/%s/dead" % Q).json()["jobs"] == []
    assert gw.admin_get("/admin/queues/nosuch/dead").status == 404


def test_dead_letters_discard(gateway, sink, tmp_path):
    sink.default_status = 500
    gw = gateway(async_config(tmp_path, sink.address, queue={
        "attempts": 1, "backoff": {"type": "fixed", "delay": "50ms", "max": "50ms", "jitter": "none"}}))
    ids = [accept(gw, b"d%d" % i) for i in range(3)]
    for i in ids:
        wait_state(gw, i, "dead")
    dead = gw.admin_get("/admin/queues/%s/dead?limit=2" % Q)
    assert dead.status == 200 and len(dead.json()["jobs"]) == 2, dead
    r = gw.admin_request("DELETE", "/admin/queues/%s/dead?id=%s" % (Q, ids[0]))
    assert r.status == 200 and r.json() == {"discarded": 1}, r
    r = gw.admin_request("DELETE", "/admin/queues/%s/dead" % Q)
    assert r.status == 200 and r.json() == {"discarded": 2}, r
    assert gw.admin_get("/admin/queues/%s/dead" % Q).json()["jobs"] == []
    assert wait_until(lambda: qmetric(gw, "dead_letters") == 0, 3), qmetric(gw, "dead_letters")
    assert gw.admin_request("DELETE", "/admin/queues/nosuch/dead").status == 404


def test_upstream_404_fails_without_retry_and_keeps_result(gateway, sink, tmp_path):
    sink.default_status = 404
    gw = gateway(async_config(tmp_path, sink.address, queue={
        "attempts": 3, "backoff": {"type": "fixed", "delay": "50ms", "max": "50ms", "jitter": "none"}}))
    job_id = accept(gw)
    st = wait_state(gw, job_id, "failed")
    assert st["attempts"] == 1, st
    time.sleep(0.3)
    assert len(sink.for_job(job_id)) == 1
    res = gw.get("/jobs/%s/result" % job_id)
    assert res.status == 200, res
    assert res.json()["status"] == 404 and res.json()["body"] == "done", res


def test_connect_failure_goes_dead(gateway, tmp_path):
    from conftest import free_port
    dead_addr = "127.0.0.1:%d" % free_port()  # nothing listens there
    gw = gateway(async_config(tmp_path, dead_addr, queue={
        "attempts": 2, "backoff": {"type": "fixed", "delay": "50ms", "max": "50ms", "jitter": "none"}}))
    job_id = accept(gw)
    st = wait_state(gw, job_id, "dead")
    assert st["attempts"] == 2, st
    assert "connect" in (st.get("last_error") or "").lower(), st
    assert wait_until(lambda: qmetric(gw, "dead_total") == 1, 3), qmetric(gw, "dead_total")


def test_message_ttl_expires_a_waiting_job(gateway, sink, tmp_path):
    """A job not started within message_ttl is dead, never delivered."""
    sink.hang()
    gw = gateway(async_config(tmp_path, sink.address, queue={"concurrency": 1, "message_ttl": "300ms"}))
    first = accept(gw)
    assert wait_until(lambda: sink.count() == 1, 5)
    second = accept(gw)
    st = wait_state(gw, second, "dead", timeout=6)
    assert st.get("dead_reason"), st
    sink.release()
    wait_state(gw, first, "succeeded")
    time.sleep(0.3)
    assert sink.for_job(second) == []


# ---------------------------------------------------------------------------
# 7, 8, 9: idempotency, cancel, job API errors
# ---------------------------------------------------------------------------
def test_idempotency_key_gives_the_same_job(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address))
    hdrs = [("Content-Type", "application/json"), ("Idempotency-Key", "order-77")]
    a = post(gw, body=b'{"a":1}', headers=hdrs)
    b = post(gw, body=b'{"a":1}', headers=hdrs)
    assert a.status == 202 and b.status == 202, (a, b)
    assert b.json()["id"] == a.json()["id"], (a.json(), b.json())
    assert b.json().get("existing") is True, b.json()
    assert "existing" not in a.json(), a.json()
    wait_state(gw, a.json()["id"], "succeeded")
    time.sleep(0.3)
    assert sink.count() == 1, sink.snapshot()


def test_cancel_queued_job_and_409_on_succeeded(gateway, sink, tmp_path):
    sink.hang()
    gw = gateway(async_config(tmp_path, sink.address, queue={"concurrency": 1}))
    first = accept(gw)
    assert wait_until(lambda: sink.count() == 1, 5)
    second = accept(gw)
    assert job(gw, second)["state"] == "queued"
    pending = gw.get("/jobs/%s/result" % second)
    assert pending.status == 404 and pending.json().get("state") == "queued", pending
    assert pending.header("Retry-After") is not None, pending
    r = http_request(gw.port, "DELETE", "/jobs/" + second, host="gateway.test")
    assert r.status == 200, r
    assert r.header("Cache-Control") == "no-store", r
    doc = r.json()
    assert doc["id"] == second and doc["state"] == "failed", doc
    assert doc.get("last_error") == "cancelled", doc
    sink.release()
    wait_state(gw, first, "succeeded")
    time.sleep(0.4)
    assert sink.for_job(second) == []
    assert job(gw, second)["state"] == "failed"
    r = http_request(gw.port, "DELETE", "/jobs/" + first, host="gateway.test")
    assert r.status == 409, r


def test_job_api_errors(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address))
    job_id = accept(gw)
    unknown = ("0" * 12) + ("ab" * 16)
    assert len(unknown) == 44
    for path in ("/jobs/" + unknown, "/jobs/" + unknown + "/result", "/jobs/not-an-id", "/jobs/" + "Z" * 44,
                 "/jobs/%s/other" % job_id):
        r = gw.get(path)
        assert r.status == 404, (path, r)
        assert r.header("Cache-Control") == "no-store", (path, r)
    r = http_request(gw.port, "POST", "/jobs/" + job_id, body=b"", host="gateway.test")
    assert r.status == 405, r
    assert r.header("Allow") is not None and "GET" in r.header("Allow"), r
    r = http_request(gw.port, "POST", "/jobs/%s/result" % job_id, body=b"", host="gateway.test")
    assert r.status == 405 and "GET" in (r.header("Allow") or ""), r


# ---------------------------------------------------------------------------
# 11, 12: concurrency and rate
# ---------------------------------------------------------------------------
def post_many(gw, n, threads=3):
    """n POSTs over `threads` keep-alive connections; returns the accepted ids."""
    ids = []
    lock = threading.Lock()
    errors = []

    def run(k):
        try:
            with Conn(gw.port, timeout=10) as c:
                for i in range(k, n, threads):
                    r = c.request("POST", "/api/orders", [("Content-Type", "text/plain")],
                                  body=b"job %d" % i)
                    assert r.status == 202, r
                    with lock:
                        ids.append(r.json()["id"])
        except Exception as e:  # reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    return ids


def test_concurrency_bounds_deliveries_in_flight(gateway, sink, tmp_path):
    sink.delay = 0.1
    gw = gateway(async_config(tmp_path, sink.address, queue={"concurrency": 3}))
    ids = post_many(gw, 30)
    assert len(ids) == 30
    assert wait_until(lambda: len(sink.count_by_job()) == 30, 8), sink.count()
    assert set(sink.count_by_job()) == set(ids)
    assert sink.max_in_flight == 3, sink.max_in_flight


def test_rate_spreads_deliveries(gateway, sink, tmp_path):
    gw = gateway(async_config(tmp_path, sink.address, queue={"rate": "20/s", "concurrency": 8}))
    ids = post_many(gw, 30)
    assert wait_until(lambda: len(sink.count_by_job()) == 30, 8), sink.count()
    arrivals = sorted(r.arrival for r in sink.snapshot())
    spread = arrivals[-1] - arrivals[0]
    assert spread >= 1.0, spread
    assert set(sink.count_by_job()) == set(ids)


# ---------------------------------------------------------------------------
# 14: metrics and the admin view agree
# ---------------------------------------------------------------------------
def test_metrics_and_admin_agree(gateway, sink, tmp_path):
    sink.hang()
    gw = gateway(async_config(tmp_path, sink.address, queue={"concurrency": 1}))
    ids = [accept(gw, b"m%d" % i) for i in range(4)]
    assert wait_until(lambda: sink.count() == 1, 5)
    text = gw.metrics_text()
    info = queue_info(gw)
    assert metric_value(text, "scalegate_queue_accepted_total", queue=Q) == 4
    assert metric_value(text, "scalegate_queue_in_flight", queue=Q) == 1
    assert metric_value(text, "scalegate_queue_depth", queue=Q) == 3 == info["depth"], (text, info)
    assert info["jobs"]["queued"] == 3 and info["jobs"]["running"] == 1, info
    assert info["oldest_age_ms"] >= 0
    sink.release()
    for i in ids:
        wait_state(gw, i, "succeeded")

    def drained():
        t = gw.metrics_text()
        return (metric_value(t, "scalegate_queue_delivered_total", queue=Q) == 4
                and metric_value(t, "scalegate_queue_depth", queue=Q) == 0
                and metric_value(t, "scalegate_queue_in_flight", queue=Q) == 0) and t

    text = wait_until(drained, 5)
    assert text, gw.metrics_text()
    info = queue_info(gw)
    assert info["depth"] == 0 and info["jobs"]["succeeded"] == 4, info
    assert metric_value(text, "scalegate_queue_delivery_latency_seconds_count", queue=Q) == 4
    assert metric_value(text, "scalegate_queue_oldest_age_seconds", queue=Q) == 0
