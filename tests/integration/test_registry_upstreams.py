"""Upstreams with `discovery: {registry: SERVICE}` follow the registry: no instance -> 503;
registered instances get traffic; a deregistered one drains (its request in flight finishes);
one whose heartbeat stops leaves after its ttl; a new weight applies; with a health check, an
instance whose server dies is evicted from the registry at once; shared through Redis, a
registration on one gateway feeds another's upstream."""
import collections
import threading

from conftest import make_config, wait_until
from redis_support import gateways, redis  # noqa: F401  (fixtures)


def registry_config(workers=2, **opts):
    upstream = {"balance": "round_robin", "discovery": {"registry": "web"}}
    upstream.update(opts)
    cfg = make_config({"web": []}, workers=workers, upstream_opts={"web": upstream})
    del cfg["upstreams"]["web"]["servers"]
    return cfg


def register(gw, instance, server, **fields):
    body = {"address": server.address}
    body.update(fields)
    r = gw.admin_request("PUT", "/admin/registry/web/%s" % instance, body=body)
    assert r.status in (200, 201), r
    return r


def answered_by(gw, n):
    out = collections.Counter()
    for i in range(n):
        r = gw.get("/echo/%d" % i)
        out[r.header("X-Upstream") if r.status == 200 else r.status] += 1
    return out


def servers(gw):
    status, health = gw.health()
    return {s["address"]: s for s in health["upstreams"]["web"]["servers"]}


def test_registered_instances_get_traffic_and_deregistered_ones_leave(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(registry_config())
    assert gw.get("/echo").status == 503  # nobody registered yet
    register(gw, "a-1", a)
    register(gw, "b-1", b)
    assert wait_until(lambda: answered_by(gw, 4) == {"a": 2, "b": 2}, timeout=5), answered_by(gw, 4)
    r = gw.admin_request("DELETE", "/admin/registry/web/a-1")
    assert r.status == 200, r
    assert wait_until(lambda: answered_by(gw, 4) == {"b": 4}, timeout=5), answered_by(gw, 4)
    gw.admin_request("DELETE", "/admin/registry/web/b-1")
    assert wait_until(lambda: gw.get("/echo").status == 503, timeout=5)


def test_a_deregistered_instance_finishes_its_request_in_flight(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(registry_config(balance="least_request"))
    register(gw, "a-1", a)
    assert wait_until(lambda: gw.get("/echo").status == 200, timeout=5)
    slow = {}
    thread = threading.Thread(target=lambda: slow.setdefault("r", gw.get("/slow?ms=1500")))
    thread.start()
    assert wait_until(lambda: servers(gw)[a.address]["in_flight"] == 1, timeout=5)
    register(gw, "b-1", b)
    gw.admin_request("DELETE", "/admin/registry/web/a-1")
    assert wait_until(lambda: servers(gw)[a.address].get("reason") == "removing", timeout=5)
    assert answered_by(gw, 4) == {"b": 4}
    thread.join(10)
    assert slow["r"].status == 200 and slow["r"].header("X-Upstream") == "a", slow["r"]
    # once drained, the slot is vacated: the server is no longer listed
    assert wait_until(lambda: a.address not in servers(gw), timeout=10), servers(gw)


def test_an_instance_without_heartbeats_leaves_the_upstream_after_its_ttl(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(registry_config())
    register(gw, "a-1", a, ttl="1s")
    register(gw, "b-1", b, ttl="60s")
    assert wait_until(lambda: set(answered_by(gw, 4)) == {"a", "b"}, timeout=5)
    assert wait_until(lambda: answered_by(gw, 4) == {"b": 4}, timeout=5), answered_by(gw, 4)
    assert gw.metric("scalegate_registry_evictions_total", service="web", reason="ttl") == 1


def test_a_new_weight_from_the_registry_applies(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    # one worker: weighted round robin keeps its position per worker
    gw = gateway(registry_config(workers=1, balance="weighted_round_robin"))
    register(gw, "a-1", a)
    register(gw, "b-1", b)
    assert wait_until(lambda: answered_by(gw, 4) == {"a": 2, "b": 2}, timeout=5)
    register(gw, "a-1", a, weight=3)
    assert wait_until(lambda: servers(gw)[a.address]["weight"] == 3, timeout=5), servers(gw)
    assert answered_by(gw, 8) == {"a": 6, "b": 2}


def test_an_instance_failing_its_health_check_is_evicted_at_once(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(registry_config(health_check={"path": "/health", "interval": "200ms",
                                               "timeout": "200ms", "rise": 1, "fall": 1}))
    register(gw, "a-1", a)
    register(gw, "b-1", b)
    assert wait_until(lambda: set(answered_by(gw, 4)) == {"a", "b"}, timeout=5)
    a.kill()
    listed = lambda: {i["id"] for i in gw.admin_get("/admin/registry/web").json()["instances"]}
    assert wait_until(lambda: listed() == {"b-1"}, timeout=3), listed()
    assert answered_by(gw, 4) == {"b": 4}
    assert gw.metric("scalegate_registry_evictions_total", service="web",
                     reason="health_check") == 1


def test_a_server_added_through_the_admin_api_stays_beside_registered_ones(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(registry_config())
    r = gw.admin_request("PUT", "/admin/upstreams/web/servers/%s" % b.address, body={"weight": 1})
    assert r.status == 201, r
    register(gw, "a-1", a)
    assert wait_until(lambda: answered_by(gw, 4) == {"a": 2, "b": 2}, timeout=5), answered_by(gw, 4)
    gw.admin_request("DELETE", "/admin/registry/web/a-1")
    assert wait_until(lambda: answered_by(gw, 4) == {"b": 4}, timeout=5), answered_by(gw, 4)
    assert servers(gw)[b.address]["state"] == "up"


def test_an_instance_registered_on_one_gateway_gets_traffic_from_another(upstream, redis,
                                                                        gateways):
    """Two gateways sharing the registry through Redis: an instance registered on one joins
    the other's registry-bound upstream within a second (the registry's sync, 250 ms, plus the
    upstream's, 250 ms); deregistered on the other, it leaves the first."""
    a = upstream("a")
    cfg = registry_config()
    cfg["store"] = {"type": "redis", "address": redis.address, "timeout": "200ms"}
    one, two = gateways(cfg), gateways(cfg)
    for gw in (one, two):
        assert wait_until(lambda: gw.health()[1]["registry"].get("state") == "synced", 5)
    register(one, "a-1", a)
    assert wait_until(lambda: two.get("/echo").status == 200, timeout=1.0), two.get("/echo")
    assert two.get("/echo").header("X-Upstream") == "a"
    r = two.admin_request("DELETE", "/admin/registry/web/a-1")
    assert r.status == 200, r
    assert wait_until(lambda: one.get("/echo").status == 503, timeout=1.5)
