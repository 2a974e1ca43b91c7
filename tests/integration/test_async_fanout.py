"""Async fan-out (route `async: {queue: Q, fanout: [a, b]}`): one POST stores one member job per
listed upstream, atomically; the first member is the group's head (the 202 names it). Members
are ordinary jobs (own id, attempts, retries, dead letters, result) delivered each to its own
upstream; GET /jobs/{head} reports the group, GET /jobs/{member} the member alone.

Upstreams are two in-process job_sink.JobSinks (a and b), so every delivery is recorded with
its X-Scalegate-Job-Id and attempt. Design: /work/briefs/fanout_design.md (docs/async-routes.md).
"""
import json
import time

import pytest

from conftest import http_request, make_config, metric_value, wait_until
from job_sink import JobSink
from redis_support import gateways, redis  # noqa: F401  (fixtures)
from test_async_batches import job_ids
from test_async_callbacks import Receiver, check_signature, hook_url, with_callback
from test_async_routes import ID_RE, Q, accept, job, post, wait_state

FAST = {"type": "fixed", "delay": "50ms", "max": "50ms", "jitter": "none"}
UPS = ("a", "b")


@pytest.fixture
def sinks():
    """Two sinks, upstream a and upstream b; each answers its own body."""
    a, b = JobSink(body=b"from a"), JobSink(body=b"from b")
    yield a, b
    a.close()
    b.close()


def fanout_route(callback=None):
    # The route's own `upstream` is required by the config; fan-out delivers to the list instead.
    r = {"name": "orders", "match": {"prefix": "/api/orders", "methods": ["POST"]}, "upstream": "a",
         "async": {"queue": Q, "fanout": list(UPS)}}
    if callback:
        r["async"]["callback"] = callback
    return r


def fanout_config(tmp_path, sinks, queue=None, callback=None, **top):
    q = {"path": str(tmp_path / "orders.db")}
    q.update(queue or {})
    a, b = sinks
    return make_config({"a": [a.address], "b": [b.address]}, routes=[fanout_route(callback)],
                       queues={Q: q}, **top)


def members(gw, head):
    """The group's `fanout` list, after checking its shape (upstreams a, b in order)."""
    doc = job(gw, head)
    fan = doc.get("fanout")
    assert isinstance(fan, list) and [m.get("upstream") for m in fan] == list(UPS), doc
    for m in fan:
        assert set(m) >= {"upstream", "id", "state", "attempts", "last_error"}, doc
        assert ID_RE.match(m["id"]), doc
    assert fan[0]["id"] == head and fan[1]["id"] != head, doc
    return fan


def member_ids(gw, head):
    return [m["id"] for m in members(gw, head)]


def delete(gw, job_id):
    return http_request(gw.port, "DELETE", "/jobs/" + job_id, host="gateway.test")


def quiet(*sinks_, spell=0.3):
    """A spell in which a late or duplicate delivery would show."""
    time.sleep(spell)
    return [s.snapshot() for s in sinks_]


# ---------------------------------------------------------------------------
# 1: one POST, one delivery per upstream, the group and its results
# ---------------------------------------------------------------------------
def test_fanout_delivers_once_to_each_upstream(gateway, sinks, tmp_path):
    sink_a, sink_b = sinks
    gw = gateway(fanout_config(tmp_path, sinks))
    payload = b'{"order": 42}'
    r = post(gw, "/api/orders/new?x=1", payload)
    assert r.status == 202, r
    head = r.json()["id"]
    assert ID_RE.match(head), r.json()
    assert r.header("Location") == "/jobs/" + head, r

    st = wait_state(gw, head, "succeeded")
    assert st["id"] == head and st["attempts"] == 2, st
    fan = members(gw, head)
    assert [m["state"] for m in fan] == ["succeeded", "succeeded"], fan
    assert [m["attempts"] for m in fan] == [1, 1], fan
    member_b = fan[1]["id"]

    rec_a, rec_b = quiet(sink_a, sink_b)
    assert len(rec_a) == 1 and len(rec_b) == 1, (rec_a, rec_b)
    for rec, want_id in ((rec_a[0], head), (rec_b[0], member_b)):
        assert rec.method == "POST" and rec.path == "/api/orders/new?x=1" and rec.body == payload, rec
        assert rec.header_list("X-Scalegate-Job-Id") == [want_id], rec.headers
        assert rec.header_list("X-Scalegate-Attempt") == ["1"], rec.headers

    res = gw.get("/jobs/%s/result" % head)
    assert res.status == 200, res
    out = res.json()
    assert list(out) == ["fanout"], out
    assert [(m["upstream"], m["id"], m["state"]) for m in out["fanout"]] == [
        ("a", head, "succeeded"), ("b", member_b, "succeeded")], out
    assert [m["result"]["status"] for m in out["fanout"]] == [200, 200], out
    assert [m["result"]["body"] for m in out["fanout"]] == ["from a", "from b"], out

    # accepted counts fan-out jobs (one per 202); delivered counts members.
    def counted():
        text = gw.metrics_text()
        return (metric_value(text, "scalegate_queue_accepted_total", queue=Q),
                metric_value(text, "scalegate_queue_delivered_total", queue=Q))
    assert wait_until(lambda: counted() == (1, 2), 3), counted()


# ---------------------------------------------------------------------------
# 2: each member retries on its own
# ---------------------------------------------------------------------------
def test_members_retry_independently(gateway, sinks, tmp_path):
    sink_a, sink_b = sinks
    gw = gateway(fanout_config(tmp_path, sinks, queue={
        "attempts": 4, "backoff": {"type": "fixed", "delay": "300ms", "max": "300ms", "jitter": "none"}}))
    sink_b.hang()  # b's first attempt waits at the sink while its answers are scripted
    head = accept(gw)
    assert wait_until(lambda: sink_b.count() == 1, 5), sink_b.count()
    member_b = member_ids(gw, head)[1]
    sink_b.script(member_b, 1, 503)
    sink_b.script(member_b, 2, 503)
    assert job(gw, head)["state"] == "running", job(gw, head)  # b is running

    sink_b.release()
    seen = []

    def ended():
        seen.append(job(gw, head)["state"])
        return seen[-1] == "succeeded"

    assert wait_until(ended, 8, 0.03), seen
    assert "retrying" in seen, seen
    fan = members(gw, head)
    assert [m["attempts"] for m in fan] == [1, 3], fan
    assert [m["state"] for m in fan] == ["succeeded", "succeeded"], fan
    assert job(gw, head)["attempts"] == 4
    rec_a, rec_b = quiet(sink_a, sink_b)
    assert [(r.job_id, r.attempt) for r in rec_a] == [(head, 1)], rec_a
    assert [(r.job_id, r.attempt) for r in rec_b] == [(member_b, 1), (member_b, 2), (member_b, 3)], rec_b
    assert [r.status for r in rec_b] == [503, 503, 200], rec_b


# ---------------------------------------------------------------------------
# 3: one member dead, the group dead; replaying that member completes the group
# ---------------------------------------------------------------------------
def test_dead_member_makes_the_group_dead_until_replayed(gateway, sinks, tmp_path):
    sink_a, sink_b = sinks
    sink_b.default_status = 500
    gw = gateway(fanout_config(tmp_path, sinks, queue={"attempts": 2, "backoff": FAST}))
    head = accept(gw)
    st = wait_state(gw, head, "dead")
    fan = members(gw, head)
    member_b = fan[1]["id"]
    assert [m["state"] for m in fan] == ["succeeded", "dead"], fan
    assert [m["attempts"] for m in fan] == [1, 2], fan
    assert fan[1]["last_error"], fan
    assert st["attempts"] == 3, st

    dead = gw.admin_get("/admin/queues/%s/dead" % Q)
    assert dead.status == 200, dead
    assert [j["id"] for j in dead.json()["jobs"]] == [member_b], dead.json()
    res = gw.get("/jobs/%s/result" % head).json()
    assert [m["result"]["status"] for m in res["fanout"]] == [200, 500], res

    # delivered / retried / dead count members; accepted counts the one fan-out job.
    def counts():
        text = gw.metrics_text()
        return tuple(metric_value(text, "scalegate_queue_" + m, queue=Q) or 0 for m in (
            "accepted_total", "delivered_total", "retried_total", "dead_total", "dead_letters"))
    assert wait_until(lambda: counts() == (1, 1, 1, 1, 1), 3), counts()

    sink_b.default_status = 200
    rep = gw.admin_request("POST", "/admin/queues/%s/dead/replay" % Q, {"ids": [member_b]})
    assert rep.status == 200 and rep.json() == {"replayed": 1}, rep
    wait_state(gw, head, "succeeded")
    assert [m["state"] for m in members(gw, head)] == ["succeeded", "succeeded"]
    rec_a, rec_b = quiet(sink_a, sink_b)
    assert len(rec_a) == 1 and len(rec_b) == 3, (rec_a, rec_b)
    assert gw.admin_get("/admin/queues/%s/dead" % Q).json()["jobs"] == []


# ---------------------------------------------------------------------------
# 4: DELETE /jobs/{head} cancels the members still queued
# ---------------------------------------------------------------------------
def test_delete_head_cancels_queued_members(gateway, sinks, tmp_path):
    sink_a, sink_b = sinks
    sink_a.hang()
    sink_b.hang()
    gw = gateway(fanout_config(tmp_path, sinks, queue={"concurrency": 1}))
    first = accept(gw)
    # concurrency 1: the oldest member (first's head, for a) is delivered and held; the rest wait.
    assert wait_until(lambda: sink_a.count() + sink_b.count() == 1, 5)
    assert sink_a.count() == 1, (sink_a.snapshot(), sink_b.snapshot())
    second = accept(gw)
    assert [m["state"] for m in members(gw, second)] == ["queued", "queued"], job(gw, second)

    r = delete(gw, second)
    assert r.status == 200, r
    st = job(gw, second)
    assert st["state"] == "failed", st
    assert [(m["state"], m["last_error"]) for m in st["fanout"]] == [("failed", "cancelled")] * 2, st
    assert delete(gw, second).status == 409  # nothing queued any more

    r = delete(gw, first)  # a is running, b still queued
    assert r.status == 200, r
    assert [m["state"] for m in members(gw, first)] == ["running", "failed"], job(gw, first)

    sink_a.release()
    sink_b.release()
    st = wait_state(gw, first, "failed")  # all ended, none dead, not all succeeded
    assert [m["state"] for m in st["fanout"]] == ["succeeded", "failed"], st
    rec_a, rec_b = quiet(sink_a, sink_b, spell=0.5)
    assert [r.job_id for r in rec_a] == [first], rec_a
    assert rec_b == [], rec_b
    assert delete(gw, first).status == 409


def test_max_length_is_checked_once_per_fanout_job(gateway, sinks, tmp_path):
    """depth >= max_length refuses; below it every member is stored (depth may pass max_length
    by members - 1)."""
    sink_a, sink_b = sinks
    sink_a.hang()
    sink_b.hang()
    gw = gateway(fanout_config(tmp_path, sinks, queue={"concurrency": 1, "max_length": 2}))
    first = accept(gw)
    assert wait_until(lambda: sink_a.count() == 1, 5)  # a running, b queued: depth 1
    second = accept(gw)  # depth 1 < 2: both members stored, depth 3
    r = post(gw)
    assert r.status == 503 and r.header("Retry-After") is not None, r
    info = gw.admin_get("/admin/queues").json()["queues"][0]
    assert info["depth"] == 3, info
    sink_a.release()
    sink_b.release()
    for h in (first, second):
        wait_state(gw, h, "succeeded")
    rec_a, rec_b = quiet(sink_a, sink_b)
    assert len(rec_a) == 2 and len(rec_b) == 2, (rec_a, rec_b)


# ---------------------------------------------------------------------------
# 5: an Idempotency-Key names the head
# ---------------------------------------------------------------------------
def test_idempotency_key_returns_the_head(gateway, sinks, tmp_path):
    sink_a, sink_b = sinks
    gw = gateway(fanout_config(tmp_path, sinks))
    hdrs = [("Content-Type", "application/json"), ("Idempotency-Key", "fan-77")]
    one = post(gw, body=b'{"k": 1}', headers=hdrs)
    two = post(gw, body=b'{"k": 1}', headers=hdrs)
    assert one.status == 202 and two.status == 202, (one, two)
    head = one.json()["id"]
    assert two.json()["id"] == head and two.json().get("existing") is True, (one.json(), two.json())
    assert "existing" not in one.json(), one.json()
    wait_state(gw, head, "succeeded")
    assert len(members(gw, head)) == 2
    rec_a, rec_b = quiet(sink_a, sink_b)
    assert len(rec_a) == 1 and len(rec_b) == 1, (rec_a, rec_b)
    three = post(gw, body=b'{"k": 1}', headers=hdrs)  # after delivery too
    assert three.status == 202 and three.json()["id"] == head, three
    assert metric_value(gw.metrics_text(), "scalegate_queue_accepted_total", queue=Q) == 1


# ---------------------------------------------------------------------------
# 6: a member alone; batches never mix upstreams
# ---------------------------------------------------------------------------
def test_member_view_and_batches_per_upstream(gateway, sinks, tmp_path):
    sink_a, sink_b = sinks
    gw = gateway(fanout_config(tmp_path, sinks, queue={"batch": {"max_items": 10, "max_wait": "200ms"}}))
    heads = [accept(gw, body=b'{"n": %d}' % i) for i in range(5)]
    for h in heads:
        wait_state(gw, h, "succeeded")
    groups = {h: member_ids(gw, h) for h in heads}
    want_a = {g[0] for g in groups.values()}
    want_b = {g[1] for g in groups.values()}

    def delivered(recs):
        out = []
        for rec in recs:
            assert rec.header_list("X-Scalegate-Attempt") == ["1"], rec.headers
            out += job_ids(rec) if rec.header("X-Scalegate-Batch-Size") else [rec.job_id]
        return out

    rec_a, rec_b = quiet(sink_a, sink_b)
    got_a, got_b = delivered(rec_a), delivered(rec_b)
    assert sorted(got_a) == sorted(want_a), (got_a, want_a)  # each a-member once, no b-member
    assert sorted(got_b) == sorted(want_b), (got_b, want_b)
    assert any(r.header("X-Scalegate-Batch-Size") not in (None, "1") for r in rec_a), rec_a
    assert any(r.header("X-Scalegate-Batch-Size") not in (None, "1") for r in rec_b), rec_b

    # A member that is not the head: that job alone, with its upstream.
    head = heads[0]
    member_b = groups[head][1]
    st = job(gw, member_b)
    assert st["id"] == member_b and st["upstream"] == "b" and st["state"] == "succeeded", st
    assert st["attempts"] == 1 and "fanout" not in st, st
    res = gw.get("/jobs/%s/result" % member_b)
    assert res.status == 200 and res.json()["status"] == 200 and res.json()["body"] == "from b", res


# ---------------------------------------------------------------------------
# 7: the round trip of 1 with store: redis
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(30)
def test_fanout_round_trip_with_redis(redis, gateways, sinks, tmp_path):  # noqa: F811
    from test_async_redis import job_key, single_store, wait_state as redis_wait_state
    sink_a, sink_b = sinks
    cfg = make_config({"a": [sink_a.address], "b": [sink_b.address]}, routes=[fanout_route()],
                      store=single_store(redis), queues={Q: {"store": "redis", "concurrency": 4}})
    gw = gateways(cfg)
    payload = b'{"order": "redis"}'
    r = post(gw, "/api/orders", payload)
    assert r.status == 202, (r, gw.logs[-2000:])
    head = r.json()["id"]
    assert r.header("Location") == "/jobs/" + head, r

    redis_wait_state(gw, head, "succeeded")
    fan = members(gw, head)
    member_b = fan[1]["id"]
    assert [(m["state"], m["attempts"]) for m in fan] == [("succeeded", 1)] * 2, fan
    rec_a, rec_b = quiet(sink_a, sink_b)
    assert [(x.job_id, x.attempt, x.body) for x in rec_a] == [(head, 1, payload)], rec_a
    assert [(x.job_id, x.attempt, x.body) for x in rec_b] == [(member_b, 1, payload)], rec_b
    out = gw.get("/jobs/%s/result" % head).json()
    assert [(m["upstream"], m["id"], m["result"]["body"]) for m in out["fanout"]] == [
        ("a", head, "from a"), ("b", member_b, "from b")], out
    st = job(gw, member_b)
    assert st["upstream"] == "b" and "fanout" not in st, st

    # The hashes as the design names them: up, g, and the head's gm.
    head_seq, b_seq = int(head[:12], 16), int(member_b[:12], 16)
    assert redis.cmd("HGET", job_key(head), "gm") == "%d,%d" % (head_seq, b_seq)
    assert redis.cmd("HGET", job_key(member_b), "up") == "b"
    assert redis.cmd("HGET", job_key(member_b), "g") == str(head_seq)
    assert redis.cmd("HGET", job_key(head), "g") == str(head_seq)


# ---------------------------------------------------------------------------
# 8: a callback per member
# ---------------------------------------------------------------------------
def test_each_member_calls_back(gateway, sinks, tmp_path):
    secret = b"fan-secret"
    key = tmp_path / "hook.key"
    key.write_bytes(secret + b"\n")
    receiver = Receiver()
    try:
        gw = gateway(fanout_config(tmp_path, sinks, callback={"allow": ["127.0.0.1"], "secret_file": str(key)}))
        head = accept(gw, body=b'{"cb": 1}', headers=with_callback(hook_url(receiver, "/hook")))
        wait_state(gw, head, "succeeded")
        ids = member_ids(gw, head)
        assert wait_until(lambda: receiver.count() >= 2, 8), receiver.snapshot()
        time.sleep(0.3)  # a third would show by now
        recs = receiver.snapshot()
        assert len(recs) == 2, recs
        docs = {}
        for rec in recs:
            check_signature(rec, secret)
            doc = json.loads(rec.body)
            assert rec.header("X-Scalegate-Job-Id") == doc["id"], (rec.headers, doc)
            assert doc["state"] == "succeeded" and doc["attempts"] == 1 and doc["queue"] == Q, doc
            docs[doc["id"]] = doc
        assert sorted(docs) == sorted(ids), (docs, ids)
        assert docs[ids[0]]["upstream"] == "a" and docs[ids[1]]["upstream"] == "b", docs
        assert docs[ids[0]]["result"]["body"] == "from a", docs
        assert docs[ids[1]]["result"]["body"] == "from b", docs
    finally:
        receiver.close()


def test_visibility_timeout_covers_the_slowest_fanout_target(gateway, tmp_path):
    """The default visibility timeout is the slowest upstream the queue delivers to plus 5 s,
    fan-out targets included: a member whose upstream (b, response_timeout 20 s) takes 7 s is
    not taken for stalled at the route's own upstream's 1 s + 5 s and delivered twice."""
    a, b = JobSink(body=b"from a"), JobSink(body=b"from b", delay=7.0)
    try:
        cfg = make_config({"a": [a.address], "b": [b.address]}, routes=[fanout_route()],
                          queues={Q: {"path": str(tmp_path / "orders.db")}},
                          upstream_opts={"a": {"response_timeout": "1s"},
                                         "b": {"response_timeout": "20s"}})
        gw = gateway(cfg)
        head = accept(gw, body=b'{"n": 1}')
        wait_state(gw, head, "succeeded", timeout=20)
        assert [m["attempts"] for m in members(gw, head)] == [1, 1], job(gw, head)
        assert b.count() == 1 and a.count() == 1, (a.snapshot(), b.snapshot())
    finally:
        a.close()
        b.close()
