"""Active health checks: http checks with rise/fall and expected codes, tcp checks, one
checker for the whole process whatever the number of workers."""
import collections
import time

from conftest import Conn, make_config, wait_until


def http_check(**over):
    hc = {"type": "http", "path": "/health", "interval": "200ms", "timeout": "150ms",
          "rise": 2, "fall": 2, "expect": [200]}
    hc.update(over)
    return hc


def names(gw, n, conns=1):
    """n GETs spread over `conns` fresh connections; all must be 200. Returns a Counter of X-Upstream."""
    out = collections.Counter()
    per = n // conns
    for k in range(conns):
        with Conn(gw.port) as c:
            for i in range(per):
                r = c.get("/echo/%d/%d" % (k, i))
                assert r.status == 200, r
                out[r.header("X-Upstream")] += 1
    return out


def traffic(u):
    """Requests an upstream got that were not health checks."""
    st = u.stats()
    return st["requests"] - st["health_hits"]


def wait_health_hits(u, more, timeout=10):
    """Waits until the upstream has seen `more` further health checks; returns the new count."""
    start = u.stats()["health_hits"]
    got = wait_until(lambda: u.stats()["health_hits"] >= start + more, timeout=timeout, interval=0.05)
    assert got, "upstream %s saw fewer than %d health checks in time" % (u.name, more)
    return u.stats()["health_hits"]


def test_http_check_fails_after_fall_and_recovers_after_rise(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(make_config({"pool": [a, b]}, workers=1,
                             upstream_opts={"pool": {"balance": "round_robin",
                                                     "health_check": http_check(fall=3, rise=3)}}))
    wait_health_hits(b, 2)
    assert gw.server_state("pool", b.address) == "up"
    assert names(gw, 10) == {"a": 5, "b": 5}

    h0 = b.stats()["health_hits"]
    b.set_health(503)
    assert wait_until(lambda: gw.server_state("pool", b.address) == "failed_check", timeout=10), \
        gw.server_state("pool", b.address)
    # not before `fall` failed checks (one check may have been counted just before the switch)
    assert b.stats()["health_hits"] - h0 >= 3 - 1
    entry = gw.health_server("pool", b.address)
    assert entry is not None and entry["state"] == "down" and entry.get("reason") == "failed_check", entry
    assert gw.metric("scalegate_upstream_server_up", upstream="pool", server=b.address) == 0
    assert gw.server_state("pool", a.address) == "up"

    before = traffic(b)
    assert names(gw, 20, conns=2) == {"a": 20}
    assert traffic(b) == before, "a server failing its health check got traffic"

    h1 = b.stats()["health_hits"]
    b.set_health(200)
    assert wait_until(lambda: gw.server_state("pool", b.address) == "up", timeout=10), \
        gw.server_state("pool", b.address)
    assert b.stats()["health_hits"] - h1 >= 3 - 1
    entry = gw.health_server("pool", b.address)
    assert entry["state"] == "up" and "reason" not in entry, entry
    seen = names(gw, 10)
    assert seen["b"] >= 1, "recovered server gets no traffic: %s" % seen


def test_http_check_path_host_and_expected_codes(upstream, gateway):
    """The check asks for `path` with `host`; a status listed in expect counts as a pass, a
    2xx not listed is a failure."""
    a = upstream("a")
    gw = gateway(make_config({"pool": [a]}, workers=1,
                             upstream_opts={"pool": {"health_check": http_check(
                                 host="health.example", expect=[200, 418], fall=2)}}))
    wait_health_hits(a, 2)
    assert a.stats()["health_host"] == "health.example"
    a.set_health(418)
    wait_health_hits(a, 4)
    assert gw.server_state("pool", a.address) == "up"
    a.set_health(204)  # 2xx, but not in expect
    assert wait_until(lambda: gw.server_state("pool", a.address) == "failed_check", timeout=10), \
        gw.server_state("pool", a.address)


def test_http_check_default_expect_is_2xx(upstream, gateway):
    a = upstream("a")
    hc = http_check()
    del hc["expect"]
    gw = gateway(make_config({"pool": [a]}, workers=1, upstream_opts={"pool": {"health_check": hc}}))
    a.set_health(204)
    wait_health_hits(a, 4)
    assert gw.server_state("pool", a.address) == "up"
    a.set_health(302)
    assert wait_until(lambda: gw.server_state("pool", a.address) == "failed_check", timeout=10), \
        gw.server_state("pool", a.address)


def test_checks_run_once_per_server_per_interval_whatever_the_workers(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(make_config({"pool": [a, b]}, workers=2,
                             upstream_opts={"pool": {"health_check": http_check()}}))
    assert gw.alive()
    wait_health_hits(a, 1)
    wait_health_hits(b, 1)
    start = {u.name: u.stats()["health_hits"] for u in (a, b)}
    t0 = time.monotonic()
    time.sleep(2.0)
    hits = {u.name: u.stats()["health_hits"] - start[u.name] for u in (a, b)}
    elapsed = time.monotonic() - t0
    expected = elapsed / 0.2  # ~10 in 2 s; once per worker would be ~20
    for name, n in hits.items():
        assert n >= 1, "no health checks to %s in %.1fs" % (name, elapsed)
        assert n < expected * 1.5 + 2, \
            "%d checks to %s in %.1fs with interval 200ms (about %d expected)" % (n, name, elapsed, expected)


def test_tcp_check_marks_killed_server(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(make_config({"pool": [a, b]}, workers=2,
                             upstream_opts={"pool": {"balance": "round_robin",
                                                     "health_check": {"type": "tcp", "interval": "200ms",
                                                                      "timeout": "150ms", "rise": 2,
                                                                      "fall": 2}}}))
    # a tcp check does not look at HTTP: a server whose /health answers 503 stays up
    b.set_health(503)
    start = b.stats()["accepted"]
    assert wait_until(lambda: b.stats()["accepted"] >= start + 4, timeout=10), b.stats()
    assert gw.server_state("pool", b.address) == "up"
    addr = b.address
    b.kill()
    assert wait_until(lambda: gw.server_state("pool", addr) == "failed_check", timeout=10), \
        gw.server_state("pool", addr)
    entry = gw.health_server("pool", addr)
    assert entry is not None and entry["state"] == "down" and entry.get("reason") == "failed_check", entry
    errors = gw.metric("scalegate_upstream_server_errors_total", upstream="pool", server=addr)
    assert names(gw, 20, conns=4) == {"a": 20}
    # the dead server was not even tried: no failed connect was counted for it
    assert gw.metric("scalegate_upstream_server_errors_total", upstream="pool", server=addr) == errors
    assert gw.server_state("pool", addr) == "failed_check"


def test_all_servers_failing_checks(upstream, gateway):
    """With every server failing its check (and panic disabled) there is nothing to send to:
    the gateway answers 502/503 itself; once a server passes again, traffic resumes."""
    a = upstream("a")
    gw = gateway(make_config({"pool": [a]}, workers=1,
                             upstream_opts={"pool": {"panic_threshold": 0, "health_check": http_check()}}))
    a.set_health(500)
    assert wait_until(lambda: gw.server_state("pool", a.address) == "failed_check", timeout=10)
    before = traffic(a)
    r = gw.get("/echo/x")
    assert r.status in (502, 503), r
    assert r.header("X-Upstream") is None
    assert traffic(a) == before
    a.set_health(200)
    assert wait_until(lambda: gw.server_state("pool", a.address) == "up", timeout=10)
    assert gw.get("/echo/y").status == 200
