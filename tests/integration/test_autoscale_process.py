"""The `process` actuator end to end: under load the autoscaler starts real demo upstream
processes (`scalegate demo-upstream --port {port}`), registers them and the upstream sends them
traffic; after the load it deregisters and drains the extras, then stops them; every request
succeeds throughout; a copy that dies is replaced; stopping the gateway stops every copy."""
import os
import threading
import time

from conftest import make_config, require_binary, wait_until


def process_config():
    command = "%s demo-upstream --port {port} --name copy-{port}" % require_binary()
    upstream = {
        "balance": "least_request",
        "discovery": {"registry": "work"},
        "health_check": {"path": "/health", "interval": "300ms", "timeout": "300ms",
                         "rise": 1, "fall": 2},
        "autoscale": {
            "min": 1, "max": 4,
            "target": {"in_flight_per_server": 2},
            "scale_up": {"max_percent": 100, "cooldown": "1s"},
            "scale_down": {"max_percent": 50, "cooldown": "1s", "stabilization": "2s"},
            "actuator": {"type": "process", "command": command, "drain_timeout": "10s"},
        },
    }
    cfg = make_config({"work": []}, workers=2, upstream_opts={"work": upstream})
    del cfg["upstreams"]["work"]["servers"]
    return cfg


def status(gw):
    return gw.admin_get("/admin/autoscale").json()["work"]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie not yet reaped by the gateway counts as gone
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def load(gw, seconds, results):
    """Eight clients sending requests that take 200 ms each, for `seconds`."""
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline:
            r = gw.get("/work?latency=200", timeout=10)
            results.append((r.status, r.header("X-Upstream")))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    return threads


def test_process_actuator_scales_real_processes_up_under_load_and_back_down(gateway):
    gw = gateway(process_config())
    assert wait_until(lambda: status(gw)["current"] == 1 and
                      gw.get("/work").status == 200, timeout=10), status(gw)
    first = [p["pid"] for p in status(gw)["processes"]]
    results = []
    threads = load(gw, 8, results)
    assert wait_until(lambda: status(gw)["current"] >= 3, timeout=10), status(gw)
    for t in threads:
        t.join(30)
    assert results and all(code == 200 for code, _ in results), \
        [r for r in results if r[0] != 200][:5]
    assert len({name for _, name in results}) >= 3, "the new copies took no traffic"
    registered = gw.admin_get("/admin/registry/work").json()["instances"]
    assert len(registered) >= 3, registered
    started = [p["pid"] for p in status(gw)["processes"]]

    # no load: back to min, the extras drained, then stopped
    assert wait_until(lambda: status(gw)["current"] == 1 and
                      len(status(gw)["processes"]) == 1, timeout=20), status(gw)
    extras = [pid for pid in started if pid not in first]
    assert extras and wait_until(lambda: not any(alive(pid) for pid in extras), timeout=10)
    assert len(gw.admin_get("/admin/registry/work").json()["instances"]) == 1
    decisions = [(d["from"], d["to"]) for d in status(gw)["decisions"]]
    ups = [d for d in decisions if d[1] > d[0]]
    downs = [d for d in decisions if d[1] < d[0]]
    assert ups and downs and all(1 <= d[1] <= 4 for d in decisions), decisions
    assert gw.get("/work").status == 200

    last = status(gw)["processes"][0]["pid"]
    gw.stop()
    assert wait_until(lambda: not alive(last), timeout=10), "a copy outlived the gateway"


def test_a_copy_that_dies_is_replaced(gateway):
    gw = gateway(process_config())
    assert wait_until(lambda: len(status(gw)["processes"]) == 1 and
                      status(gw)["processes"][0]["state"] == "serving", timeout=10), status(gw)
    victim = status(gw)["processes"][0]["pid"]
    os.killpg(victim, 9)
    replaced = lambda: [p for p in status(gw)["processes"]
                        if p["pid"] != victim and p["state"] == "serving"]
    assert wait_until(lambda: replaced() and gw.get("/work").status == 200, timeout=10), \
        status(gw)
    listed = gw.admin_get("/admin/registry/work").json()["instances"]
    assert [i["address"] for i in listed] == ["127.0.0.1:%d" % replaced()[0]["port"]], listed
