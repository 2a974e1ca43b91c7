"""The service registry through the admin API: register (201/200), heartbeat (404 once
unknown), list one service and every service, deregister; TTL eviction with a 1 s ttl; every
bad input answered 400/404/405 with a clear message; the registry's metrics and /health entry."""
import json
import time

from conftest import make_config, wait_until


def registry_gateway(upstream, gateway):
    return gateway(make_config({"static": [upstream("s")]}))


def put(gw, service, instance, body):
    return gw.admin_request("PUT", "/admin/registry/%s/%s" % (service, instance), body=body)


def instances(gw, service):
    r = gw.admin_get("/admin/registry/%s" % service)
    assert r.status == 200, r
    return {i["id"]: i for i in r.json()["instances"]}


def error_of(r, status):
    assert r.status == status, r
    doc = r.json()
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    return doc["error"]


def test_register_heartbeat_list_and_deregister(upstream, gateway):
    gw = registry_gateway(upstream, gateway)
    r = put(gw, "users", "users-1", {"address": "127.0.0.1:3001", "weight": 5, "ttl": "30s",
                                     "metadata": {"zone": "eu-1", "version": 3}})
    assert r.status == 201, r
    doc = r.json()
    assert doc["id"] == "users-1" and doc["address"] == "127.0.0.1:3001", doc
    assert doc["weight"] == 5 and doc["ttl"] == "30s", doc
    assert doc["metadata"] == {"zone": "eu-1", "version": 3}, doc
    assert put(gw, "users", "users-2", {"address": "127.0.0.1:3002"}).status == 201
    # the same instance again: replaced (200), with its new fields
    r = put(gw, "users", "users-2", {"address": "127.0.0.1:3012", "weight": 2})
    assert r.status == 200 and r.json()["address"] == "127.0.0.1:3012", r
    assert put(gw, "orders", "o1", {"address": "[::1]:4001"}).status == 201

    listed = instances(gw, "users")
    assert sorted(listed) == ["users-1", "users-2"], listed
    assert listed["users-2"]["weight"] == 2 and listed["users-2"]["ttl"] == "30s", listed
    assert listed["users-2"]["metadata"] == {}, listed
    assert 0 <= listed["users-1"]["seconds_since_heartbeat"] < 5, listed
    r = gw.admin_get("/admin/registry")
    assert r.status == 200, r
    services = {s["name"]: s["instances"] for s in r.json()["services"]}
    assert services == {"users": 2, "orders": 1}, r.json()

    time.sleep(0.3)
    r = gw.admin_request("PUT", "/admin/registry/users/users-1/heartbeat")
    assert r.status == 200 and r.json()["seconds_since_heartbeat"] < 0.2, r
    r = gw.admin_get("/admin/registry/users/users-1")
    assert r.status == 200 and r.json()["id"] == "users-1", r

    r = gw.admin_request("DELETE", "/admin/registry/users/users-1")
    assert r.status == 200 and r.json() == {"deregistered": "users-1", "service": "users"}, r
    assert sorted(instances(gw, "users")) == ["users-2"]
    # a deregistered instance's heartbeat is refused: the client must register again
    assert "register it again" in error_of(gw.admin_request("PUT", "/admin/registry/users/users-1/heartbeat"), 404)
    error_of(gw.admin_request("DELETE", "/admin/registry/users/users-1"), 404)
    # an unknown service lists no instance
    assert instances(gw, "nobody") == {}

    assert gw.metric("scalegate_registry_instances", service="users") == 1
    assert gw.metric("scalegate_registry_instances", service="orders") == 1
    assert gw.metric("scalegate_registry_registrations_total", service="users") == 3
    assert gw.metric("scalegate_registry_heartbeats_total", service="users") == 1
    status, health = gw.health()
    assert status == 200 and health["registry"] == {"services": 2, "shared": False}, health


def test_an_instance_without_heartbeats_is_evicted_after_its_ttl(upstream, gateway):
    gw = registry_gateway(upstream, gateway)
    assert put(gw, "users", "quiet", {"address": "127.0.0.1:3001", "ttl": "1s"}).status == 201
    assert put(gw, "users", "alive", {"address": "127.0.0.1:3002", "ttl": "2s"}).status == 201
    start = time.monotonic()
    # "alive" heartbeats every 300 ms for 2.5 s; "quiet" never does
    while time.monotonic() - start < 2.5:
        assert gw.admin_request("PUT", "/admin/registry/users/alive/heartbeat").status == 200
        time.sleep(0.3)
    assert sorted(instances(gw, "users")) == ["alive"]
    assert gw.metric("scalegate_registry_evictions_total", service="users", reason="ttl") == 1
    error_of(gw.admin_request("PUT", "/admin/registry/users/quiet/heartbeat"), 404)
    # once heartbeats stop, it goes too (2 s ttl, checked every 250 ms)
    assert wait_until(lambda: instances(gw, "users") == {}, 5.0)
    r = gw.admin_get("/admin/registry")
    assert r.json()["services"] == [], r


def test_bad_registrations_are_refused_with_the_reason(upstream, gateway):
    gw = registry_gateway(upstream, gateway)
    cases = [
        ("{", "not valid JSON"),
        ("[1]", "JSON object"),
        ({}, '"address" is required'),
        ({"weight": 3}, '"address" is required'),
        ({"address": 3001}, "host:port"),
        ({"address": "db.internal"}, "not a valid host:port"),
        ({"address": "127.0.0.1:0"}, "needs a port"),
        ({"address": "127.0.0.1:3001", "weight": 0}, "from 1 to 1000"),
        ({"address": "127.0.0.1:3001", "weight": 1001}, "from 1 to 1000"),
        ({"address": "127.0.0.1:3001", "weight": "5"}, "from 1 to 1000"),
        ({"address": "127.0.0.1:3001", "ttl": 30}, "duration string"),
        ({"address": "127.0.0.1:3001", "ttl": "soon"}, "duration string"),
        ({"address": "127.0.0.1:3001", "ttl": "100ms"}, "from 1s to 1h"),
        ({"address": "127.0.0.1:3001", "ttl": "2h"}, "from 1s to 1h"),
        ({"address": "127.0.0.1:3001", "metadata": "zone=a"}, '"metadata" must be a JSON object'),
        ({"address": "127.0.0.1:3001", "metadata": {"blob": "x" * 5000}}, "bytes serialized"),
        ({"address": "127.0.0.1:3001", "wieght": 2}, 'unknown field "wieght"'),
    ]
    for body, message in cases:
        error = error_of(put(gw, "users", "u1", body), 400)
        assert message in error, (body, error)
    for service, instance, what in [("bad%20name", "u1", "service"), ("users", "u:1", "instance"),
                                    ("a{b}", "u1", "service"), ("x" * 129, "u1", "service")]:
        error = error_of(put(gw, service, instance, {"address": "127.0.0.1:3001"}), 400)
        assert what in error and ("letters, digits" in error or "longer than" in error), error
    error_of(gw.admin_get("/admin/registry/bad$name"), 400)
    error_of(gw.admin_request("PUT", "/admin/registry/users/u1/heartbeat/more"), 404)
    error_of(gw.admin_request("PUT", "/admin/registry/users/u1/beat"), 404)
    # nothing was registered by any of them
    assert gw.admin_get("/admin/registry").json()["services"] == []


def test_wrong_methods_get_405_with_allow(upstream, gateway):
    gw = registry_gateway(upstream, gateway)
    for method, path, allow in [("POST", "/admin/registry", "GET, HEAD"),
                                ("DELETE", "/admin/registry/users", "GET, HEAD"),
                                ("PUT", "/admin/registry/users", "GET, HEAD"),
                                ("POST", "/admin/registry/users/u1", "GET, HEAD, PUT, DELETE"),
                                ("GET", "/admin/registry/users/u1/heartbeat", "PUT"),
                                ("POST", "/admin/registry/users/u1/heartbeat", "PUT")]:
        r = gw.admin_request(method, path, body="{}" if method != "GET" else None)
        assert r.status == 405 and r.header("Allow") == allow, (method, path, r)
