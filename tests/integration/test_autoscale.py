"""The autoscaler at run time: under a bounded load /admin/autoscale/{upstream} (KEDA's
metrics-api document) and /metrics show desired > current; the exec actuator runs its command
with {desired}, records a failing run and asks again only at the next decision; admin errors;
`check` refuses a bad autoscale block with its position."""
import os
import time

from conftest import ClientThreads, Conn, make_config, metric_value, run_cli, wait_until


def autoscale_doc(gw, upstream):
    r = gw.admin_get("/admin/autoscale/%s" % upstream)
    assert r.status == 200, r
    return r.json()


def dashboard(gw):
    r = gw.admin_get("/admin/autoscale")
    assert r.status == 200, r
    return r.json()


class BoundedLoad(ClientThreads):
    """`clients` threads, each sending one slow request at a time until stopped."""

    def __init__(self, port, clients, path):
        super().__init__(clients, join_s=30)
        self.port, self.path = port, path
        self.answered = 0

    def run(self):
        while not self.stop.is_set():
            try:
                with Conn(self.port, timeout=20) as c:
                    while not self.stop.is_set():
                        r = c.get(self.path)
                        with self.lock:
                            self.answered += 1 if r.status == 200 else 0
            except Exception:
                time.sleep(0.05)


def test_in_flight_load_shows_desired_above_current(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    a.control("delay", ms=1500)
    b.control("delay", ms=1500)
    gw = gateway(make_config({"pool": [a, b]}, workers=2, upstream_opts={"pool": {
        "autoscale": {"min": 1, "max": 10, "target": {"in_flight_per_server": 1},
                      "scale_up": {"max_percent": 100, "cooldown": "1s"}}}}))
    idle = autoscale_doc(gw, "pool")
    assert idle["upstream"] == "pool" and idle["metric"] == "in_flight_per_server", idle
    assert idle["metric_type"] == "AverageValue" and idle["target"] == 1, idle

    with BoundedLoad(gw.port, 8, "/slow") as load:
        doc = wait_until(lambda: (lambda d: d if d["desired"] > d["current"] and d["value"] >= 4
                                  else None)(autoscale_doc(gw, "pool")), timeout=20)
        assert doc, autoscale_doc(gw, "pool")
        assert doc["current"] == 2, doc  # servers in rotation: the none actuator changes nothing
        assert doc["per_server"] * doc["current"] == doc["value"], doc
        text = gw.metrics_text()
        desired = metric_value(text, "scalegate_autoscale_desired_replicas", upstream="pool")
        current = metric_value(text, "scalegate_autoscale_current_replicas", upstream="pool")
        assert current == 2 and desired > current, (current, desired)
        assert metric_value(text, "scalegate_autoscale_target_value", upstream="pool",
                            metric="in_flight_per_server") == 1
        assert metric_value(text, "scalegate_autoscale_metric_value", upstream="pool") >= 2
        assert metric_value(text, "scalegate_autoscale_decisions_total", upstream="pool",
                            direction="up") >= 1
        view = dashboard(gw)["pool"]
    assert load.answered > 0
    assert view["actuator"] == "none" and view["min"] == 1 and view["max"] == 10, view
    assert view["metric"] == "in_flight_per_server" and view["target"] == 1, view
    assert view["predicted"] is None, view
    up = [d for d in view["decisions"] if d["to"] > d["from"]]
    assert up, view
    assert up[0]["from"] == 2 and "in_flight_per_server" in up[0]["reason"], up
    assert abs(up[0]["time_ms"] / 1000 - time.time()) < 120, up


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().split()


def test_exec_actuator_sets_the_desired_count(upstream, gateway, tmp_path):
    a = upstream("a")
    out = str(tmp_path / "scaled.txt")
    gw = gateway(make_config({"pool": [a]}, upstream_opts={"pool": {
        "autoscale": {"min": 3, "max": 5, "target": {"rps_per_server": 1000},
                      "actuator": {"type": "exec", "command": "echo {desired} >> %s" % out}}}}))
    assert wait_until(lambda: read_lines(out) == ["3"], timeout=10), read_lines(out)
    doc = wait_until(lambda: (lambda d: d if d["current"] == 3 else None)(autoscale_doc(gw, "pool")),
                     timeout=10)
    assert doc and doc["desired"] == 3, autoscale_doc(gw, "pool")
    view = dashboard(gw)["pool"]
    assert view["actuator"] == "exec", view
    assert view["decisions"][0]["from"] == 1 and view["decisions"][0]["to"] == 3, view
    assert view["decisions"][0]["reason"] == "below min 3", view
    run = view["last_run"]
    assert run["ok"] and run["exit_status"] == 0 and run["desired"] == 3, run
    assert run["command"] == "echo 3 >> %s" % out, run
    time.sleep(2)
    assert read_lines(out) == ["3"]  # set once: nothing more to do


def test_failing_exec_is_recorded_and_asked_again_only_at_the_next_decision(upstream, gateway,
                                                                             tmp_path):
    a = upstream("a")
    out = str(tmp_path / "tries.txt")
    command = "echo {desired} >> %s; echo cannot scale to {desired} >&2; exit 4" % out
    gw = gateway(make_config({"pool": [a]}, upstream_opts={"pool": {
        "autoscale": {"min": 2, "max": 3, "target": {"rps_per_server": 1000},
                      "scale_up": {"max_percent": 50, "cooldown": "3s"},
                      "actuator": {"type": "exec", "command": command}}}}))
    assert wait_until(lambda: len(read_lines(out)) >= 1, timeout=10)
    started = time.monotonic()
    run = wait_until(lambda: dashboard(gw)["pool"].get("last_run"), timeout=10)
    assert run and not run["ok"] and run["exit_status"] == 4, run
    assert run["stderr"] == "cannot scale to 2\n", run
    doc = autoscale_doc(gw, "pool")
    assert doc["current"] == 1 and doc["desired"] == 1, doc  # back to the count last set
    assert wait_until(lambda: len(read_lines(out)) >= 2, timeout=10)  # the next decision
    elapsed = time.monotonic() - started
    tries = len(read_lines(out))
    # One try per 3 s cooldown (a retry loop would run once a second or more).
    assert tries <= elapsed / 3 + 2, (tries, elapsed)
    assert metric_value(gw.metrics_text(), "scalegate_autoscale_actuator_failures_total",
                        upstream="pool") >= 1


def test_admin_autoscale_errors(upstream, gateway):
    a = upstream("a")
    gw = gateway(make_config({"pool": [a], "plain": [a]}, upstream_opts={"pool": {
        "autoscale": {"max": 3, "target": {"p95_latency": "200ms"}}}}))
    doc = wait_until(lambda: (lambda d: d if d["current"] == 1 else None)(autoscale_doc(gw, "pool")))
    assert doc["metric"] == "p95_latency" and doc["metric_type"] == "Value", doc
    assert doc["target"] == 200, doc
    for path in ("/admin/autoscale/plain", "/admin/autoscale/nothing", "/admin/autoscale/pool/x"):
        r = gw.admin_get(path)
        assert r.status == 404, (path, r)
        assert "error" in r.json(), r
    r = gw.admin_request("POST", "/admin/autoscale/pool")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD", r
    assert set(dashboard(gw)) == {"pool"}


def test_check_reports_a_bad_autoscale_block_with_its_position(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "listeners:\n"
        "  - name: public\n"
        "    address: 127.0.0.1:0\n"
        "    routes:\n"
        "      - upstream: users\n"
        "upstreams:\n"
        "  users:\n"
        "    autoscale: { max: 4, target: { rps_per_server: 10 }, actuator: { type: process, command: 'x {port}' } }\n"
        "    servers:\n"
        "      - address: 127.0.0.1:3001\n")
    result = run_cli(["check", "-c", str(path)])
    assert result.returncode != 0, result
    text = result.stdout + result.stderr
    assert ("bad.yaml:8:5: upstreams.users.autoscale: actuator type process needs `discovery: "
            "{ registry: SERVICE }` on this upstream") in text, text
