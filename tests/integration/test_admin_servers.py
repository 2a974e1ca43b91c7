"""Admin server control: drain, disable, enable, weight; error answers (404, 405, 400)."""
import collections
import json

from conftest import Conn, make_config


def counts(gw, n, headers=None, conns=1):
    out = collections.Counter()
    per = n // conns
    for k in range(conns):
        with Conn(gw.port) as c:
            for i in range(per):
                r = c.get("/echo/%d/%d" % (k, i), headers=headers)
                assert r.status == 200, r
                out[r.header("X-Upstream")] += 1
    return out


def sticky_cookie(resp, name="SGID"):
    for v in resp.header_list("Set-Cookie"):
        if v.startswith(name + "="):
            return v.split(";", 1)[0]
    return None


def check_reply(r, upstream, address, state, weight):
    assert r.status == 200, r
    assert "json" in (r.header("Content-Type") or ""), r
    doc = r.json()
    assert doc == {"upstream": upstream, "address": address, "state": state, "weight": weight}, doc


def test_drain_keeps_sticky_clients_only(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(make_config({"pool": [a, b]}, workers=2,
                             upstream_opts={"pool": {"balance": "round_robin", "sticky_cookie": "SGID"}}))
    # a client pinned to b
    cookie_b = None
    for i in range(6):
        r = gw.get("/echo/pin%d" % i)
        assert r.status == 200
        if r.header("X-Upstream") == "b":
            cookie_b = sticky_cookie(r)
            break
    assert cookie_b, "never routed to b with a sticky cookie"

    check_reply(gw.server_action("pool", b.address, "drain"), "pool", b.address, "draining", 1)
    assert gw.server_state("pool", b.address) == "draining"
    entry = gw.health_server("pool", b.address)
    assert entry["state"] == "down" and entry.get("reason") == "draining", entry
    assert gw.metric("scalegate_upstream_server_up", upstream="pool", server=b.address) == 0

    # clients without a cookie: only a
    assert counts(gw, 20, conns=4) == {"a": 20}
    # the sticky client keeps going to the draining server
    assert counts(gw, 10, headers={"Cookie": cookie_b}, conns=2) == {"b": 10}
    # and a client pinned to a is not moved
    r = gw.get("/echo/x")
    cookie_a = sticky_cookie(r)
    assert r.header("X-Upstream") == "a" and cookie_a
    assert counts(gw, 6, headers={"Cookie": cookie_a}) == {"a": 6}

    check_reply(gw.server_action("pool", b.address, "enable"), "pool", b.address, "up", 1)
    assert gw.server_state("pool", b.address) == "up"
    assert set(counts(gw, 10)) == {"a", "b"}


def test_disable_and_enable(upstream, gateway):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    gw = gateway(make_config({"pool": [a, b, c]}, workers=2,
                             upstream_opts={"pool": {"balance": "round_robin"}}))
    assert set(counts(gw, 12)) == {"a", "b", "c"}
    check_reply(gw.server_action("pool", b.address, "disable"), "pool", b.address, "disabled", 1)
    assert gw.server_state("pool", b.address) == "disabled"
    entry = gw.health_server("pool", b.address)
    assert entry["state"] == "down" and entry.get("reason") == "disabled", entry
    before = b.stats()["requests"]
    seen = counts(gw, 24, conns=4)  # both workers
    assert set(seen) == {"a", "c"}, seen
    assert b.stats()["requests"] == before
    # disabling twice is fine
    check_reply(gw.server_action("pool", b.address, "disable"), "pool", b.address, "disabled", 1)
    check_reply(gw.server_action("pool", b.address, "enable"), "pool", b.address, "up", 1)
    entry = gw.health_server("pool", b.address)
    assert entry["state"] == "up" and "reason" not in entry, entry
    assert gw.server_state("pool", b.address) == "up"
    seen = counts(gw, 24, conns=4)
    assert seen["b"] >= 1, seen


def test_disable_every_server(upstream, gateway):
    a = upstream("a")
    gw = gateway(make_config({"pool": [a]}, workers=1))
    check_reply(gw.server_action("pool", a.address, "disable"), "pool", a.address, "disabled", 1)
    before = a.stats()["requests"]
    r = gw.get("/echo")
    assert r.status in (502, 503) and a.stats()["requests"] == before, \
        "the only server is disabled, yet GET /echo answered %s from %s (panic_total %s)" % (
            r.status, r.header("X-Upstream"), gw.metric("scalegate_upstream_panic_total", upstream="pool"))
    gw.server_action("pool", a.address, "enable")
    assert gw.get("/echo").status == 200


def test_operator_states_hold_below_panic_threshold(upstream, gateway):
    """Disabling or draining most servers must not throw the upstream into panic mode and
    send new requests to the servers the operator took out (default panic_threshold 50)."""
    ups = [upstream("p%d" % i) for i in range(4)]
    gw = gateway(make_config({"pool": ups}, workers=1, upstream_opts={"pool": {"balance": "round_robin"}}))
    gw.server_action("pool", ups[1].address, "disable")
    gw.server_action("pool", ups[2].address, "disable")
    gw.server_action("pool", ups[3].address, "drain")
    before = {u.name: u.stats()["requests"] for u in ups}
    seen = counts(gw, 12)
    got = {u.name: u.stats()["requests"] - before[u.name] for u in ups}
    panic = gw.metric("scalegate_upstream_panic_total", upstream="pool")
    assert seen == {"p0": 12} and panic == 0, \
        "with p1, p2 disabled and p3 draining: picks %s, panic_total %s" % (dict(seen), panic)
    assert got == {"p0": 12, "p1": 0, "p2": 0, "p3": 0}, got


def test_weight_change_wrr(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(make_config({"pool": [a, b]}, workers=1,
                             upstream_opts={"pool": {"balance": "weighted_round_robin"}}))
    assert counts(gw, 10) == {"a": 5, "b": 5}
    assert gw.metric("scalegate_upstream_server_weight", upstream="pool", server=a.address) == 1

    r = gw.server_action("pool", a.address, "weight", method="PUT", body={"weight": 3})
    check_reply(r, "pool", a.address, "up", 3)
    assert gw.metric("scalegate_upstream_server_weight", upstream="pool", server=a.address) == 3
    assert gw.metric("scalegate_upstream_server_weight", upstream="pool", server=b.address) == 1
    assert gw.health_server("pool", a.address)["weight"] == 3

    seen = counts(gw, 30)
    assert seen["a"] in (22, 23) and seen["b"] in (7, 8), "weights 3:1 gave %s" % seen

    r = gw.server_action("pool", a.address, "weight", method="PUT", body={"weight": 1})
    check_reply(r, "pool", a.address, "up", 1)
    seen = counts(gw, 20)  # 1:1 again (smooth WRR may carry one pick of history)
    assert seen["a"] in (9, 10, 11) and seen["a"] + seen["b"] == 20, seen


def test_weight_keeps_admin_state(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    gw = gateway(make_config({"pool": [a, b]}, workers=1))
    gw.server_action("pool", b.address, "drain")
    r = gw.server_action("pool", b.address, "weight", method="PUT", body={"weight": 1000})
    check_reply(r, "pool", b.address, "draining", 1000)
    assert counts(gw, 6) == {"a": 6}


def test_admin_errors(upstream, gateway):
    a = upstream("a")
    gw = gateway(make_config({"pool": [a]}, workers=1))
    addr = a.address

    def expect(status, method, path, body=None):
        r = gw.admin_request(method, path, body=body)
        assert r.status == status, "%s %s %r: want %d, got %r" % (method, path, body, status, r)
        return r

    # unknown upstream / server
    expect(404, "POST", "/admin/upstreams/nope/servers/%s/drain" % addr)
    expect(404, "POST", "/admin/upstreams/pool/servers/127.0.0.1:1/drain")
    expect(404, "PUT", "/admin/upstreams/nope/servers/%s/weight" % addr, {"weight": 2})
    expect(404, "PUT", "/admin/upstreams/pool/servers/127.0.0.1:1/weight", {"weight": 2})
    # wrong method
    for action in ("drain", "disable", "enable"):
        expect(405, "GET", "/admin/upstreams/pool/servers/%s/%s" % (addr, action))
        expect(405, "PUT", "/admin/upstreams/pool/servers/%s/%s" % (addr, action))
    expect(405, "POST", "/admin/upstreams/pool/servers/%s/weight" % addr, {"weight": 2})
    expect(405, "GET", "/admin/upstreams/pool/servers/%s/weight" % addr)
    # bad weights
    weight_path = "/admin/upstreams/pool/servers/%s/weight" % addr
    for body in ({"weight": 0}, {"weight": 1001}, {"weight": -3}, {"weight": "5"}, {"weight": 2.5},
                 {"weight": None}, {}, {"wieght": 5}, "not json", "", "[5]"):
        expect(400, "PUT", weight_path, body if not isinstance(body, dict) else json.dumps(body))
    # nothing above changed the server
    assert gw.server_state("pool", addr) == "up"
    assert gw.metric("scalegate_upstream_server_weight", upstream="pool", server=addr) == 1
    # limits are accepted
    check_reply(gw.admin_request("PUT", weight_path, {"weight": 1000}), "pool", addr, "up", 1000)
    check_reply(gw.admin_request("PUT", weight_path, {"weight": 1}), "pool", addr, "up", 1)
    assert gw.get("/echo").status == 200
