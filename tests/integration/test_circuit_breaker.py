"""Circuit breaker per upstream (`circuit_breaker`): opening on errors (listed statuses,
timeouts, refused connects), failing fast with 503 + Retry-After, half-open trials that close
or re-open it, statuses that never count, the max_requests cap, /metrics and /health."""
import threading
import time

import pytest

from conftest import http_get, make_config, metric_value, wait_until

LONG_RESET = "30s"  # the breaker stays open for the whole test


def breaker_gateway(upstream, gateway, workers=2, server_opts=None, upstream_keys=None, **breaker):
    u = upstream("u1")
    cb = {"error_threshold_percent": 50, "volume_threshold": 4, "window": "10s", "reset_timeout": LONG_RESET}
    cb.update(breaker)
    opts = {"circuit_breaker": cb}
    opts.update(upstream_keys or {})
    server = {"address": u}
    server.update(server_opts or {})
    gw = gateway(make_config({"u1": [server]}, workers=workers, upstream_opts={"u1": opts}))
    return u, gw


def state(gw):
    """The breaker state whose gauge is 1."""
    text = gw.metrics_text()
    on = [s for s in ("closed", "open", "half_open")
          if metric_value(text, "scalegate_circuit_breaker_state", upstream="u1", state=s) == 1]
    assert len(on) == 1, "breaker state gauges: %s" % [
        l for l in text.splitlines() if "circuit_breaker_state" in l]
    return on[0]


def transitions(gw, frm, to):
    return gw.metric("scalegate_circuit_breaker_transitions_total", upstream="u1", **{"from": frm, "to": to})


def health_breaker(gw):
    _, doc = gw.health()
    entry = doc["upstreams"]["u1"]
    assert "circuit_breaker" in entry, "/health does not describe the upstream's breaker: %s" % doc
    return entry["circuit_breaker"]


def timed_get(gw, path="/echo"):
    t0 = time.monotonic()
    r = http_get(gw.port, path)
    return r, time.monotonic() - t0


def assert_fast_503(gw, u, n, requests_before):
    """n requests are refused at once (503, Retry-After >= 1) and none reaches the upstream."""
    for i in range(n):
        r, took = timed_get(gw)
        assert r.status == 503, "request %d with the breaker open: %r" % (i, r)
        assert took < 0.5, "the 503 took %.3f s: the upstream (delayed 1.5 s) was tried" % took
        ra = r.header("Retry-After")
        assert ra is not None and ra.isdigit() and 1 <= int(ra) <= 30, r
        assert r.header("X-Upstream") is None, r
        assert r.header("X-Content-Type-Options") == "nosniff", r
    assert u.stats()["requests"] == requests_before, "the upstream got requests while the breaker was open"


def open_with_500s(gw, u, n=4):
    u.set_status(500)
    for i in range(n):
        r = http_get(gw.port, "/echo/%d" % i)
        assert r.status == 500 and r.header("X-Upstream") == "u1", "request %d: %r" % (i, r)


# ---------------------------------------------------------------------------
def test_opens_on_5xx_fails_fast_and_reports(upstream, gateway):
    u, gw = breaker_gateway(upstream, gateway)
    assert state(gw) == "closed"
    assert health_breaker(gw)["state"] == "closed"
    open_with_500s(gw, u, 3)
    assert state(gw) == "closed", "opened before volume_threshold (4) requests"
    open_with_500s(gw, u, 1)
    assert u.stats()["requests"] == 4
    u.control("delay", ms=1500)  # a request that reached the upstream would take 1.5 s
    assert_fast_503(gw, u, 5, 4)
    text = gw.metrics_text()
    lab = dict(upstream="u1")
    assert metric_value(text, "scalegate_circuit_breaker_state", state="open", **lab) == 1
    assert metric_value(text, "scalegate_circuit_breaker_state", state="closed", **lab) == 0
    assert metric_value(text, "scalegate_circuit_breaker_transitions_total", to="open", **lab,
                        **{"from": "closed"}) == 1
    assert metric_value(text, "scalegate_circuit_breaker_refusals_total", **lab) == 5
    assert metric_value(text, "scalegate_rejected_requests_total", listener="public", reason="circuit_open") == 5
    hb = health_breaker(gw)
    assert hb["state"] == "open", hb
    assert hb.get("refusals") == 5, hb


def test_half_open_trial_success_closes(upstream, gateway):
    """After reset_timeout one trial request reaches the recovered upstream; while it is in
    flight (half_open_requests 1) others are refused; its success closes the breaker."""
    u, gw = breaker_gateway(upstream, gateway, reset_timeout="500ms", half_open_requests=1)
    open_with_500s(gw, u)
    assert state(gw) == "open"
    u.set_status(0)
    u.control("delay", ms=600)
    opened = time.monotonic()
    r, took = timed_get(gw)
    assert r.status == 503 and took < 0.4, (r, took)
    assert u.stats()["requests"] == 4
    time.sleep(max(0.0, 0.55 - (time.monotonic() - opened)))
    trial = {}
    t = threading.Thread(target=lambda: trial.setdefault("r", timed_get(gw)))
    t.start()
    assert wait_until(lambda: state(gw) == "half_open", timeout=3), "no half-open trial started"
    r, took = timed_get(gw)
    assert r.status == 503 and took < 0.4, "a second request during the trial: %r (%.3f s)" % (r, took)
    t.join(10)
    r, took = trial["r"]
    assert r.status == 200 and r.header("X-Upstream") == "u1", r
    assert u.stats()["requests"] == 5, "exactly one trial request reaches the upstream"
    assert state(gw) == "closed"
    assert transitions(gw, "open", "half_open") == 1
    assert transitions(gw, "half_open", "closed") == 1
    assert transitions(gw, "half_open", "open") == 0
    u.control("delay", ms=0)
    for i in range(5):
        assert http_get(gw.port, "/echo/after%d" % i).status == 200
    assert health_breaker(gw)["state"] == "closed"


def test_half_open_trial_failure_reopens(upstream, gateway):
    u, gw = breaker_gateway(upstream, gateway, reset_timeout="400ms")
    open_with_500s(gw, u)
    time.sleep(0.45)
    r = http_get(gw.port, "/echo")  # the trial: the upstream still fails
    assert r.status == 500 and r.header("X-Upstream") == "u1", r
    assert u.stats()["requests"] == 5
    assert state(gw) == "open"
    assert transitions(gw, "half_open", "open") == 1
    assert transitions(gw, "half_open", "closed") == 0
    r, took = timed_get(gw)
    assert r.status == 503 and took < 0.4, r
    assert u.stats()["requests"] == 5
    # recovery: the next trial succeeds
    u.set_status(0)
    time.sleep(0.45)
    assert http_get(gw.port, "/echo").status == 200
    assert state(gw) == "closed"
    assert transitions(gw, "open", "half_open") == 2
    assert transitions(gw, "half_open", "closed") == 1


def test_unlisted_statuses_and_low_error_rate_keep_it_closed(upstream, gateway):
    """404 and 501 are not in the default error_statuses; 500s at 40% stay under 50%."""
    u, gw = breaker_gateway(upstream, gateway, volume_threshold=4)
    for i in range(6):
        assert http_get(gw.port, "/status/404").status == 404
        assert http_get(gw.port, "/status/501").status == 501
    assert state(gw) == "closed"
    for i in range(5):  # 2 failures in 5 -> 40%
        path = "/status/500" if i % 3 == 0 else "/echo"
        assert http_get(gw.port, path).status == (500 if i % 3 == 0 else 200)
    assert state(gw) == "closed"
    assert u.stats()["requests"] == 17
    assert transitions(gw, "closed", "open") == 0
    assert gw.metric("scalegate_circuit_breaker_refusals_total", upstream="u1") == 0


def test_custom_error_statuses(upstream, gateway):
    """error_statuses [418]: 500 now counts as a success and 418 as a failure; the breaker
    opens when failures reach error_threshold_percent (50%) of the window."""
    u, gw = breaker_gateway(upstream, gateway, volume_threshold=4, error_statuses=[418])
    for _ in range(4):
        assert http_get(gw.port, "/status/500").status == 500
    assert state(gw) == "closed"
    for _ in range(3):
        assert http_get(gw.port, "/status/418").status == 418
    assert state(gw) == "closed", "3 failures of 7 (43%) opened it"
    assert http_get(gw.port, "/status/418").status == 418
    assert state(gw) == "open", "4 failures of 8 (50%) did not open it"
    r = http_get(gw.port, "/echo")
    assert r.status == 503 and r.header("X-Upstream") is None, r
    assert u.stats()["requests"] == 8


@pytest.mark.parametrize("failure", ["connect_refused", "timeout"])
def test_connect_failures_and_timeouts_open_it(upstream, gateway, failure):
    """A refused connect (upstream killed: 502) and a response timeout (504) are failures."""
    u, gw = breaker_gateway(upstream, gateway, volume_threshold=3, server_opts={"max_fails": 0},
                            upstream_keys={"response_timeout": "300ms"})
    assert http_get(gw.port, "/echo").status == 200
    if failure == "connect_refused":
        u.kill()
        want = 502
    else:
        u.set_hang(True)
        want = 504
    for i in range(2):
        r = http_get(gw.port, "/echo/%d" % i)
        assert r.status == want, "request %d: %r" % (i, r)
    # 2 failures, 1 success: 67% >= 50% at volume 3
    assert state(gw) == "open"
    r, took = timed_get(gw)
    assert r.status == 503 and took < 0.25, (r, took)
    assert int(r.header("Retry-After") or 0) >= 1, r
    assert transitions(gw, "closed", "open") == 1


def test_max_requests_overflow(upstream, gateway):
    """max_requests 1: while one request is in flight another gets 503 at once (no
    Retry-After: the breaker is not open) and the overflow is counted."""
    u, gw = breaker_gateway(upstream, gateway, max_requests=1)
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("slow", http_get(gw.port, "/slow?ms=600")))
    t.start()
    try:
        assert wait_until(lambda: gw.metric("scalegate_upstream_concurrency", upstream="u1", limit="requests") == 1,
                          timeout=5), "the slow request never became in flight"
        r, took = timed_get(gw)
        assert r.status == 503, r
        assert took < 0.4, "the overflow 503 took %.3f s" % took
        assert r.header("X-Upstream") is None, r
    finally:
        t.join(10)
    assert res["slow"].status == 200, res
    text = gw.metrics_text()
    assert metric_value(text, "scalegate_upstream_overflow_total", upstream="u1", limit="requests") == 1
    assert metric_value(text, "scalegate_rejected_requests_total", listener="public", reason="overflow") == 1
    assert u.stats()["requests"] == 1
    assert state(gw) == "closed"
    assert http_get(gw.port, "/echo").status == 200  # the slot was released


def test_window_rolls_old_failures_out(upstream, gateway):
    """window 1s: failures older than the window no longer count toward volume_threshold."""
    u, gw = breaker_gateway(upstream, gateway, volume_threshold=3, window="1s", buckets=10)
    for _ in range(2):
        assert http_get(gw.port, "/status/500").status == 500
    time.sleep(1.15)
    for _ in range(2):
        assert http_get(gw.port, "/status/500").status == 500
    assert state(gw) == "closed", "failures from an expired window were counted"
    assert health_breaker(gw).get("window_failures") == 2
    assert http_get(gw.port, "/status/500").status == 500
    assert state(gw) == "open"


def test_max_connections_overflow(upstream, gateway):
    """max_connections 1 (one worker): a second concurrent request would need a second
    upstream connection and is refused with 503; afterwards the connection is reused."""
    u, gw = breaker_gateway(upstream, gateway, workers=1, max_connections=1)
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("slow", http_get(gw.port, "/slow?ms=600")))
    t.start()
    try:
        assert wait_until(lambda: u.stats()["requests"] == 1, timeout=5)
        r, took = timed_get(gw)
        assert r.status == 503 and took < 0.4, (r, took)
    finally:
        t.join(10)
    assert res["slow"].status == 200
    assert gw.metric("scalegate_upstream_overflow_total", upstream="u1", limit="connections") == 1
    for i in range(3):
        assert http_get(gw.port, "/echo/%d" % i).status == 200
    assert u.stats()["connections"] == 1


def test_max_connections_idle_pool_does_not_starve_other_workers(upstream, gateway):
    """Two workers, max_connections 1, one request at a time: nothing is ever in flight
    concurrently, so no request may be refused. (An idle keep-alive connection pooled by one
    worker must not make every request the other worker takes fail with 503.)"""
    u, gw = breaker_gateway(upstream, gateway, workers=2, max_connections=1)
    statuses = [http_get(gw.port, "/echo/%d" % i).status for i in range(12)]
    overflow = gw.metric("scalegate_upstream_overflow_total", upstream="u1", limit="connections")
    assert statuses == [200] * 12, "sequential requests refused: %s (connection overflows: %s)" % (statuses, overflow)
