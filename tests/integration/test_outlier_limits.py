"""Outlier detection limits end to end: max_ejection_percent counts the ejection being decided
(Envoy's rule), so failing servers are never all ejected unless the percentage allows it."""
from conftest import Conn, make_config


def _opts(**over):
    od = {"consecutive_5xx": 3, "interval": "1s", "base_ejection_time": "30s"}
    od.update(over)
    return {"balance": "round_robin", "outlier_detection": od}


def _states(gw, servers):
    return {u.name: gw.server_state("pool", u.address) for u in servers}


def _send(gw, n):
    statuses = []
    with Conn(gw.port) as c:
        for i in range(n):
            statuses.append(c.get("/echo/%d" % i).status)
    return statuses


def test_two_failing_servers_at_sixty_percent_keep_one_in_rotation(upstream, gateway):
    bads = [upstream("bad%d" % i, "--status", "500") for i in range(2)]
    gw = gateway(make_config({"pool": bads}, workers=1,
                             upstream_opts={"pool": _opts(max_ejection_percent=60)}))
    statuses = _send(gw, 30)
    states = _states(gw, bads)
    assert sorted(states.values()) == ["ejected", "up"], states
    assert gw.metric("scalegate_upstream_outlier_ejections", upstream="pool") == 1
    # the server left in rotation still answers (with its own 500s), no 502 for lack of servers
    assert statuses[-5:] == [500] * 5, statuses


def test_lone_server_is_ejected_only_at_one_hundred_percent(upstream, gateway):
    bad = upstream("bad", "--status", "500")
    gw = gateway(make_config({"pool": [bad]}, workers=1,
                             upstream_opts={"pool": _opts(max_ejection_percent=99)}))
    _send(gw, 10)
    assert gw.server_state("pool", bad.address) == "up"
    bad2 = upstream("bad2", "--status", "500")
    gw2 = gateway(make_config({"pool": [bad2]}, workers=1,
                              upstream_opts={"pool": _opts(max_ejection_percent=100)}))
    _send(gw2, 10)
    assert gw2.server_state("pool", bad2.address) == "ejected"
