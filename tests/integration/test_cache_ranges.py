"""Range requests answered from the cache (RFC 9110 14, RFC 9111 3.3): a GET with one byte
range is looked up like the GET without it; a stored complete 200 answers it with a 206 and
the slice (or a 416 past its end), If-Range decides between the slice and the whole 200,
several ranges get the whole 200, HEAD ignores Range, and a Range miss goes to the upstream
with its Range (its answer is stored: test_cache_partial.py)."""
from conftest import Conn, http_request, qpath
from test_cache import cache_gateway, count, expect, get, head, last_request, route, xc
from upstream_server import text_bytes

LM = "Mon, 01 Jan 2024 00:00:00 GMT"


def stored(upstream, gateway, path, size=1000, cache=None, routes=None, **params):
    """A gateway whose cache holds a complete 200 for `path` (one upstream request)."""
    u, gw = cache_gateway(upstream, gateway, cache or {}, routes=routes)
    target = qpath(path, bytes=size, cache_control="max-age=60", **params)
    expect(get(gw, target), "MISS")
    return u, gw, target


def expect_partial(r, body, first, last):
    expect(r, "HIT", 206)
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (first, last, len(body)), r
    assert r.header("Content-Length") == str(last - first + 1), r
    assert r.body == body[first:last + 1], r


def test_byte_ranges_served_from_a_stored_response(upstream, gateway):
    """bytes=a-b, bytes=a- and bytes=-n from the stored body, with the stored fields; a
    last-byte-pos past the end is clipped, a suffix longer than the body is the whole body;
    the upstream sees only the first request."""
    u, gw, t = stored(upstream, gateway, "/text/r", etag="v1")
    body = text_bytes(1000)
    cases = [("bytes=0-1", 0, 1), ("bytes=10-19", 10, 19), ("bytes=990-", 990, 999),
             ("bytes=-5", 995, 999), ("bytes=0-", 0, 999), ("bytes=500-5000", 500, 999),
             ("bytes=-2000", 0, 999), ("BYTES=1-1", 1, 1)]
    with Conn(gw.port) as c:  # one keep-alive connection: the framing must be right
        for value, first, last in cases:
            r = c.get(t, {"Range": value})
            expect_partial(r, body, first, last)
            assert r.header("ETag") == '"v1"' and r.header("Content-Type") == "text/plain", r
            assert r.header("Age") is not None, r
    assert count(u, "/text/r") == 1


def test_unsatisfiable_range_is_416(upstream, gateway):
    """A first-byte-pos at or past the end, or a zero suffix: 416 with bytes */length and no
    body; the stored response stays usable."""
    u, gw, t = stored(upstream, gateway, "/text/u", size=100)
    for value in ("bytes=100-", "bytes=500-600", "bytes=-0"):
        r = expect(get(gw, t, {"Range": value}), "HIT", 416)
        assert r.header("Content-Range") == "bytes */100", r
        assert r.header("Content-Length") == "0" and r.body == b"", r
        assert r.header("Cache-Control") is None, r  # not a representation to keep
    expect(get(gw, t), "HIT")
    assert count(u, "/text/u") == 1


def test_if_range(upstream, gateway):
    """If-Range with the stored strong ETag or its (strong) Last-Modified: the range; another
    validator, a weak tag or another date: the whole 200 from the cache."""
    u, gw, t = stored(upstream, gateway, "/text/ir", size=200, etag="v1", last_modified=LM)
    body = text_bytes(200)
    for validator in ('"v1"', LM):
        expect_partial(get(gw, t, {"Range": "bytes=5-9", "If-Range": validator}), body, 5, 9)
    for validator in ('"v2"', 'W/"v1"', "Tue, 02 Jan 2024 00:00:00 GMT", "garbage"):
        r = expect(get(gw, t, {"Range": "bytes=5-9", "If-Range": validator}), "HIT")
        assert r.body == body and r.header("Content-Range") is None, r
    # A failed If-Range beats an unsatisfiable range: the whole response.
    r = expect(get(gw, t, {"Range": "bytes=900-", "If-Range": '"v2"'}), "HIT")
    assert r.body == body
    assert count(u, "/text/ir") == 1


def test_weak_etag_never_matches_if_range(upstream, gateway):
    u, gw, t = stored(upstream, gateway, "/text/weak", size=200, weak_etag="v1")
    r = expect(get(gw, t, {"Range": "bytes=0-9", "If-Range": 'W/"v1"'}), "HIT")
    assert r.body == text_bytes(200)


def test_several_or_invalid_ranges_get_the_whole_response(upstream, gateway):
    """Several ranges (in one field or two lines), another unit or invalid syntax: the whole
    stored 200 (a server may ignore Range, RFC 9110 14.2)."""
    u, gw, t = stored(upstream, gateway, "/text/m", size=300)
    for headers in ({"Range": "bytes=0-1,5-6"}, [("Range", "bytes=0-1"), ("Range", "bytes=5-6")],
                    {"Range": "items=0-1"}, {"Range": "bytes=5-1"}, {"Range": "bytes=x-"}):
        r = expect(get(gw, t, headers), "HIT")
        assert r.body == text_bytes(300) and r.header("Content-Range") is None, (headers, r)
    assert count(u, "/text/m") == 1


def test_head_ignores_range(upstream, gateway):
    """RFC 9110 14.2: ranges are defined for GET only; a HEAD with Range gets the 200 head."""
    u, gw, t = stored(upstream, gateway, "/text/h", size=300)
    r = expect(head(gw, t), "HIT")
    r2 = expect(http_request(gw.port, "HEAD", t, {"Range": "bytes=0-1"}), "HIT")
    assert r2.header("Content-Range") is None and r2.body == b"", r2
    assert r2.header("Content-Length") == r.header("Content-Length") == "300", r2
    assert count(u, "/text/h") == 1


def test_range_miss_goes_upstream_and_its_answer_is_stored(upstream, gateway):
    """Nothing stored: the request goes to the upstream with its Range (a MISS: the client's
    conditionals are the cache's to answer, as on any miss); this upstream ignores Range, and
    its complete 200 is stored, so later requests are HITs (stored 206s:
    test_cache_partial.py). Several ranges still bypass the cache."""
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/miss", bytes=300, cache_control="max-age=60")
    r = expect(get(gw, t, {"Range": "bytes=0-9", "If-None-Match": '"zz"'}), "MISS")
    assert r.body == text_bytes(300)  # this upstream ignores Range
    sent = last_request(u, "/text/miss")["headers"]
    assert sent.get("range") == "bytes=0-9" and "if-none-match" not in sent, sent
    expect(get(gw, t), "HIT")
    expect_partial(get(gw, t, {"Range": "bytes=0-9"}), text_bytes(300), 0, 9)
    assert count(u, "/text/miss") == 1
    t2 = qpath("/text/miss2", bytes=300, cache_control="max-age=60")
    expect(get(gw, t2, {"Range": "bytes=0-1,5-6"}), "BYPASS")
    expect(get(gw, t2), "MISS")


def test_stale_entry_revalidated_for_a_range(upstream, gateway):
    """A stale stored response is revalidated with the Range request's conditional; the 304
    freshens it and the range is served from it."""
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/stale", bytes=300, cache_control="max-age=0", etag="s1")
    expect(get(gw, t), "MISS")
    r = get(gw, t, {"Range": "bytes=3-7"})
    assert xc(r) == "REVALIDATED" and r.status == 206, r
    assert r.header("Content-Range") == "bytes 3-7/300" and r.body == text_bytes(300)[3:8], r
    sent = last_request(u, "/text/stale")["headers"]
    assert sent.get("if-none-match") == '"s1"', sent


def test_client_conditional_beats_range(upstream, gateway):
    """If-None-Match is evaluated before Range (RFC 9110 13.2.2): a matching tag is a 304."""
    u, gw, t = stored(upstream, gateway, "/text/c", size=200, etag="v1")
    r = expect(get(gw, t, {"Range": "bytes=0-9", "If-None-Match": '"v1"'}), "HIT", 304)
    assert r.header("Content-Range") is None and r.body == b"", r


def test_partial_response_is_not_compressed(upstream, gateway):
    """A compressing route sends the range of the stored bytes as they are."""
    routes = [route({}, compression={"algorithms": ["gzip"], "min_size": 10})]
    u, gw, t = stored(upstream, gateway, "/text/z", size=5000, routes=routes)
    r = get(gw, t, {"Range": "bytes=100-199", "Accept-Encoding": "gzip"})
    expect_partial(r, text_bytes(5000), 100, 199)
    assert r.header("Content-Encoding") is None, r
    whole = expect(get(gw, t, {"Accept-Encoding": "gzip"}), "HIT")
    assert whole.header("Content-Encoding") == "gzip", whole
