"""The dashboard in headless Chromium (playwright-core from tests/browser/node_modules, driven
through tests/browser/page_driver.mjs): numbers move under load, a killed upstream shows down
within the health interval, the drain button drains, and screenshots are taken."""
import json
import os
import select
import shutil
import signal
import subprocess
import time

import pytest

from conftest import Conn, REPO, _register, make_config, stop_process, wait_s, wait_until

BROWSER_DIR = os.path.join(REPO, "tests", "browser")
DRIVER = os.path.join(BROWSER_DIR, "page_driver.mjs")
HEALTH_INTERVAL_S = 0.5
FALL = 2


class Page:
    """One Chromium page behind the node driver; every call is one command and one answer."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", DRIVER], cwd=BROWSER_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _register(self.proc)
        ready = self._answer(wait_s(30))
        assert ready.get("ready"), ready

    def _answer(self, timeout):
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            raise AssertionError("page driver did not answer in %.0f s" % timeout)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("page driver exited: %s" % self.proc.stderr.read()[-3000:])
        return json.loads(line)

    def do(self, cmd, timeout=30, **args):
        self.proc.stdin.write(json.dumps(dict(cmd=cmd, **args)) + "\n")
        self.proc.stdin.flush()
        answer = self._answer(wait_s(timeout))
        assert answer["ok"], "%s %r failed: %s" % (cmd, args, answer.get("error"))
        return answer

    def text(self, selector):
        return self.do("text", selector=selector)["text"]

    def wait_text(self, selector, pattern, timeout_s):
        return self.do("waitText", selector=selector, pattern=pattern,
                       timeout_ms=int(wait_s(timeout_s) * 1000), timeout=timeout_s + 30)["text"]

    def close(self):
        try:
            self.do("close")
        except Exception:
            pass
        stop_process(self.proc, signal.SIGKILL, timeout=5)


@pytest.fixture
def page():
    if shutil.which("node") is None or not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules",
                                                                       "playwright-core")):
        pytest.fail("playwright-core is not installed: run scripts/install-deps.sh", pytrace=False)
    p = Page()
    yield p
    p.close()


def load(gw, n, bursts=4, pause_s=0.5):
    """n requests in a few bursts (each over one keep-alive connection) a moment apart, so the
    charts get several points."""
    for k in range(bursts):
        with Conn(gw.port) as c:
            for i in range(n // bursts):
                assert c.get("/echo/%d/%d" % (k, i)).status == 200
        time.sleep(pause_s)


def row(upstream, address):
    return '[data-server="%s|%s"]' % (upstream, address)


@pytest.mark.timeout_s(120)
def test_dashboard_live_numbers_down_server_and_drain(upstream, gateway, page, tmp_path):
    a, b = upstream("a"), upstream("b")
    check = {"type": "http", "path": "/health", "interval": "%dms" % (HEALTH_INTERVAL_S * 1000),
             "timeout": "300ms", "rise": 2, "fall": FALL, "expect": [200]}
    gw = gateway(make_config({"app": [a, b]}, workers=2,
                             upstream_opts={"app": {"balance": "round_robin", "health_check": check}}))
    page.do("open", url="http://127.0.0.1:%d/dashboard" % gw.admin_port)
    page.wait_text("#status", "^live$", 10)
    page.wait_text(row("app", a.address) + " .state", "^healthy$", 10)
    assert page.text(row("app", a.address) + " .requests") == "0"
    assert page.text("#no-autoscaler") == "no autoscaler configured"

    # Under load the counters, the request rate and the percentiles on the page move.
    load(gw, 200)
    page.wait_text(row("app", a.address) + " .requests", "^[1-9][0-9]*$", 5)
    page.wait_text(row("app", b.address) + " .requests", "^[1-9][0-9]*$", 5)
    page.wait_text("#total-rps", r"^(?!0\.0$)[0-9.]+$", 5)
    page.wait_text("#p95-public", r"^[0-9.]+$", 5)
    page.wait_text("#instances-healthy", "^2/2$", 5)
    page.do("screenshot", path=str(tmp_path / "dashboard.png"))

    # A killed upstream shows down within the health interval (fall checks) plus slack.
    b.kill()
    killed_at = time.monotonic()
    page.wait_text(row("app", b.address) + " .state", "^down$", HEALTH_INTERVAL_S * FALL + 3)
    assert time.monotonic() - killed_at < wait_s(HEALTH_INTERVAL_S * FALL + 3)
    page.wait_text("#instances-healthy", "^1/2$", 3)

    # The drain button drains through the admin API.
    page.do("click", selector=row("app", a.address) + ' button[data-action="drain"]')
    assert wait_until(lambda: gw.server_state("app", a.address) == "draining", timeout=wait_s(5))
    page.wait_text(row("app", a.address) + " .state", "^draining$", 5)
    page.do("click", selector=row("app", a.address) + ' button[data-action="enable"]')
    assert wait_until(lambda: gw.server_state("app", a.address) == "up", timeout=wait_s(5))
    page.wait_text(row("app", a.address) + " .state", "^healthy$", 5)
    page.do("screenshot", path=str(tmp_path / "dashboard-down.png"))
    assert page.do("errors")["errors"] == []
    if os.environ.get("SCALEGATE_DASHBOARD_SCREENSHOT"):
        shutil.copy(tmp_path / "dashboard.png", os.environ["SCALEGATE_DASHBOARD_SCREENSHOT"])


def test_dashboard_renders_the_autoscaler_section(upstream, gateway, page):
    """The autoscaler's part of /admin/stats (its shape is the autoscaler's contract) shows as
    a table of counts and decisions with the scaling-history chart."""
    gw = gateway(make_config({"app": [upstream("a")]}))
    now_ms = int(time.time() * 1000)
    autoscale = {"app": {"current": 3, "desired": 4, "min": 2, "max": 20, "metric": "rps_per_server",
                         "value": 612.5, "target": 500, "predicted": 700.0, "actuator": "none",
                         "decisions": [{"time_ms": now_ms - 120000, "from": 2, "to": 3,
                                        "reason": "rps_per_server 750 > 500"}]}}
    page.do("patchStats", patch={"autoscale": autoscale})
    page.do("open", url="http://127.0.0.1:%d/dashboard" % gw.admin_port)
    text = page.wait_text("#scaling", "rps_per_server 750 > 500", 10)
    assert "2→3" in text and "2–20" in text and "none" in text, text
    assert page.do("evaluate", expression="document.querySelector('#no-autoscaler') === null")["value"]
    visible = "getComputedStyle(document.querySelector('#scaling canvas')).display"
    assert page.do("evaluate", expression=visible)["value"] == "block"


def test_dashboard_asks_for_the_token_and_sends_it_on_every_request(upstream, gateway, page):
    """Against an admin API that wants a Bearer token (enforced here by the browser's request
    routing), the page asks for the token, then reads the stats and the stream and posts the
    drain with it."""
    a = upstream("a")
    gw = gateway(make_config({"app": [a]}))
    page.do("requireToken", token="s3cret")
    page.do("open", url="http://127.0.0.1:%d/dashboard" % gw.admin_port)
    page.wait_text("#status", "^token needed$", 10)
    assert page.do("evaluate", expression="getComputedStyle(document.querySelector('#login')).display")[
        "value"] == "block"
    page.do("fill", selector="#token", value="s3cret")
    page.do("click", selector="#token-save")
    page.wait_text("#status", "^live$", 10)
    page.wait_text(row("app", a.address) + " .state", "^healthy$", 5)
    page.do("click", selector=row("app", a.address) + ' button[data-action="drain"]')
    assert wait_until(lambda: gw.server_state("app", a.address) == "draining", timeout=wait_s(5))
    stored = page.do("evaluate", expression="sessionStorage.getItem('scalegate-token')")["value"]
    assert stored == "s3cret"
