"""The autoscaler's other live metrics under load: queue depth of the async routes that deliver
to an upstream, and the p95 latency of the routes that proxy to it (KEDA's metricType Value)."""
import pytest

from conftest import http_request, make_config, wait_until
from job_sink import JobSink
from test_autoscale import BoundedLoad, autoscale_doc


@pytest.fixture
def sink():
    s = JobSink()
    yield s
    s.close()


def test_queue_depth_per_server(gateway, sink, tmp_path):
    sink.hang()
    route = {"name": "orders", "match": {"prefix": "/api/orders", "methods": ["POST"]},
             "upstream": "sink", "async": {"queue": "orders"}}
    gw = gateway(make_config(
        {"sink": [sink.address]}, routes=[route],
        queues={"orders": {"path": str(tmp_path / "orders.db"), "concurrency": 1}},
        upstream_opts={"sink": {"autoscale": {
            "max": 10, "target": {"queue_depth_per_server": 2},
            "scale_up": {"max_percent": 1000, "cooldown": "1s"}}}}))
    for _ in range(7):
        r = http_request(gw.port, "POST", "/api/orders", [("Content-Type", "application/json")],
                         body=b"{}")
        assert r.status == 202, r
    # One job is with the hung upstream, six wait: ceil(1 x 6 / 2) = 3.
    doc = wait_until(lambda: (lambda d: d if d["value"] == 6 and d["desired"] == 3 else None)(
        autoscale_doc(gw, "sink")), timeout=10)
    assert doc, autoscale_doc(gw, "sink")
    assert doc["metric"] == "queue_depth_per_server" and doc["current"] == 1, doc
    assert doc["metric_type"] == "AverageValue" and doc["per_server"] == 6, doc
    sink.release()


def test_p95_latency(upstream, gateway):
    a, b = upstream("a"), upstream("b")
    a.control("delay", ms=400)
    b.control("delay", ms=400)
    gw = gateway(make_config({"pool": [a, b]}, workers=2, upstream_opts={"pool": {
        "autoscale": {"max": 10, "target": {"p95_latency": "100ms"},
                      "scale_up": {"max_percent": 1000, "cooldown": "1s"}}}}))
    with BoundedLoad(gw.port, 2, "/echo/p95"):
        doc = wait_until(lambda: (lambda d: d if d["desired"] > d["current"] else None)(
            autoscale_doc(gw, "pool")), timeout=15)
    assert doc, autoscale_doc(gw, "pool")
    assert doc["metric"] == "p95_latency" and doc["metric_type"] == "Value", doc
    # 400 ms answers fall in the (250 ms, 500 ms] bucket; KEDA reads the latency itself.
    assert 250 <= doc["value"] <= 500 and doc["value"] == doc["per_server"], doc
    assert doc["current"] == 2 and doc["desired"] >= 8, doc  # ceil(2 x p95 / 100)
