"""In-process reload (SIGHUP) crossed with the shared store (Redis) and async queues.

A reload builds a new generation in the same process: a new store client per worker and new
queue objects (the Redis queue a new consumer; the SQLite queue shares the old one's open file),
while the old generation drains into it and is then destroyed. Checked here:

1. a `scope: cluster` rate limit's spent budget stays spent across a reload (it lives in
   Redis: deleting its key there gives the budget back, so the new generation asks Redis);
2. `store: redis` queue: jobs accepted before the reload (some in flight, some waiting) are
   all delivered, `/jobs/{id}` answers for them, depth metrics fall to 0;
3. `store: sqlite` queue: the same (the new generation shares the file the old one holds);
4. Redis down during a reload: the reload succeeds, the limit falls back locally, async POSTs
   get 503 + Retry-After; Redis restarted on the same port: the new generation reconnects;
5. two reloads while Redis is down, then Redis back: one process, everything works.

Every process is real (gateway, redis-server) on 127.0.0.1 with ports chosen at run time,
stopped by pid by the fixtures; upstreams are job_sink.JobSink (held by an event, not a delay).
"""
import copy
import os
import signal
import threading
import time

import pytest

from conftest import make_config, metric_value, wait_until
from job_sink import JobSink
from redis_support import gateways, redis  # noqa: F401  (fixtures)
from test_async_redis import Q, accept, delivered, job_key, post, post_jobs, wait_state
from test_reload_upgrade import DRAINED, SERVES_HERE, wait_for_drained, wait_for_in_process_reload, write

LIMIT = "shared"
FAILED_TO_START = "reload: the new configuration failed to start"
# Far longer than any delivery is held here (tens of ms), so a second delivery (attempt 2)
# can only come from a settlement that was lost; short, so such a loss shows within the test.
VISIBILITY = "4s"


# ---------------------------------------------------------------------------
# configs and helpers
# ---------------------------------------------------------------------------
def store_cfg(server):
    return {"type": "redis", "address": server.address, "timeout": "200ms"}


def gateway_cfg(sink, store=None, queue_store=None, limit_rate="1/m", burst=3, queue=None):
    """Routes: POST /api/orders -> async queue `orders` (when queue_store) -> upstream `sink`;
    /c/ -> upstream u1 under a cluster-scope limit (when store); / -> u1. Both upstreams
    are the same JobSink (u1's requests carry no job id)."""
    routes = []
    queues = {}
    if queue_store:
        q = {"store": queue_store, "concurrency": 2, "visibility_timeout": VISIBILITY, "attempts": 5}
        q.update(queue or {})
        queues[Q] = q
        routes.append({"name": "orders", "match": {"prefix": "/api/orders", "methods": ["POST"]},
                       "upstream": "sink", "async": {"queue": Q}})
    if store:
        routes.append({"name": "c", "match": {"prefix": "/c/"}, "upstream": "u1",
                       "rate_limit": {"name": LIMIT, "key": "global", "rate": limit_rate, "burst": burst,
                                      "scope": "cluster"}})
    routes.append({"name": "default", "match": {"prefix": "/"}, "upstream": "u1"})
    top = {}
    if store:
        top["store"] = store
    if queues:
        top["queues"] = queues
    return make_config({"u1": [sink.address], "sink": [sink.address]}, routes=routes, **top)


def reweighted(cfg, weight):
    """The same file with u1's server weight changed (an upstream change, nothing else)."""
    new = copy.deepcopy(cfg)
    new["upstreams"]["u1"]["servers"][0]["weight"] = weight
    return new


def sighup(gw, cfg, count):
    """Writes cfg, sends SIGHUP and waits for the count-th in-process reload (same pid)."""
    pid = gw.pid
    write(gw, cfg)
    failed = gw.logs.count(FAILED_TO_START)
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: gw.logs.count(SERVES_HERE) >= count or gw.logs.count(FAILED_TO_START) > failed, 15)
    assert gw.logs.count(FAILED_TO_START) == failed, "reload %d refused:\n%s" % (count, gw.logs[-3000:])
    wait_for_in_process_reload(gw, count)
    assert gw.pid == pid and gw.alive(), gw.logs[-3000:]
    assert gw.logs.count(SERVES_HERE) == count, gw.logs[-3000:]
    assert wait_until(lambda: reloads(gw, "ok") == count, 5), (reloads(gw, "ok"), gw.logs[-3000:])


def reloads(gw, result):
    return metric_value(gw.metrics_text(), "scalegate_reloads_total", result=result) or 0


def statuses(gw, path, n):
    return [gw.get("%s%d" % (path, i)).status for i in range(n)]


def limit_keys(server):
    """The limit's keys in Redis: sg:rl:{<name, length-prefixed>:<key>} (seen: 'sg:rl:{6:shared:}')."""
    return [k for k in server.scan("sg:rl:*") if ":%s:" % LIMIT in k]


def store_up(gw):
    return wait_until(lambda: gw.store_state() == "up", 10, 0.1)


def qmetrics(gw):
    t = gw.metrics_text()
    return {k: metric_value(t, "scalegate_queue_" + k, queue=Q) for k in ("depth", "in_flight", "oldest_age_seconds")}


def wait_queue_empty(gw):
    ok = wait_until(lambda: qmetrics(gw) == {"depth": 0, "in_flight": 0, "oldest_age_seconds": 0}, 8, 0.1)
    assert ok, (qmetrics(gw), gw.logs[-2000:])


def assert_each_delivered_once(gw, sink, ids):
    """Every id reached the sink (at least once: nothing lost), and exactly once: no attempt
    ran past visibility_timeout and no generation stopped or died, so the README's grounds
    for a second delivery never arose."""
    wanted = set(ids)
    assert wait_until(lambda: wanted <= set(delivered(sink)), 15, 0.1), (
        "lost (never delivered): %s" % sorted(wanted - set(delivered(sink))), gw.logs[-3000:])
    for i in ids:
        wait_state(gw, i, "succeeded", timeout=10)
    time.sleep(0.3)  # a second delivery would show by now
    counts = delivered(sink)
    dups = {i: [(r.attempt, round(r.arrival, 2)) for r in sink.for_job(i)] for i in ids if counts[i] > 1}
    assert not dups, "delivered more than once across the reload: %s\n%s" % (dups, gw.logs[-3000:])


def held_jobs(gw, sink, concurrency):
    """`concurrency` deliveries held by the sink and as many jobs waiting; returns
    (all ids, ids in flight)."""
    sink.hang()
    ids = [accept(gw, b"before %d" % i) for i in range(2 * concurrency)]
    assert wait_until(lambda: sink.count() == concurrency, 5), (sink.count(), gw.logs[-2000:])
    in_flight = {r.job_id for r in sink.snapshot()}
    waiting = [i for i in ids if i not in in_flight]
    assert wait_state(gw, waiting[-1], "queued")["attempts"] == 0
    return ids, in_flight


def async_reload_round(gw, sink, concurrency):
    """`concurrency` deliveries in flight (held by the sink) and as many jobs waiting when the
    reload comes; more accepted after it; then the sink lets go. Returns (before, after) ids."""
    before, _ = held_jobs(gw, sink, concurrency)

    # Two keep-alive clients post on while the reload happens: every POST is accepted.
    during = {}
    poster = threading.Thread(target=lambda: during.update(r=post_jobs(gw.port, 40, threads=2, tag=b"during")))
    poster.start()
    sighup(gw, reweighted(gw.cfg, 3), 1)
    poster.join(30)
    during_ids, refused = during.get("r", ([], ["the posting clients did not finish"]))
    assert not refused and len(during_ids) == 40, (refused[:3], gw.logs[-2000:])
    after = [accept(gw, b"after %d" % i) for i in range(4)] + during_ids
    # /jobs/{id} answers on the new generation for every job accepted before the reload.
    for i in before:
        st = wait_state(gw, i, ("queued", "running"), timeout=5)
        assert st["id"] == i and st["queue"] == Q, st
    sink.release()
    assert_each_delivered_once(gw, sink, before + after)
    wait_for_drained(gw, 1)
    for i in before:
        assert gw.get("/jobs/%s/result" % i).status == 200, i
    wait_queue_empty(gw)
    return before, after


@pytest.fixture
def sink():
    s = JobSink()
    yield s
    s.close()


# ---------------------------------------------------------------------------
# 1: a cluster-scope limit's spent budget stays spent across a reload
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(40)
def test_store_backed_limit_stays_spent_across_a_reload(redis, gateways, sink):
    cfg = gateway_cfg(sink, store=store_cfg(redis))
    gw = gateways(cfg)
    assert store_up(gw), gw.health()
    assert statuses(gw, "/c/a", 2) == [200, 200]  # two of the burst of 3 spent
    keys = limit_keys(redis)
    assert len(keys) == 1, redis.scan("sg:rl:*")
    pid = gw.pid

    sighup(gw, reweighted(gw.cfg, 5), 1)
    assert store_up(gw), gw.health()
    # Spent as before: one left, then limited (1/m: no refill within the test).
    assert statuses(gw, "/c/b", 3) == [200, 429, 429], gw.logs[-2000:]
    wait_for_drained(gw, 1)
    assert gw.get("/c/c").status == 429
    assert gw.pid == pid and reloads(gw, "ok") == 1
    assert gw.metric("scalegate_rate_limit_fallbacks_total") in (None, 0), gw.metrics_text()[-2000:]
    # The new generation decides in Redis: with the key gone there, the budget is back.
    assert redis.cmd("DEL", keys[0]) == 1
    assert statuses(gw, "/c/d", 4) == [200, 200, 200, 429], gw.logs[-2000:]
    assert limit_keys(redis) == keys


# ---------------------------------------------------------------------------
# 2, 3: queued and in-flight jobs across a reload
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(45)
def test_redis_queue_jobs_across_a_reload(redis, gateways, sink):
    """At least once is the README's promise; exactly once is asserted: nothing here stopped,
    died or ran past visibility_timeout. Seen failing about one run in five (8 deliveries held
    across the reload): a delivery held on the old generation keeps `running` after its
    answer, and is delivered again as attempt 2 after visibility_timeout ("1 deliveries ran
    past the visibility timeout; retrying them"): its settlement was lost with the old one."""
    cfg = gateway_cfg(sink, store=store_cfg(redis), queue_store="redis", queue={"concurrency": 8})
    gw = gateways(cfg)
    before, after = async_reload_round(gw, sink, concurrency=8)
    for i in before + after:
        assert redis.cmd("TYPE", job_key(i)) == "hash", i
    # Two consumers in the group now: the old generation's and the new one's; only the new
    # one's reads matter from now on (a job accepted now is delivered).
    late = accept(gw, b"late")
    wait_state(gw, late, "succeeded")
    assert delivered(sink)[late] == 1


@pytest.mark.timeout_s(30)
def test_sqlite_queue_idle_reload_succeeds(gateways, sink):
    """The smallest case: a queue with no job at all. The new generation shares the file the
    old one holds (its lock, queue/file_lock.h, refuses a second opener): the reload must still
    serve."""
    gw = gateways(gateway_cfg(sink, queue_store="sqlite"))
    sighup(gw, reweighted(gw.cfg, 2), 1)
    wait_for_drained(gw, 1)
    job = accept(gw, b"after an idle reload")
    wait_state(gw, job, "succeeded")
    assert delivered(sink)[job] == 1


@pytest.mark.timeout_s(45)
def test_sqlite_queue_jobs_across_a_reload(gateways, sink):
    """Failed before the new generation shared the old one's open store (as did the idle case
    above): the reload was refused ("reload: the new configuration failed to start: queue
    orders: orders.queue.db: ... database is locked"): no configuration with a SQLite queue
    reloaded. A process hand-over of the same is test_queue_upgrade.py."""
    cfg = gateway_cfg(sink, queue_store="sqlite")
    gw = gateways(cfg)
    db = os.path.join(gw.tmpdir, "%s.queue.db" % Q)
    assert os.path.exists(db), os.listdir(gw.tmpdir)
    async_reload_round(gw, sink, concurrency=2)
    assert "jobs were in flight when the gateway stopped" not in gw.logs, gw.logs[-3000:]
    late = accept(gw, b"late")
    wait_state(gw, late, "succeeded")
    assert delivered(sink)[late] == 1


# ---------------------------------------------------------------------------
# 4, 5: Redis down during reloads
# ---------------------------------------------------------------------------
def check_store_down(gw, sink):
    """Redis is down: the limit's requests are answered (no 5xx) by the local fallback
    (rate / 1, burst 3 / 1), counted; async POSTs get 503 + Retry-After; /health is 200 with the
    store down."""
    assert wait_until(lambda: gw.store_state() == "down", 10, 0.1), gw.health()
    status, doc = gw.health()
    assert status == 200 and doc["store"] == {"type": "redis", "state": "down"}, doc
    fallbacks = gw.metric("scalegate_rate_limit_fallbacks_total") or 0
    got = statuses(gw, "/c/down", 5)
    assert set(got) <= {200, 429} and got.count(200) <= 3 and 429 in got, (got, gw.logs[-2000:])
    assert (gw.metric("scalegate_rate_limit_fallbacks_total") or 0) >= fallbacks + 5, gw.metrics_text()[-3000:]
    for i in range(3):
        r = post(gw, b"refused %d" % i)
        assert r.status == 503 and r.header("Retry-After"), (r, gw.logs[-2000:])
    assert gw.get("/plain").status == 200  # a route without the store serves as ever


def check_store_back(gw, redis, sink):
    """Redis restarted (empty) on its port: the store comes up, the limit counts in Redis
    again (its key appears, budget 3 then 429) and an async job is accepted and delivered."""
    assert store_up(gw), (gw.health(), gw.logs[-3000:])
    assert redis.scan("sg:rl:*") == []
    got = statuses(gw, "/c/back", 4)
    assert got == [200, 200, 200, 429], (got, gw.logs[-3000:])
    assert limit_keys(redis), redis.scan("*")
    first = [None]

    def accepted():
        r = post(gw, b"back")
        if r.status == 202:
            first[0] = r.json()["id"]
            return True
        assert r.status == 503, (r, gw.logs[-2000:])
        return False

    assert wait_until(accepted, 10, 0.2), gw.logs[-3000:]
    ids = [first[0]] + [accept(gw, b"back %d" % i) for i in range(3)]
    for i in ids:
        wait_state(gw, i, "succeeded", timeout=10)
        assert redis.cmd("TYPE", job_key(i)) == "hash", i
    assert all(delivered(sink)[i] == 1 for i in ids), delivered(sink)
    wait_queue_empty(gw)


@pytest.mark.timeout_s(60)
def test_reload_while_redis_is_down_then_redis_back(redis, gateways, sink):
    cfg = gateway_cfg(sink, store=store_cfg(redis), queue_store="redis")
    gw = gateways(cfg)
    assert store_up(gw), gw.health()
    warm = accept(gw, b"warm")
    wait_state(gw, warm, "succeeded")
    assert statuses(gw, "/c/warm", 1) == [200]
    pid = gw.pid

    redis.kill()
    sighup(gw, reweighted(gw.cfg, 4), 1)
    assert reloads(gw, "failed") == 0 and reloads(gw, "invalid_config") == 0, gw.metrics_text()[-2000:]
    wait_for_drained(gw, 1)
    check_store_down(gw, sink)

    redis.start()  # same port, empty
    check_store_back(gw, redis, sink)
    assert gw.pid == pid and gw.alive(), gw.logs[-3000:]


@pytest.mark.timeout_s(60)
def test_two_reloads_while_redis_is_down_then_redis_back(redis, gateways, sink):
    cfg = gateway_cfg(sink, store=store_cfg(redis), queue_store="redis")
    gw = gateways(cfg)
    assert store_up(gw), gw.health()
    assert statuses(gw, "/c/warm", 1) == [200]
    pid = gw.pid

    redis.kill()
    sighup(gw, reweighted(gw.cfg, 4), 1)
    check_store_down(gw, sink)
    sighup(gw, reweighted(gw.cfg, 6), 2)
    wait_for_drained(gw, 2)
    assert reloads(gw, "failed") == 0, gw.metrics_text()[-2000:]
    check_store_down(gw, sink)

    redis.start()
    check_store_back(gw, redis, sink)
    assert gw.pid == pid and gw.alive(), gw.logs[-3000:]
    assert reloads(gw, "ok") == 2 and gw.logs.count(DRAINED) == 2, gw.logs[-3000:]
