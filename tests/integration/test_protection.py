"""Security response headers (defaults, listener `response_headers`, `hsts`) on proxied and
locally generated responses, and `scalegate check` on bad protection config (rate_limit,
trusted_proxies, circuit_breaker, compression, response_headers, hsts).

Rate limiting, the circuit breaker and compression have their own files:
test_rate_limit.py, test_circuit_breaker.py, test_compression.py."""
import re

import pytest

from conftest import Conn, free_port, http_get, make_config, raw_request, run_cli


def check_security(r, xfo="DENY", xcto="nosniff", what=""):
    """Each header exactly once with the given value (None: absent)."""
    for name, want in (("X-Frame-Options", xfo), ("X-Content-Type-Options", xcto)):
        got = r.header_list(name)
        assert got == ([want] if want is not None else []), "%s: %s is %r, want %r\n%r" % (what, name, got, want, r)


def test_default_security_headers_on_every_response(upstream, gateway):
    """nosniff and DENY on proxied responses and on the gateway's own 400/404/429/502/503;
    an upstream that sets them keeps its values, without duplicates."""
    u1, u2 = upstream("u1"), upstream("u2")
    dead = "127.0.0.1:%d" % free_port()
    routes = [{"name": "api", "match": {"prefix": "/api"}, "upstream": "app", "strip_prefix": True},
              {"name": "limited", "match": {"prefix": "/limited"}, "upstream": "app",
               "rate_limit": {"key": "global", "rate": "1/h"}},
              {"name": "dead", "match": {"prefix": "/dead"}, "upstream": "dead"},
              {"name": "cb", "match": {"prefix": "/cb"}, "upstream": "cb", "strip_prefix": True}]
    cfg = make_config({"app": [u1], "dead": [{"address": dead, "max_fails": 0}], "cb": [u2]}, routes=routes,
                      upstream_opts={"cb": {"circuit_breaker": {"volume_threshold": 1, "error_threshold_percent": 1,
                                                                "reset_timeout": "30s"}}})
    gw = gateway(cfg)
    with Conn(gw.port) as c:
        r = c.get("/api/echo")
        assert r.status == 200, r
        check_security(r, what="proxied 200")
        r = c.get("/api/status/404")
        assert r.status == 404 and r.header("X-Upstream") == "u1", r
        check_security(r, what="upstream 404")
        r = c.get("/api/own-headers")
        assert r.status == 200 and r.json() == {"own": True}, r
        check_security(r, xfo="SAMEORIGIN", what="upstream's own headers")
        r = c.get("/nope")
        assert r.status == 404 and r.header("X-Upstream") is None, r
        check_security(r, what="local 404")
        assert c.get("/limited/a").status == 200
        r = c.get("/limited/b")
        assert r.status == 429, r
        check_security(r, what="429")
    r = http_get(gw.port, "/dead")
    assert r.status == 502, r
    check_security(r, what="502")
    assert http_get(gw.port, "/cb/status/500").status == 500  # opens the breaker
    r = http_get(gw.port, "/cb/echo")
    assert r.status == 503 and r.header("X-Upstream") is None, r
    check_security(r, what="503 breaker open")
    r = raw_request(gw.port, b"GET /api/echo HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n")
    assert r.status == 400, r
    check_security(r, what="400")


@pytest.mark.parametrize("hsts,want", [
    ({"max_age": "1d", "include_subdomains": True}, "max-age=86400; includeSubDomains"),
    ({"max_age": "2h"}, "max-age=7200"),
    ({"max_age": "365d", "include_subdomains": True, "preload": True}, "max-age=31536000; includeSubDomains; preload"),
], ids=["1d-subdomains", "2h", "preload"])
def test_response_headers_config_and_hsts(upstream, gateway, hsts, want):
    """response_headers replaces a default (X-Frame-Options), removes one (empty value) and
    adds others; hsts adds Strict-Transport-Security. Local responses get the same."""
    u1 = upstream("u1")
    routes = [{"name": "api", "match": {"prefix": "/api"}, "upstream": "u1", "strip_prefix": True}]
    listener = {"response_headers": {"X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "",
                                     "Referrer-Policy": "no-referrer"},
                "hsts": hsts}
    gw = gateway(make_config({"u1": [u1]}, routes=routes, listener=listener))
    with Conn(gw.port) as c:
        for path, status in (("/api/echo", 200), ("/api/status/500", 500), ("/nope", 404)):
            r = c.get(path)
            assert r.status == status, r
            check_security(r, xfo="SAMEORIGIN", xcto=None, what=path)
            assert r.header_list("Referrer-Policy") == ["no-referrer"], r
            assert r.header_list("Strict-Transport-Security") == [want], r
        r = c.get("/api/own-headers")  # the upstream sets nosniff itself: kept
        check_security(r, xfo="SAMEORIGIN", xcto="nosniff", what="own headers")


# ---------------------------------------------------------------------------
# scalegate check
# ---------------------------------------------------------------------------
BASE = """\
workers: 1
listeners:
  - name: public
    address: 127.0.0.1:{port}
{listener}
    routes:
      - match: {{ prefix: / }}
        upstream: app
{route}
upstreams:
  app:
{upstream}
    servers:
      - {{ address: 127.0.0.1:3001 }}
"""

VALID = dict(
    listener="""\
    trusted_proxies: [10.0.0.0/8, "::1/128", 127.0.0.1/32]
    rate_limit: { algorithm: gcra, key: "header:X-Api-Key", rate: 100/s, burst: 200, name: edge,
                  shadow: false, max_keys: 1000, tiers: { gold: { rate: 1000/s, burst: 2000 } } }
    compression: { enabled: true, algorithms: [br, gzip], min_size: 1KiB, content_types: [text/*],
                   gzip_level: 6, brotli_quality: 5 }
    response_headers: { X-Frame-Options: SAMEORIGIN, X-Content-Type-Options: "", Referrer-Policy: no-referrer }
    hsts: { max_age: 1d, include_subdomains: true }""",
    route="""\
        rate_limit: { algorithm: sliding_window, key: route, rate: 20/10s }
        compression: { enabled: false }""",
    upstream="""\
    circuit_breaker: { error_threshold_percent: 50, volume_threshold: 20, window: 10s, buckets: 10,
                       reset_timeout: 500ms, half_open_requests: 2, error_statuses: [500, 502, 503, 504],
                       max_connections: 100, max_pending: 10, max_requests: 50, max_retries: 3 }""",
)

# name: (section, text with the #ERR line, words the error message mentions)
BAD = {
    "rate_without_period": ("listener", 'rate_limit: { rate: "100" }   #ERR', ["rate", "100"]),
    "rate_zero": ("listener", "rate_limit: { rate: 0/s }   #ERR", ["rate"]),
    "unknown_algorithm": ("listener", "rate_limit: { rate: 5/s, algorithm: leaky_bucket }   #ERR",
                          ["algorithm", "leaky_bucket"]),
    "unknown_key": ("route", "rate_limit: { rate: 5/s, key: cookie }   #ERR", ["key", "cookie"]),
    "sliding_window_burst": ("route", "rate_limit: { rate: 5/s, algorithm: sliding_window, burst: 9 }   #ERR",
                             ["burst"]),
    "tiers_with_global_key": ("listener", "rate_limit: { rate: 5/s, key: global, tiers: { a: { rate: 9/s } } }   #ERR",
                              ["tiers"]),
    "trusted_proxy_host_bits": ("listener", "trusted_proxies: [10.0.0.1/8]   #ERR", ["10.0.0.1/8"]),
    "trusted_proxy_garbage": ("listener", "trusted_proxies: [not-a-network]   #ERR", ["not-a-network"]),
    "threshold_over_100": ("upstream", "circuit_breaker: { error_threshold_percent: 101 }   #ERR",
                           ["error_threshold_percent"]),
    "breaker_unknown_key": ("upstream", "circuit_breaker: { open_after: 5 }   #ERR", ["open_after"]),
    "compression_zstd": ("listener", "compression: { algorithms: [zstd] }   #ERR", ["zstd"]),
    "gzip_level_10": ("route", "compression: { gzip_level: 10 }   #ERR", ["gzip_level"]),
    "bad_media_type": ("listener", "compression: { content_types: [textplain] }   #ERR", ["textplain"]),
    "bad_header_name": ("listener", 'response_headers: { "Bad Name": x }   #ERR', ["Bad Name"]),
    "hsts_preload_short": ("listener", "hsts: { max_age: 1d, include_subdomains: true, preload: true }   #ERR",
                           ["preload"]),
}


def config_text(**sections):
    parts = {k: sections.get(k, "") for k in ("listener", "route", "upstream")}
    return BASE.format(port=free_port(), **parts)


def run_check(tmp_path, text):
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return str(p), run_cli(["check", "-c", str(p)])


def test_check_accepts_protection_config(tmp_path):
    path, r = run_check(tmp_path, config_text(**VALID))
    assert r.returncode == 0, "check rejected a valid protection config:\n%s%s" % (r.stdout, r.stderr)


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_reports_bad_protection_config(tmp_path, case):
    section, line, words = BAD[case]
    indent = "        " if section == "route" else "    "
    sections = dict(VALID)
    # the bad line replaces the valid section's line for the same key
    key = line.split(":", 1)[0].strip().strip('"')
    out, skipping = [], False
    for l in sections[section].split("\n"):
        if l.startswith(indent) and not l.startswith(indent + " "):
            skipping = l.strip().startswith(key + ":")
        if not skipping:
            out.append(l)
    out.append(indent + line)
    sections[section] = "\n".join(out)
    text = config_text(**sections)
    want_line = [i + 1 for i, l in enumerate(text.split("\n")) if "#ERR" in l]
    assert len(want_line) == 1
    path, r = run_check(tmp_path, text)
    assert r.returncode > 0, "check exit %d for %s:\n%s%s\n--- file ---\n%s" % (r.returncode, case, r.stdout,
                                                                                r.stderr, text)
    errs = []
    for l in (r.stderr + r.stdout).splitlines():
        m = re.match(r"^%s:(\d+):(\d+): (.+)$" % re.escape(path), l.strip())
        if m:
            errs.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    assert errs, "no FILE:LINE:COL error for %s:\n%s%s" % (case, r.stdout, r.stderr)
    hits = [e for e in errs if e[0] == want_line[0]]
    assert hits, "no error points at line %d for %s: %s\n--- file ---\n%s" % (want_line[0], case, errs, text)
    assert len(errs) == len(hits), "errors on other lines too: %s" % errs
    msg = " ".join(e[2] for e in hits)
    for w in words:
        assert w in msg, "error message %r does not mention %r" % (msg, w)
    assert all(e[1] > len(indent) for e in hits), "column %s points before the key" % hits
