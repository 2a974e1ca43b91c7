"""Rate limiting (listener and route `rate_limit`): exact admission across workers, the
RateLimit / RateLimit-Policy / Retry-After headers, tiers, keys (ip, header, route, global),
trusted_proxies and X-Forwarded-For, shadow mode, and the metrics."""
import re
import threading

import pytest

from conftest import Conn, IncompleteBody, NoResponse, build_request, http_get, make_config, metric_value

POLICY_RE = re.compile(r'^"([^"]+)";q=(\d+);w=(\d+)$')
STATE_RE = re.compile(r'^"([^"]+)";r=(\d+);t=(\d+)$')


def members(value, regex):
    """Splits a RateLimit(-Policy) value into its ", "-separated members, each matched whole
    by `regex`; returns [(name, int, int)]."""
    assert value is not None, "header missing"
    out = []
    for part in value.split(", "):
        m = regex.match(part)
        assert m, "malformed member %r in %r" % (part, value)
        out.append((m.group(1), int(m.group(2)), int(m.group(3))))
    return out


def one_member(resp, name):
    """(q, w, r, t) of the single policy `name` in resp's RateLimit headers (both one member)."""
    pol = members(resp.header("RateLimit-Policy"), POLICY_RE)
    st = members(resp.header("RateLimit"), STATE_RE)
    assert [p[0] for p in pol] == [name] and [s[0] for s in st] == [name], resp
    assert len(resp.header_list("RateLimit")) == 1 and len(resp.header_list("RateLimit-Policy")) == 1, resp
    return pol[0][1], pol[0][2], st[0][1], st[0][2]


def fresh_get(gw, path="/echo", headers=None):
    """One request on its own connection (so requests spread over the workers)."""
    return http_get(gw.port, path, headers=headers)


def limited_gateway(upstream, gateway, listener_limit=None, routes=None, workers=2, listener=None):
    u = upstream("u1")
    lis = dict(listener or {})
    if listener_limit is not None:
        lis["rate_limit"] = listener_limit
    gw = gateway(make_config({"u1": [u]}, routes=routes, workers=workers, listener=lis))
    return u, gw


def decisions(gw, decision, route="", policy="public"):
    return gw.metric("scalegate_rate_limit_decisions_total", listener="public", route=route, policy=policy,
                     decision=decision)


# ---------------------------------------------------------------------------
# burst, refusal and headers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["token_bucket", "gcra", "sliding_window"])
def test_burst_then_429_with_exact_headers(upstream, gateway, algorithm):
    """Three requests pass (remaining 2, 1, 0), then 429 with Retry-After and r=0; the
    upstream sees exactly three. Buckets: 3/m burst 3 (one request refills in 20 s, longer
    than the test). Sliding window: 3/h (windows are clock-aligned; a long one is not crossed)."""
    if algorithm == "sliding_window":
        limit, window = {"algorithm": algorithm, "rate": "3/h"}, 3600
        max_reset = 2 * window  # the previous window's count fades over the next window
    else:
        limit, window = {"algorithm": algorithm, "rate": "3/m", "burst": 3}, 60
        max_reset = window
    u, gw = limited_gateway(upstream, gateway, limit)
    for i, want_r in enumerate([2, 1, 0]):
        r = fresh_get(gw)
        assert r.status == 200, "request %d: %r" % (i, r)
        q, w, rem, t = one_member(r, "public")
        assert (q, w) == (3, window), r
        assert rem == want_r, "request %d: remaining %d, want %d: %r" % (i, rem, want_r, r)
        assert 1 <= t <= max_reset, r
    for i in range(2):
        r = fresh_get(gw)
        assert r.status == 429, "request %d over the limit: %r" % (3 + i, r)
        retry = r.header("Retry-After")
        assert retry is not None and re.fullmatch(r"\d+", retry), r
        assert 1 <= int(retry) <= max_reset, r
        q, w, rem, t = one_member(r, "public")
        assert (q, w, rem) == (3, window, 0), r
        assert int(retry) <= t <= max_reset, r
        assert r.header("X-Content-Type-Options") == "nosniff", r
        assert r.header("X-Frame-Options") == "DENY", r
        assert r.header("X-Upstream") is None, "a refused request reached the upstream: %r" % r
    if algorithm != "sliding_window":
        assert int(retry) <= 20, "one request refills in 20 s, Retry-After %s" % retry
        assert t >= 40, "three requests refill in 60 s, t=%d" % t
    assert u.stats()["requests"] == 3
    text = gw.metrics_text()
    lab = dict(listener="public", route="", policy="public")
    assert metric_value(text, "scalegate_rate_limit_decisions_total", decision="allowed", **lab) == 3
    assert metric_value(text, "scalegate_rate_limit_decisions_total", decision="refused", **lab) == 2
    assert metric_value(text, "scalegate_rate_limit_decisions_total", decision="shadow_refused", **lab) == 0
    assert metric_value(text, "scalegate_rejected_requests_total", listener="public", reason="rate_limited") == 2


def test_exact_across_workers_under_concurrency(upstream, gateway):
    """10/h, burst 10, two workers: of 30 requests sent at once on 30 connections exactly 10
    pass, whichever worker takes them."""
    u, gw = limited_gateway(upstream, gateway, {"rate": "10/h", "burst": 10}, workers=2)
    n = 30
    conns = [Conn(gw.port, timeout=20) for _ in range(n)]
    statuses = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=10)
            statuses[i] = conns[i].get("/echo/%d" % i).status
        except Exception as e:  # recorded, asserted below
            statuses[i] = repr(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for c in conns:
            c.close()
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 20, statuses
    assert u.stats()["requests"] == 10
    assert decisions(gw, "allowed") == 10 and decisions(gw, "refused") == 20


def test_tiers_by_header_and_missing_header(upstream, gateway):
    """key header:X-Api-Key: the gold key gets its tier (burst 5), unknown keys the default
    (burst 2) each in their own bucket, and requests without the header share one bucket."""
    limit = {"key": "header:X-Api-Key", "rate": "2/m", "burst": 2, "name": "api-keys",
             "tiers": {"gold": {"rate": "5/m", "burst": 5}}}
    u, gw = limited_gateway(upstream, gateway, limit)

    def run(key, n):
        out = []
        for _ in range(n):
            r = fresh_get(gw, headers={"X-Api-Key": key} if key is not None else None)
            out.append((r.status, one_member(r, "api-keys")))
        return out

    gold = run("gold", 6)
    assert [s for s, _ in gold] == [200] * 5 + [429], gold
    assert [(q, w, rem) for _, (q, w, rem, t) in gold] == \
        [(5, 60, 4), (5, 60, 3), (5, 60, 2), (5, 60, 1), (5, 60, 0), (5, 60, 0)], gold
    silver = run("silver", 3)
    assert [s for s, _ in silver] == [200, 200, 429], silver
    assert [(q, w, rem) for _, (q, w, rem, t) in silver] == [(2, 60, 1), (2, 60, 0), (2, 60, 0)], silver
    bronze = run("bronze", 1)  # another unknown key: its own bucket
    assert bronze[0][0] == 200 and bronze[0][1][2] == 1, bronze
    none = run(None, 3)  # no header: one shared (empty) key
    assert [s for s, _ in none] == [200, 200, 429], none
    # the tier is picked by the exact value
    assert run("GOLD", 1)[0][1][0] == 2
    assert u.stats()["requests"] == 5 + 2 + 1 + 2 + 1


def test_listener_and_route_limits_both_apply(upstream, gateway):
    """The listener's limit and the route's both apply; the headers list the listener's
    member first. Route policy names default to the route's name, else its prefix."""
    routes = [{"name": "api", "match": {"prefix": "/api"}, "upstream": "u1",
               "rate_limit": {"rate": "2/m", "burst": 2}},
              {"match": {"prefix": "/v2"}, "upstream": "u1", "rate_limit": {"rate": "1/m"}},
              {"name": "rest", "match": {"prefix": "/"}, "upstream": "u1"}]
    u, gw = limited_gateway(upstream, gateway, {"name": "edge", "rate": "6/m", "burst": 6}, routes=routes)

    def both(r):
        pol = members(r.header("RateLimit-Policy"), POLICY_RE)
        st = members(r.header("RateLimit"), STATE_RE)
        return [(p[0], p[1], p[2]) for p in pol], [(s[0], s[1]) for s in st]

    r = fresh_get(gw, "/api/a")
    assert r.status == 200, r
    assert both(r) == ([("edge", 6, 60), ("api", 2, 60)], [("edge", 5), ("api", 1)]), r
    assert re.fullmatch(r'"edge";q=6;w=60, "api";q=2;w=60', r.header("RateLimit-Policy")), r
    assert re.fullmatch(r'"edge";r=5;t=\d+, "api";r=1;t=\d+', r.header("RateLimit")), r
    r = fresh_get(gw, "/api/b")
    assert r.status == 200 and both(r)[1] == [("edge", 4), ("api", 0)], r
    r = fresh_get(gw, "/api/c")  # the route refuses, the listener's limit still counted it
    assert r.status == 429, r
    assert both(r)[1] == [("edge", 3), ("api", 0)], r
    assert r.header("Retry-After") is not None and int(r.header("Retry-After")) >= 1, r
    r = fresh_get(gw, "/v2/x")  # unnamed route: policy named after its prefix
    assert r.status == 200, r
    assert both(r) == ([("edge", 6, 60), ("/v2", 1, 60)], [("edge", 2), ("/v2", 0)]), r
    r = fresh_get(gw, "/other")  # no route limit: only the listener's member
    assert r.status == 200, r
    assert both(r) == ([("edge", 6, 60)], [("edge", 1)]), r
    assert fresh_get(gw, "/other").status == 200
    r = fresh_get(gw, "/other")
    assert r.status == 429 and both(r)[1] == [("edge", 0)], r
    assert u.stats()["requests"] == 5
    text = gw.metrics_text()
    assert metric_value(text, "scalegate_rate_limit_decisions_total", route="api", policy="api",
                        decision="refused") == 1
    assert metric_value(text, "scalegate_rate_limit_decisions_total", route="", policy="edge",
                        decision="refused") == 1
    assert metric_value(text, "scalegate_rate_limit_decisions_total", route="/v2", policy="/v2",
                        decision="allowed") == 1


def test_route_and_global_keys(upstream, gateway):
    """key: route counts each route apart; key: global counts every client together."""
    routes = [{"name": "a", "match": {"prefix": "/a"}, "upstream": "u1"},
              {"name": "b", "match": {"prefix": "/b"}, "upstream": "u1"},
              {"name": "g", "match": {"prefix": "/g"}, "upstream": "u1",
               "rate_limit": {"key": "global", "rate": "2/m", "name": "everyone"}}]
    u, gw = limited_gateway(upstream, gateway, {"key": "route", "rate": "2/m", "burst": 2},
                            routes=routes, listener={"trusted_proxies": ["127.0.0.0/8"]})
    assert [fresh_get(gw, "/a/%d" % i).status for i in range(3)] == [200, 200, 429]
    assert [fresh_get(gw, "/b/%d" % i).status for i in range(3)] == [200, 200, 429]
    # global: different client addresses (believed: the peer is a trusted proxy) share one bucket
    st = [fresh_get(gw, "/g/%d" % i, headers={"X-Forwarded-For": "198.51.100.%d" % i}).status for i in range(3)]
    assert st == [200, 200, 429], st


def test_shadow_mode_lets_everything_through_and_counts(upstream, gateway):
    u, gw = limited_gateway(upstream, gateway, {"rate": "2/m", "burst": 2, "shadow": True})
    rems = []
    for i in range(5):
        r = fresh_get(gw)
        assert r.status == 200, "shadow mode refused request %d: %r" % (i, r)
        assert r.header("Retry-After") is None, r
        rems.append(one_member(r, "public")[2])
    assert rems == [1, 0, 0, 0, 0], rems
    assert u.stats()["requests"] == 5
    text = gw.metrics_text()
    lab = dict(listener="public", route="", policy="public")
    assert metric_value(text, "scalegate_rate_limit_decisions_total", decision="allowed", **lab) == 2
    assert metric_value(text, "scalegate_rate_limit_decisions_total", decision="shadow_refused", **lab) == 3
    assert metric_value(text, "scalegate_rate_limit_decisions_total", decision="refused", **lab) == 0
    assert metric_value(text, "scalegate_rejected_requests_total", listener="public", reason="rate_limited") == 0


# ---------------------------------------------------------------------------
# client address: trusted_proxies and X-Forwarded-For
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("trusted", [None, ["10.0.0.0/8", "192.168.0.0/16"]], ids=["none", "peer-untrusted"])
def test_xff_ignored_unless_peer_trusted(upstream, gateway, trusted):
    """The peer (127.0.0.1) is not a trusted proxy: X-Forwarded-For is not believed, so a
    client cannot get a fresh bucket by sending a new address each time."""
    listener = {"trusted_proxies": trusted} if trusted else {}
    u, gw = limited_gateway(upstream, gateway, {"rate": "2/m", "burst": 2}, listener=listener)
    st = [fresh_get(gw, headers={"X-Forwarded-For": "203.0.113.%d" % i}).status for i in range(4)]
    assert st == [200, 200, 429, 429], st
    assert fresh_get(gw).status == 429
    assert u.stats()["requests"] == 2


def test_xff_believed_from_trusted_proxy(upstream, gateway):
    """The peer is trusted: the client is the rightmost X-Forwarded-For entry that is not a
    trusted proxy; entries to its left (spoofable) change nothing."""
    u, gw = limited_gateway(upstream, gateway, {"rate": "2/m", "burst": 2},
                            listener={"trusted_proxies": ["127.0.0.0/8", "10.0.0.0/8"]})

    def get(xff):
        return fresh_get(gw, headers={"X-Forwarded-For": xff} if xff is not None else None).status

    assert [get("203.0.113.5") for _ in range(2)] == [200, 200]
    assert get("203.0.113.5") == 429
    # spoofed entries left of the real client, and trusted hops right of it: still 203.0.113.5
    assert get("1.2.3.4, 203.0.113.5") == 429
    assert get("198.51.100.7, 203.0.113.5, 10.1.2.3") == 429
    # a different client behind the proxies has its own bucket
    assert get("203.0.113.6") == 200
    assert get("203.0.113.5, 10.9.9.9") == 429
    assert get("203.0.113.6, 10.9.9.9") == 200
    assert get("203.0.113.6") == 429
    # without the header the peer itself is the client (a fresh bucket)
    assert [get(None) for _ in range(3)] == [200, 200, 429]


def test_pipelined_requests_refused_in_order_connection_kept(upstream, gateway):
    """Five pipelined GETs with burst 3: 200, 200, 200, 429, 429 in order; a 429 for a
    bodiless request keeps the connection usable."""
    u, gw = limited_gateway(upstream, gateway, {"rate": "3/m", "burst": 3, "key": "header:X-K"})
    with Conn(gw.port) as c:
        c.send(b"".join(build_request("GET", "/echo/p%d" % i, {"X-K": "a"}) for i in range(5)))
        got = [c.read_response() for _ in range(5)]
        assert [r.status for r in got] == [200, 200, 200, 429, 429], got
        assert [r.json()["path"] for r in got[:3]] == ["/echo/p0", "/echo/p1", "/echo/p2"]
        assert [one_member(r, "public")[2] for r in got] == [2, 1, 0, 0, 0], got
        r = c.get("/echo/other", headers={"X-K": "b"})
        assert r.status == 200 and r.json()["path"] == "/echo/other", r
    assert u.stats()["requests"] == 4


# ---------------------------------------------------------------------------
# refusals of requests with bodies
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_refused_request_body_never_parsed_as_a_request(upstream, gateway, chunked):
    """A 429 for a request with an unread body closes the connection (or skips the body):
    a request hidden in the body must never be served. Expect: 100-continue gets the 429
    without a 100 Continue first."""
    u, gw = limited_gateway(upstream, gateway, {"rate": "1/h", "key": "header:X-K"})
    hidden = b"GET /echo/smuggled HTTP/1.1\r\nHost: x\r\nX-K: other\r\n\r\n"
    with Conn(gw.port, timeout=5) as c:
        assert c.get("/echo/first", headers={"X-K": "a"}).status == 200
        c.send(build_request("POST", "/echo/post", {"X-K": "a"}, body=hidden, chunked=chunked))
        r = c.read_response()
        assert r.status == 429, r
        try:
            extra = c.read_response()
        except (NoResponse, IncompleteBody):
            extra = None
        assert extra is None, "the refused request's body was served as a request: %r" % extra
    with Conn(gw.port, timeout=5) as c:
        c.send(b"POST /echo/expect HTTP/1.1\r\nHost: x\r\nX-K: a\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.read_head(allow_interim=False)
        assert r.status == 429, "want the 429 before any 100 Continue: %r" % r
    assert u.stats()["requests"] == 1


def test_key_header_on_several_lines_is_refused(upstream, gateway):
    """A key header sent twice is refused (400 ambiguous_key): a fresh value in front of the
    real key would otherwise get a bucket of its own while the upstream reads the real one."""
    u, gw = limited_gateway(upstream, gateway, {"rate": "1/h", "key": "header:X-K"})
    with Conn(gw.port, timeout=5) as c:
        assert c.get("/echo/a", headers={"X-K": "real"}).status == 200
        assert c.get("/echo/b", headers={"X-K": "real"}).status == 429
    for first in ("fresh-1", "fresh-2", "real"):
        with Conn(gw.port, timeout=5) as c:
            r = c.get("/echo/c", headers=[("X-K", first), ("x-k", "real")])
            assert r.status == 400 and r.header("Connection") == "close", r
            assert c.wait_closed(), "the connection stays open after the 400"
    assert gw.metric("scalegate_rejected_requests_total", listener="public",
                     reason="ambiguous_key") == 3
    assert u.stats()["requests"] == 1
