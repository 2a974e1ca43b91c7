"""The cache's second layer in the store (route `cache: {l2: true}`): several gateway instances
share entries through a real redis-server (or a 3-master Redis Cluster).

- an entry one instance fetched answers the others from the L2 (X-Cache: HIT; layer=l2), then
  from their own memory; Vary variants and Age stay true across layers (RFC 9111);
- one instance fetches a missing key while the others wait for its entry (a lock in the store);
- a purge (DELETE /admin/cache) or an unsafe method on one instance drops the entry from the
  L2 and from every instance's memory (pub/sub);
- with Redis killed, the cache is memory only and nothing fails; restarted, the L2 resumes
  and memory starts again (purges sent meanwhile may have been missed);
- garbage in the L2 is skipped (counted), entries over l2_max_object_size stay in memory only.

Every process is real (gateways, upstream, redis-server) on 127.0.0.1 with ports chosen at run
time; waits are bounded.
"""
import threading
import time
import urllib.parse

from conftest import SLOW, http_get, http_request, make_config, qpath, wait_until
from redis_support import gateways, redis, redis_cluster  # noqa: F401  (fixtures)
from test_cache import count, stamp

LAB = dict(listener="public", route="shared")


def l2_route(**cache):
    return {"name": "shared", "match": {"prefix": "/"}, "upstream": "u1",
            "cache": dict({"l2": True}, **cache)}


def store_of(server, timeout="200ms"):
    if hasattr(server, "seeds"):
        return {"type": "redis_cluster", "seeds": server.seeds, "timeout": timeout}
    return {"type": "redis", "address": server.address, "timeout": timeout}


def instances(upstream, gateways, server, n=3, workers=1, **cache):
    u = upstream("u1")
    cfg = make_config({"u1": [u]}, routes=[l2_route(**cache)], workers=workers, store=store_of(server))
    return u, [gateways(cfg) for _ in range(n)]


def get(gw, target, headers=None):
    return http_get(gw.port, target, headers, host="gateway.test")


def xc(r):
    return r.header("X-Cache")


def key_of(target):
    return "gateway.test" + target


def metric(gw, name, **labels):
    return gw.metric(name, **dict(LAB, **labels)) or 0


def stored_variants(redis, target):
    """The L2 hash's variant fields (not its _vary and _lock fields)."""
    fields = redis.cmd("HKEYS", "sg:c:" + key_of(target)) or []
    return [f for f in fields if f not in (b"_vary", b"_lock", "_vary", "_lock")]


def test_instances_share_an_l2_entry(upstream, redis, gateways):
    """gw1 fetches; gw2 and gw3 are answered from the L2 (same stamp, the upstream saw one
    request), then gw2 from its own memory. Age counts the time since gw1 fetched."""
    u, gws = instances(upstream, gateways, redis)
    t = qpath("/text/shared", bytes=300, cache_control="max-age=60", stamp=1, age=5)
    first = get(gws[0], t)
    assert first.status == 200 and xc(first) == "MISS", first
    for gw in gws[1:]:
        r = get(gw, t)
        assert r.status == 200 and xc(r) == "HIT; layer=l2", r
        assert stamp(r) == stamp(first) and r.body == first.body
        assert int(r.header("Age")) >= 5, r
    again = get(gws[1], t)
    assert xc(again) == "HIT" and stamp(again) == stamp(first), again
    assert count(u, "/text/shared") == 1
    assert metric(gws[1], "scalegate_cache_hits_total", layer="l2") == 1
    assert metric(gws[1], "scalegate_cache_hits_total", layer="l1") == 1
    assert metric(gws[1], "scalegate_cache_l2_lookups_total", result="found") == 1
    assert metric(gws[0], "scalegate_cache_l2_writes_total") == 1
    ttl = int(redis.cmd("PTTL", "sg:c:" + key_of(t)))
    assert 50_000 < ttl <= 55_000, ttl  # max-age 60 less the Age of 5


def test_vary_variants_cross_layers(upstream, redis, gateways):
    """Two Accept-Language variants stored by gw1: gw2 gets each from the L2, never the
    other's, and a third language goes to the upstream."""
    u, gws = instances(upstream, gateways, redis, n=2)
    t = qpath("/text/lang", bytes=100, cache_control="max-age=60", vary="Accept-Language", stamp=1)
    en = get(gws[0], t, {"Accept-Language": "en"})
    fr = get(gws[0], t, {"Accept-Language": "fr"})
    assert stamp(en) != stamp(fr)
    r_fr = get(gws[1], t, {"Accept-Language": "fr"})
    r_en = get(gws[1], t, {"Accept-Language": "en"})
    assert (xc(r_fr), stamp(r_fr)) == ("HIT; layer=l2", stamp(fr)), r_fr
    assert (xc(r_en), stamp(r_en)) == ("HIT; layer=l2", stamp(en)), r_en
    de = get(gws[1], t, {"Accept-Language": "de"})
    assert xc(de) == "MISS" and stamp(de) not in (stamp(en), stamp(fr)), de
    assert count(u, "/text/lang") == 3


def test_stale_l2_entry_is_revalidated(upstream, redis, gateways):
    """An entry that went stale in the L2 (max-age=1, stale_if_error window keeps it there) is
    revalidated by the next instance with its validators: a 304 serves the stored body."""
    u, gws = instances(upstream, gateways, redis, n=2, stale_if_error="30s")
    t = qpath("/text/reval", bytes=100, cache_control="max-age=1", etag="v1", stamp=1)
    first = get(gws[0], t)
    time.sleep(1.5)
    r = get(gws[1], t)
    assert r.status == 200 and xc(r) == "REVALIDATED" and stamp(r) == stamp(first), r
    assert count(u, "/text/reval") == 2


def test_collapsed_fill_across_instances(upstream, redis, gateways):
    """Nine concurrent requests for one slow key, three on each instance: the upstream sees
    one; every client gets the same body."""
    u, gws = instances(upstream, gateways, redis)
    t = qpath("/text/slow", bytes=200, cache_control="max-age=60", stamp=1, delay_ms=int(800 * SLOW))
    results = []

    def one(gw):
        results.append(get(gw, t))

    threads = [threading.Thread(target=one, args=(gw,)) for gw in gws for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(results) == 9 and all(r.status == 200 for r in results), results
    assert len({stamp(r) for r in results}) == 1, [(xc(r), r.header("X-Stamp")) for r in results]
    assert count(u, "/text/slow") == 1
    assert sorted(xc(r) for r in results).count("MISS") == 1, [xc(r) for r in results]
    collapsed = sum(metric(gw, "scalegate_cache_collapsed_total") for gw in gws)
    assert collapsed >= 8 - 0, collapsed


def test_uncacheable_fill_does_not_hold_the_others(upstream, redis, gateways):
    """A fetch that stores nothing (no-store) ends its lock at once: the other instance's
    waiting request goes to the upstream without waiting for lock_timeout."""
    u = upstream("u1")
    cfg = make_config({"u1": [u]}, routes=[l2_route()], workers=1, store=store_of(redis),
                      cache={"lock_timeout": "10s"})
    gws = [gateways(cfg) for _ in range(2)]
    t = qpath("/text/nostore", bytes=50, cache_control="no-store", delay_ms=int(500 * SLOW))
    results = []
    threads = [threading.Thread(target=lambda gw=gw: results.append((get(gw, t), time.monotonic())))
               for gw in gws]
    started = time.monotonic()
    for th in threads:
        th.start()
        time.sleep(0.1)
    for th in threads:
        th.join(30)
    assert all(r.status == 200 for r, _ in results), results
    assert max(done for _, done in results) - started < 5.0, "a waiter sat out lock_timeout"
    assert count(u, "/text/nostore") == 2


def purge_latency(gws, t, action):
    """Fills every instance's memory with `t`, runs `action`, and returns the seconds until
    every instance's entry count for the route is 0."""
    for gw in gws:
        get(gw, t)
    assert all(metric(gw, "scalegate_cache_entries") == 1 for gw in gws)
    began = time.monotonic()
    action()
    assert wait_until(lambda: all(metric(gw, "scalegate_cache_entries") == 0 for gw in gws),
                      timeout=5, interval=0.005), [metric(gw, "scalegate_cache_entries") for gw in gws]
    return time.monotonic() - began


def test_purge_reaches_every_instance_and_the_l2(upstream, redis, gateways):
    """DELETE /admin/cache?key= on one instance: the L2 key is gone and every instance's
    memory drops the entry (measured: well under 100 ms on loopback); the next GET anywhere
    is a miss. A prefix purge does the same for every key under the prefix."""
    u, gws = instances(upstream, gateways, redis)
    t = qpath("/text/purged", bytes=100, cache_control="max-age=60", stamp=1)
    key = urllib.parse.quote(key_of(t), safe="")
    took = purge_latency(gws, t, lambda: gws[2].admin_request("DELETE", "/admin/cache?key=" + key))
    print("purge reached every instance in %.1f ms" % (took * 1000))
    assert redis.cmd("EXISTS", "sg:c:" + key_of(t)) == 0
    r = get(gws[0], t)
    assert xc(r) == "MISS", r
    assert all(gw.metric("scalegate_cache_invalidations_received_total") == 1 for gw in gws)
    assert all(gw.metric("scalegate_cache_invalidation_failures_total") == 0 for gw in gws)

    others = [qpath("/text/tree/%d" % i, bytes=50, cache_control="max-age=60") for i in range(3)]
    for target in others:
        get(gws[0], target)
    assert len(redis.scan("sg:c:gateway.test/text/tree/*")) == 3
    r = gws[1].admin_request("DELETE", "/admin/cache?prefix=" + urllib.parse.quote("gateway.test/text/tree/"))
    assert r.status == 200, r
    assert wait_until(lambda: not redis.scan("sg:c:gateway.test/text/tree/*"), timeout=5)
    assert wait_until(lambda: metric(gws[0], "scalegate_cache_entries") == 1, timeout=5)  # /text/purged


def test_unsafe_method_invalidates_everywhere(upstream, redis, gateways):
    """A successful POST to the URL on one instance drops it from the L2 and from the other
    instances' memory."""
    u, gws = instances(upstream, gateways, redis)
    t = qpath("/text/posted", bytes=100, cache_control="max-age=60", stamp=1)

    def post():
        r = http_request(gws[1].port, "POST", t, None, body=b"x", host="gateway.test", timeout=10)
        assert r.status == 200, r

    purge_latency(gws, t, post)
    assert redis.cmd("EXISTS", "sg:c:" + key_of(t)) == 0
    assert xc(get(gws[2], t)) == "MISS"


def test_redis_killed_serves_from_memory_then_l2_resumes(upstream, redis, gateways):
    """Redis killed while clients read: every answer is a 200 (memory hits and plain misses),
    lookups are counted failed and /health shows the store down. Restarted: an entry one
    instance stores is an L2 hit on the other again."""
    u, gws = instances(upstream, gateways, redis, n=2, workers=2)
    warm = qpath("/text/warm", bytes=100, cache_control="max-age=60")
    get(gws[0], warm)
    assert xc(get(gws[1], warm)) == "HIT; layer=l2"
    redis.kill()
    statuses = []
    deadline = time.monotonic() + 2.0
    i = 0
    while time.monotonic() < deadline and i < 400:
        for gw in gws:
            statuses.append((get(gw, warm).status, xc(get(gw, warm))))
            statuses.append((get(gw, qpath("/text/new/%d" % i, bytes=20, cache_control="max-age=60")).status, None))
        i += 1
    assert all(s == 200 for s, _ in statuses), [s for s in statuses if s[0] != 200][:5]
    assert all(x == "HIT" for _, x in statuses if x is not None)
    assert wait_until(lambda: all(gw.store_state() == "down" for gw in gws), timeout=10)
    failed = sum(metric(gw, "scalegate_cache_l2_lookups_total", result="failed") for gw in gws)
    assert failed >= 1, failed
    # a purge meanwhile clears this instance's memory and is counted as not reaching the store
    r = gws[0].admin_request("DELETE", "/admin/cache?key=" + urllib.parse.quote(key_of(warm), safe=""))
    assert r.status == 200 and r.json()["purged"] == 1, r
    assert wait_until(lambda: gws[0].metric("scalegate_cache_invalidation_failures_total") >= 1, timeout=10)

    redis.restart()
    assert wait_until(lambda: all(gw.store_state() == "up" for gw in gws), timeout=15 * SLOW)
    # the channel was lost (purges elsewhere may have been missed): memory starts again
    assert wait_until(lambda: all(gw.metric("scalegate_cache_memory_flushes_total") == 1 for gw in gws),
                      timeout=15 * SLOW)
    assert all(metric(gw, "scalegate_cache_entries") == 0 for gw in gws)
    r = get(gws[1], warm)
    assert r.status == 200 and xc(r) == "MISS", r  # the restarted Redis is empty too
    t = qpath("/text/after", bytes=100, cache_control="max-age=60", stamp=1)
    first = get(gws[0], t)
    assert wait_until(lambda: redis.cmd("EXISTS", "sg:c:" + key_of(t)) == 1, timeout=5)
    r = get(gws[1], t)
    assert xc(r) == "HIT; layer=l2" and stamp(r) == stamp(first), r
    # the bus resubscribed: a purge on one instance reaches the other again
    key = urllib.parse.quote(key_of(t), safe="")
    held = metric(gws[1], "scalegate_cache_entries")

    def purged():
        gws[0].admin_request("DELETE", "/admin/cache?key=" + key)
        return metric(gws[1], "scalegate_cache_entries") == held - 1
    assert wait_until(purged, timeout=10 * SLOW, interval=0.2)


def test_garbage_in_the_l2_is_skipped(upstream, redis, gateways):
    """A variant field holding bytes that are no entry: the lookup finds nothing usable, the
    request is a plain miss (200 from the upstream), and the gateway keeps serving."""
    u, gws = instances(upstream, gateways, redis, n=1)
    t = qpath("/text/garbage", bytes=50, cache_control="max-age=60")
    redis.cmd("HSET", "sg:c:" + key_of(t), "", "\x01not an entry", "_vary", "")
    r = get(gws[0], t)
    assert r.status == 200 and xc(r) == "MISS", r
    assert xc(get(gws[0], t)) == "HIT"
    assert gws[0].alive()


def test_large_entries_stay_in_memory(upstream, redis, gateways):
    """A body over l2_max_object_size is stored in memory only: the other instance misses."""
    u, gws = instances(upstream, gateways, redis, n=2, l2_max_object_size="1KiB")
    t = qpath("/text/large", bytes=4000, cache_control="max-age=60")
    get(gws[0], t)
    assert xc(get(gws[0], t)) == "HIT"
    assert xc(get(gws[1], t)) == "MISS"
    assert stored_variants(redis, t) == []


def test_redis_cluster_shares_entries_and_purges(upstream, redis_cluster, gateways):
    """The same through a 3-master Redis Cluster: keys on every master, shared, purged."""
    u, gws = instances(upstream, gateways, redis_cluster, n=2)
    targets = [qpath("/text/c%d" % i, bytes=50, cache_control="max-age=60", stamp=1) for i in range(12)]
    firsts = [get(gws[0], t) for t in targets]
    for t, first in zip(targets, firsts):
        r = get(gws[1], t)
        assert xc(r) == "HIT; layer=l2" and stamp(r) == stamp(first), r
    masters = {redis_cluster.owner(redis_cluster.keyslot("sg:c:" + key_of(t))) for t in targets}
    assert len(masters) >= 2, masters
    r = gws[0].admin_request("DELETE", "/admin/cache?prefix=" + urllib.parse.quote("gateway.test/text/c"))
    assert r.status == 200, r
    assert wait_until(lambda: not redis_cluster.find_keys("sg:c:*"), timeout=5)
    assert wait_until(lambda: metric(gws[1], "scalegate_cache_entries") == 0, timeout=5)
