"""Admin /metrics (Prometheus text), /health and the JSON-lines access log."""
import json
import os
import re

from conftest import Conn, free_port, make_config, metric_samples, metric_value, parse_metrics, wait_until


def test_metrics_content_type_and_format(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}))
    gw.get("/echo")
    r = gw.admin_get("/metrics")
    assert r.status == 200
    ctype = (r.header("Content-Type") or "").replace(" ", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    text = r.body.decode()
    samples = parse_metrics(text)
    assert samples, "no samples parsed from /metrics:\n%s" % text[:2000]
    # every non-comment line is a well-formed sample
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+(\s+\d+)?$', line), line


def test_requests_total_and_histogram_by_route(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"name": "echo-route", "match": {"prefix": "/"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes, workers=2))
    with Conn(gw.port) as c:
        for i in range(7):
            assert c.get("/echo/%d" % i).status == 200
        for i in range(3):
            assert c.get("/status/404").status == 404
    labels = dict(listener="public", route="echo-route")

    def counted():
        t = gw.metrics_text()
        two = metric_value(t, "scalegate_requests_total", **labels, **{"class": "2xx"})
        four = metric_value(t, "scalegate_requests_total", **labels, **{"class": "4xx"})
        return t if (two == 7 and four == 3) else None

    text = wait_until(counted, timeout=5) or gw.metrics_text()
    two = metric_value(text, "scalegate_requests_total", **labels, **{"class": "2xx"})
    four = metric_value(text, "scalegate_requests_total", **labels, **{"class": "4xx"})
    relevant = "\n".join(l for l in text.splitlines() if "requests_total" in l or "duration" in l)
    assert two == 7, "2xx count %r, want 7\n%s" % (two, relevant)
    assert four == 3, "4xx count %r, want 3\n%s" % (four, relevant)
    inf = metric_value(text, "scalegate_request_duration_seconds_bucket", le="+Inf", **labels)
    assert inf == 10, "histogram +Inf bucket %r, want 10\n%s" % (inf, relevant)
    cnt = metric_value(text, "scalegate_request_duration_seconds_count", **labels)
    if cnt is not None:
        assert cnt == 10
    # buckets are cumulative
    buckets = metric_samples(text, "scalegate_request_duration_seconds_bucket", **labels)
    finite = sorted((float(l["le"]), v) for _, l, v in buckets if l.get("le") != "+Inf")
    assert finite, "no finite histogram buckets"
    values = [v for _, v in finite]
    assert values == sorted(values), "histogram buckets not cumulative: %s" % finite


def test_route_label_defaults_to_prefix(upstream, gateway):
    u1 = upstream("u1")
    routes = [{"match": {"prefix": "/api"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes))
    for _ in range(2):
        assert gw.get("/api/x").status == 200
    text = wait_until(lambda: (lambda t: t if metric_value(t, "scalegate_requests_total", listener="public",
                                                             route="/api", **{"class": "2xx"}) == 2 else None)(
        gw.metrics_text()), timeout=5) or gw.metrics_text()
    v = metric_value(text, "scalegate_requests_total", listener="public", route="/api", **{"class": "2xx"})
    assert v == 2, "\n".join(l for l in text.splitlines() if "requests_total" in l)


def test_upstream_server_metrics(upstream, gateway):
    u1, u2 = upstream("u1"), upstream("u2")
    gw = gateway(make_config({"pool": [u1, u2]}, workers=1))
    with Conn(gw.port) as c:
        for i in range(10):
            assert c.get("/echo/%d" % i).status == 200
    text = wait_until(lambda: (lambda t: t if metric_value(t, "scalegate_upstream_server_requests_total",
                                                             upstream="pool") == 10 else None)(gw.metrics_text()),
                      timeout=5) or gw.metrics_text()
    relevant = "\n".join(l for l in text.splitlines() if "upstream_server" in l)
    for u in (u1, u2):
        lab = dict(upstream="pool", server=u.address)
        assert metric_value(text, "scalegate_upstream_server_requests_total", **lab) == 5, relevant
        assert metric_value(text, "scalegate_upstream_server_errors_total", **lab) == 0, relevant
        active = metric_value(text, "scalegate_upstream_server_active_connections", **lab)
        assert active is not None and active >= 0, relevant
        assert metric_value(text, "scalegate_upstream_server_up", **lab) == 1, relevant


def test_upstream_errors_and_down_metrics(upstream, gateway):
    u1 = upstream("u1")
    dead = "127.0.0.1:%d" % free_port()
    gw = gateway(make_config({"pool": [u1, dead]}, workers=1,
                             upstream_opts={"pool": {"max_fails": 1, "fail_timeout": "10s"}}))
    with Conn(gw.port) as c:
        for i in range(6):
            r = c.get("/echo/%d" % i)
            assert r.status == 200, "request %d failed although one server is up: %r" % (i, r)
    text = gw.metrics_text()
    relevant = "\n".join(l for l in text.splitlines() if "upstream_server" in l)
    errs = metric_value(text, "scalegate_upstream_server_errors_total", upstream="pool", server=dead)
    assert errs is not None and errs >= 1, relevant
    assert metric_value(text, "scalegate_upstream_server_up", upstream="pool", server=dead) == 0, relevant
    assert metric_value(text, "scalegate_upstream_server_up", upstream="pool", server=u1.address) == 1, relevant


def test_health_ok_describes_servers(upstream, gateway):
    u1, u2 = upstream("u1"), upstream("u2")
    servers = [{"address": u1, "weight": 3}, {"address": u2, "backup": True}]
    gw = gateway(make_config({"pool": servers}))
    status, body = gw.health()
    assert status == 200, body
    assert body["status"] == "ok", body
    got = body["upstreams"]["pool"]["servers"]
    by_addr = {s["address"]: s for s in got}
    assert set(by_addr) == {u1.address, u2.address}, got
    assert by_addr[u1.address]["state"] == "up" and by_addr[u2.address]["state"] == "up"
    assert by_addr[u1.address]["backup"] is False and by_addr[u2.address]["backup"] is True
    assert by_addr[u1.address]["weight"] == 3 and by_addr[u2.address]["weight"] == 1


def test_health_degraded_when_a_server_is_down(upstream, gateway):
    u1 = upstream("u1")
    dead = "127.0.0.1:%d" % free_port()
    gw = gateway(make_config({"pool": [u1, dead]}, workers=1,
                             upstream_opts={"pool": {"max_fails": 1, "fail_timeout": "10s"}}))
    with Conn(gw.port) as c:
        for _ in range(4):
            assert c.get("/echo").status == 200
    status, body = gw.health()
    assert body["status"] == "degraded", body
    assert status == 200
    states = {s["address"]: s["state"] for s in body["upstreams"]["pool"]["servers"]}
    assert states == {u1.address: "up", dead: "down"}, states


def test_health_unavailable_when_upstream_has_no_server(upstream, gateway):
    u1 = upstream("u1")
    dead = "127.0.0.1:%d" % free_port()
    routes = [{"name": "ok", "match": {"prefix": "/ok"}, "upstream": "good"},
              {"name": "bad", "match": {"prefix": "/"}, "upstream": "gone"}]
    gw = gateway(make_config({"good": [u1], "gone": [dead]}, routes=routes, workers=1,
                             upstream_opts={"gone": {"max_fails": 1, "fail_timeout": "10s"}}))
    assert gw.get("/x").status == 502
    status, body = gw.health()
    assert body["status"] == "unavailable", body
    assert status == 503
    assert body["upstreams"]["gone"]["servers"][0]["state"] == "down"
    assert body["upstreams"]["good"]["servers"][0]["state"] == "up"


ACCESS_FIELDS = ["time", "listener", "route", "method", "path", "status", "upstream", "upstream_server",
                 "duration_ms", "client", "request_id", "bytes_sent"]


def read_json_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def test_access_log_lines(upstream, gateway, tmp_path):
    u1 = upstream("u1")
    log_path = str(tmp_path / "access.log")
    routes = [{"name": "echo", "match": {"prefix": "/"}, "upstream": "u1"}]
    gw = gateway(make_config({"u1": [u1]}, routes=routes, access_log={"enabled": True, "path": log_path}))
    with Conn(gw.port) as c:
        assert c.get("/echo/one").status == 200
        assert c.request("POST", "/echo/two", body=b"12345").status == 200
        assert c.get("/status/404", headers=[("X-Request-Id", "fixed-id-7")]).status == 404
    lines = wait_until(lambda: (lambda l: l if len(l) >= 3 else None)(read_json_lines(log_path)), timeout=10)
    assert lines, "access log has %d lines after 3 requests" % len(read_json_lines(log_path))
    assert len(lines) == 3, lines
    for entry in lines:
        missing = [f for f in ACCESS_FIELDS if f not in entry]
        assert not missing, "access log line lacks %s: %s" % (missing, entry)
        assert entry["listener"] == "public" and entry["route"] == "echo"
        assert entry["upstream"] == "u1" and entry["upstream_server"] == u1.address
        assert str(entry["client"]).startswith("127.0.0.1")
        assert float(entry["duration_ms"]) >= 0 and int(entry["bytes_sent"]) > 0
    assert [(e["method"], e["path"], int(e["status"])) for e in lines] == [
        ("GET", "/echo/one", 200), ("POST", "/echo/two", 200), ("GET", "/status/404", 404)]
    assert lines[2]["request_id"] == "fixed-id-7"
    assert len(lines[0]["request_id"]) == 36


def test_access_log_off_by_default(upstream, gateway, tmp_path):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}))
    marker = "marker-%d" % free_port()
    assert gw.get("/echo", headers=[("X-Request-Id", marker)]).status == 200
    gw.stop()
    assert marker not in gw.logs, "an access log line was written although access_log is off"


def test_access_log_disabled_creates_no_file(upstream, gateway, tmp_path):
    u1 = upstream("u1")
    log_path = str(tmp_path / "never.log")
    gw = gateway(make_config({"u1": [u1]}, access_log={"enabled": False, "path": log_path}))
    assert gw.get("/echo").status == 200
    gw.stop()
    assert not os.path.exists(log_path) or os.path.getsize(log_path) == 0
