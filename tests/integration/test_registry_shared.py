"""The service registry shared by gateway instances through Redis (a top-level `store`): a
registration, heartbeat or deregistration on one instance reaches the other within 1 s; TTL
expiry works across instances (heartbeats on one keep an instance alive for both); with
Redis killed both keep serving their last registry (/health degraded, registry "stale"),
and once Redis is back (restarted empty) both converge on every instance either knows;
the same through a Redis Cluster."""
import time

from conftest import make_config, wait_until
from redis_support import gateways, redis, redis_cluster  # noqa: F401  (fixtures)


def shared_config(upstream, store):
    return make_config({"static": [upstream("s")]}, store=store)


def redis_store(server):
    return {"type": "redis", "address": server.address, "timeout": "200ms"}


def put(gw, service, instance, body):
    return gw.admin_request("PUT", "/admin/registry/%s/%s" % (service, instance), body=body)


def heartbeat(gw, service, instance):
    return gw.admin_request("PUT", "/admin/registry/%s/%s/heartbeat" % (service, instance))


def instances(gw, service):
    r = gw.admin_get("/admin/registry/%s" % service)
    assert r.status == 200, r
    return {i["id"]: i for i in r.json()["instances"]}


def ids(gw, service):
    return sorted(instances(gw, service))


def registry_health(gw):
    status, doc = gw.health()
    return status, doc.get("status"), doc.get("registry")


def start_pair(upstream, gateways, store):
    cfg = shared_config(upstream, store)
    a, b = gateways(cfg), gateways(cfg)
    for gw in (a, b):
        assert wait_until(lambda: registry_health(gw)[2].get("state") == "synced", 5.0), registry_health(gw)
    return a, b


def test_changes_on_one_gateway_reach_the_other_within_a_second(upstream, redis, gateways):
    a, b = start_pair(upstream, gateways, redis_store(redis))
    r = put(a, "users", "u1", {"address": "127.0.0.1:3001", "weight": 4, "ttl": "20s",
                               "metadata": {"zone": "eu"}})
    assert r.status == 201, r
    assert wait_until(lambda: ids(b, "users") == ["u1"], 1.0), ids(b, "users")
    seen = instances(b, "users")["u1"]
    mine = r.json()
    for field in ("address", "weight", "ttl", "metadata", "registered_at_ms"):
        assert seen[field] == mine[field], (field, seen, mine)
    services = b.admin_get("/admin/registry").json()["services"]
    assert [(s["name"], s["instances"]) for s in services] == [("users", 1)], services

    # a heartbeat taken by b is seen by a
    time.sleep(1.2)
    assert heartbeat(b, "users", "u1").status == 200
    assert wait_until(lambda: instances(a, "users")["u1"]["seconds_since_heartbeat"] < 1.0, 1.0)

    # a replacement and a deregistration travel the same way
    assert put(b, "users", "u1", {"address": "127.0.0.1:3011"}).status == 200
    assert wait_until(lambda: instances(a, "users").get("u1", {}).get("address") == "127.0.0.1:3011", 1.0)
    assert b.admin_request("DELETE", "/admin/registry/users/u1").status == 200
    assert wait_until(lambda: ids(a, "users") == [], 1.0), ids(a, "users")
    assert heartbeat(a, "users", "u1").status == 404
    for gw in (a, b):
        status, overall, registry = registry_health(gw)
        assert status == 200 and overall == "ok", (overall, registry)
        assert registry["shared"] is True and registry["state"] == "synced", registry


def test_ttl_is_shared_heartbeats_on_either_gateway_keep_an_instance(upstream, redis, gateways):
    a, b = start_pair(upstream, gateways, redis_store(redis))
    assert put(a, "users", "beating", {"address": "127.0.0.1:3001", "ttl": "2s"}).status == 201
    assert put(a, "users", "silent", {"address": "127.0.0.1:3002", "ttl": "1s"}).status == 201
    assert wait_until(lambda: ids(b, "users") == ["beating", "silent"], 1.0)
    start = time.monotonic()
    while time.monotonic() - start < 3.0:  # only b hears "beating"
        assert heartbeat(b, "users", "beating").status == 200
        time.sleep(0.25)
    assert ids(a, "users") == ["beating"] and ids(b, "users") == ["beating"]
    assert heartbeat(a, "users", "silent").status == 404
    # silent: expired in Redis once, so counted once between the two gateways
    total = sum(gw.metric("scalegate_registry_evictions_total", service="users", reason="ttl") or 0
                for gw in (a, b))
    assert total == 1, total
    # heartbeats stop: both drop it (2 s ttl + a sync round)
    assert wait_until(lambda: ids(a, "users") == [] and ids(b, "users") == [], 4.0)
    assert redis.scan("scalegate:registry:{users}*") == []


def test_redis_killed_both_serve_the_last_registry_then_converge(upstream, redis, gateways):
    a, b = start_pair(upstream, gateways, redis_store(redis))
    assert put(a, "users", "before", {"address": "127.0.0.1:3001", "ttl": "60s"}).status == 201
    assert wait_until(lambda: ids(b, "users") == ["before"], 1.0)

    redis.kill()
    for gw in (a, b):
        assert wait_until(lambda: registry_health(gw)[2]["state"] == "stale", 5.0), registry_health(gw)
        status, overall, registry = registry_health(gw)
        assert status == 200 and overall == "degraded", (status, overall, registry)
    # still served; changes during the outage apply locally
    time.sleep(1.0)
    assert ids(a, "users") == ["before"] and ids(b, "users") == ["before"]
    assert heartbeat(b, "users", "before").status == 200
    assert put(a, "users", "during-a", {"address": "127.0.0.1:3002", "ttl": "60s"}).status == 201
    assert put(b, "orders", "during-b", {"address": "127.0.0.1:4001", "ttl": "60s"}).status == 201

    redis.start()  # empty, on the same port
    def converged():
        return all(ids(gw, "users") == ["before", "during-a"] and ids(gw, "orders") == ["during-b"]
                   for gw in (a, b))
    assert wait_until(converged, 15.0), [(ids(gw, "users"), ids(gw, "orders")) for gw in (a, b)]
    for gw in (a, b):
        assert wait_until(lambda: registry_health(gw)[2]["state"] == "synced", 5.0), registry_health(gw)
    # and new changes flow again within a second
    assert put(b, "users", "after", {"address": "127.0.0.1:3003"}).status == 201
    assert wait_until(lambda: "after" in ids(a, "users"), 1.0), ids(a, "users")


def test_a_redis_cluster_shares_the_registry(upstream, redis_cluster, gateways):
    store = {"type": "redis_cluster", "seeds": [n.address for n in redis_cluster.nodes], "timeout": "200ms"}
    a, b = start_pair(upstream, gateways, store)
    for i in range(6):  # services spread over the cluster's slots
        assert put(a, "svc%d" % i, "i1", {"address": "127.0.0.1:%d" % (3000 + i)}).status == 201
    assert wait_until(lambda: all(ids(b, "svc%d" % i) == ["i1"] for i in range(6)), 1.0)
    assert b.admin_request("DELETE", "/admin/registry/svc3/i1").status == 200
    assert wait_until(lambda: ids(a, "svc3") == [], 1.0)
