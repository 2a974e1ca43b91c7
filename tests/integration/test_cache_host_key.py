"""Cache keys name the host as routing sees it: lower-case, port ignored. Host spellings
that reach the same route share one entry, and admin purges accept any of them."""
import urllib.parse

from conftest import http_get, make_config

SPELLINGS = ["t", "t:1", "T:0001", "T", "t:80"]


def cache_gateway(upstream, gateway):
    u = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/", "host": "t"}, "upstream": "u1",
               "cache": {"default_ttl": "60s"}}]
    return u, gateway(make_config({"u1": [u]}, routes=routes))


def purge(gw, **params):
    return gw.admin_request("DELETE", "/admin/cache?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote))


def fill(gw, u, target):
    """Every spelling of the host gets the same entry: one miss, then hits."""
    results = [http_get(gw.port, target, host=h).header("X-Cache") for h in SPELLINGS]
    assert results == ["MISS"] + ["HIT"] * (len(SPELLINGS) - 1), results


def test_host_spellings_share_one_entry(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway)
    fill(gw, u, "/text/a?bytes=10")
    assert u.stats()["requests"] == 1
    assert gw.admin_get("/admin/cache").json()["entries"] == 1


def test_purges_reach_the_entry_whatever_the_host_spelling(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway)
    fill(gw, u, "/text/a?bytes=10")
    fill(gw, u, "/text/b?bytes=10")
    r = purge(gw, key="T:0001/text/a?bytes=10")
    assert r.status == 200 and r.json() == {"purged": 1}, r
    r = purge(gw, prefix="t:1")
    assert r.status == 200 and r.json() == {"purged": 1}, r
    assert gw.admin_get("/admin/cache").json()["entries"] == 0
    for target in ("/text/a?bytes=10", "/text/b?bytes=10"):
        assert http_get(gw.port, target, host="T:1").header("X-Cache") == "MISS"
