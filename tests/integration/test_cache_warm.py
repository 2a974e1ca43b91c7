"""Cache warming (route `cache: {warm: {urls | file, concurrency}}`): at start-up and on
POST /admin/cache/warm the gateway sends each URL through the route as a client's GET, so the
responses are stored as a client's miss stores them; at most `concurrency` requests per route
are in flight, the listener takes clients meanwhile, and every outcome is counted in
scalegate_cache_warm_requests_total{route, result}."""
import http.server
import json
import threading
import time

from conftest import make_config, metric_value, wait_until
from test_cache import count, xc

ROUTE = "cached"
METRIC = "scalegate_cache_warm_requests_total"


def warm_route(warm, name=ROUTE, prefix="/", upstream="u1"):
    return {"name": name, "match": {"prefix": prefix}, "upstream": upstream,
            "cache": {"default_ttl": "300s", "warm": warm}}


def warm_count(gw, result, route=ROUTE):
    return metric_value(gw.metrics_text(), METRIC, route=route, result=result) or 0


def wait_results(gw, route=ROUTE, timeout=15.0, **expected):
    """Waits until the route's warm counters reach `expected` (result=count)."""
    def reached():
        text = gw.metrics_text()
        return all((metric_value(text, METRIC, route=route, result=r) or 0) >= n
                   for r, n in expected.items())
    assert wait_until(reached, timeout), "warm counters of %s: %s, expected %s" % (
        route, {r: warm_count(gw, r, route) for r in ("ok", "failed", "invalid")}, expected)


def local_host(gw):
    """The Host a "/path" warm URL is sent with: the listener's address."""
    return "127.0.0.1:%d" % gw.port


def test_startup_warm_fills_the_cache(upstream, gateway):
    u = upstream("u1")
    urls = ["/text/a?bytes=10", "/text/b?bytes=20", "http://gateway.test/text/c?bytes=30"]
    gw = gateway(make_config({"u1": [u]}, routes=[warm_route({"urls": urls, "concurrency": 2})],
                             workers=2))
    wait_results(gw, ok=3)
    assert warm_count(gw, "failed") == 0 and warm_count(gw, "invalid") == 0
    for path in ("/text/a", "/text/b", "/text/c"):
        assert count(u, path) == 1, path
    # The first client GET of each URL is a hit: nothing more reaches the upstream.
    for target, host in (("/text/a?bytes=10", local_host(gw)), ("/text/b?bytes=20", local_host(gw)),
                         ("/text/c?bytes=30", "gateway.test")):
        r = gw.get(target, host=host)
        assert r.status == 200 and xc(r) == "HIT", (target, r)
    for path in ("/text/a", "/text/b", "/text/c"):
        assert count(u, path) == 1, path


def test_file_skips_comments_and_counts_bad_lines(upstream, gateway, tmp_path):
    u = upstream("u1")
    warm_file = tmp_path / "warm.txt"
    warm_file.write_text("# pages to warm\n/text/f1?bytes=5\n\n   \nnot a url\n"
                         "  /text/f2?bytes=5  \nhttps://gateway.test/x\n")
    routes = [warm_route({"file": str(warm_file)}, prefix="/text"),
              warm_route({"file": str(tmp_path / "missing.txt")}, name="nofile", prefix="/other")]
    gw = gateway(make_config({"u1": [u]}, routes=routes))
    wait_results(gw, ok=2, invalid=2)
    wait_results(gw, route="nofile", invalid=1)
    assert warm_count(gw, "failed") == 0
    assert count(u, "/text/f1") == 1 and count(u, "/text/f2") == 1
    assert xc(gw.get("/text/f2?bytes=5", host=local_host(gw))) == "HIT"
    logs = gw.logs
    assert "line 5" in logs and "not a url" in logs, logs[-3000:]
    assert "line 7" in logs, logs[-3000:]
    assert "missing.txt" in logs, logs[-3000:]
    assert gw.alive()


def test_failures_are_counted_and_logged(upstream, gateway):
    u = upstream("u1")
    routes = [warm_route({"urls": ["/status/500", "/text/ok1?bytes=5", "/text/ok2?bytes=5"],
                          "concurrency": 1}),
              # nothing listens there: the gateway's own 502
              warm_route({"urls": ["/dead/x"]}, name="dead", prefix="/dead", upstream="gone")]
    cfg = make_config({"u1": [u], "gone": ["127.0.0.1:1"]}, routes=routes)
    cfg["listeners"][0]["routes"] = [routes[1], routes[0]]
    gw = gateway(cfg)
    wait_results(gw, ok=2, failed=1)
    wait_results(gw, route="dead", failed=1)
    assert warm_count(gw, "ok", "dead") == 0
    logs = gw.logs
    assert "/status/500 failed: status 500" in logs, logs[-3000:]
    assert "/dead/x failed: status 502" in logs, logs[-3000:]
    assert count(u, "/text/ok1") == 1 and count(u, "/text/ok2") == 1


class _InFlightUpstream:
    """An upstream that answers every GET after `delay` seconds with a cacheable 200, and
    records the highest number of requests it was serving at once."""

    def __init__(self, delay):
        state = self
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with state.lock:
                    state.in_flight += 1
                    state.max_in_flight = max(state.max_in_flight, state.in_flight)
                time.sleep(delay)
                with state.lock:
                    state.in_flight -= 1
                    state.served += 1
                body = b"warm"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=300")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_concurrency_is_honoured(gateway):
    slow = _InFlightUpstream(0.3)
    try:
        urls = ["/c/%d" % i for i in range(8)]
        gw = gateway(make_config({"slow": ["127.0.0.1:%d" % slow.port]},
                                 routes=[warm_route({"urls": urls, "concurrency": 3}, upstream="slow")],
                                 workers=2))
        wait_results(gw, ok=8)
        assert slow.served == 8
        assert slow.max_in_flight == 3, slow.max_in_flight
    finally:
        slow.close()


def test_admin_warm_refills_after_a_purge(upstream, gateway):
    u = upstream("u1")
    urls = ["/text/p1?bytes=5", "/text/p2?bytes=5", "/text/slow?bytes=5&delay_ms=1500"]
    gw = gateway(make_config({"u1": [u]}, routes=[warm_route({"urls": urls, "concurrency": 3})]))
    wait_results(gw, ok=3)
    r = gw.admin_get("/admin/cache/warm")
    assert r.status == 405 and r.header("Allow") == "POST", r
    r = gw.admin_request("DELETE", "/admin/cache?prefix=127.0.0.1/text/")
    assert r.status == 200 and json.loads(r.body)["purged"] == 3, r
    u.reset_stats()
    r = gw.admin_request("POST", "/admin/cache/warm")
    assert r.status == 202, r
    assert json.loads(r.body) == {"routes": 1, "urls": 3}
    r = gw.admin_request("POST", "/admin/cache/warm")  # the slow URL keeps the first one running
    assert r.status == 409 and "already running" in json.loads(r.body)["error"], r
    wait_results(gw, ok=6)
    for path in ("/text/p1", "/text/p2", "/text/slow"):
        assert count(u, path) == 1, path
    assert xc(gw.get("/text/p1?bytes=5", host=local_host(gw))) == "HIT"
    # Once it has ended, a warm may start again (everything is stored: all hits this time).
    r = wait_until(lambda: (lambda r: r if r.status == 202 else None)(
        gw.admin_request("POST", "/admin/cache/warm")), 10)
    assert r and r.status == 202
    wait_results(gw, ok=9)
    assert count(u, "/text/p1") == 1


def test_admin_warm_without_a_warm_route(upstream, gateway):
    u = upstream("u1")
    cfg = make_config({"u1": [u]}, routes=[{"name": ROUTE, "match": {"prefix": "/"}, "upstream": "u1",
                                            "cache": {"default_ttl": "60s"}}])
    gw = gateway(cfg)
    r = gw.admin_request("POST", "/admin/cache/warm")
    assert r.status == 404, r
    assert "no route has cache warm" in json.loads(r.body)["error"]


def test_listener_answers_while_a_slow_warm_runs(upstream, gateway):
    u = upstream("u1")
    urls = ["/text/s%d?bytes=5&delay_ms=1000" % i for i in range(3)]
    gw = gateway(make_config({"u1": [u]}, routes=[warm_route({"urls": urls, "concurrency": 1})]))
    started = time.monotonic()
    r = gw.get("/text/other?bytes=5")
    elapsed = time.monotonic() - started
    assert r.status == 200, r
    assert warm_count(gw, "ok") < 3, "the warm ended before the client's request: the test proves nothing"
    assert elapsed < 0.5, "a client waited %.2fs behind the warm" % elapsed
    wait_results(gw, ok=3)
