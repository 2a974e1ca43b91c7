"""Async queues stored in Redis (`queues.<name>.store: redis`, top-level `store`): the same
queue contract as SQLite's, shared by every gateway instance on one Redis.

1. accept -> deliver -> result, with the job's hash in Redis under sg:q:{NAME}:j:<seq>;
2. two instances on one queue: each sees the other's jobs, both deliver, each within its
   own `concurrency`;
3. Redis stopped: 503 + Retry-After, never 202; Redis back (appendonly): 202 again and every
   job accepted before and after is delivered; Redis restarted while the gateway is idle: the
   first POST and the first settlements after it succeed;
4. kill -9 of an instance with deliveries in flight: the other takes them over after
   `visibility_timeout` (attempt 2);
5. dead letters through the admin API (list, replay, discard);
6. a 3-master Redis Cluster as the store;
7. kill -9 (twice) under load: every 202 delivered at least once, duplicates printed;
8. /metrics queue depth and oldest age fall to 0 after a burst.

Upstreams are job_sink.JobSink (in-process, deliveries counted by X-Scalegate-Job-Id). Every
process is real (gateways, redis-server) on 127.0.0.1, started and stopped by pid.
"""
import re
import signal
import threading
import time

import pytest

from conftest import Conn, IncompleteBody, NoResponse, http_request, make_config, metric_value, wait_until
from environment import SLOW
from job_sink import JobSink
from redis_support import RedisServer, gateways, redis, redis_cluster  # noqa: F401  (fixtures)
from test_async_durability import Poster

ID_RE = re.compile(r"^[0-9a-f]{44}$")
Q = "orders"
FAST_BACKOFF = {"type": "fixed", "delay": "100ms", "max": "100ms", "jitter": "none"}


# ---------------------------------------------------------------------------
# configs and small helpers
# ---------------------------------------------------------------------------
def single_store(server):
    return {"type": "redis", "address": server.address}


def redis_config(store, sink_addr, queue=None, workers=1, name=Q):
    """One async route POST /api/orders -> queue `name` (store: redis) -> upstream `sink`."""
    q = {"store": "redis", "concurrency": 4}
    q.update(queue or {})
    route = {"name": "orders", "match": {"prefix": "/api/orders", "methods": ["POST"]}, "upstream": "sink",
             "async": {"queue": name}}
    return make_config({"sink": [sink_addr]}, routes=[route], workers=workers, store=store, queues={name: q})


def job_key(job_id, name=Q):
    """The job's hash: the id's first 12 hex digits are its row number (seq)."""
    return "sg:q:{%s}:j:%d" % (name, int(job_id[:12], 16))


def post(gw, body=b"{}", path="/api/orders", headers=None):
    return http_request(gw.port, "POST", path, headers or [("Content-Type", "application/json")], body=body,
                        timeout=10)


def accept(gw, body=b"{}"):
    r = post(gw, body)
    assert r.status == 202, (r, gw.logs[-2000:])
    return r.json()["id"]


def job(gw, job_id):
    r = gw.get("/jobs/" + job_id)
    assert r.status == 200, (job_id, r)
    return r.json()


def wait_state(gw, job_id, states, timeout=8.0):
    states = (states,) if isinstance(states, str) else tuple(states)
    seen = [None]

    def reached():
        r = gw.get("/jobs/" + job_id)
        if r.status == 503:  # the store's link reconnects at most every 250 ms after a failure
            seen[0] = r
            return False
        assert r.status == 200, (job_id, r)
        seen[0] = r.json()
        return seen[0]["state"] in states

    assert wait_until(reached, timeout, 0.1), "job %s never reached %s: %r\n%s" % (
        job_id, states, seen[0], gw.logs[-2000:])
    return seen[0]


def qmetric(gw, suffix, name=Q):
    return metric_value(gw.metrics_text(), "scalegate_queue_" + suffix, queue=name)


def post_jobs(port, n, threads=4, tag=b"job"):
    """n POSTs over `threads` keep-alive connections; returns (accepted ids, other answers)."""
    ids, bad = [], []
    lock = threading.Lock()

    def run(k):
        try:
            with Conn(port, timeout=10) as c:
                for i in range(k, n, threads):
                    r = c.request("POST", "/api/orders", [("Content-Type", "text/plain")],
                                  body=b"%s %d" % (tag, i))
                    with lock:
                        (ids.append(r.json()["id"]) if r.status == 202 else bad.append(r))
        except (OSError, NoResponse, IncompleteBody) as e:
            with lock:
                bad.append(repr(e))

    ts = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30 * SLOW)
    return ids, bad


def delivered(*sinks):
    """job id -> deliveries, over every sink."""
    total = {}
    for s in sinks:
        for k, v in s.count_by_job().items():
            total[k] = total.get(k, 0) + v
    return total


@pytest.fixture
def sink():
    s = JobSink()
    yield s
    s.close()


# ---------------------------------------------------------------------------
# 1: accept, deliver, result; the job lives in Redis
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(30)
def test_accept_deliver_and_result_with_the_job_in_redis(redis, gateways, sink):
    sink.body = b"redis result one"
    gw = gateways(redis_config(single_store(redis), sink.address))
    payload = b'{"order": 1, "bytes": "\\u00ff"}'
    r = post(gw, payload, "/api/orders/new?x=1")
    assert r.status == 202, (r, gw.logs[-2000:])
    job_id = r.json()["id"]
    assert ID_RE.match(job_id), r.json()
    assert r.header("Location") == "/jobs/" + job_id, r
    assert r.json()["location"] == "/jobs/" + job_id, r.json()

    st = wait_state(gw, job_id, "succeeded")
    assert st["id"] == job_id and st["queue"] == Q and st["attempts"] == 1, st
    time.sleep(0.3)  # a second delivery would show by now
    recs = sink.snapshot()
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec.method == "POST" and rec.path == "/api/orders/new?x=1" and rec.body == payload, rec
    assert rec.header_list("X-Scalegate-Job-Id") == [job_id], rec.headers
    assert rec.header_list("X-Scalegate-Attempt") == ["1"], rec.headers

    res = gw.get("/jobs/%s/result" % job_id)
    assert res.status == 200, res
    out = res.json()
    assert out["status"] == 200 and out["body"] == "redis result one", out

    key = job_key(job_id)
    assert redis.cmd("TYPE", key) == "hash", (key, redis.scan("sg:q:*"))
    assert redis.cmd("HLEN", key) > 0, key
    assert int(redis.cmd("GET", "sg:q:{%s}:seq" % Q)) >= int(job_id[:12], 16), redis.scan("sg:q:*")
    # Nothing of the queue lives outside its hash tag.
    assert all(k.startswith("sg:q:{%s}:" % Q) for k in redis.scan("sg:q:*")), redis.scan("sg:q:*")


# ---------------------------------------------------------------------------
# 2: two instances, one Redis, one queue
# ---------------------------------------------------------------------------
SHARED_N = 200


@pytest.mark.timeout_s(40)
def test_two_instances_share_one_queue(redis, gateways):
    """Instance A delivers to sink_a, B to sink_b (same queue, same Redis): which sink got a
    job tells which instance delivered it, and each sink's peak in flight is one instance's."""
    sink_a, sink_b = JobSink(delay=0.05), JobSink(delay=0.05)
    try:
        store = single_store(redis)
        gw_a = gateways(redis_config(store, sink_a.address, {"concurrency": 4}))
        gw_b = gateways(redis_config(store, sink_b.address, {"concurrency": 4}))

        from_a, from_b = accept(gw_a, b"seen by b"), accept(gw_b, b"seen by a")
        wait_state(gw_b, from_a, "succeeded")
        wait_state(gw_a, from_b, "succeeded")
        assert gw_b.get("/jobs/%s/result" % from_a).status == 200
        sink_a.reset_max_in_flight()
        sink_b.reset_max_in_flight()

        results = {}

        def post_to(gw, tag):
            results[tag] = post_jobs(gw.port, SHARED_N // 2, tag=tag)

        posters = [threading.Thread(target=post_to, args=(gw_a, b"a")),
                   threading.Thread(target=post_to, args=(gw_b, b"b"))]
        for t in posters:
            t.start()
        for t in posters:
            t.join(30)
        ids_a, bad_a = results.get(b"a", ([], ["no result"]))
        ids_b, bad_b = results.get(b"b", ([], ["no result"]))
        assert not bad_a and not bad_b, (bad_a[:3], bad_b[:3])
        ids = ids_a + ids_b
        assert len(set(ids)) == SHARED_N

        assert wait_until(lambda: set(ids) <= set(delivered(sink_a, sink_b)), 20, 0.1), \
            ("%d of %d delivered" % (len(set(ids) & set(delivered(sink_a, sink_b))), SHARED_N),
             gw_a.logs[-1500:], gw_b.logs[-1500:])
        got_a = set(sink_a.count_by_job()) & set(ids)
        got_b = set(sink_b.count_by_job()) & set(ids)
        dups = sum(c - 1 for c in delivered(sink_a, sink_b).values() if c > 1)
        print("\ntwo instances: %d jobs; delivered by A %d, by B %d; peak in flight A %d, B %d; duplicates %d"
              % (SHARED_N, len(got_a), len(got_b), sink_a.max_in_flight, sink_b.max_in_flight, dups))
        assert got_a and got_b, "one instance delivered nothing (A %d, B %d)" % (len(got_a), len(got_b))
        assert sink_a.max_in_flight <= 4 and sink_b.max_in_flight <= 4, (sink_a.max_in_flight,
                                                                          sink_b.max_in_flight)
        # Each instance's view of jobs the other accepted (and maybe delivered).
        for gw, others in ((gw_b, ids_a[:10]), (gw_a, ids_b[:10])):
            for i in others:
                wait_state(gw, i, "succeeded", timeout=5)
    finally:
        sink_a.close()
        sink_b.close()


# ---------------------------------------------------------------------------
# 3: Redis gone, then back
# ---------------------------------------------------------------------------
def persistent_redis(tmp_path, port=None):
    return RedisServer(str(tmp_path / "redis-aof"), port,
                       ["--appendonly", "yes", "--appendfsync", "always"])


@pytest.mark.timeout_s(40)
def test_redis_down_is_503_then_back_delivers_everything(tmp_path, gateways, sink):
    server = persistent_redis(tmp_path).start()
    try:
        sink.hang()
        gw = gateways(redis_config(single_store(server), sink.address,
                                   {"concurrency": 1, "visibility_timeout": "3s", "attempts": 5}))
        before = [accept(gw, b"before %d" % i) for i in range(5)]
        assert wait_until(lambda: sink.count() == 1, 5), sink.count()  # one running, four queued

        server.stop()
        t_down = time.monotonic()
        refused = []
        for i in range(6):
            r = post(gw, b"during %d" % i)
            refused.append(r)
            time.sleep(0.1)
        assert all(r.status == 503 for r in refused), ([r.status for r in refused], gw.logs[-2000:])
        assert all(r.header("Retry-After") for r in refused), refused[0]

        server = persistent_redis(tmp_path, server.port).start()
        t_up = time.monotonic()
        first = [None]

        def accepted_again():
            r = post(gw, b"after 0")
            if r.status == 202:
                first[0] = r.json()["id"]
                return True
            assert r.status == 503, r
            return False

        assert wait_until(accepted_again, 5, 0.1), gw.logs[-3000:]
        back_s = time.monotonic() - t_up
        after = [first[0]] + [accept(gw, b"after %d" % i) for i in range(1, 5)]
        print("\nredis outage: down %.1f s, 202 again %.2f s after redis restarted" % (t_up - t_down, back_s))
        # Every job Redis stored is there after the restart (appendfsync always).
        for i in before:
            assert server.cmd("TYPE", job_key(i)) == "hash", (i, server.scan("sg:q:*"))

        sink.release()
        wanted = set(before + after)
        assert wait_until(lambda: wanted <= set(sink.count_by_job()), 15, 0.1), (
            "undelivered: %s" % {i: job(gw, i) for i in wanted - set(sink.count_by_job())}, gw.logs[-3000:])
        # A delivery that ends on a link Redis closed is settled only after the visibility
        # timeout (see test_redis_restarted_while_idle_first_calls_succeed): allow for it here.
        for i in wanted:
            wait_state(gw, i, "succeeded", timeout=8)
        print("redis outage: deliveries %d for %d jobs" % (sink.count(), len(wanted)))
    finally:
        server.kill()


@pytest.mark.timeout_s(30)
def test_redis_restarted_while_idle_first_calls_succeed(tmp_path, gateways, sink):
    """Redis restarts (appendonly) while the gateway sends it nothing: it is up again before
    the next POST and before two running deliveries end, so the POST is 202 and both
    deliveries settle (attempt 1, delivered once), not 503 / redelivered after the timeout."""
    server = persistent_redis(tmp_path).start()
    try:
        sink.hang()
        gw = gateways(redis_config(single_store(server), sink.address,
                                   {"concurrency": 2, "visibility_timeout": "4s"}))
        running = [accept(gw, b"running %d" % i) for i in range(2)]
        assert wait_until(lambda: sink.count() == 2, 5), sink.count()
        server.stop()
        server = persistent_redis(tmp_path, server.port).start()
        r = post(gw, b"first after the restart")
        sink.release()
        problems = []
        if r.status != 202:
            problems.append("the first POST after the restart: %s %r" % (r.status, r.body))
        for i in running:
            st = wait_state(gw, i, "succeeded", timeout=8)  # past the visibility timeout
            if st["attempts"] != 1 or len(sink.for_job(i)) != 1:
                problems.append("job %s: attempts %s, deliveries %s" % (i, st["attempts"], sink.for_job(i)))
        assert not problems, "\n".join(problems + ["--- gateway log ---", gw.logs[-2000:]])
    finally:
        server.kill()


# ---------------------------------------------------------------------------
# 4: kill -9 of one instance: the other takes its deliveries over
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
def test_killed_instance_deliveries_are_taken_over_after_visibility_timeout(redis, gateways):
    """A claims 4 jobs and its upstream holds them 3 s; B (own, fast upstream) delivers the rest;
    A is killed -9 before 2 s: B takes A's 4 over once they were pending 2 s (attempt 2)."""
    sink_a, sink_b = JobSink(delay=3.0), JobSink()
    try:
        store = single_store(redis)
        queue = {"concurrency": 4, "visibility_timeout": "2s", "attempts": 5}
        gw_a = gateways(redis_config(store, sink_a.address, queue))
        ids = [accept(gw_a, b"k%d" % i) for i in range(8)]
        assert wait_until(lambda: len(sink_a.count_by_job()) == 4, 5), sink_a.count_by_job()
        held = {r.job_id: r.arrival for r in sink_a.snapshot()}
        gw_b = gateways(redis_config(store, sink_b.address, queue))
        rest = set(ids) - set(held)
        assert wait_until(lambda: rest <= set(sink_b.count_by_job()), 5), (sink_b.count_by_job(), gw_b.logs[-2000:])
        age = time.monotonic() - min(held.values())
        assert age < 1.8, "set-up too slow: A's deliveries are %.1f s old before the kill" % age
        gw_a.stop(signal.SIGKILL)
        t_kill = time.monotonic()

        assert wait_until(lambda: set(held) <= set(sink_b.count_by_job()), 8, 0.05), (
            {i: job(gw_b, i) for i in set(held) - set(sink_b.count_by_job())}, gw_b.logs[-3000:])
        for i, first_arrival in held.items():
            recs = sink_b.for_job(i)
            assert len(recs) == 1 and recs[0].attempt >= 2, recs
            gap = recs[0].arrival - first_arrival
            # The visibility timeout runs from the claim, a little before A's delivery arrived.
            assert gap >= 1.8, "job %s taken over %.2f s after A delivered it (visibility 2 s)" % (i, gap)
            st = wait_state(gw_b, i, "succeeded")
            assert st["attempts"] >= 2, st
        for i in rest:
            assert job(gw_b, i)["attempts"] == 1, job(gw_b, i)
        print("\ntakeover: A held %d, taken over by B %.2f-%.2f s after the kill"
              % (len(held), min(sink_b.for_job(i)[0].arrival for i in held) - t_kill,
                 max(sink_b.for_job(i)[0].arrival for i in held) - t_kill))
        assert set(ids) <= set(delivered(sink_a, sink_b))
    finally:
        sink_a.close()
        sink_b.close()


# ---------------------------------------------------------------------------
# 5: dead letters
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(30)
def test_dead_letters_list_replay_discard(redis, gateways, sink):
    sink.default_status = 500
    gw = gateways(redis_config(single_store(redis), sink.address, {"attempts": 2, "backoff": FAST_BACKOFF}))
    replayed, discarded = accept(gw, b"replay me"), accept(gw, b"discard me")
    for i in (replayed, discarded):
        st = wait_state(gw, i, "dead")
        assert st["attempts"] == 2 and st.get("dead_reason"), st
        recs = sink.for_job(i)
        assert [r.attempt for r in recs] == [1, 2], recs
        assert recs[1].arrival - recs[0].arrival >= 0.09, recs
    dead_key = "sg:q:{%s}:dead" % Q
    assert redis.cmd("ZCARD", dead_key) == 2, redis.scan("sg:q:*")

    dead = gw.admin_get("/admin/queues/%s/dead" % Q)
    assert dead.status == 200, dead
    assert sorted(j["id"] for j in dead.json()["jobs"]) == sorted([replayed, discarded]), dead.json()
    assert wait_until(lambda: qmetric(gw, "dead_letters") == 2, 3), qmetric(gw, "dead_letters")

    sink.default_status = 200
    rep = gw.admin_request("POST", "/admin/queues/%s/dead/replay" % Q, {"ids": [replayed]})
    assert rep.status == 200 and rep.json() == {"replayed": 1}, rep
    st = wait_state(gw, replayed, "succeeded")
    assert len(sink.for_job(replayed)) == 3, sink.for_job(replayed)
    assert sink.for_job(replayed)[-1].attempt == 1, "replay starts the attempts over"
    assert gw.get("/jobs/%s/result" % replayed).json()["status"] == 200

    r = gw.admin_request("DELETE", "/admin/queues/%s/dead?id=%s" % (Q, discarded))
    assert r.status == 200 and r.json() == {"discarded": 1}, r
    assert gw.admin_get("/admin/queues/%s/dead" % Q).json()["jobs"] == []
    assert redis.cmd("ZCARD", dead_key) == 0, redis.cmd("ZRANGE", dead_key, 0, -1)
    assert wait_until(lambda: qmetric(gw, "dead_letters") == 0, 3), qmetric(gw, "dead_letters")
    time.sleep(0.3)
    assert len(sink.for_job(discarded)) == 2, sink.for_job(discarded)
    assert st["attempts"] == 1, st


# ---------------------------------------------------------------------------
# 6: Redis Cluster
# ---------------------------------------------------------------------------
def name_away_from(cluster, node):
    """A queue name whose hash slot another master owns (so the first seed is not its home)."""
    for name in ("orders", "jobs", "mail", "billing", "thumbs", "reports", "emails", "exports"):
        if cluster.owner(cluster.keyslot(name)) is not node:
            return name
    pytest.fail("no candidate queue name hashes away from %s" % node.address)


@pytest.mark.timeout_s(45)
def test_redis_cluster_store_end_to_end(redis_cluster, gateways, sink):
    name = name_away_from(redis_cluster, redis_cluster.nodes[0])
    home = redis_cluster.owner(redis_cluster.keyslot(name))
    sink.body = b"from the cluster"
    gw = gateways(redis_config({"type": "redis_cluster", "seeds": redis_cluster.seeds}, sink.address,
                               name=name))
    ids, bad = post_jobs(gw.port, 20, threads=2)
    assert not bad and len(ids) == 20, (bad[:3], gw.logs[-2000:])
    assert wait_until(lambda: set(ids) <= set(sink.count_by_job()), 10, 0.1), gw.logs[-2000:]
    for i in ids:
        wait_state(gw, i, "succeeded")
    out = gw.get("/jobs/%s/result" % ids[0]).json()
    assert out["status"] == 200 and out["body"] == "from the cluster", out

    keys = redis_cluster.find_keys("sg:q:{%s}:*" % name)
    assert keys and {n.port for n in keys.values()} == {home.port}, \
        ("the queue's keys are not all on its slot's owner %s" % home.address, {k: n.address for k, n in keys.items()})
    for i in ids:
        assert home.cmd("TYPE", job_key(i, name)) == "hash", i
    info = [q for q in gw.admin_get("/admin/queues").json()["queues"] if q["name"] == name]
    assert info and info[0]["jobs"]["succeeded"] == 20, info


# ---------------------------------------------------------------------------
# 7: kill -9 under load
# ---------------------------------------------------------------------------
KILL_N = 3000 if SLOW == 1 else 1000
KILL_CLIENTS = 8


@pytest.mark.timeout_s(90)
def test_kill9_under_load_delivers_every_accepted_job(redis, gateway, tmp_path):
    """KILL_N POSTs from 8 keep-alive clients; the only gateway is killed -9 and restarted (same
    port, same Redis) at ~1/3 and ~2/3 of the accepted jobs. Every 202 reaches the upstream at
    least once; jobs the killed instance had in flight come back after visibility_timeout
    (2 s), not at the restart, as a later attempt."""
    sink = JobSink(max_records=KILL_N * 2)
    try:
        cfg = redis_config(single_store(redis), sink.address,
                           {"concurrency": 16, "visibility_timeout": "2s", "attempts": 10}, workers=2)
        gw = gateway(cfg)
        t0 = time.monotonic()
        poster = Poster(gw.port, KILL_N, KILL_CLIENTS, t0 + 45)
        poster.start()
        kills = []
        for mark in (KILL_N // 3, 2 * KILL_N // 3):
            assert wait_until(lambda: poster.count() >= mark, 30), (poster.count(), gw.logs[-2000:])
            gw.stop(signal.SIGKILL, timeout=5)
            kills.append((round(time.monotonic() - t0, 1), poster.count(), len(sink.count_by_job())))
            gw = gateway(cfg)  # same port, same Redis
        assert poster.join(50), "clients still posting after 50 s (accepted %d)" % poster.count()
        t_sent = time.monotonic() - t0
        accepted = dict(poster.accepted)
        assert len(accepted) == KILL_N, (len(accepted), poster.errors, poster.refusals, gw.logs[-2000:])

        wait_until(lambda: set(accepted) <= set(sink.count_by_job()), 30, 0.2)
        t_done = time.monotonic() - t0
        seen = sink.count_by_job()
        lost = [i for i in accepted if i not in seen]
        dup_ids = [i for i, c in seen.items() if c > 1]
        duplicates = sum(seen[i] - 1 for i in dup_ids)
        by_job = {}
        for r in sink.snapshot():
            by_job.setdefault(r.job_id, []).append(r)
        gaps = [by_job[i][1].arrival - by_job[i][0].arrival for i in dup_ids if len(by_job.get(i, [])) > 1]
        print("\nredis kill -9 test: N=%d clients=%d accepted=%d in %.1f s, all delivered at %.1f s; "
              "kills at (s, accepted, delivered)=%s; client errors=%d refusals=%d; lost=%d duplicates=%d "
              "(redelivered %.2f-%.2f s after the first); delivered-but-unacknowledged=%d deliveries=%d"
              % (KILL_N, KILL_CLIENTS, len(accepted), t_sent, t_done, kills, poster.errors, poster.refusals,
                 len(lost), duplicates, min(gaps or [0]), max(gaps or [0]), len(set(seen) - set(accepted)),
                 sink.count()))
        if lost:
            states = {}
            for i in lost[:5]:
                try:
                    states[i] = job(gw, i)
                except Exception as e:  # the report matters more than this lookup
                    states[i] = repr(e)
            pytest.fail("%d accepted jobs never reached the upstream; first: %r\n%s"
                        % (len(lost), states, gw.logs[-3000:]))
        # A redelivery is a later attempt, after the visibility timeout (from the claim).
        for i in dup_ids:
            recs = by_job.get(i, [])
            if len(recs) > 1:
                assert recs[1].attempt > recs[0].attempt, recs
        assert min(gaps or [2.0]) >= 1.5, sorted(gaps)[:5]
        assert duplicates <= KILL_N // 20, duplicates
    finally:
        sink.close()


# ---------------------------------------------------------------------------
# 8: depth and oldest age fall to 0 after a burst
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(30)
def test_depth_and_oldest_age_metrics_fall_to_zero(redis, gateways, sink):
    sink.hang()
    gw = gateways(redis_config(single_store(redis), sink.address, {"concurrency": 2}))
    ids, bad = post_jobs(gw.port, 60, threads=4)
    assert not bad and len(ids) == 60, bad[:3]
    assert wait_until(lambda: sink.count() == 2, 5), sink.count()

    def backed_up():
        t = gw.metrics_text()
        depth = metric_value(t, "scalegate_queue_depth", queue=Q)
        age = metric_value(t, "scalegate_queue_oldest_age_seconds", queue=Q)
        return depth == 58 and age is not None and age >= 1.0 and (depth, age)

    peak = wait_until(backed_up, 5, 0.1)
    assert peak, (qmetric(gw, "depth"), qmetric(gw, "oldest_age_seconds"), qmetric(gw, "in_flight"))
    info = [q for q in gw.admin_get("/admin/queues").json()["queues"] if q["name"] == Q][0]
    assert info["depth"] == 58 and info["jobs"]["running"] == 2, info

    sink.release()
    assert wait_until(lambda: set(ids) <= set(sink.count_by_job()), 10, 0.1), len(sink.count_by_job())

    def drained():
        t = gw.metrics_text()
        return (metric_value(t, "scalegate_queue_depth", queue=Q) == 0
                and metric_value(t, "scalegate_queue_oldest_age_seconds", queue=Q) == 0
                and metric_value(t, "scalegate_queue_in_flight", queue=Q) == 0) and t

    t_release = time.monotonic()
    text = wait_until(drained, 5, 0.1)
    assert text, (qmetric(gw, "depth"), qmetric(gw, "oldest_age_seconds"), qmetric(gw, "in_flight"))
    print("\nmetrics: peak (depth, oldest age s)=%s; 0 again %.2f s after the last delivery"
          % (peak, time.monotonic() - t_release))
    info = [q for q in gw.admin_get("/admin/queues").json()["queues"] if q["name"] == Q][0]
    assert info["depth"] == 0 and info["jobs"]["succeeded"] == 60, info
