"""Partial responses in the cache (RFC 9111 3.3, 3.4): a 206 to a one-range GET is stored as
a partial entry; later ranges wholly inside it are answered from it (206, or 416 past the
end), other ranges go to the upstream; a request for the whole resource never gets the
partial entry as if complete; HEAD is forwarded; a stale partial entry is revalidated."""
import re

from conftest import Conn, make_config, metric_value
from scripted_upstream import ScriptedUpstream
from test_cache import expect, get, head, route, xc

BODY = bytes((48 + i % 10) for i in range(100))  # "0123456789" ten times


class RangeOrigin:
    """A resource of BODY with a strong ETag that honours one byte range (and If-Range);
    `mode` "ignore" answers every request with the whole 200."""

    def __init__(self, etag='"v1"', cache_control="max-age=3600", body=BODY, vary=None):
        self.etag = etag
        self.vary = vary
        self.cache_control = cache_control
        self.body = body
        self.mode = "ranges"
        self.seen = []  # request headers, in order
        self.server = ScriptedUpstream(self.handle)

    def fields(self):
        out = [("Cache-Control", self.cache_control), ("X-Origin", "yes")]
        out += [("Vary", self.vary)] if self.vary else []
        return out + ([("ETag", self.etag)] if self.etag else [])

    def slice(self, value):
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", value or "")
        if not m or self.mode == "ignore":
            return None
        n = len(self.body)
        if m.group(1) == "":
            return max(0, n - int(m.group(2))), n - 1
        last = int(m.group(2)) if m.group(2) else n - 1
        return int(m.group(1)), min(last, n - 1)

    def handle(self, ex):
        self.seen.append(dict((k, v[-1]) for k, v in ex.headers.items()))
        if ex.header("if-none-match") and ex.header("if-none-match") == self.etag:
            ex.send(("HTTP/1.1 304 Not Modified\r\nETag: %s\r\nCache-Control: %s\r\n\r\n"
                     % (self.etag, self.cache_control)).encode())
            return True
        if ex.method == "HEAD":
            lines = ["HTTP/1.1 200 OK", "Content-Length: %d" % len(self.body)]
            lines += ["%s: %s" % f for f in self.fields()]
            ex.send(("\r\n".join(lines) + "\r\n\r\n").encode())
            return True
        span = self.slice(ex.header("range"))
        if_range = ex.header("if-range")
        if span and (if_range is None or if_range == self.etag):
            first, last = span
            ex.respond(206, self.body[first:last + 1], self.fields() + [
                ("Content-Range", "bytes %d-%d/%d" % (first, last, len(self.body)))])
        else:
            ex.respond(200, self.body, self.fields())
        return True


def start(gateway, origin):
    return gateway(make_config({"app": [origin.server.address]}, workers=1,
                               routes=[route({}, name="cached") | {"upstream": "app"}]))


def expect_slice(r, result, first, last, body=BODY):
    expect(r, result, 206)
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (first, last, len(body)), r
    assert r.header("Content-Length") == str(last - first + 1), r
    assert r.body == body[first:last + 1], r


def test_partial_response_stored_and_ranges_inside_it_reused(gateway):
    """bytes=-5 stores bytes 95-99; the same range, a byte-range-spec, an absent
    last-byte-pos and a suffix inside it are answered from it with the stored fields."""
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        t = "/video"
        expect_slice(get(gw, t, {"Range": "bytes=-5"}), "MISS", 95, 99)
        assert origin.seen[-1]["range"] == "bytes=-5"
        for value, first, last in [("bytes=-5", 95, 99), ("bytes=96-98", 96, 98),
                                   ("bytes=97-", 97, 99), ("bytes=-1", 99, 99),
                                   ("bytes=95-500", 95, 99)]:
            r = get(gw, t, {"Range": value})
            expect_slice(r, "HIT", first, last)
            assert r.header("ETag") == '"v1"' and r.header("X-Origin") == "yes", r
            assert r.header("Age") is not None, r
        assert len(origin.seen) == 1
    finally:
        origin.server.stop()


def test_range_outside_the_stored_bytes_is_forwarded(gateway):
    """A range needing bytes the partial entry lacks goes to the upstream with its Range;
    its 206 is stored in turn."""
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        t = "/outside"
        expect_slice(get(gw, t, {"Range": "bytes=90-99"}), "MISS", 90, 99)
        expect_slice(get(gw, t, {"Range": "bytes=0-9"}), "MISS", 0, 9)
        assert origin.seen[-1]["range"] == "bytes=0-9"
        expect_slice(get(gw, t, {"Range": "bytes=2-5"}), "HIT", 2, 5)
        assert len(origin.seen) == 2
    finally:
        origin.server.stop()


def test_partial_entry_answers_unsatisfiable_range_with_416(gateway):
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        expect_slice(get(gw, "/u", {"Range": "bytes=50-59"}), "MISS", 50, 59)
        r = expect(get(gw, "/u", {"Range": "bytes=100-"}), "HIT", 416)
        assert r.header("Content-Range") == "bytes */100" and r.body == b"", r
        assert len(origin.seen) == 1
    finally:
        origin.server.stop()


def test_head_and_failed_if_range_never_use_the_partial_entry(gateway):
    """HEAD is forwarded (the partial entry describes no whole response), and so is a range
    whose If-Range does not match the stored strong ETag."""
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        t = "/h"
        expect_slice(get(gw, t, {"Range": "bytes=0-49"}), "MISS", 0, 49)
        r = head(gw, t)
        assert r.status == 200 and xc(r) != "HIT" and r.header("Content-Range") is None, r
        assert len(origin.seen) == 2
        expect_slice(get(gw, t, {"Range": "bytes=0-9", "If-Range": '"v1"'}), "HIT", 0, 9)
        r = get(gw, t, {"Range": "bytes=0-9", "If-Range": '"other"'})
        assert xc(r) == "MISS" and r.status == 200 and r.body == BODY, r
    finally:
        origin.server.stop()


def test_stale_partial_entry_is_revalidated(gateway):
    """max-age=0 with an ETag: a range inside the stale partial entry is revalidated and the
    304 serves the slice."""
    origin = RangeOrigin(cache_control="max-age=0")
    try:
        gw = start(gateway, origin)
        t = "/stale"
        expect_slice(get(gw, t, {"Range": "bytes=10-19"}), "MISS", 10, 19)
        r = get(gw, t, {"Range": "bytes=12-15"})
        assert xc(r) == "REVALIDATED", r
        expect_slice(r, "REVALIDATED", 12, 15)
        assert origin.seen[-1].get("if-none-match") == '"v1"', origin.seen[-1]
    finally:
        origin.server.stop()


def test_partial_entry_counts_its_bytes(gateway):
    """The cache's memory accounting includes the stored part's bytes."""
    origin = RangeOrigin(body=bytes(200_000))
    try:
        gw = start(gateway, origin)
        before = metric_value(gw.metrics_text(), "scalegate_cache_bytes", route="cached") or 0
        expect(get(gw, "/big", {"Range": "bytes=0-99999"}), "MISS", 206)
        # Scraped at once: the entry is stored before the response's last byte goes out.
        after = metric_value(gw.metrics_text(), "scalegate_cache_bytes", route="cached")
        assert after - before >= 100_000, (before, after)
    finally:
        origin.server.stop()


def test_whole_request_completes_a_partial_entry(gateway):
    """A GET without Range asks the upstream only for the missing bytes (Range: bytes=N- with
    If-Range: the stored strong ETag); the 206 is combined with the stored part into the
    client's 200 and stored complete."""
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        t = "/complete"
        expect_slice(get(gw, t, {"Range": "bytes=0-39"}), "MISS", 0, 39)
        r = expect(get(gw, t), "MISS")
        assert r.body == BODY and r.header("Content-Length") == "100", r
        assert r.header("Content-Range") is None and r.header("ETag") == '"v1"', r
        sent = origin.seen[-1]
        assert sent.get("range") == "bytes=40-" and sent.get("if-range") == '"v1"', sent
        r = expect(get(gw, t), "HIT")
        assert r.body == BODY, r
        expect_slice(get(gw, t, {"Range": "bytes=50-59"}), "HIT", 50, 59)
        r = expect(head(gw, t), "HIT")
        assert r.header("Content-Length") == "100", r
        assert len(origin.seen) == 2
    finally:
        origin.server.stop()


def test_completion_answered_with_200_is_relayed_and_stored(gateway):
    """The representation changed (If-Range fails): the upstream's 200 is relayed and stored."""
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        t = "/changed"
        expect_slice(get(gw, t, {"Range": "bytes=0-9"}), "MISS", 0, 9)
        origin.etag = '"v2"'
        origin.body = b"new body"
        r = expect(get(gw, t), "MISS")
        assert r.body == b"new body" and r.header("ETag") == '"v2"', r
        assert origin.seen[-1].get("if-range") == '"v1"'
        r = expect(get(gw, t), "HIT")
        assert r.body == b"new body", r
        assert len(origin.seen) == 2
    finally:
        origin.server.stop()


def test_completion_206_without_validators_is_asked_again(gateway):
    """No validator: the missing bytes are asked without If-Range; a 206 that carries no
    strong validator cannot be combined, so the request goes again without Range and its
    200 is relayed and stored."""
    origin = RangeOrigin(etag=None)
    try:
        gw = start(gateway, origin)
        t = "/novalidator"
        expect_slice(get(gw, t, {"Range": "bytes=0-49"}), "MISS", 0, 49)
        r = expect(get(gw, t), "MISS")
        assert r.body == BODY and r.header("Content-Range") is None, r
        assert [s.get("range") for s in origin.seen] == ["bytes=0-49", "bytes=50-", None]
        assert "if-range" not in origin.seen[1], origin.seen[1]
        expect(get(gw, t), "HIT")
        assert len(origin.seen) == 3
    finally:
        origin.server.stop()


def test_partial_entry_not_starting_at_zero_is_refetched_whole(gateway):
    """A stored tail cannot be completed with one range: the whole response is fetched."""
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        t = "/tail"
        expect_slice(get(gw, t, {"Range": "bytes=-5"}), "MISS", 95, 99)
        r = expect(get(gw, t), "MISS")
        assert r.body == BODY and "range" not in origin.seen[-1], origin.seen[-1]
        expect(get(gw, t), "HIT")
    finally:
        origin.server.stop()


def test_touching_parts_of_the_same_representation_are_joined(gateway):
    """A forwarded range next to the stored bytes, with the same strong ETag, extends the
    partial entry; once it holds every byte it answers whole requests."""
    origin = RangeOrigin()
    try:
        gw = start(gateway, origin)
        t = "/join"
        expect_slice(get(gw, t, {"Range": "bytes=20-49"}), "MISS", 20, 49)
        expect_slice(get(gw, t, {"Range": "bytes=40-99"}), "MISS", 40, 99)
        expect_slice(get(gw, t, {"Range": "bytes=25-75"}), "HIT", 25, 75)
        expect_slice(get(gw, t, {"Range": "bytes=0-29"}), "MISS", 0, 29)
        r = expect(get(gw, t), "HIT")
        assert r.body == BODY, r
        assert len(origin.seen) == 3
    finally:
        origin.server.stop()


def test_partial_entries_are_per_variant(gateway):
    """Vary applies to partial entries: another Accept-Language is another variant."""
    origin = RangeOrigin(vary="Accept-Language")
    try:
        gw = start(gateway, origin)
        t = "/vary"
        expect_slice(get(gw, t, {"Range": "bytes=0-49", "Accept-Language": "en"}), "MISS", 0, 49)
        expect_slice(get(gw, t, {"Range": "bytes=5-9", "Accept-Language": "en"}), "HIT", 5, 9)
        expect_slice(get(gw, t, {"Range": "bytes=5-9", "Accept-Language": "de"}), "MISS", 5, 9)
        assert len(origin.seen) == 2
    finally:
        origin.server.stop()


def test_combined_response_keeps_the_connection_in_step(gateway):
    """On one keep-alive connection: a partial store, its completion (the stored bytes then
    the upstream's, one Content-Length), then hits: every response framed right."""
    origin = RangeOrigin(body=bytes(range(256)) * 40)
    try:
        gw = start(gateway, origin)
        t = "/keepalive"
        with Conn(gw.port) as c:
            expect_slice(c.get(t, {"Range": "bytes=0-999"}), "MISS", 0, 999, origin.body)
            r = expect(c.get(t), "MISS")
            assert r.body == origin.body and r.header("Content-Length") == "10240", r
            expect_slice(c.get(t, {"Range": "bytes=5000-5099"}), "HIT", 5000, 5099, origin.body)
            assert expect(c.get(t), "HIT").body == origin.body
        assert origin.seen[1].get("range") == "bytes=1000-"
        assert len(origin.seen) == 2
    finally:
        origin.server.stop()


def test_partial_without_validators_is_reused_but_a_contradictory_one_is_not_stored(gateway):
    """A partial entry needs no validator to answer ranges inside it. A 206 whose body length
    contradicts its Content-Range (bytes 4-9/10 with 5 bytes, as cache-tests' partial-store-
    partial-reuse-* send) is relayed but not stored: no byte position can be trusted."""
    sent = []

    def handle(ex):
        sent.append(ex.header("range"))
        crange = "bytes 4-8/10" if ex.target == "/ok" else "bytes 4-9/10"
        ex.respond(206, b"01234", [("Cache-Control", "max-age=3600"), ("Content-Range", crange)])
        return True

    server = ScriptedUpstream(handle)
    try:
        gw = gateway(make_config({"app": [server.address]}, workers=1,
                                 routes=[route({}, name="cached") | {"upstream": "app"}]))
        body = b"????01234?"
        expect_slice(get(gw, "/ok", {"Range": "bytes=4-8"}), "MISS", 4, 8, body)
        expect_slice(get(gw, "/ok", {"Range": "bytes=6-8"}), "HIT", 6, 8, body)
        assert xc(get(gw, "/ok", {"Range": "bytes=6-"})) == "MISS"  # needs byte 9
        r = get(gw, "/bad", {"Range": "bytes=-5"})
        assert r.status == 206 and r.body == b"01234", r
        r = get(gw, "/bad", {"Range": "bytes=-5"})
        assert xc(r) == "MISS", r
        assert len(sent) == 4
    finally:
        server.stop()
