"""What a reload (SIGHUP, POST /admin/reload: a new configuration in the same process) and a
binary upgrade (SIGUSR2: a successor process) carry over: for upstreams whose configuration did
not change, each server's health (active check verdict, passive failures), its admin state and
weight, and the circuit breaker; a changed upstream starts fresh; the memory cache; the counters
and histograms, which count on; the dashboard's history; and TLS session ticket keys. Asserted
through the admin listener (/metrics) of what serves after, with real upstreams; each test runs
both ways (HOW)."""
import json
import re
import ssl
import threading
import time

import pytest

from conftest import (IncompleteBody, NoResponse, http_get, make_config, metric_value, wait_until,
                      wait_s)
from test_cache import count, expect, get, route
from tls_support import client_context, make_certs, tls_config, tls_connect
from tls_support import get as tls_get
from test_reload_upgrade import (HOW, KeepAliveLoad, Reloader, successors,  # noqa: F401
                                 write)


@pytest.mark.parametrize("how", HOW)
def test_health_admin_state_and_weights_carry_over_and_a_changed_upstream_starts_fresh(
        gateway, upstream, successors, how):
    sick, off, fine, dead, alive, other = (
        upstream(n) for n in ("sick", "off", "fine", "dead", "alive", "other"))
    # rise 100 at 1 s: a server that failed its checks stays out for 100 s after it recovers,
    # unless what serves after the reload forgets the verdict.
    check = {"type": "http", "path": "/health", "interval": "1s", "timeout": "500ms",
             "rise": 100, "fall": 1, "expect": [200]}
    routes = [{"name": "other", "match": {"prefix": "/other"}, "upstream": "other"},
              {"name": "passive", "match": {"prefix": "/passive"}, "upstream": "passive"},
              {"name": "app", "match": {"prefix": "/"}, "upstream": "app"}]
    opts = {"app": {"health_check": check},
            "passive": {"max_fails": 1, "fail_timeout": "60s"}}
    cfg = make_config({"app": [sick, off, fine], "passive": [dead, alive], "other": [other]},
                      workers=2, upstream_opts=opts, routes=routes)
    gw = gateway(cfg)
    reloads = Reloader(how, gw, successors)
    sick.set_status(500)
    assert wait_until(lambda: gw.server_state("app", sick.address) == "failed_check",
                      timeout=wait_s(10))
    sick.set_status(0)  # recovered, but rise 100 keeps it out
    dead.kill()
    assert wait_until(lambda: http_get(gw.port, "/passive").status == 200 and
                      gw.server_state("passive", dead.address) == "failed_connects",
                      timeout=wait_s(10))
    assert gw.server_action("app", off.address, "disable").status == 200
    assert gw.server_action("app", fine.address, "weight", method="PUT",
                            body={"weight": 7}).status == 200
    assert gw.server_action("other", other.address, "disable").status == 200

    # Reload with one change: `other` gets another weight; `app` and `passive` stay as they were.
    changed = make_config({"app": [sick, off, fine], "passive": [dead, alive],
                           "other": [{"address": other, "weight": 2}]},
                          workers=2, upstream_opts=opts, routes=routes)
    write(gw, dict(gw.cfg, upstreams=changed["upstreams"]))
    reloads.reload()
    assert reloads.carried() == ("2", "5", "1"), gw.logs[-2000:]
    assert gw.server_state("app", sick.address) == "failed_check"
    assert gw.server_state("app", off.address) == "disabled"
    assert gw.server_state("app", fine.address) == "up"
    assert gw.metric("scalegate_upstream_server_weight", upstream="app", server=fine.address) == 7
    assert gw.server_state("passive", dead.address) == "failed_connects"
    assert gw.server_state("other", other.address) == "up"  # changed upstream: fresh
    # Only `fine` takes the app's requests (sick failed its checks, off is disabled).
    for i in range(6):
        r = http_get(gw.port, "/r%d" % i)
        assert r.status == 200 and r.header("X-Upstream") == "fine", r
    assert http_get(gw.port, "/other").header("X-Upstream") == "other"
    assert alive.stats()["requests"] >= 1
    before = alive.stats()["requests"]
    for i in range(4):  # the dead server is not tried again (it would cost a retry each)
        assert http_get(gw.port, "/passive/%d" % i).header("X-Upstream") == "alive"
    assert alive.stats()["requests"] == before + 4
    assert gw.metric("scalegate_upstream_retries_total", upstream="passive") in (None, 0)


@pytest.mark.parametrize("how", HOW)
def test_an_open_breaker_stays_open_across_a_reload(gateway, upstream, successors, how):
    u = upstream("u1")
    breaker = {"error_threshold_percent": 50, "volume_threshold": 4, "window": "10s",
               "reset_timeout": "60s"}
    gw = gateway(make_config({"u1": [{"address": u, "max_fails": 0}]}, workers=2,
                             upstream_opts={"u1": {"circuit_breaker": breaker}}))
    reloads = Reloader(how, gw, successors)
    u.set_status(500)
    for i in range(4):
        assert http_get(gw.port, "/e%d" % i).status == 500
    assert http_get(gw.port, "/refused").status == 503
    u.set_status(0)
    requests = u.stats()["requests"]
    reloads.reload()
    assert reloads.carried()[0] == "1"
    for i in range(3):
        r = http_get(gw.port, "/after%d" % i)
        assert r.status == 503, r
        assert r.header("Retry-After") is not None and int(r.header("Retry-After")) > 30, r
    assert u.stats()["requests"] == requests, "the breaker after the reload let requests through"
    assert gw.server_state("u1", u.address) == "up"


@pytest.mark.parametrize("how", HOW)
def test_the_memory_cache_carries_over_and_a_route_that_stops_caching_drops_its_entries(
        gateway, upstream, successors, how):
    u = upstream("u1")
    routes = [route({"default_ttl": "60s"}, "/kept", "kept"),
              route({"default_ttl": "60s"}, "/gone", "gone"), route(None, "/", "plain")]
    gw = gateway(make_config({"u1": [u]}, routes=routes, workers=2))
    reloads = Reloader(how, gw, successors)
    kept = ["/kept/%d" % n for n in range(3)]
    bodies = [expect(get(gw, target), "MISS").body for target in kept]
    expect(get(gw, "/gone/x"), "MISS")
    # The new file adds a route and `gone` no longer caches; `kept` is as it was.
    new_routes = [route({}, "/added", "added"), route({"default_ttl": "60s"}, "/kept", "kept"),
                  route(None, "/gone", "gone"), route(None, "/", "plain")]
    write(gw, dict(gw.cfg, listeners=[dict(gw.cfg["listeners"][0], routes=new_routes)]))
    reloads.reload()
    assert reloads.carried()
    assert re.search(r"\b3 cache entries \(0 did not fit, 1 of routes that no longer cache\)",
                     gw.logs), gw.logs[-2000:]
    for target, body in zip(kept, bodies):
        assert expect(get(gw, target), "HIT").body == body
        assert count(u, target) == 1  # fetched once, by the configuration replaced
    r = get(gw, "/gone/x")
    assert r.status == 200 and r.header("X-Cache") is None, r
    assert gw.metric("scalegate_cache_entries", listener="public", route="kept") == 3


def history(gw):
    """The time stamps of the listener's dashboard series."""
    doc = gw.admin_get("/admin/stats").json()
    return doc["series"]["listeners"]["public"]["time_ms"]


@pytest.mark.parametrize("how", HOW)
def test_counters_histograms_and_the_dashboard_go_on_across_reloads_under_load(
        gateway, upstream, successors, how):
    """Every request answered by any configuration (in_process) or process (process) is counted
    once in what serves last, and a scrape never sees a counter go back: the configuration
    replaced passes its totals on, then what it counted while it drained. The dashboard's series
    go on too."""
    gw = gateway(make_config({"u1": [upstream("u1")]}, workers=2))
    reloads = Reloader(how, gw, successors)
    assert wait_until(lambda: len(history(gw)) >= 2, timeout=wait_s(10))
    first_point = history(gw)[0]
    seen = []  # scalegate_requests_total as scrapes saw it, in order
    stop = threading.Event()

    def scrape():
        while not stop.is_set() and len(seen) < 5000:
            try:
                seen.append(metric_value(http_get(gw.admin_port, "/metrics",
                                                  host="127.0.0.1").body.decode(),
                                         "scalegate_requests_total"))
            except (OSError, NoResponse, IncompleteBody):
                pass
            time.sleep(0.02)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    with KeepAliveLoad(gw.port, clients=4) as load:
        for _ in range(3):
            time.sleep(0.3)
            reloads.reload(admin=True)
            if not reloads.in_process:
                reloads.wait_old_gone()
        time.sleep(0.3)
    stop.set()
    scraper.join(wait_s(10))
    assert load.failures == [], load.failures[:5]
    if reloads.in_process:
        reloads.wait_old_gone()  # then what each old configuration counted is added
        assert gw.metric("scalegate_reloads_total", result="ok") == 3
    else:
        assert wait_until(lambda: gw.logs.count("counted while it drained") == 3,
                          timeout=wait_s(10)), gw.logs[-2000:]
        assert "counting on from the process replaced: " in gw.logs
    counted = gw.metric("scalegate_requests_total", route="default")
    assert counted == load.ok, (counted, load.ok)
    assert gw.metric("scalegate_request_duration_seconds_count", route="default") == load.ok
    values = [v for v in seen if v is not None]
    assert len(values) > 10 and values == sorted(values), values
    points = history(gw)
    assert points[0] == first_point and points == sorted(set(points)), points
    assert gw.logs.count("the dashboard shows on from the configuration replaced (3 series)") == 3, \
        gw.logs[-3000:]


TICKET_KEYS = re.compile(r"(\d+) TLS listener\(s\) keep their session ticket keys")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("tls_changed", [False, True])
def test_tls_sessions_resume_across_a_reload_while_the_tls_block_is_unchanged(
        gateway, upstream, certs, successors, tls_changed, how):
    """The session ticket keys carry over, so clients resume instead of a full handshake each
    (a CPU spike on every reload); a changed `tls` block (certificates rotated) starts new keys."""
    gw = gateway(tls_config(upstream("u1"), certs))
    reloads = Reloader(how, gw, successors)
    context = client_context(certs, max_version=ssl.TLSVersion.TLSv1_3)
    with tls_connect(gw.port, context) as sock:
        assert tls_get(sock, "/echo")[0] == 200  # TLS 1.3 tickets come after the handshake
        session = sock.session
    cfg = json.loads(json.dumps(gw.cfg))
    if tls_changed:
        cfg["listeners"][0]["tls"]["handshake_timeout"] = "9s"
    write(gw, cfg)
    reloads.reload()
    assert reloads.carried()
    if not reloads.in_process:  # the successor says how many it took (in-process: no such line)
        assert TICKET_KEYS.search(gw.logs).group(1) == ("0" if tls_changed else "1"), gw.logs[-2000:]
    with tls_connect(gw.port, context, session=session) as sock:
        assert sock.session_reused != tls_changed
        assert tls_get(sock, "/echo")[0] == 200
    assert gw.metric("scalegate_tls_resumed_handshakes_total",
                     listener="public") == (0 if tls_changed else 1)
