"""Makes docs/dashboard.png: a gateway with three servers behind health checks, a cached
route, a rate-limited route and a slow upstream with a breaker, under light mixed load for a
while (default 60 s, at least 10), one server killed near the end, and a full-page screenshot
taken before the load stops.

  SCALEGATE_BIN=build/src/app/scalegate /usr/bin/python3 tests/browser/dashboard_screenshot.py [SECONDS] [OUT]

Every process it starts is stopped by pid."""
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from conftest import Conn, make_config, start_gateway, start_upstream, stop_process  # noqa: E402
from test_dashboard_browser import Page  # noqa: E402

CHECK = {"type": "http", "path": "/health", "interval": "500ms", "timeout": "300ms",
         "rise": 2, "fall": 2, "expect": [200]}
ROUTES = [
    {"name": "catalog", "match": {"prefix": "/random"}, "upstream": "app",
     "cache": {"enabled": True, "default_ttl": "5s"}},
    {"name": "search", "match": {"prefix": "/slow"}, "upstream": "search"},
    {"name": "login", "match": {"prefix": "/status"}, "upstream": "app",
     "rate_limit": {"rate": "5/s", "burst": 5}},
    {"name": "api", "match": {"prefix": "/"}, "upstream": "app"},
]


def load(port, seed, until):
    """Mixed requests on one connection, at a rate that swells and ebbs."""
    rnd = random.Random(seed)
    with Conn(port) as c:
        while time.monotonic() < until:
            x = rnd.random()
            if x < 0.4:
                c.get("/echo/%d" % rnd.randint(0, 1000))
            elif x < 0.7:
                c.get("/random?bytes=%d" % (100 * rnd.randint(1, 20)))
            elif x < 0.85:
                c.get("/slow?ms=%d" % rnd.randint(5, 60))
            else:
                c.get("/status/%d" % (500 if x < 0.9 else 200))
            time.sleep(rnd.random() * 0.02 * (1.5 + math.sin(time.monotonic() / 6)))


def main():
    seconds = max(10.0, float(sys.argv[1]) if len(sys.argv) > 1 else 60)
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "docs", "dashboard.png")
    work = tempfile.mkdtemp(prefix="scalegate-screenshot-")
    procs, page = [], None
    try:
        app = [start_upstream(name) for name in ("a", "b", "c")]
        slow = start_upstream("slow", extra_args=["--delay-ms", "40"])
        procs += [u.proc for u in app + [slow]]
        cfg = make_config({"app": app, "search": [slow]}, routes=ROUTES, workers=2, upstream_opts={
            "app": {"balance": "round_robin", "health_check": CHECK},
            "search": {"circuit_breaker": {"error_threshold_percent": 50, "volume_threshold": 20}}})
        gw = start_gateway(cfg, os.path.join(work, "gateway"))
        procs.append(gw.proc)
        page = Page()
        page.do("open", url="http://127.0.0.1:%d/dashboard" % gw.admin_port)
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=load, args=(gw.port, k, until)) for k in range(3)]
        for t in threads:
            t.start()
        time.sleep(max(0.0, seconds - 8))
        app[2].kill()
        time.sleep(6)  # the picture is taken under load, the server down for a few seconds
        page.do("screenshot", path=os.path.join(work, "dashboard.png"), full_page=True)
        for t in threads:
            t.join()
        shutil.copy(os.path.join(work, "dashboard.png"), out)
        print("wrote", out)
    finally:
        if page is not None:
            page.close()
        for proc in procs:
            stop_process(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
