"""Failover: per-try timeouts and status retries (idempotency rules, body replay), the retry
budget, outlier ejection and readmission, backup servers and panic mode."""
import collections
import os

from conftest import Conn, build_request, make_config, metric_value, sha256, wait_until


def route(upstream, **keys):
    r = {"name": "r", "match": {"prefix": "/"}, "upstream": upstream}
    r.update(keys)
    return [r]


def get_names(gw, n, path="/echo"):
    """n sequential GETs on one keep-alive connection; every one must be 200. Returns X-Upstream names."""
    out = []
    with Conn(gw.port) as c:
        for i in range(n):
            r = c.get("%s/%d" % (path, i))
            assert r.status == 200, "GET %s/%d: %r" % (path, i, r)
            out.append(r.header("X-Upstream"))
    return out


def retries_total(gw, upstream="pool"):
    return gw.metric("scalegate_upstream_retries_total", upstream=upstream) or 0


# ---------------------------------------------------------------------------
# retries
# ---------------------------------------------------------------------------
def test_per_try_timeout_retried_on_other_server(upstream, gateway):
    hang = upstream("hang", "--hang-all")
    ok = upstream("ok")
    gw = gateway(make_config(
        {"pool": [hang, ok]}, workers=1,
        upstream_opts={"pool": {"balance": "round_robin"}},
        routes=route("pool", retries={"attempts": 2, "on": ["timeout"], "per_try_timeout": "300ms",
                                      "backoff": "10ms"})))
    seq = get_names(gw, 20)
    assert seq == ["ok"] * 20, seq
    assert hang.stats()["requests"] > 0, "the hanging server was never tried"
    assert ok.stats()["requests"] == 20
    assert retries_total(gw) > 0


def test_timeout_not_retried_without_timeout_condition(upstream, gateway):
    """Only the conditions listed in retries.on are retried: a per-try timeout on a route
    retrying 5xx only answers 504."""
    hang = upstream("hang", "--hang-all")
    gw = gateway(make_config(
        {"pool": [hang]}, workers=1,
        routes=route("pool", retries={"attempts": 2, "on": ["5xx"], "per_try_timeout": "300ms"})))
    r = gw.get("/echo")
    assert r.status == 504, r
    assert hang.stats()["requests"] == 1
    assert retries_total(gw) == 0


def test_retry_moves_off_the_hashed_server(upstream, gateway):
    """A retry goes to a different server even when the balancer (hash on a header) would
    pick the same one again."""
    bad = upstream("bad", "--status", "500")
    g1, g2 = upstream("g1"), upstream("g2")
    gw = gateway(make_config(
        {"pool": [bad, g1, g2]}, workers=1,
        upstream_opts={"pool": {"balance": "hash", "hash_on": "header:X-User"}},
        routes=route("pool", retries={"attempts": 1, "on": ["5xx"], "backoff": "10ms"})))
    with Conn(gw.port) as c:
        for i in range(20):
            for _ in range(2):
                r = c.get("/echo/%d" % i, headers={"X-User": "user-%d" % i})
                assert r.status == 200, "X-User user-%d: %r" % (i, r)
                assert r.header("X-Upstream") in ("g1", "g2")
    assert bad.stats()["requests"] > 0, "no key hashed to the failing server"
    assert retries_total(gw) == bad.stats()["requests"]


def _five_xx_gateway(upstream, gateway, **route_keys):
    bad = upstream("bad", "--status", "500")
    good = upstream("good")
    keys = {"retries": {"attempts": 1, "on": ["5xx"], "backoff": "10ms"}}
    keys.update(route_keys)
    gw = gateway(make_config({"pool": [bad, good]}, workers=1,
                             upstream_opts={"pool": {"balance": "round_robin"}},
                             routes=route("pool", **keys)))
    return bad, good, gw


def test_5xx_retried_for_idempotent_methods(upstream, gateway):
    bad, good, gw = _five_xx_gateway(upstream, gateway)
    assert get_names(gw, 12) == ["good"] * 12
    body = os.urandom(3000)
    with Conn(gw.port) as c:
        for method in ("PUT", "DELETE", "OPTIONS", "HEAD", "PUT", "DELETE"):
            r = c.request(method, "/echo/m", body=body if method == "PUT" else None)
            assert r.status == 200, "%s: %r" % (method, r)
            assert r.header("X-Upstream") == "good", "%s: %r" % (method, r)
            if method == "PUT":
                assert r.json()["body_sha256"] == sha256(body)
    assert bad.stats()["requests"] > 0, "the failing server was never tried"
    assert retries_total(gw) > 0


def test_post_not_retried_unless_idempotency_key(upstream, gateway):
    bad, good, gw = _five_xx_gateway(upstream, gateway)
    before = retries_total(gw)
    statuses = collections.Counter()
    with Conn(gw.port) as c:
        for i in range(8):
            r = c.request("POST", "/echo/post%d" % i, body=b"payload %d" % i)
            statuses[(r.status, r.header("X-Upstream"))] += 1
    assert set(statuses) <= {(500, "bad"), (200, "good")}, statuses
    assert statuses[(500, "bad")] >= 1, "no POST landed on the failing server: %s" % statuses
    assert retries_total(gw) == before, "a POST without Idempotency-Key was retried"
    # PATCH is not idempotent either
    with Conn(gw.port) as c:
        patch = collections.Counter(c.request("PATCH", "/echo/p", body=b"x").status for _ in range(4))
    assert patch[500] >= 1, patch
    assert retries_total(gw) == before

    with Conn(gw.port) as c:
        for i in range(8):
            r = c.request("POST", "/echo/key%d" % i, headers={"Idempotency-Key": "k-%d" % i},
                          body=b"payload %d" % i)
            assert r.status == 200, "POST with Idempotency-Key %d: %r" % (i, r)
            assert r.header("X-Upstream") == "good"
            assert r.json()["body_len"] == len(b"payload %d" % i)
    assert retries_total(gw) > before


def test_retry_non_idempotent_replays_body_intact(upstream, gateway):
    bad, good, gw = _five_xx_gateway(upstream, gateway, retry_non_idempotent=True)
    with Conn(gw.port) as c:
        for i in range(6):
            body = os.urandom(10 * 1024)
            r = c.request("POST", "/echo/big%d" % i, body=body, chunked=(i % 2 == 1))
            assert r.status == 200, "POST %d: %r" % (i, r)
            assert r.header("X-Upstream") == "good"
            doc = r.json()
            assert doc["body_len"] == len(body), doc
            assert doc["body_sha256"] == sha256(body), "replayed body differs (POST %d)" % i
    assert bad.stats()["requests"] >= 1, "the failing server never got a POST"
    assert retries_total(gw) >= 1


def test_body_over_retry_buffer_limit_not_replayed(upstream, gateway):
    """A body larger than retry_buffer_limit cannot be replayed: the upstream's 500 is passed on."""
    bad = upstream("bad", "--status", "500")
    good = upstream("good")
    gw = gateway(make_config(
        {"pool": [bad, good]}, workers=1, upstream_opts={"pool": {"balance": "round_robin"}},
        routes=route("pool", retries={"attempts": 1, "on": ["5xx"]}, retry_buffer_limit=1024)))
    seen = collections.Counter()
    with Conn(gw.port) as c:
        for i in range(6):
            body = os.urandom(8 * 1024)
            r = c.request("PUT", "/echo/put%d" % i, body=body)
            seen[(r.status, r.header("X-Upstream"))] += 1
            if r.status == 200:
                assert r.json()["body_sha256"] == sha256(body)
    assert set(seen) <= {(500, "bad"), (200, "good")}, seen
    assert seen[(500, "bad")] >= 1, seen
    assert retries_total(gw) == 0


def test_retry_budget_sequential_requests_not_limited(upstream, gateway):
    """Every server fails; with one request at a time the concurrent-retry floor (3) is never
    reached, so retries happen (attempts 3 each) and the budget is never exhausted."""
    ups = [upstream("f1", "--status", "500"), upstream("f2", "--status", "500")]
    gw = gateway(make_config(
        {"pool": ups}, workers=1,
        routes=route("pool", retries={"attempts": 3, "on": ["5xx"], "budget_percent": 20,
                                      "backoff": "5ms"})))
    n = 10
    with Conn(gw.port) as c:
        for i in range(n):
            r = c.get("/echo/%d" % i)
            assert r.status == 500, r
    text = gw.metrics_text()
    retries = metric_value(text, "scalegate_upstream_retries_total", upstream="pool")
    assert metric_value(text, "scalegate_upstream_retry_budget_exhausted_total", upstream="pool") == 0
    assert 0 < retries <= 3 * n, retries
    tries = sum(u.stats()["requests"] for u in ups)
    assert tries == n + retries, "upstream tries %d, requests %d, retries %d" % (tries, n, retries)


def test_retry_budget_limits_concurrent_retries(upstream, gateway):
    """Ten requests fail at about the same time (every server answers 500 after 500 ms): the
    budget (20% of active requests, floor 3) lets at most 3 retry concurrently, the others
    are answered without a retry and counted as budget-exhausted."""
    ups = [upstream("f%d" % i, "--status", "500", "--delay-ms", "500") for i in range(2)]
    gw = gateway(make_config(
        {"pool": ups}, workers=1,
        routes=route("pool", retries={"attempts": 3, "on": ["5xx"], "budget_percent": 20,
                                      "backoff": "5ms"})))
    n = 10
    conns = [Conn(gw.port, timeout=30) for _ in range(n)]
    try:
        for i, c in enumerate(conns):  # all ten in flight before the first answer (500 ms)
            c.send(build_request("GET", "/echo/%d" % i))
        statuses = [c.read_response().status for c in conns]
    finally:
        for c in conns:
            c.close()
    assert statuses == [500] * n, statuses
    text = gw.metrics_text()
    retries = metric_value(text, "scalegate_upstream_retries_total", upstream="pool")
    exhausted = metric_value(text, "scalegate_upstream_retry_budget_exhausted_total", upstream="pool")
    assert exhausted >= 1, "no retry was refused (retries %s)" % retries
    assert retries < 3 * n, retries
    tries = sum(u.stats()["requests"] for u in ups)
    assert tries == n + retries, "upstream tries %d, requests %d, retries %d" % (tries, n, retries)


# ---------------------------------------------------------------------------
# outlier detection
# ---------------------------------------------------------------------------
def _outlier_opts(**over):
    od = {"consecutive_5xx": 3, "interval": "1s", "base_ejection_time": "2s", "max_ejection_percent": 50}
    od.update(over)
    return {"balance": "round_robin", "outlier_detection": od}


def _drive_until(gw, predicate, limit=200):
    """Sends GETs one at a time until predicate() holds (bounded); returns the responses sent."""
    sent = []
    with Conn(gw.port) as c:
        for i in range(limit):
            if predicate():
                return sent
            r = c.get("/echo/drive%d" % i)
            sent.append((r.status, r.header("X-Upstream")))
    assert predicate(), "condition not reached after %d requests: %s" % (limit, collections.Counter(sent))
    return sent


def test_outlier_ejected_then_readmitted(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    bad = upstream("bad", "--status", "500")
    gw = gateway(make_config({"pool": [a, b, bad]}, workers=1, upstream_opts={"pool": _outlier_opts()}))
    assert gw.server_state("pool", bad.address) == "up"
    assert gw.metric("scalegate_upstream_outlier_ejections", upstream="pool") == 0

    sent = _drive_until(gw, lambda: gw.server_state("pool", bad.address) == "ejected", limit=30)
    bad_answers = [s for s in sent if s[1] == "bad"]
    assert all(s == (500, "bad") for s in bad_answers), sent
    assert len(bad_answers) >= 3, "ejected after fewer than consecutive_5xx failures: %s" % sent
    entry = gw.health_server("pool", bad.address)
    assert entry is not None and entry.get("state") == "down" and entry.get("reason") == "ejected", entry
    assert gw.metric("scalegate_upstream_server_up", upstream="pool", server=bad.address) == 0
    assert gw.metric("scalegate_upstream_outlier_ejections", upstream="pool") == 1
    for srv in (a, b):
        assert gw.server_state("pool", srv.address) == "up"

    # while ejected, only the healthy servers get traffic (a few requests, well within 2 s)
    before = bad.stats()["requests"]
    seq = get_names(gw, 6)
    if gw.server_state("pool", bad.address) == "ejected":
        assert set(seq) <= {"a", "b"}, seq
        assert bad.stats()["requests"] == before

    # readmitted after base_ejection_time (checked at the next interval)
    assert wait_until(lambda: gw.server_state("pool", bad.address) == "up", timeout=10, interval=0.1), \
        "not readmitted: state %s" % gw.server_state("pool", bad.address)
    entry = gw.health_server("pool", bad.address)
    assert entry.get("state") == "up" and "reason" not in entry, entry
    # it takes traffic again, fails again, and is ejected a second time (cumulative gauge)
    _drive_until(gw, lambda: gw.server_state("pool", bad.address) == "ejected", limit=30)
    assert bad.stats()["requests"] > before
    assert gw.metric("scalegate_upstream_outlier_ejections", upstream="pool") == 2


def test_outlier_max_ejection_percent(upstream, gateway):
    """Three of four servers fail; max_ejection_percent 50 allows two ejected at once, never three."""
    good = upstream("good")
    bads = [upstream("bad%d" % i, "--status", "500") for i in range(3)]
    gw = gateway(make_config({"pool": [good] + bads}, workers=1,
                             upstream_opts={"pool": _outlier_opts(base_ejection_time="30s")}))

    def ejected():
        return sum(1 for u in bads if gw.server_state("pool", u.address) == "ejected")

    _drive_until(gw, lambda: ejected() >= 2, limit=60)
    # keep sending: the third failing server keeps failing but must not be ejected
    with Conn(gw.port) as c:
        for i in range(24):
            c.get("/echo/more%d" % i)
    states = {u.name: gw.server_state("pool", u.address) for u in bads}
    assert ejected() == 2, states
    assert gw.server_state("pool", good.address) == "up"
    assert gw.metric("scalegate_upstream_outlier_ejections", upstream="pool") == 2


def test_outlier_first_ejection_always_allowed(upstream, gateway):
    """max_ejection_percent 10 of three servers is under one server, but always_eject_one_host
    allows the first ejection."""
    a, b = upstream("a"), upstream("b")
    bad = upstream("bad", "--status", "500")
    gw = gateway(make_config({"pool": [a, b, bad]}, workers=1,
                             upstream_opts={"pool": _outlier_opts(max_ejection_percent=10,
                                                                  always_eject_one_host=True,
                                                                  base_ejection_time="30s")}))
    _drive_until(gw, lambda: gw.server_state("pool", bad.address) == "ejected", limit=30)
    assert set(get_names(gw, 6)) <= {"a", "b"}


def test_outlier_consecutive_gateway_failure(upstream, gateway):
    """consecutive_gateway_failure counts 502/503/504 only: a server answering 500 is not
    ejected by it, one answering 503 is."""
    a = upstream("a")
    s500 = upstream("s500", "--status", "500")
    s503 = upstream("s503", "--status", "503")
    gw = gateway(make_config(
        {"pool": [a, s500, s503]}, workers=1,
        upstream_opts={"pool": {"balance": "round_robin",
                                "outlier_detection": {"consecutive_gateway_failure": 3,
                                                      "consecutive_5xx": 1000, "interval": "1s",
                                                      "base_ejection_time": "30s",
                                                      "max_ejection_percent": 100}}}))
    _drive_until(gw, lambda: gw.server_state("pool", s503.address) == "ejected", limit=30)
    with Conn(gw.port) as c:
        for i in range(12):
            c.get("/echo/x%d" % i)
    assert gw.server_state("pool", s500.address) == "up"
    assert s500.stats()["requests"] >= 6


# ---------------------------------------------------------------------------
# backups and panic mode
# ---------------------------------------------------------------------------
def test_backup_not_used_while_one_primary_is_up(upstream, gateway):
    p1, p2, bk = upstream("p1"), upstream("p2"), upstream("bk")
    servers = [{"address": p1}, {"address": p2}, {"address": bk, "backup": True}]
    gw = gateway(make_config({"pool": servers}, workers=1,
                             upstream_opts={"pool": {"max_fails": 1, "fail_timeout": "10s"}}))
    p1.kill()
    seq = get_names(gw, 20)
    assert set(seq) == {"p2"}, seq
    assert bk.stats()["requests"] == 0
    assert gw.server_state("pool", p1.address) == "failed_connects"
    # the last primary goes: now the backup takes everything
    p2.kill()
    assert get_names(gw, 10) == ["bk"] * 10
    assert gw.metric("scalegate_upstream_panic_total", upstream="pool") == 0


def _panic_gateway(upstream, gateway, threshold, backup=False):
    ups = [upstream("p%d" % i) for i in range(4)]
    servers = [{"address": u} for u in ups]
    bk = None
    if backup:
        bk = upstream("bk")
        servers.append({"address": bk, "backup": True})
    gw = gateway(make_config({"pool": servers}, workers=1,
                             upstream_opts={"pool": {"balance": "round_robin", "max_fails": 1,
                                                     "fail_timeout": "30s",
                                                     "panic_threshold": threshold}}))
    assert sorted(get_names(gw, 4)) == ["p0", "p1", "p2", "p3"]
    for u in ups[1:]:
        u.kill()
    # every dead primary is found out (a failed connect marks it down; the request moves on)
    dead = [u.address for u in ups[1:]]

    def all_marked():
        return all(gw.server_state("pool", d) == "failed_connects" for d in dead)

    sent = []
    for _ in range(40):
        if all_marked():
            break
        sent += get_names(gw, 1)
    assert all_marked(), {d: gw.server_state("pool", d) for d in dead}
    return ups, bk, gw


def test_panic_mode_sends_to_all_primaries(upstream, gateway):
    ups, _, gw = _panic_gateway(upstream, gateway, 50)
    before_live = ups[0].stats()["requests"]
    errors_before = sum(gw.metric("scalegate_upstream_server_errors_total", upstream="pool",
                                  server=u.address) or 0 for u in ups[1:])
    panic_before = gw.metric("scalegate_upstream_panic_total", upstream="pool")
    seq = get_names(gw, 20)  # each must succeed: dead picks fail over on the connect error
    assert set(seq) == {"p0"}, seq
    assert ups[0].stats()["requests"] - before_live == 20
    assert gw.metric("scalegate_upstream_panic_total", upstream="pool") > panic_before
    errors_after = sum(gw.metric("scalegate_upstream_server_errors_total", upstream="pool",
                                 server=u.address) or 0 for u in ups[1:])
    assert errors_after > errors_before, "panic mode did not send any pick to the down primaries"
    for u in ups[1:]:
        assert gw.server_state("pool", u.address) == "failed_connects"


def test_no_panic_with_threshold_zero(upstream, gateway):
    ups, _, gw = _panic_gateway(upstream, gateway, 0)
    errors_before = sum(gw.metric("scalegate_upstream_server_errors_total", upstream="pool",
                                  server=u.address) or 0 for u in ups[1:])
    seq = get_names(gw, 20)
    assert seq == ["p0"] * 20, seq
    errors_after = sum(gw.metric("scalegate_upstream_server_errors_total", upstream="pool",
                                 server=u.address) or 0 for u in ups[1:])
    assert errors_after == errors_before, "dead servers were still tried (no panic configured)"
    assert gw.metric("scalegate_upstream_panic_total", upstream="pool") == 0


def test_no_panic_while_backup_is_healthy(upstream, gateway):
    """Panic mode applies only when no backup is healthy: with a healthy backup the dead
    primaries are not tried and panic_total stays 0."""
    ups, bk, gw = _panic_gateway(upstream, gateway, 50, backup=True)
    errors_before = sum(gw.metric("scalegate_upstream_server_errors_total", upstream="pool",
                                  server=u.address) or 0 for u in ups[1:])
    seq = get_names(gw, 20)
    assert set(seq) <= {"p0", "bk"}, seq
    errors_after = sum(gw.metric("scalegate_upstream_server_errors_total", upstream="pool",
                                 server=u.address) or 0 for u in ups[1:])
    panic = gw.metric("scalegate_upstream_panic_total", upstream="pool")
    assert panic == 0 and errors_after == errors_before, \
        ("panic mode entered although a backup is healthy: panic_total %s, failed connects to dead "
         "primaries during 20 GETs %d (picks: %s)" % (panic, errors_after - errors_before, collections.Counter(seq)))
