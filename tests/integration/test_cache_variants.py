"""Cache variants and client conditionals beyond test_cache.py: requests whose
Accept-Language / Accept-Encoding differ only in spelling (case, whitespace, order among equal
q-values, q-value form) share one stored variant; a request whose most preferred language is
the stored response's Content-Language is served that response; If-Modified-Since against a
stored response without Last-Modified compares with its Date (RFC 9111 4.3.2)."""
import email.utils
import urllib.parse

from conftest import make_config, qpath
from scripted_upstream import ScriptedUpstream
from test_cache import cache_gateway, count, expect, get, route, stamp


def test_equivalent_accept_language_shares_a_variant(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/lang", bytes=300, cache_control="max-age=60", vary="Accept-Language", stamp=1)
    first = stamp(expect(get(gw, t, {"Accept-Language": "en, de"}), "MISS"))
    for same in ("de, en", "eN, De", " en ,   de", "de;q=1.0, en;q=1", "en, de, fr;q=0"):
        assert stamp(expect(get(gw, t, {"Accept-Language": same}), "HIT")) == first, same
    # Another preference is another variant.
    other = stamp(expect(get(gw, t, {"Accept-Language": "en, de;q=0.5"}), "MISS"))
    assert other != first
    assert stamp(expect(get(gw, t, {"Accept-Language": "EN,DE;q=0.50"}), "HIT")) == other
    assert count(u, "/text/lang") == 2


def test_equivalent_accept_encoding_shares_a_variant(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/enc", bytes=300, cache_control="max-age=60", vary="Accept-Encoding", stamp=1)
    first = stamp(expect(get(gw, t, {"Accept-Encoding": "gzip, br"}), "MISS"))
    for same in ("br, gzip", "BR,GZip;q=1.0", "gzip,br,zstd;q=0"):
        assert stamp(expect(get(gw, t, {"Accept-Encoding": same}), "HIT")) == first, same
    expect(get(gw, t, {"Accept-Encoding": "gzip"}), "MISS")
    expect(get(gw, t, {"Accept-Encoding": "gzip, br, identity;q=0"}), "MISS")
    assert count(u, "/text/enc") == 3


def language_upstream():
    """Answers every GET with Vary: Accept-Language and the Content-Language named by the
    query's `lang`; X-Served counts the responses."""
    served = []

    def handle(ex):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ex.target).query)
        served.append(ex.header("accept-language"))
        ex.respond(200, b"in " + query["lang"][0].encode(),
                   [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language"),
                    ("Content-Language", query["lang"][0]), ("X-Served", str(len(served)))])
        return True

    return ScriptedUpstream(handle), served


def test_most_preferred_language_selects_the_stored_content_language(gateway):
    server, served = language_upstream()
    try:
        gw = gateway(make_config({"app": [server.address]}, workers=1,
                                 routes=[route({}, name="cached") | {"upstream": "app"}]))
        t = "/doc?lang=de"
        expect(get(gw, t, {"Accept-Language": "en, de"}), "MISS")
        r = expect(get(gw, t, {"Accept-Language": "fr;q=0.5, de;q=1.0"}), "HIT")
        assert r.body == b"in de" and r.header("X-Served") == "1"
        expect(get(gw, t, {"Accept-Language": "DE"}), "HIT")
        # Another top preference, or a tie at the top, may get another language: forwarded.
        expect(get(gw, t, {"Accept-Language": "fr, de;q=0.9"}), "MISS")
        expect(get(gw, t, {"Accept-Language": "de, fr"}), "MISS")
        assert len(served) == 3
    finally:
        server.stop()


def http_date(seconds):
    return email.utils.formatdate(seconds, usegmt=True)


def test_if_modified_since_without_last_modified_uses_date(upstream, gateway):
    """No Last-Modified: the stored Date decides. A client date at or after it gets a 304;
    one 3000 s before it gets the body, since the stored response may be newer than the
    client's copy (the suite's conditional-lm-fresh-no-lm expects a 304 there)."""
    u, gw = cache_gateway(upstream, gateway, {})
    t = qpath("/text/nolm", bytes=500, cache_control="max-age=100000", expires=100000)
    full = expect(get(gw, t), "MISS")
    assert full.header("Last-Modified") is None
    date = email.utils.parsedate_to_datetime(full.header("Date")).timestamp()
    r = expect(get(gw, t, {"If-Modified-Since": http_date(date)}), "HIT", 304)
    assert r.body == b""
    r = expect(get(gw, t, {"If-Modified-Since": http_date(date - 3000)}), "HIT")
    assert r.body == full.body
    # If-None-Match takes precedence: an unmatched tag means the body, whatever the date.
    r = expect(get(gw, t, {"If-None-Match": '"x"', "If-Modified-Since": http_date(date)}), "HIT")
    assert r.body == full.body
    assert count(u, "/text/nolm") == 1
