"""Path normalisation before routing (listener `path_normalization`): spellings of a path
("/x/../login", "/%6cogin", "//login", ...) are one path for routes, rate limits, cache keys
and retries, and the upstream receives the normal form (the query untouched). Encoded slashes
are refused by default, or kept, or decoded; invalid percent-encodings are refused."""
import json

import pytest

from conftest import Conn, build_request, http_get, make_config, raw_request

# Every one of these is /login once normalised (the last two /login/).
BYPASS_VARIANTS = [
    "/x/../login",
    "/%6cogin",
    "/%6C%6F%67%69%6E",
    "//login",
    "///login",
    "/./login",
    "/../login",
    "/x/%2e%2e/login",
    "/x/%2E./login",
    "/a/b/../../login",
    "/login/.",
    "/login/x/%2E%2E",
]


def login_gateway(upstream, gateway, listener=None):
    """Route "login" (prefix /login, 1/m per X-Client) before a catch-all route."""
    u = upstream("u1")
    routes = [
        {"name": "login", "match": {"prefix": "/login"}, "upstream": "u1",
         "rate_limit": {"rate": "1/m", "burst": 1, "key": "header:X-Client"}},
        {"name": "rest", "match": {"prefix": "/"}, "upstream": "u1"},
    ]
    return u, gateway(make_config({"u1": [u]}, routes=routes, listener=listener))


def post(gw, target, client):
    with Conn(gw.port) as c:
        return c.request("POST", target, {"X-Client": client}, body=b"")


def echoed_target(resp):
    assert resp.status == 200, resp
    return json.loads(resp.body)["path"]


@pytest.mark.parametrize("variant", BYPASS_VARIANTS)
def test_bypass_spellings_hit_the_route_and_its_rate_limit(upstream, gateway, variant):
    u, gw = login_gateway(upstream, gateway)
    first = post(gw, variant, "c1")
    assert echoed_target(first) == ("/login/" if variant.startswith("/login/") else "/login"), first
    assert first.header("RateLimit-Policy") is not None, "the login route's limit did not apply"
    second = post(gw, variant, "c1")
    assert second.status == 429, second
    assert post(gw, "/login", "c1").status == 429
    # And the other way round: /login first, then the variant.
    assert post(gw, "/login", "c2").status == 200
    assert post(gw, variant, "c2").status == 429


def test_forwarded_path_is_the_normal_form_and_the_query_is_untouched(upstream, gateway):
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}))
    target = "/a/./b/../c//d/%7euser/caf%c3%a9/%2e?x=%2e%2e/&y=//&z=%6c"
    assert echoed_target(gw.get(target)) == "/a/c/d/~user/caf%C3%A9/?x=%2e%2e/&y=//&z=%6c"
    # An already normal target goes out byte for byte.
    target = "/p/caf%C3%A9/a%20b?q=%2F"
    assert echoed_target(gw.get(target)) == target
    # absolute-form too.
    resp = raw_request(gw.port, b"GET http://gateway.test/x/../y?q HTTP/1.1\r\n\r\n", close_wait=0)
    assert echoed_target(resp) == "/y?q"


@pytest.mark.parametrize("target", ["/a%2Fb", "/a%2fb", "/x/..%2Flogin", "/a%5Cb", "/a%5c..%5clogin",
                                    "/%zz", "/a%4", "/a%"])
def test_escaped_slashes_and_bad_encodings_are_refused_by_default(upstream, gateway, target):
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}))
    status, headers, body, closed = raw_request(gw.port, build_request("GET", target))
    assert status == 400 and closed, (status, headers, body)
    assert gw.metric("scalegate_rejected_requests_total", listener="public", reason="bad_path") == 1
    assert u.stats()["requests"] == 0


def test_raw_backslash_is_refused_by_default(upstream, gateway):
    u = upstream("u1")
    gw = gateway(make_config({"u1": [u]}))
    status, _, _, closed = raw_request(gw.port, build_request("GET", "/x\\..\\login"))
    assert status == 400 and closed
    assert u.stats()["requests"] == 0


def test_kept_escaped_slashes_are_never_separators(upstream, gateway):
    u, gw = login_gateway(upstream, gateway, listener={"path_normalization": {"escaped_slashes": "keep"}})
    # "/x/..%2flogin" is one segment "..%2Flogin" under /x: the catch-all route, no limit.
    for _ in range(2):
        resp = post(gw, "/x/..%2flogin", "c1")
        assert echoed_target(resp) == "/x/..%2Flogin"
        assert resp.header("RateLimit-Policy") is None
    assert echoed_target(post(gw, "/login%2fa%5c", "c2")) == "/login%2Fa%5C"
    assert post(gw, "/login", "c2").status == 429


def test_decoded_escaped_slashes_are_separators(upstream, gateway):
    u, gw = login_gateway(upstream, gateway, listener={"path_normalization": {"escaped_slashes": "decode"}})
    assert echoed_target(post(gw, "/x/..%2flogin", "c1")) == "/login"
    assert post(gw, "/x%5C..%5Clogin", "c1").status == 429


def test_merge_slashes_off_keeps_empty_segments(upstream, gateway):
    u, gw = login_gateway(upstream, gateway, listener={"path_normalization": {"merge_slashes": False}})
    resp = post(gw, "//login", "c1")
    assert echoed_target(resp) == "//login" and resp.header("RateLimit-Policy") is None
    assert echoed_target(post(gw, "/x/../login", "c1")) == "/login"
    assert post(gw, "/login", "c1").status == 429


def test_normalisation_can_be_turned_off(upstream, gateway):
    u, gw = login_gateway(upstream, gateway, listener={"path_normalization": {"enabled": False}})
    for _ in range(2):
        assert echoed_target(post(gw, "/x/../login", "c1")) == "/x/../login"
    assert echoed_target(gw.get("/a%2Fb")) == "/a%2Fb"


def test_cache_key_is_the_normal_path(upstream, gateway):
    u = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1",
               "cache": {"default_ttl": "60s"}}]
    gw = gateway(make_config({"u1": [u]}, routes=routes))
    assert gw.get("/text/a?bytes=10").header("X-Cache") == "MISS"
    for spelling in ("/text/./a?bytes=10", "//text/%61?bytes=10", "/x/../text/a?bytes=10"):
        resp = gw.get(spelling)
        assert resp.status == 200 and resp.header("X-Cache") == "HIT", (spelling, resp)
    assert u.stats()["requests"] == 1


def test_a_retry_sends_the_normal_path(upstream, gateway):
    bad, good = upstream("bad"), upstream("good")
    bad.set_status(503)
    routes = [{"name": "r", "match": {"prefix": "/"}, "upstream": "u1",
               "retries": {"attempts": 1, "on": ["5xx"], "backoff": "1ms"}}]
    gw = gateway(make_config({"u1": [bad, good]}, routes=routes))
    for _ in range(2):  # round robin: one of the two starts at the failing server
        resp = http_get(gw.port, "/x/../echo/%7e")
        assert echoed_target(resp) == "/echo/~"
        assert json.loads(resp.body)["name"] == "good"


def test_an_unsafe_request_spelt_differently_invalidates_the_stored_response(upstream, gateway):
    u = upstream("u1")
    routes = [{"name": "cached", "match": {"prefix": "/"}, "upstream": "u1",
               "cache": {"default_ttl": "60s"}}]
    gw = gateway(make_config({"u1": [u]}, routes=routes))
    assert gw.get("/text/inv?bytes=10").header("X-Cache") == "MISS"
    assert gw.get("/text/inv?bytes=10").header("X-Cache") == "HIT"
    with Conn(gw.port) as c:
        assert c.request("POST", "/x/..//text/%69nv?bytes=10", body=b"x").status == 200
    assert gw.get("/text/inv?bytes=10").header("X-Cache") == "MISS"
