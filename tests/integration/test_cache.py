"""Response cache (route `cache`, top-level `cache`): RFC 9111 storage rules as a table, X-Cache
and Age on hits, freshness (max-age, s-maxage, Expires, default_ttl, force_ttl), revalidation
with ETag / Last-Modified (no-cache, expired entries, 304 freshening), Vary and configured key
variants, HEAD from a stored GET, client conditionals, invalidation by unsafe methods,
requests that bypass the cache, purging on the admin listener and the metrics.
Collapsing, stale serving and the memory bound are in test_cache_protection.py.

Every test reads what is observable: the X-Cache header, the body (the upstream's `stamp`
counter tells a refreshed copy from the stored one) and the upstream's per-path request count
and last request headers (/stats?path=P)."""
import time
import urllib.parse

import pytest

from conftest import Conn, build_request, http_get, http_request, make_config, metric_value, qpath
from upstream_server import text_bytes

ROUTE = "cached"
LAB = dict(listener="public", route=ROUTE)
LM = "Mon, 01 Jan 2024 00:00:00 GMT"
AUTH = {"Authorization": "Bearer secret"}


# ---------------------------------------------------------------------------
# helpers (also used by test_cache_protection.py)
# ---------------------------------------------------------------------------
def route(cache=None, prefix="/", name=ROUTE, **extra):
    r = {"name": name, "match": {"prefix": prefix}, "upstream": "u1"}
    if cache is not None:
        r["cache"] = dict(cache) if cache else {"enabled": True}
    r.update(extra)
    return r


def cache_gateway(upstream, gateway, cache=None, routes=None, workers=1, top=None, upstream_opts=None):
    """One upstream u1 and a gateway whose single route "cached" (prefix /) has `cache`
    (unless `routes` is given)."""
    u = upstream("u1")
    kw = {"cache": top} if top is not None else {}
    cfg = make_config({"u1": [u]}, routes=routes or [route(cache or {})], workers=workers,
                      upstream_opts=upstream_opts, **kw)
    return u, gateway(cfg)


def path_stats(u, path):
    r = http_get(u.port, "/stats?" + urllib.parse.urlencode({"path": path}), host="127.0.0.1:%d" % u.port,
                 timeout=10)
    assert r.status == 200, r
    return r.json()


def count(u, path):
    """Requests the upstream received for `path` (query ignored)."""
    return path_stats(u, path)["count"]


def last_request(u, path):
    """{"method", "target", "headers"} of the upstream's last request for `path`."""
    last = path_stats(u, path)["last"]
    assert last is not None, "the upstream saw no request for %s" % path
    return last


def xc(r):
    return r.header("X-Cache")


def expect(r, result, status=200):
    assert r.status == status and xc(r) == result, "expected %d X-Cache %s, got %r" % (status, result, r)
    return r


def get(gw, target, headers=None, host="gateway.test"):
    return http_get(gw.port, target, headers, host=host)


def head(gw, target, headers=None):
    with Conn(gw.port) as c:
        return c.request("HEAD", target, headers)


def age(r):
    a = r.header("Age")
    assert a is not None and a.isdigit(), "no integral Age header: %r" % r
    return int(a)


def stamp(r):
    s = r.header("X-Stamp")
    assert s is not None and r.body.startswith(b"stamp %s\n" % s.encode()), "unstamped response %r" % r
    return int(s)


def sleep_past(t0, seconds=1.5):
    """Sleeps until `seconds` after the monotonic time t0 (an entry with max-age=1 is stale)."""
    time.sleep(max(0.0, seconds - (time.monotonic() - t0)))


# ---------------------------------------------------------------------------
# storage rules: each row sends the same request twice (and, for requests with their own
# headers, a third one without them); stored -> HIT and one upstream request
# ---------------------------------------------------------------------------
RFC_CASES = [
    # id, /text params, request headers, stored
    ("heuristic-200-default-ttl", {}, None, True),
    ("max-age", {"cache_control": "max-age=60"}, None, True),
    ("s-maxage", {"cache_control": "s-maxage=60"}, None, True),
    ("public-default-ttl", {"cache_control": "public"}, None, True),
    ("no-store", {"cache_control": "no-store, max-age=60"}, None, False),
    ("private", {"cache_control": "private, max-age=60"}, None, False),
    ("must-understand-overrides-no-store", {"cache_control": "must-understand, no-store, max-age=60"}, None, True),
    ("max-age-0", {"cache_control": "max-age=0"}, None, False),
    ("request-no-store", {"cache_control": "max-age=60"}, {"Cache-Control": "no-store"}, False),
    ("set-cookie", {"set_cookie": "sid=1"}, None, False),
    ("set-cookie-public", {"cache_control": "public, max-age=60", "set_cookie": "sid=1"}, None, False),
    ("vary-star", {"cache_control": "max-age=60", "vary": "*"}, None, False),
    ("vary-header-same-value", {"cache_control": "max-age=60", "vary": "Accept-Language"},
     {"Accept-Language": "en"}, True),
    ("expires-future", {"expires": 60}, None, True),
    ("expires-past", {"expires": -60}, None, False),
    ("expires-invalid", {"expires_raw": "0"}, None, False),
    ("max-age-beats-expires", {"cache_control": "max-age=60", "expires": -60}, None, True),
    ("s-maxage-beats-max-age-0", {"cache_control": "max-age=0, s-maxage=60"}, None, True),
    ("authorization", {}, AUTH, False),
    ("authorization-max-age", {"cache_control": "max-age=60"}, AUTH, False),
    ("authorization-public", {"cache_control": "public, max-age=60"}, AUTH, True),
    ("authorization-s-maxage", {"cache_control": "s-maxage=60"}, AUTH, True),
    ("authorization-must-revalidate", {"cache_control": "max-age=60, must-revalidate"}, AUTH, True),
    ("body-fits-max-object-size", {"bytes": 4000}, None, True),
    ("body-over-max-object-size", {"bytes": 8000, "cache_control": "max-age=60"}, None, False),
] + [("status-%d-heuristic" % s, {"status": s}, None, True)
     for s in (203, 204, 300, 301, 308, 404, 405, 410, 414, 501)] \
  + [("status-%d-plain" % s, {"status": s}, None, False) for s in (201, 302, 307, 403, 500)] \
  + [("status-%d-max-age" % s, {"status": s, "cache_control": "max-age=60"}, None, True) for s in (302, 307, 403)] \
  + [("status-201-public", {"status": 201, "cache_control": "public"}, None, True)]


@pytest.mark.parametrize("params,req,stored", [c[1:] for c in RFC_CASES], ids=[c[0] for c in RFC_CASES])
def test_rfc9111_storage_rules(upstream, gateway, params, req, stored):
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s", "max_object_size": "4KiB"})
    p = {"bytes": 1000}
    p.update(params)
    target = qpath("/text/rfc", **p)
    first = expect(get(gw, target, req), "MISS", p.get("status", 200))
    second = get(gw, target, req)
    assert second.status == first.status, second
    if stored:
        expect(second, "HIT", first.status)
        assert second.body == first.body
        if first.status != 204:
            assert second.header("Content-Length") == str(len(first.body)), second
        assert count(u, "/text/rfc") == 1
    else:
        expect(second, "MISS", first.status)
        assert count(u, "/text/rfc") == 2
        if req:
            expect(get(gw, target), "MISS", first.status)
            assert count(u, "/text/rfc") == 3


def test_default_ttl_and_force_ttl(upstream, gateway):
    """No default_ttl: a response without freshness or validator is not reused; with a
    validator it is revalidated. force_ttl overrides max-age=0 and an expired Expires but does
    not make no-store storable. An explicit max-age=0 beats default_ttl."""
    routes = [route({}, "/text/none/", "none"),
              route({"force_ttl": "60s"}, "/text/force/", "force"),
              route({"default_ttl": "60s"}, "/text/default/", "default")]
    u, gw = cache_gateway(upstream, gateway, routes=routes)
    cases = [("/text/none/a", {}, "MISS"), ("/text/none/b", {"etag": "v1"}, "REVALIDATED"),
             ("/text/force/a", {"cache_control": "max-age=0"}, "HIT"),
             ("/text/force/b", {"expires": -60}, "HIT"),
             ("/text/force/c", {"cache_control": "no-store"}, "MISS"),
             ("/text/default/a", {"cache_control": "max-age=0"}, "MISS"),
             ("/text/default/b", {}, "HIT")]
    for path, params, second in cases:
        target = qpath(path, bytes=300, **params)
        expect(get(gw, target), "MISS")
        r = get(gw, target)
        assert xc(r) == second and r.status == 200, "%s: second request %r" % (path, r)
        assert count(u, path) == (1 if second == "HIT" else 2), path


def test_hit_serves_stored_response_and_survives_upstream_loss(upstream, gateway):
    """A hit carries the stored headers and body with a Content-Length (also when the upstream
    sent it chunked); a route without `cache` has no X-Cache; hits need no upstream."""
    routes = [route(None, "/echo", "plain"), route({"default_ttl": "60s"})]
    u, gw = cache_gateway(upstream, gateway, routes=routes)
    r = get(gw, "/echo/x")
    assert r.status == 200 and xc(r) is None, r
    target = "/text-chunked?bytes=3000&pieces=3"
    a = expect(get(gw, target), "MISS")
    assert a.body == text_bytes(3000)
    b = expect(get(gw, target), "HIT")
    assert b.body == a.body
    assert b.header("Content-Length") == "3000" and b.header("Transfer-Encoding") is None, b
    assert b.header("Content-Type") == "text/plain" and b.header("X-Upstream") == "u1", b
    assert count(u, "/text-chunked") == 1
    u.kill()
    c = expect(get(gw, target), "HIT")
    assert c.body == a.body


def test_age_grows_and_counts_upstream_age(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/age", bytes=200, cache_control="max-age=60")
    expect(get(gw, t), "MISS")
    t0 = time.monotonic()
    assert age(expect(get(gw, t), "HIT")) in (0, 1)
    sleep_past(t0, 1.1)
    assert age(expect(get(gw, t), "HIT")) >= 1
    # an Age from the upstream counts; one over max-age makes the response stale on arrival
    t2 = qpath("/text/age2", bytes=200, cache_control="max-age=60", age=30)
    expect(get(gw, t2), "MISS")
    assert 30 <= age(expect(get(gw, t2), "HIT")) <= 32
    t3 = qpath("/text/age3", bytes=200, cache_control="max-age=60", age=100)
    expect(get(gw, t3), "MISS")
    expect(get(gw, t3), "MISS")
    assert count(u, "/text/age") == 1 and count(u, "/text/age2") == 1 and count(u, "/text/age3") == 2


def test_s_maxage_wins_over_max_age(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    long_shared = qpath("/text/sm1", bytes=300, cache_control="max-age=1, s-maxage=60")
    short_shared = qpath("/text/sm2", bytes=300, cache_control="max-age=60, s-maxage=1")
    t0 = time.monotonic()
    expect(get(gw, long_shared), "MISS")
    expect(get(gw, short_shared), "MISS")
    sleep_past(t0)
    expect(get(gw, long_shared), "HIT")
    expect(get(gw, short_shared), "MISS")
    assert count(u, "/text/sm1") == 1 and count(u, "/text/sm2") == 2


# ---------------------------------------------------------------------------
# revalidation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("validator", ["etag", "last_modified"])
@pytest.mark.parametrize("cc", ["no-cache", "max-age=1"])
def test_revalidation_with_validators(upstream, gateway, validator, cc):
    """no-cache: stored, revalidated before every use. max-age=1: revalidated once stale, and
    the 304 freshens the entry. The cache sends If-None-Match with the stored ETag, or
    If-Modified-Since with the stored Last-Modified; the 304's headers replace the stored ones;
    the stored body is served (REVALIDATED)."""
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"})
    p = {"bytes": 800, "cache_control": cc, "stamp": 1}
    p.update({"etag": "v1"} if validator == "etag" else {"last_modified": LM})
    t = qpath("/text/reval", **p)
    t0 = time.monotonic()
    first = expect(get(gw, t), "MISS")
    sent = last_request(u, "/text/reval")["headers"]
    assert "if-none-match" not in sent and "if-modified-since" not in sent, sent
    rounds = 2 if cc == "no-cache" else 1
    for i in range(rounds):
        if cc != "no-cache":
            sleep_past(t0)
        r = expect(get(gw, t), "REVALIDATED")
        assert r.body == first.body and stamp(r) == stamp(first)
        assert r.header("Content-Length") == str(len(first.body)) and age(r) >= 0, r
        assert r.header("X-Validated") == str(i + 1), "the 304's headers were not applied: %r" % r
        sent = last_request(u, "/text/reval")["headers"]
        if validator == "etag":
            assert sent.get("if-none-match") == '"v1"', sent
        else:
            assert sent.get("if-modified-since") == LM and "if-none-match" not in sent, sent
        assert count(u, "/text/reval") == i + 2
    if cc != "no-cache":
        r = expect(get(gw, t), "HIT")
        assert r.header("X-Validated") == "1" and r.body == first.body, r
        assert count(u, "/text/reval") == 2
    assert gw.metric("scalegate_cache_revalidations_total", result="not_modified", **LAB) == rounds


def test_revalidation_answered_with_200_replaces_entry(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"})
    t = qpath("/text/mod", bytes=500, etag="v1", cache_control="max-age=1")
    t0 = time.monotonic()
    expect(get(gw, t), "MISS")
    sleep_past(t0)
    u.set_status(200)  # a new representation (no ETag, default_ttl applies)
    r = expect(get(gw, t), "MISS")
    assert r.body == b"forced status 200\n"
    assert last_request(u, "/text/mod")["headers"].get("if-none-match") == '"v1"'
    assert gw.metric("scalegate_cache_revalidations_total", result="modified", **LAB) == 1
    u.set_status(0)
    r = expect(get(gw, t), "HIT")
    assert r.body == b"forced status 200\n"
    assert count(u, "/text/mod") == 2


# ---------------------------------------------------------------------------
# variants and keys
# ---------------------------------------------------------------------------
def test_vary_keeps_a_variant_per_request_value(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/vary", bytes=300, cache_control="max-age=60", vary="Accept-Language", stamp=1)
    en = {"Accept-Language": "en"}
    fr = {"Accept-Language": "fr"}
    s_en = stamp(expect(get(gw, t, en), "MISS"))
    s_fr = stamp(expect(get(gw, t, fr), "MISS"))
    s_none = stamp(expect(get(gw, t), "MISS"))
    assert len({s_en, s_fr, s_none}) == 3
    assert stamp(expect(get(gw, t, en), "HIT")) == s_en
    assert stamp(expect(get(gw, t, fr), "HIT")) == s_fr
    assert stamp(expect(get(gw, t), "HIT")) == s_none
    assert stamp(expect(get(gw, t, {"Accept-Language": "de"}), "MISS")) not in (s_en, s_fr, s_none)
    assert count(u, "/text/vary") == 4


def test_configured_key_headers_and_query(upstream, gateway):
    """key.headers: a variant per value (no Vary needed), all dropped by one invalidation.
    key.query none: the query is ignored; a list: only those parameters count."""
    routes = [route({"default_ttl": "60s", "key": {"headers": ["x-tenant"]}}, "/text/keyed/", "keyed"),
              route({"default_ttl": "60s", "key": {"query": "none"}}, "/text/qnone/", "qnone"),
              route({"default_ttl": "60s", "key": {"query": ["bytes"]}}, "/text/qnames/", "qnames")]
    u, gw = cache_gateway(upstream, gateway, routes=routes)
    t = "/text/keyed/a?bytes=200&stamp=1"
    t1, t2 = {"X-Tenant": "one"}, {"X-Tenant": "two"}
    s1 = stamp(expect(get(gw, t, t1), "MISS"))
    s2 = stamp(expect(get(gw, t, t2), "MISS"))
    assert s1 != s2
    assert stamp(expect(get(gw, t, t1), "HIT")) == s1
    assert stamp(expect(get(gw, t, t2), "HIT")) == s2
    expect(http_request(gw.port, "POST", t, body=b"x"), "BYPASS")
    expect(get(gw, t, t1), "MISS")
    expect(get(gw, t, t2), "MISS")
    assert count(u, "/text/keyed/a") == 5

    a = expect(get(gw, "/text/qnone/a?bytes=100&stamp=1"), "MISS")
    b = expect(get(gw, "/text/qnone/a?bytes=200&stamp=1"), "HIT")
    assert b.body == a.body and len(b.body) == 100
    expect(get(gw, "/text/qnone/b?bytes=100"), "MISS")

    a = expect(get(gw, "/text/qnames/a?bytes=100&stamp=1&x=1"), "MISS")
    b = expect(get(gw, "/text/qnames/a?x=2&bytes=100&stamp=1"), "HIT")
    assert b.body == a.body
    expect(get(gw, "/text/qnames/a?bytes=101&stamp=1&x=1"), "MISS")
    assert count(u, "/text/qnone/a") == 1 and count(u, "/text/qnames/a") == 2


# ---------------------------------------------------------------------------
# HEAD and conditional requests
# ---------------------------------------------------------------------------
def test_head_served_from_stored_get(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/head", bytes=1234, cache_control="max-age=60")
    g = expect(get(gw, t), "MISS")
    h = expect(head(gw, t), "HIT")
    assert h.body == b"" and h.header("Content-Length") == g.header("Content-Length") == "1234", h
    assert count(u, "/text/head") == 1
    # a HEAD miss is forwarded as HEAD and stores nothing
    t2 = qpath("/text/head2", bytes=1234, cache_control="max-age=60")
    h2 = expect(head(gw, t2), "MISS")
    assert h2.header("Content-Length") == "1234", h2
    assert last_request(u, "/text/head2")["method"] == "HEAD"
    g2 = expect(get(gw, t2), "MISS")
    assert len(g2.body) == 1234 and last_request(u, "/text/head2")["method"] == "GET"
    expect(head(gw, t2), "HIT")
    assert count(u, "/text/head2") == 2


def test_client_if_none_match_answered_from_cache(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/inm", bytes=900, etag="v1", cache_control="max-age=60")
    full = expect(get(gw, t), "MISS")
    for inm in ('"v1"', 'W/"v1"', '"x", "v1"', "*"):
        r = expect(get(gw, t, {"If-None-Match": inm}), "HIT", 304)
        assert r.body == b"" and r.header("ETag") == '"v1"', r
    r = expect(get(gw, t, {"If-None-Match": '"other"'}), "HIT")
    assert r.body == full.body
    assert count(u, "/text/inm") == 1


def test_client_conditionals_not_forwarded_on_miss(upstream, gateway):
    """On a miss the upstream sees an unconditional GET, so the full response is stored."""
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/cond", bytes=700, etag="v1", last_modified=LM, cache_control="max-age=60")
    r = get(gw, t, {"If-None-Match": '"v1"', "If-Modified-Since": LM})
    assert xc(r) == "MISS" and r.status in (200, 304), r
    if r.status == 200:
        assert len(r.body) == 700
    sent = last_request(u, "/text/cond")["headers"]
    assert "if-none-match" not in sent and "if-modified-since" not in sent, sent
    r = expect(get(gw, t), "HIT")
    assert r.body == text_bytes(700)
    assert count(u, "/text/cond") == 1


# ---------------------------------------------------------------------------
# invalidation and bypass
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_method_invalidates(upstream, gateway, method):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/inv", bytes=500, cache_control="max-age=60", stamp=1)
    old = stamp(expect(get(gw, t), "MISS"))
    expect(get(gw, t), "HIT")
    r = http_request(gw.port, method, t, body=None if method == "DELETE" else b"payload")
    expect(r, "BYPASS")
    assert last_request(u, "/text/inv")["method"] == method
    new = stamp(expect(get(gw, t), "MISS"))
    assert new != old
    assert stamp(expect(get(gw, t), "HIT")) == new
    assert count(u, "/text/inv") == 3


def test_failed_unsafe_request_does_not_invalidate(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/inv", bytes=500, cache_control="max-age=60")
    expect(get(gw, t), "MISS")
    u.set_status(500)
    expect(http_request(gw.port, "POST", t, body=b"x"), "BYPASS", 500)
    u.set_status(0)
    expect(get(gw, t), "HIT")
    assert count(u, "/text/inv") == 2


# Range requests are answered from the cache (test_cache_ranges.py).
BYPASS_CASES = [("get-with-body", "GET", None, b"hello"),
                ("options", "OPTIONS", None, None)]


@pytest.mark.parametrize("method,headers,body", [c[1:] for c in BYPASS_CASES], ids=[c[0] for c in BYPASS_CASES])
def test_bypass_requests(upstream, gateway, method, headers, body):
    """Requests with a body and methods other than GET/HEAD go to the upstream
    uncached: neither served from nor stored in the cache, and (safe) they invalidate nothing."""
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/byp", bytes=400, cache_control="max-age=60")
    expect(get(gw, t), "MISS")
    expect(get(gw, t), "HIT")
    r = http_request(gw.port, method, t, headers, body=body)
    assert xc(r) == "BYPASS", r
    sent = last_request(u, "/text/byp")
    assert sent["method"] == method and count(u, "/text/byp") == 2
    if headers:
        assert sent["headers"].get("range") == "bytes=0-9", sent
    expect(get(gw, t), "HIT")
    fresh = qpath("/text/byp2", bytes=400, cache_control="max-age=60")
    assert xc(http_request(gw.port, method, fresh, headers, body=body)) == "BYPASS"
    expect(get(gw, fresh), "MISS")
    assert count(u, "/text/byp2") == 2


def test_upgrade_bypasses_and_tunnels(upstream, gateway):
    """An upgrade request is a BYPASS, whether the upstream declines it (200, not stored) or
    switches protocols (101, then the tunnel)."""
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"})
    t = qpath("/text/upg", bytes=100, cache_control="max-age=60")
    expect(get(gw, t, {"Upgrade": "websocket", "Connection": "Upgrade"}), "BYPASS")
    expect(get(gw, t), "MISS")
    with Conn(gw.port) as c:
        c.send(build_request("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]))
        r = c.read_head()
        assert r.status == 101 and xc(r) == "BYPASS", r
        c.send(b"ping through the tunnel")
        got = bytearray()
        while True:
            got += c.buf
            c.buf.clear()
            if len(got) >= 23 or not c._fill():
                break
        assert bytes(got) == b"ping through the tunnel"


# ---------------------------------------------------------------------------
# purge and the admin view
# ---------------------------------------------------------------------------
def purge(gw, **params):
    return gw.admin_request("DELETE", "/admin/cache?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote))


def test_purge_by_key_and_prefix(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"})
    targets = ["/text/p/a/1?bytes=100", "/text/p/a/2?bytes=100", "/text/p/b/1?bytes=100"]
    for t in targets:
        expect(get(gw, t), "MISS")
    other_host = "Shop.Example:8080"
    expect(get(gw, targets[0], host=other_host), "MISS")
    r = gw.admin_get("/admin/cache")
    assert r.status == 200, r
    doc = r.json()
    assert doc["entries"] == 4 and 0 < doc["bytes"] <= doc["capacity"], doc

    r = purge(gw, key="gateway.test" + targets[0])
    assert r.status == 200 and r.json() == {"purged": 1}, r
    expect(get(gw, targets[0]), "MISS")
    expect(get(gw, targets[0], host=other_host), "HIT")  # another host, another key
    r = purge(gw, key="gateway.test/text/p/nothing")
    assert r.status == 200 and r.json() == {"purged": 0}, r

    r = purge(gw, prefix="gateway.test/text/p/a/")
    assert r.status == 200 and r.json() == {"purged": 2}, r
    expect(get(gw, targets[0]), "MISS")
    expect(get(gw, targets[1]), "MISS")
    expect(get(gw, targets[2]), "HIT")

    r = purge(gw, key="shop.example:8080" + targets[0])
    assert r.status == 200 and r.json() == {"purged": 1}, r
    expect(get(gw, targets[0], host=other_host), "MISS")
    assert count(u, "/text/p/a/1") == 5 and count(u, "/text/p/b/1") == 1
    assert gw.admin_get("/admin/cache").json()["entries"] == 4


def test_purge_needs_exactly_one_of_key_and_prefix(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"})
    expect(get(gw, "/text/x?bytes=10"), "MISS")
    for path in ("/admin/cache", "/admin/cache?key=gateway.test%2Ftext%2Fx%3Fbytes%3D10&prefix=gateway.test"):
        r = gw.admin_request("DELETE", path)
        assert r.status == 400, "%s: %r" % (path, r)
    expect(get(gw, "/text/x?bytes=10"), "HIT")
    r = purge(gw, key="gateway.test/text/x?bytes=10")
    assert r.status == 200 and r.json() == {"purged": 1}, r


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
def test_metrics_after_a_known_sequence(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"}, top={"memory": "64MiB"})
    a = qpath("/text/ma", bytes=1000, cache_control="max-age=60")
    b = qpath("/text/mb", bytes=1000, cache_control="max-age=1", etag="b1")
    c = qpath("/text/mc", bytes=1000, cache_control="no-store")
    expect(get(gw, a), "MISS")
    expect(get(gw, a), "HIT")
    expect(head(gw, a), "HIT")
    expect(http_request(gw.port, "POST", a, body=b"x"), "BYPASS")
    expect(get(gw, a), "MISS")
    t0 = time.monotonic()
    expect(get(gw, b), "MISS")
    sleep_past(t0)
    expect(get(gw, b), "REVALIDATED")
    expect(get(gw, c), "MISS")
    expect(get(gw, a, {"Range": "bytes=0-1"}), "HIT", 206)
    text = gw.metrics_text()

    def m(name, **labels):
        return metric_value(text, name, **dict(LAB, **labels))

    results = {r: m("scalegate_cache_responses_total", result=r)
               for r in ("hit", "miss", "stale", "revalidated", "bypass")}
    assert results == {"hit": 3, "miss": 4, "stale": 0, "revalidated": 1, "bypass": 1}, results
    assert m("scalegate_cache_revalidations_total", result="not_modified") == 1
    assert m("scalegate_cache_revalidations_total", result="modified") == 0
    assert m("scalegate_cache_revalidations_total", result="failed") == 0
    assert m("scalegate_cache_stores_total") in (3, 4)  # a, a again, b (+ the 304 freshening)
    assert m("scalegate_cache_collapsed_total") == 0
    assert m("scalegate_cache_evictions_total") == 0
    assert m("scalegate_cache_entries") == 2
    assert 2000 < m("scalegate_cache_bytes") < 64 * 1024
    cap = metric_value(text, "scalegate_cache_capacity_bytes")
    assert 63 * 1024 * 1024 < cap <= 64 * 1024 * 1024, cap
    doc = gw.admin_get("/admin/cache").json()
    assert doc["entries"] == 2 and doc["capacity"] == cap, doc
