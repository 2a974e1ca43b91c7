"""Response cache, the parts that protect the upstream: request collapsing (one upstream fetch
for concurrent misses, across workers; waiters that go upstream themselves when the response is
not storable or lock_timeout passes), stale-while-revalidate (served at once, one background
refresh), stale-if-error (killed upstream, 5xx, timeout, open circuit breaker; never past
must-revalidate), and the memory bound under a fill. Helpers are shared with test_cache.py."""
import threading
import time

import pytest

from conftest import SLOW, Conn, metric_value, qpath, rss_kib, wait_s, wait_until
from test_cache import LAB, age, cache_gateway, count, expect, get, last_request, sleep_past, stamp, xc

MiB = 1024 * 1024


def run_clients(gw, target, n):
    """n clients, each on its own connection, send GET `target` at the same moment. Returns
    their Responses (or the exception a client met)."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        try:
            with Conn(gw.port, timeout=30) as c:
                barrier.wait(timeout=wait_s(20))
                results[i] = c.get(target)
        except Exception as e:  # reported by the caller
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(wait_s(60))
    bad = [r for r in results if not hasattr(r, "status")]
    assert not bad, "%d clients failed, e.g. %r" % (len(bad), bad[0])
    return results


# ---------------------------------------------------------------------------
# request collapsing
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(90)
@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_misses_collapse_into_one_fetch(upstream, gateway, workers):
    u, gw = cache_gateway(upstream, gateway, {}, workers=workers)
    t = qpath("/text/collapse", bytes=5000, cache_control="max-age=60", stamp=1, delay_ms=300)
    results = run_clients(gw, t, 100)
    assert [r.status for r in results] == [200] * 100, [r for r in results if r.status != 200][:3]
    assert len({r.body for r in results}) == 1 and len(results[0].body) == 5000
    assert count(u, "/text/collapse") == 1
    kinds = sorted(xc(r) for r in results)
    assert kinds == ["HIT"] * 99 + ["MISS"], {k: kinds.count(k) for k in set(kinds)}
    assert gw.metric("scalegate_cache_collapsed_total", **LAB) >= 1


@pytest.mark.timeout_s(90)
def test_collapsed_waiters_fetch_themselves_when_not_storable(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/nostore", bytes=500, cache_control="no-store", delay_ms=300)
    n = 20
    results = run_clients(gw, t, n)
    assert [(r.status, xc(r)) for r in results] == [(200, "MISS")] * n, results[:3]
    assert all(len(r.body) == 500 for r in results)
    assert count(u, "/text/nostore") == n


def test_waiters_survive_the_fetching_client_leaving(upstream, gateway):
    """The client whose miss is fetching disconnects mid-fetch. Either the fetch still ends
    and is stored (the gateway wrote the response before it saw the reset), or it is
    abandoned and one waiter fetches instead; either way every waiter gets the whole
    response and the entry is stored."""
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/owner-gone", bytes=2000, cache_control="max-age=60", delay_ms=800)
    owner = Conn(gw.port)
    owner.send(("GET %s HTTP/1.1\r\nHost: gateway.test\r\n\r\n" % t).encode())
    assert wait_until(lambda: count(u, "/text/owner-gone") == 1, timeout=5), "no fetch started"
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.setdefault(i, get(gw, t))) for i in range(3)]
    for th in threads:
        th.start()
    assert wait_until(lambda: gw.metric("scalegate_cache_collapsed_total", **LAB) >= 1, timeout=5)
    owner.close()  # the fetching client leaves
    for th in threads:
        th.join(wait_s(20))
    assert sorted(results) == [0, 1, 2]
    assert all(r.status == 200 and len(r.body) == 2000 for r in results.values()), results
    assert count(u, "/text/owner-gone") in (1, 2)
    expect(get(gw, t), "HIT")


def test_response_cut_mid_body_is_not_stored(upstream, gateway):
    """An upstream that stops mid-body (response_timeout) cuts the client's response; nothing
    of it is stored, so the next request goes upstream again instead of getting a truncated
    HIT."""
    u, gw = cache_gateway(upstream, gateway, {"force_ttl": "60s"},
                          upstream_opts={"u1": {"response_timeout": "500ms"}})
    with Conn(gw.port) as c:
        c.send(b"GET /partial?bytes=1000 HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        r = c.read_head()
        assert r.status == 200 and xc(r) == "MISS", r
        assert c.wait_closed(timeout=wait_s(10)), "the cut response did not close the connection"
    assert count(u, "/partial") == 1
    with Conn(gw.port) as c:
        c.send(b"GET /partial?bytes=1000 HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        assert xc(c.read_head()) == "MISS"
    assert wait_until(lambda: count(u, "/partial") == 2, timeout=5)
    assert gw.metric("scalegate_cache_stores_total", **LAB) == 0


def test_lock_timeout_sends_waiter_upstream(upstream, gateway):
    """lock_timeout 200ms, the first fetch takes 1.5 s: a second request stops waiting and
    fetches itself (MISS)."""
    u, gw = cache_gateway(upstream, gateway, {}, top={"lock_timeout": "200ms"})
    t = qpath("/text/lock", bytes=300, cache_control="max-age=60", delay_ms=1500)
    first = {}
    th = threading.Thread(target=lambda: first.setdefault("r", get(gw, t)))
    th.start()
    try:
        assert wait_until(lambda: count(u, "/text/lock") == 1, timeout=5), "the first request never arrived"
        second = get(gw, t)
    finally:
        th.join(wait_s(20))
    expect(second, "MISS")
    expect(first["r"], "MISS")
    assert count(u, "/text/lock") == 2
    expect(get(gw, t), "HIT")


# ---------------------------------------------------------------------------
# stale-while-revalidate
# ---------------------------------------------------------------------------
def poll_hit(gw, t, timeout=5, before=None):
    """GETs `t` until a HIT (returned); the responses before it go to `before` and must all
    be STALE (the refresh is still under way)."""
    seen = [] if before is None else before

    def once():
        r = get(gw, t)
        if xc(r) == "HIT":
            return r
        seen.append(r)
        return None
    r = wait_until(once, timeout=timeout, interval=0.05)
    assert r is not None, "no HIT after the background refresh"
    assert all(xc(x) == "STALE" for x in seen), [x for x in seen if xc(x) != "STALE"][:2]
    return r


@pytest.mark.parametrize("source", ["route", "response"])
def test_stale_while_revalidate(upstream, gateway, source):
    """Within the window a stale entry is served at once (STALE, old content, Age >= 1) and
    refreshed in the background; the next request is a HIT with the new content."""
    cache = {"stale_while_revalidate": "30s"} if source == "route" else {}
    cc = "max-age=1" if source == "route" else "max-age=1, stale-while-revalidate=30"
    u, gw = cache_gateway(upstream, gateway, cache)
    t = qpath("/text/swr", bytes=600, cache_control=cc, stamp=1)
    old = expect(get(gw, t), "MISS")
    sleep_past(time.monotonic())
    r = expect(get(gw, t), "STALE")
    assert stamp(r) == stamp(old) and r.body == old.body and age(r) >= 1
    assert wait_until(lambda: count(u, "/text/swr") == 2, timeout=5), "no background refresh"
    fresh = poll_hit(gw, t)
    assert stamp(fresh) > stamp(old) and len(fresh.body) == 600
    assert count(u, "/text/swr") == 2
    assert gw.metric("scalegate_cache_responses_total", result="stale", **LAB) >= 1


def test_stale_while_revalidate_refreshes_once(upstream, gateway):
    """While the (800 ms) refresh is in flight, more requests are served stale and start no
    other refresh. (max-age=3: the refreshed copy's age starts at its 0.8 s response delay.)"""
    u, gw = cache_gateway(upstream, gateway, {"stale_while_revalidate": "30s"})
    t = qpath("/text/swr1", bytes=600, cache_control="max-age=3", stamp=1)
    old = expect(get(gw, t), "MISS")
    sleep_past(time.monotonic(), 3.3)
    u.control("delay", ms=800)
    for _ in range(5):
        assert stamp(expect(get(gw, t), "STALE")) == stamp(old)
    assert wait_until(lambda: count(u, "/text/swr1") == 2, timeout=5)
    polled = []
    assert stamp(poll_hit(gw, t, before=polled)) > stamp(old)
    assert count(u, "/text/swr1") == 2
    assert gw.metric("scalegate_cache_responses_total", result="stale", **LAB) == 5 + len(polled)


# ---------------------------------------------------------------------------
# stale-if-error
# ---------------------------------------------------------------------------
BREAKER = {"error_threshold_percent": 50, "volume_threshold": 4, "window": "10s", "reset_timeout": "30s"}
SIE_KINDS = ["killed", "500", "503", "timeout", "breaker", "404-is-no-error"]


@pytest.mark.parametrize("kind", SIE_KINDS)
def test_stale_if_error(upstream, gateway, kind):
    opts = {"timeout": {"response_timeout": "500ms"}, "breaker": {"circuit_breaker": BREAKER}}.get(kind)
    u, gw = cache_gateway(upstream, gateway, {"stale_if_error": "60s"},
                          upstream_opts={"u1": opts} if opts else None)
    t = qpath("/text/sie", bytes=1500, cache_control="max-age=1", stamp=1)
    first = expect(get(gw, t), "MISS")
    t0 = time.monotonic()
    if kind == "breaker":
        u.set_status(500)
        for i in range(4):
            r = get(gw, "/text/err/%d" % i)
            assert r.status in (500, 503), r
        u.set_status(0)  # the upstream is fine again, but the open breaker keeps it out
        assert gw.metric("scalegate_circuit_breaker_state", upstream="u1", state="open") == 1
    sleep_past(t0)
    if kind == "killed":
        u.kill()
    elif kind == "timeout":
        u.set_hang(True)
    elif kind != "breaker":
        u.set_status(int(kind[:3]))
    r = get(gw, t)
    if kind.startswith("404"):
        expect(r, "MISS", 404)
        return
    expect(r, "STALE")
    assert r.body == first.body and stamp(r) == stamp(first) and age(r) >= 1
    if kind != "killed":
        assert count(u, "/text/sie") == (1 if kind == "breaker" else 2)


def test_stale_on_error_respects_must_revalidate(upstream, gateway):
    """Upstream gone: stale entries are served within stale_if_error (route or response
    directive), but never with must-revalidate, proxy-revalidate or s-maxage; without a
    usable stale copy the gateway's own error goes out as a MISS."""
    routes = [{"name": "sie", "match": {"prefix": "/text/sie/"}, "upstream": "u1",
               "cache": {"stale_if_error": "60s"}},
              {"name": "plain", "match": {"prefix": "/"}, "upstream": "u1", "cache": {"enabled": True}}]
    u, gw = cache_gateway(upstream, gateway, routes=routes)
    cases = [("/text/sie/plain", "max-age=1", True),
             ("/text/sie/must", "max-age=1, must-revalidate", False),
             ("/text/sie/proxy", "max-age=1, proxy-revalidate", False),
             ("/text/sie/shared", "s-maxage=1", False),
             ("/text/plain/none", "max-age=1", False),
             ("/text/plain/directive", "max-age=1, stale-if-error=60", True)]
    t0 = time.monotonic()
    filled = {}
    for path, cc, _ in cases:
        filled[path] = expect(get(gw, qpath(path, bytes=300, cache_control=cc)), "MISS")
    sleep_past(t0)
    u.kill()
    for path, cc, stale in cases:
        r = get(gw, qpath(path, bytes=300, cache_control=cc))
        if stale:
            expect(r, "STALE")
            assert r.body == filled[path].body
        else:
            assert r.status in (502, 503, 504) and xc(r) == "MISS", "%s (%s): %r" % (path, cc, r)
    r = get(gw, "/text/sie/never-stored?bytes=10")
    assert r.status in (502, 503, 504) and xc(r) == "MISS", r


# ---------------------------------------------------------------------------
# the memory bound
# ---------------------------------------------------------------------------
@pytest.mark.timeout_s(180)
@pytest.mark.parametrize("policy", ["tinylfu", "lru"])
def test_memory_bound_under_fill(upstream, gateway, policy):
    """1 MiB of cache, 1200 distinct 10 KiB objects: the stored bytes never pass the
    capacity, the oldest go (lru), and the process does not grow with what went through.
    RSS is not checked under ASan (its quarantine keeps freed memory)."""
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "600s"}, top={"memory": "1MiB", "policy": policy})
    cap = gw.metric("scalegate_cache_capacity_bytes")
    assert 0 < cap <= MiB, cap

    def check_bound():
        text = gw.metrics_text()
        used = metric_value(text, "scalegate_cache_bytes")
        entries = metric_value(text, "scalegate_cache_entries")
        assert 0 < used <= cap, (used, cap)
        assert 0 < entries * 10240 <= cap, entries
        return text

    def fill(c, start, n):
        for i in range(start, start + n):
            r = c.get("/text/m/%d?bytes=10240" % i)
            assert r.status == 200 and xc(r) == "MISS" and len(r.body) == 10240, r

    with Conn(gw.port, timeout=30) as c:
        fill(c, 0, 200)
        check_bound()
        rss0 = rss_kib(gw.pid)
        for batch in range(10):
            fill(c, 200 + 100 * batch, 100)
            text = check_bound()
        rss1 = rss_kib(gw.pid)
    assert metric_value(text, "scalegate_cache_stores_total", **LAB) > 0
    if policy == "lru":
        assert metric_value(text, "scalegate_cache_evictions_total", **LAB) >= 1000
        expect(get(gw, "/text/m/0?bytes=10240"), "MISS")  # the oldest went first
        expect(get(gw, "/text/m/1199?bytes=10240"), "HIT")
    if SLOW == 1:
        assert rss1 < rss0 + 3 * 1024, "RSS grew from %d KiB to %d KiB over a 1 MiB cache" % (rss0, rss1)
    assert last_request(u, "/text/m/1199")["method"] == "GET"
