"""Cache freshness rules end to end: targeted cache control (RFC 9213 CDN-Cache-Control and
the gateway's own Scalegate-Cache-Control, route key `targeted_cache_control`), list-valued
Age (first member), Expires with wrong-case names, and heuristic freshness from Last-Modified
(route key `heuristic`).

The upstream is a small in-process server (below) that sends whatever response headers the
request's query names: /p?h=Name:Value&h=...&status=S. Its body counts the requests for the
path ("n=K"), so a HIT shows the stored count."""
import email.utils
import http.server
import threading
import time
import urllib.parse

import pytest

from conftest import http_get, make_config

ROUTE = "cached"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        with self.server.lock:
            self.server.counts[url.path] = self.server.counts.get(url.path, 0) + 1
            n = self.server.counts[url.path]
        status = int(q.get("status", ["200"])[0])
        body = b"" if status == 204 else b"n=%d" % n
        self.send_response(status)
        for h in q.get("h", []):
            name, _, value = h.partition(":")
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def origin():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.counts = {}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def start(gateway, origin, cache=None):
    cache = dict(cache or {})
    cache.setdefault("enabled", True)
    route = {"name": ROUTE, "match": {"prefix": "/"}, "upstream": "u1", "cache": cache}
    addr = "127.0.0.1:%d" % origin.server_address[1]
    return gateway(make_config({"u1": [addr]}, routes=[route]))


def target(path, headers=(), status=None):
    q = [("h", "%s:%s" % h) for h in headers]
    if status is not None:
        q.append(("status", str(status)))
    return path + "?" + urllib.parse.urlencode(q)


def twice(gw, t):
    """The response to a first and a second request for `t`."""
    first = http_get(gw.port, t, host="gateway.test")
    return first, http_get(gw.port, t, host="gateway.test")


def cached(second):
    return second.header("X-Cache") == "HIT"


def http_date(offset):
    return email.utils.formatdate(time.time() + offset, usegmt=True)


# ---------------------------------------------------------------------------
# RFC 9213 targeted cache control
# ---------------------------------------------------------------------------
CDN_CASES = [
    # id, response headers, reused from the cache
    ("cdn-max-age", [("CDN-Cache-Control", "max-age=3600")], True),
    ("cdn-max-age-max-plus", [("CDN-Cache-Control", "max-age=99999999999")], True),
    ("cdn-extension", [("CDN-Cache-Control", "foobar, max-age=3600")], True),
    ("cdn-private", [("CDN-Cache-Control", "private"), ("Cache-Control", "max-age=10000")], False),
    ("cdn-no-cache", [("CDN-Cache-Control", "no-cache"), ("Cache-Control", "max-age=10000")], False),
    ("cdn-no-store-cc-fresh", [("Cache-Control", "max-age=10000"), ("CDN-Cache-Control", "no-store")],
     False),
    ("cdn-fresh-cc-nostore", [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=10000")],
     True),
    ("cdn-max-age-0-expires", [("CDN-Cache-Control", "max-age=0"), ("Expires", "FUTURE")], False),
    ("cdn-max-age-past-expires", [("CDN-Cache-Control", "max-age=3600"), ("Expires", "PAST")], True),
    ("cdn-max-age-invalid-expires", [("CDN-Cache-Control", "max-age=3600"), ("Expires", "0")], True),
    ("cdn-short-beats-cc", [("Cache-Control", "max-age=3600"), ("CDN-Cache-Control", "max-age=0")],
     False),
    ("cdn-invalid-sf-ignored", [("CDN-Cache-Control", "max-age=10000, &&&&&"),
                                ("Cache-Control", "no-store")], False),
    ("cdn-wrong-type-ignored", [("CDN-Cache-Control", 'max-age="10000"'),
                                ("Cache-Control", "no-store")], False),
    ("own-field-first", [("CDN-Cache-Control", "no-store"), ("Scalegate-Cache-Control", "max-age=60")],
     True),
]


@pytest.mark.parametrize("case_id,headers,reused", CDN_CASES, ids=[c[0] for c in CDN_CASES])
def test_targeted_cache_control(gateway, origin, case_id, headers, reused):
    gw = start(gateway, origin)
    dates = {"FUTURE": http_date(10000), "PAST": http_date(-10000)}
    headers = [(k, dates.get(v, v)) for k, v in headers]
    first, second = twice(gw, target("/" + case_id, headers))
    assert first.status == 200 and first.header("X-Cache") == "MISS", first
    assert cached(second) == reused, second
    assert second.body == (b"n=1" if reused else b"n=2")


def test_cdn_field_forwarded_own_field_not_replayed(gateway, origin):
    """CDN-Cache-Control goes on to the client (downstream CDNs use it); Scalegate-Cache-Control
    is for this cache only: neither stored nor passed on, on the miss or on hits."""
    gw = start(gateway, origin)
    t = target("/fwd", [("Cache-Control", "no-cache"), ("CDN-Cache-Control", "max-age=60"),
                        ("Scalegate-Cache-Control", "max-age=60")])
    first, second = twice(gw, t)
    assert cached(second), second
    for r in (first, second):
        assert r.header("CDN-Cache-Control") == "max-age=60", r
        assert r.header("Cache-Control") == "no-cache", r
    assert first.header("Scalegate-Cache-Control") is None, first
    assert second.header("Scalegate-Cache-Control") is None, second


def test_targeted_field_list_is_configurable(gateway, origin):
    """An empty targeted_cache_control list: Cache-Control alone decides."""
    gw = start(gateway, origin, {"targeted_cache_control": []})
    t = target("/conf", [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")])
    _, second = twice(gw, t)
    assert not cached(second), second
    gw2 = start(gateway, origin, {"targeted_cache_control": ["Surrogate-Control"]})
    t = target("/conf2", [("Cache-Control", "no-store"), ("Surrogate-Control", "max-age=60")])
    _, second = twice(gw2, t)
    assert cached(second), second


# ---------------------------------------------------------------------------
# Age lists, lenient dates
# ---------------------------------------------------------------------------
AGE_CASES = [
    ("age-suffix", ["7200, 0"], False),
    ("age-prefix", ["0, 7200"], True),
    ("age-suffix-twoline", ["7200", "0"], False),
    ("age-prefix-twoline", ["0", "7200"], True),
    ("age-nonnumeric", ["abc"], True),
    ("age-float", ["7200.0"], True),
]


@pytest.mark.parametrize("case_id,ages,reused", AGE_CASES, ids=[c[0] for c in AGE_CASES])
def test_list_valued_age_uses_first_member(gateway, origin, case_id, ages, reused):
    gw = start(gateway, origin)
    headers = [("Cache-Control", "max-age=3600")] + [("Age", a) for a in ages]
    _, second = twice(gw, target("/" + case_id, headers))
    assert cached(second) == reused, second


@pytest.mark.parametrize("expires", ["THU, 18 Aug 2050 02:01:18 GMT", "Thu, 18 AUG 2050 02:01:18 GMT",
                                     "Thu, 18 Aug 2050 02:01:18 gMT"])
def test_expires_with_wrong_case_names(gateway, origin, expires):
    gw = start(gateway, origin)
    _, second = twice(gw, target("/expires", [("Expires", expires)]))
    assert cached(second), second


# ---------------------------------------------------------------------------
# heuristic freshness
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("status,reused", [(200, True), (204, True), (404, True), (410, True),
                                           (501, True), (403, False), (502, False), (599, False)])
def test_heuristic_freshness_from_last_modified(gateway, origin, status, reused):
    gw = start(gateway, origin)
    t = target("/h%d" % status, [("Last-Modified", http_date(-86400))], status=status)
    first, second = twice(gw, t)
    assert first.status == status and second.status == status, second
    assert cached(second) == reused, second


def test_heuristic_zero_disables_and_lifetime_is_a_fraction(gateway, origin):
    off = start(gateway, origin, {"heuristic": "0"})
    t = target("/off", [("Last-Modified", http_date(-86400))])
    _, second = twice(off, t)
    assert not cached(second), second
    # 10% of 30 s: fresh for 3 s (less up to 1 s of apparent age from the whole-second Date).
    on = start(gateway, origin, {"heuristic": "10%"})
    t = target("/short", [("Last-Modified", http_date(-30))])
    t0 = time.monotonic()
    _, second = twice(on, t)
    assert cached(second), second
    time.sleep(max(0.0, 4.2 - (time.monotonic() - t0)))
    third = http_get(on.port, t, host="gateway.test")
    assert third.header("X-Cache") != "HIT", third
