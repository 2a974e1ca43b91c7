"""GET /admin/stats and its event stream on a running gateway: the document's shape, rates
and percentiles that agree with /metrics' histogram, server states, bad input, and the
stream's events (and that it ends when the gateway stops)."""
import json
import socket

from conftest import Conn, make_config, metric_samples, wait_s, wait_until


def stats(gw, query=""):
    r = gw.admin_get("/admin/stats" + query)
    assert r.status == 200, r
    assert "json" in (r.header("Content-Type") or ""), r
    return r.json()


def latency_buckets(gw):
    """{le: count} of the route's scalegate_request_duration_seconds buckets on /metrics."""
    samples = metric_samples(gw.metrics_text(), "scalegate_request_duration_seconds_bucket",
                             listener="public", route="default")
    return {float(labels["le"]): value for _, labels, value in samples}


def test_stats_shape_rates_and_percentiles_from_the_metrics_histogram(upstream, gateway):
    slow = upstream("slow", "--delay-ms", "30")
    gw = gateway(make_config({"app": [slow]}, workers=2))
    doc = stats(gw)
    assert doc["interval_ms"] == 1000 and doc["capacity"] == 900
    assert set(doc["current"]) >= {"listeners", "routes", "upstreams", "queues"}
    assert "autoscale" not in doc and "cache" not in doc["current"]
    before = latency_buckets(gw)
    with Conn(gw.port) as c:
        for i in range(20):
            assert c.get("/echo/%d" % i).status == 200
    after = latency_buckets(gw)
    # Every request landed in one bucket of the histogram /metrics shows: the sampler's
    # percentiles must lie inside that bucket.
    bounds = sorted(after)
    landed = [le for le in bounds if after[le] - before.get(le, 0) == 20]
    lower = max([le for le in bounds if after[le] - before.get(le, 0) == 0] or [0.0])
    upper = min(landed)

    def sampled():
        route = stats(gw, "?points=0")["current"]["routes"]["public/default"]
        return route if route["p95_ms"] is not None else None

    assert wait_until(sampled, timeout=wait_s(5)), "no percentile appeared in /admin/stats"
    route = sampled()
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        assert lower * 1000 <= route[q] <= upper * 1000, (q, route, lower, upper)
    assert route["rps"] > 0 and route["error_rate"] == 0 and route["upstream"] == "app"
    series = stats(gw)["series"]["routes"]["public/default"]
    assert sum(series["rps"]) > 0
    assert len(series["time_ms"]) == len(series["p95_ms"]) >= 2
    assert series["time_ms"] == sorted(series["time_ms"])
    server = stats(gw)["current"]["upstreams"]["app"]["servers"][0]
    assert server["address"] == slow.address and server["requests"] == 20
    assert server["state"] == "healthy"


def test_server_states_follow_the_admin_api_and_failures(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    check = {"type": "http", "path": "/health", "interval": "200ms", "timeout": "150ms",
             "rise": 2, "fall": 2, "expect": [200]}
    gw = gateway(make_config({"app": [a, b]}, upstream_opts={"app": {"health_check": check}}))

    def state(address):
        servers = stats(gw, "?points=0")["current"]["upstreams"]["app"]["servers"]
        return {s["address"]: s for s in servers}[address]

    assert gw.server_action("app", a.address, "drain").status == 200
    assert wait_until(lambda: state(a.address)["state"] == "draining", timeout=wait_s(3))
    b.kill()
    assert wait_until(lambda: state(b.address)["state"] == "down", timeout=wait_s(3))
    assert state(b.address)["reason"] == "failed_check"
    assert stats(gw, "?points=0")["current"]["upstreams"]["app"]["healthy_servers"] == 0


def test_bad_queries_and_methods_are_refused(upstream, gateway):
    gw = gateway(make_config({"app": [upstream("a")]}))
    for query in ("?points=abc", "?points=901", "?points=-3", "?points=1.5"):
        r = gw.admin_get("/admin/stats" + query)
        assert r.status == 400, (query, r)
        assert "points must be a whole number from 0 to 900" in r.json()["error"]
    for path in ("/admin/stats", "/admin/stats/stream", "/dashboard"):
        r = gw.admin_request("DELETE", path)
        assert r.status == 405 and r.header("Allow") == "GET, HEAD", (path, r)
    assert len(stats(gw, "?points=2")["series"]["listeners"]["public"]["rps"]) <= 2


def read_events(sock, count, timeout):
    """The first `count` SSE events' JSON documents (and the response head)."""
    sock.settimeout(timeout)
    data = b""
    while data.count(b"\n\n") < count + 2:  # head end, the retry line, then the events
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    events = []
    for message in body.decode().split("\n\n"):
        lines = message.split("\n")
        if "event: stats" in lines:
            events.append(json.loads("".join(l[6:] for l in lines if l.startswith("data: "))))
    return head.decode(), events[:count]


def test_stream_sends_an_event_a_second_and_ends_when_the_gateway_stops(upstream, gateway):
    gw = gateway(make_config({"app": [upstream("a")]}))
    sock = socket.create_connection(("127.0.0.1", gw.admin_port), timeout=wait_s(5))
    sock.sendall(b"GET /admin/stats/stream HTTP/1.1\r\nHost: admin\r\n\r\n")
    head, events = read_events(sock, 3, wait_s(10))
    assert head.startswith("HTTP/1.1 200"), head
    assert "Content-Type: text/event-stream" in head and "Content-Length" not in head
    assert len(events) == 3
    times = [e["time_ms"] for e in events]
    assert times[0] <= times[1] < times[2], times
    for event in events:
        assert len(event["series"]["routes"]["public/default"]["time_ms"]) == 1
        assert "upstreams" in event["current"]
    # Stopping the gateway closes the stream (recv would time out otherwise), and the gateway
    # exits cleanly.
    assert gw.stop() == 0
    sock.settimeout(wait_s(5))
    rest = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    sock.close()
