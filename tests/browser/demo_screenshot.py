"""Makes docs/dashboard.png from `scalegate demo --load`: the demo's routes (balancing,
cache, rate limit, breaker, async queue, autoscaled copies) under its built-in load wave,
one demo instance made slow, and a full-page screenshot taken after SECONDS (default 100).

  SCALEGATE_BIN=build/src/app/scalegate /usr/bin/python3 tests/browser/demo_screenshot.py [SECONDS] [OUT]

The demo is stopped by pid (it stops the copies it started)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from conftest import free_port, stop_process, wait_until  # noqa: E402
from test_dashboard_browser import Page  # noqa: E402


def main():
    seconds = max(30, int(sys.argv[1])) if len(sys.argv) > 1 else 100
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "docs", "dashboard.png")
    binary = os.environ.get("SCALEGATE_BIN", os.path.join(REPO, "build/src/app/scalegate"))
    work = tempfile.mkdtemp(prefix="scalegate-demo-screenshot-")
    port, admin = free_port(), free_port()
    log = open(os.path.join(work, "demo.out"), "wb")
    demo = subprocess.Popen([binary, "demo", "--load", "--port", str(port), "--admin-port",
                             str(admin)], stdout=log, stderr=subprocess.STDOUT, cwd=work)
    page = None
    try:
        text = lambda: open(os.path.join(work, "demo.out"), errors="replace").read()  # noqa: E731
        assert wait_until(lambda: "\nTry:\n" in text(), timeout=20), text()
        slow = re.search(r"curl -s -X POST '(http://127\.0\.0\.1:\d+/_demo\?latency=300)'", text())
        urllib.request.urlopen(urllib.request.Request(slow.group(1), method="POST")).read()
        page = Page()
        page.do("open", url="http://127.0.0.1:%d/dashboard" % admin)
        time.sleep(seconds)
        page.do("screenshot", path=os.path.join(work, "dashboard.png"), full_page=True)
        shutil.copyfile(os.path.join(work, "dashboard.png"), out)
        print("wrote", out)
    finally:
        if page is not None:
            page.close()
        stop_process(demo, signal.SIGTERM, timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
