"""Shutdown while the admin listener is being scraped.

/metrics reads per-worker state (for example each worker's coalesced-poll count through a
callback). The gateway must stop serving the admin API before it destroys the workers, or a
scrape during SIGTERM reads freed memory. A plain build can only show a crash; under
ThreadSanitizer any scrape that is not ordered before the workers' destruction is reported,
and a report makes the gateway exit with a non-zero status, which these tests check.
"""
import signal
import threading

from conftest import NoResponse, IncompleteBody, http_get, make_config, wait_s


def _scrape_until(stop, port, counts):
    """Scrapes /metrics and /health until `stop` is set; counts complete answers."""
    paths = ("/metrics", "/health")
    i = 0
    while not stop.is_set():
        try:
            r = http_get(port, paths[i % 2], host="127.0.0.1", timeout=wait_s(5))
            if r.status in (200, 503):
                counts["answers"] += 1
        except (OSError, NoResponse, IncompleteBody):
            counts["errors"] += 1  # refused or cut once the admin listener stops: expected
        i += 1


def _stop_while_scraping(gw, scrapers=3):
    stop = threading.Event()
    counts = {"answers": 0, "errors": 0}
    threads = [threading.Thread(target=_scrape_until, args=(stop, gw.admin_port, counts))
               for _ in range(scrapers)]
    for t in threads:
        t.start()
    try:
        # let the scrapers get going, so scrapes overlap the whole shutdown
        deadline = 200
        while counts["answers"] < 20 and deadline > 0:
            threading.Event().wait(0.01)
            deadline -= 1
        code = gw.stop(signal.SIGTERM, timeout=20)
    finally:
        stop.set()
        for t in threads:
            t.join(wait_s(10))
    return code, counts


def test_sigterm_during_metrics_scrapes_exits_cleanly(upstream, gateway):
    u1 = upstream("u1")
    gw = gateway(make_config({"u1": [u1]}, workers=2))
    assert gw.get("/echo").status == 200
    code, counts = _stop_while_scraping(gw)
    assert counts["answers"] >= 20, counts
    assert code == 0, "gateway exited with %s while /metrics was scraped\n%s" % (code, gw.logs[-4000:])


def test_sigterm_during_scrapes_with_health_checks_and_load(upstream, gateway):
    """The same with the health checker thread running and requests in flight on both workers."""
    u1, u2 = upstream("u1"), upstream("u2")
    opts = {"u1": {"health_check": {"type": "http", "path": "/health", "interval": "100ms",
                                    "timeout": "100ms"},
                   "outlier_detection": {"interval": "100ms"}}}
    gw = gateway(make_config({"u1": [u1, u2]}, workers=2, upstream_opts=opts))
    assert gw.get("/echo").status == 200
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                gw.get("/echo", timeout=wait_s(5))
            except (OSError, NoResponse, IncompleteBody):
                pass

    loaders = [threading.Thread(target=load) for _ in range(2)]
    for t in loaders:
        t.start()
    try:
        code, counts = _stop_while_scraping(gw)
    finally:
        stop.set()
        for t in loaders:
            t.join(wait_s(10))
    assert counts["answers"] >= 20, counts
    assert code == 0, "gateway exited with %s\n%s" % (code, gw.logs[-4000:])
