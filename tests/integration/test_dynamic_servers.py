"""Servers added and removed at run time (upstream `discovery`, admin PUT/DELETE
/admin/upstreams/{u}/servers/{address}): added servers get traffic after slow start, removed
ones drain (requests in flight finish, no new ones, sticky clients included), an upstream with
no server answers 503, added servers are health-checked, bad inputs get clear errors."""
import collections
import threading
import time

from conftest import free_port, make_config, wait_until
from test_admin_servers import sticky_cookie


def discovery_config(static, workers=2, **opts):
    """One upstream "pool" with `discovery`; `static` may be empty (no `servers` key then)."""
    upstream = {"balance": "round_robin", "discovery": {"registry": "web"}}
    upstream.update(opts)
    cfg = make_config({"pool": static}, workers=workers, upstream_opts={"pool": upstream})
    if not static:
        del cfg["upstreams"]["pool"]["servers"]
    return cfg


def add(gw, address, weight=None, upstream="pool"):
    body = None if weight is None else {"weight": weight}
    return gw.admin_request("PUT", "/admin/upstreams/%s/servers/%s" % (upstream, address), body=body)


def remove(gw, address, upstream="pool"):
    return gw.admin_request("DELETE", "/admin/upstreams/%s/servers/%s" % (upstream, address))


def listed(gw, upstream="pool"):
    r = gw.admin_get("/admin/upstreams/%s/servers" % upstream)
    assert r.status == 200, r
    return {s["address"]: s["state"] for s in r.json()["servers"]}


def names(gw, n, headers=None):
    out = collections.Counter()
    for i in range(n):
        r = gw.get("/echo/%d" % i, headers=headers)
        assert r.status == 200, r
        out[r.header("X-Upstream")] += 1
    return out


def test_added_server_gets_traffic_after_slow_start(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(discovery_config([a], slow_start="1s"))
    assert names(gw, 6) == {"a": 6}
    r = add(gw, b.address, weight=1)
    assert r.status == 201, r
    assert r.json() == {"upstream": "pool", "address": b.address, "weight": 1, "state": "added"}
    assert listed(gw) == {a.address: "up", b.address: "up"}
    # slow start ramps b up; once it is over, round robin alternates between both
    assert wait_until(lambda: names(gw, 10) == {"a": 5, "b": 5}, timeout=15), names(gw, 10)
    assert gw.server_state("pool", b.address) == "up"
    assert gw.metric("scalegate_upstream_server_requests_total", upstream="pool",
                     server=b.address) > 0
    entry = gw.health_server("pool", b.address)
    assert entry and entry["state"] == "up", entry


def test_added_server_starts_slowly(upstream, gateway):
    """With a long slow_start an added server starts at a fraction of its share (10% at first,
    growing over the minute): far fewer than half of the requests right after the add."""
    a, b = upstream("a"), upstream("b")
    gw = gateway(discovery_config([a], workers=1, slow_start="60s"))
    assert add(gw, b.address).status == 201
    seen = names(gw, 40)
    assert seen["b"] < 15, seen


def test_removed_server_finishes_request_in_flight_and_takes_no_new_one(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(discovery_config([], sticky_cookie="SGID"))
    assert add(gw, a.address).status == 201
    r = gw.get("/echo/pin")
    assert r.status == 200 and r.header("X-Upstream") == "a", r
    cookie_a = sticky_cookie(r)
    assert cookie_a
    slow = {}
    thread = threading.Thread(target=lambda: slow.setdefault("r", gw.get("/slow?ms=2000")))
    thread.start()
    assert wait_until(lambda: gw.health_server("pool", a.address)["in_flight"] == 1, timeout=10)
    assert add(gw, b.address).status == 201
    r = remove(gw, a.address)
    assert r.status == 202, r
    assert r.json() == {"upstream": "pool", "address": a.address, "state": "removing"}
    assert listed(gw)[a.address] == "removing"
    before = a.stats()["requests"]
    assert names(gw, 8) == {"b": 8}
    assert names(gw, 4, headers={"Cookie": cookie_a}) == {"b": 4}  # sticky clients move too
    thread.join(timeout=30)
    assert slow["r"].status == 200 and slow["r"].header("X-Upstream") == "a", slow["r"]
    assert a.stats()["requests"] == before  # only the slow request, counted earlier
    # once drained, the slot is vacated: a leaves the list, its series says vacant
    assert wait_until(lambda: a.address not in listed(gw), timeout=15), listed(gw)
    assert gw.server_state("pool", a.address) == "vacant"
    assert gw.metric("scalegate_upstream_server_up", upstream="pool", server=a.address) == 0
    assert remove(gw, a.address).status == 404


def test_upstream_without_servers_answers_503_then_serves_after_add(upstream, gateway):
    a = upstream("a")
    gw = gateway(discovery_config([]))
    assert gw.get("/echo/x").status == 503
    status, doc = gw.health()
    assert doc["upstreams"]["pool"]["servers"] == [] and not doc["upstreams"]["pool"]["available"]
    assert add(gw, a.address).status == 201
    assert names(gw, 4) == {"a": 4}
    assert remove(gw, a.address).status == 202
    assert gw.get("/echo/y").status == 503  # at once: a server being removed takes nothing new


def test_add_remove_cycles_with_health_checks(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    check = {"type": "http", "path": "/health", "interval": "200ms", "timeout": "150ms",
             "rise": 2, "fall": 2, "expect": [200]}
    gw = gateway(discovery_config([a], health_check=check, discovery={
        "registry": "web", "max_servers": 2}))
    dead = "127.0.0.1:%d" % free_port()  # nothing listens there
    for cycle in range(3):
        assert add(gw, b.address).status == 201, cycle
        assert add(gw, dead).status == 201, cycle
        # the checker picks both up: the dead one goes down, b is checked and serves
        assert wait_until(lambda: gw.server_state("pool", dead) == "failed_check", timeout=10), \
            gw.server_state("pool", dead)
        hits = b.stats()["health_hits"]
        assert wait_until(lambda: b.stats()["health_hits"] > hits, timeout=10)
        assert wait_until(lambda: set(names(gw, 6)) == {"a", "b"}, timeout=15)
        assert remove(gw, b.address).status == 202
        assert remove(gw, dead).status == 202
        assert wait_until(lambda: listed(gw) == {a.address: "up"}, timeout=15), listed(gw)
        # both slots are free again (every worker has seen them vacant)
        assert wait_until(lambda: gw.admin_get("/admin/upstreams/pool/servers").json()
                          ["free_slots"] == 2, timeout=15)
    # a vacated server is no longer checked
    hits = b.stats()["health_hits"]
    time.sleep(1)  # five check intervals
    assert b.stats()["health_hits"] - hits <= 1


def test_bad_inputs(upstream, gateway):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    cfg = discovery_config([a], discovery={"registry": "web", "max_servers": 1})
    cfg["upstreams"]["fixed"] = {"servers": [{"address": c.address}]}
    gw = gateway(cfg)
    # an upstream without discovery
    r = add(gw, b.address, upstream="fixed")
    assert r.status == 400 and "no `discovery`" in r.json()["error"], r
    assert remove(gw, c.address, upstream="fixed").status == 400
    assert add(gw, b.address, upstream="nope").status == 404
    # bad addresses and bodies
    for address in ("nonsense", "127.0.0.1:0", "0.0.0.0:8080", "127.0.0.1:99999"):
        r = add(gw, address)
        assert r.status == 400 and "bad server address" in r.json()["error"], (address, r)
    for body in ('{"weight": 0}', '{"weight": 1001}', '{"weight": "2"}', "[1]", "{", '{"w": 1}'):
        r = gw.admin_request("PUT", "/admin/upstreams/pool/servers/%s" % b.address, body=body)
        assert r.status == 400, (body, r)
    # duplicates: a static server, an added one
    assert add(gw, a.address).status == 409
    assert add(gw, b.address, weight=3).status == 201
    assert add(gw, b.address).status == 409
    # every slot taken
    r = add(gw, c.address)
    assert r.status == 507 and "no free server slot" in r.json()["error"], r
    # removing: unknown, static
    assert remove(gw, "127.0.0.1:1").status == 404
    r = remove(gw, a.address)
    assert r.status == 400 and "drain or disable" in r.json()["error"], r
    # methods
    assert gw.admin_request("POST", "/admin/upstreams/pool/servers/%s" % b.address).status == 405
    assert gw.admin_request("PUT", "/admin/upstreams/pool/servers").status == 405
    # a server being removed is not enabled or re-added meanwhile
    assert listed(gw) == {a.address: "up", b.address: "up"}
    assert remove(gw, b.address).status == 202
    assert remove(gw, b.address).status == 202  # again: still removing
    r = gw.server_action("pool", b.address, "enable")
    assert r.status in (404, 409), r  # 409 while removing, 404 once vacated


def test_dns_discovery_serves_what_the_name_resolves_to(upstream, gateway):
    """`localhost` resolves locally (no DNS server is needed): A gives 127.0.0.1 only."""
    a = upstream("a")
    gw = gateway(discovery_config([], discovery={"dns": "localhost:%d" % a.port, "type": "A",
                                                 "interval": "200ms"}))
    assert wait_until(lambda: listed(gw) == {a.address: "up"}, timeout=15), listed(gw)
    assert names(gw, 4) == {"a": 4}
    assert wait_until(lambda: gw.metric("scalegate_discovery_dns_resolutions_total",
                                        upstream="pool") >= 3, timeout=15)
    assert gw.metric("scalegate_discovery_dns_failures_total", upstream="pool") == 0
    assert listed(gw) == {a.address: "up"}  # the same answer again changes nothing


def test_dns_discovery_failure_keeps_the_upstream_empty_and_counts(upstream, gateway):
    gw = gateway(discovery_config([], discovery={"dns": "no-such-host.invalid:80",
                                                 "interval": "200ms"}))
    assert wait_until(lambda: gw.metric("scalegate_discovery_dns_failures_total",
                                        upstream="pool") >= 2, timeout=15)
    assert gw.get("/echo/x").status == 503
    assert "no-such-host.invalid" in gw.logs


def test_requests_during_add_remove_cycles_all_succeed(upstream, gateway):
    """Two clients keep sending (one with a sticky cookie, one without) while a server is added
    and removed again and again on a two-worker gateway: every request is answered 200."""
    a, b = upstream("a"), upstream("b")
    gw = gateway(discovery_config([a], sticky_cookie="SGID"))
    stop = threading.Event()
    results = collections.Counter()

    def client(k):
        cookie = None
        while not stop.is_set():
            r = gw.get("/echo/%d" % k, headers={"Cookie": cookie} if cookie else None)
            results[r.status] += 1
            if k == 0:
                cookie = sticky_cookie(r) or cookie

    threads = [threading.Thread(target=client, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    try:
        for cycle in range(4):
            assert add(gw, b.address).status == 201, cycle
            assert wait_until(lambda: b.stats()["requests"] > 0, timeout=10)
            assert remove(gw, b.address).status == 202, cycle
            assert wait_until(lambda: b.address not in listed(gw), timeout=15), cycle
            assert wait_until(lambda: add(gw, b.address).status == 201, timeout=15), cycle
            assert remove(gw, b.address).status == 202, cycle
            assert wait_until(lambda: b.address not in listed(gw), timeout=15), cycle
            b.reset_stats()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert set(results) == {200}, results
    assert results[200] > 0
