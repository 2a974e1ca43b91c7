"""Reloads under HTTP/2 load: h2load's clients each keep 10 streams in flight on one h2c
connection while the configuration is reloaded (SIGHUP, in this process) 20 times, alternately
adding a route and changing weights. No request may fail and no connection may be cut: the
HTTP/2 sessions move to each new configuration (no GOAWAY), so h2load's clients keep the
connections they opened (h2load does not open new ones), and the process stays the same.
SCALEGATE_RELOAD_SECONDS stretches the run (60 for the issue's figure); CI runs 20 s."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import make_config, wait_s, wait_until
from test_reload_upgrade import (DRAINED, successor_pids, successors,  # noqa: F401 (fixture)
                                 wait_for_in_process_reload, write)

H2LOAD = "/usr/bin/h2load"
RELOADS = 20
SECONDS = float(os.environ.get("SCALEGATE_RELOAD_SECONDS", "20"))
CLIENTS, STREAMS = 4, 10
REQUESTS = re.compile(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout$", re.M)
STATUS_CODES = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$", re.M)


def settled(read, pause=0.3):
    """A value once two reads `pause` apart agree."""
    value = read()
    for _ in range(50):
        time.sleep(pause)
        again = read()
        if again == value:
            return value
        value = again
    return value


@pytest.mark.timeout_s(SECONDS + 120)
def test_twenty_reloads_under_h2_load_fail_no_request(gateway, upstream, successors, tmp_path):
    u1, u2 = upstream("u1"), upstream("u2")
    base_routes = [{"name": "default", "match": {"prefix": "/"}, "upstream": "app"}]
    cfg = make_config({"app": [u1, u2], "other": [u2]}, routes=base_routes, workers=2,
                      listener={"http2": {"h2c": True}})
    gw = successors.watch(gateway(cfg))
    pid = gw.pid
    pause = SECONDS / (RELOADS + 1)
    out = tmp_path / "h2load.out"
    with open(out, "wb") as out_file:
        # http:// with h2load: HTTP/2 with prior knowledge (h2c), CLIENTS connections.
        h2load = subprocess.Popen([H2LOAD, "-c", str(CLIENTS), "-m", str(STREAMS),
                                   "-D", str(int(SECONDS + 2 * pause)),
                                   "http://127.0.0.1:%d/load" % gw.port],
                                  stdout=out_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: gw.metric("scalegate_http2_connections_total",
                                            listener="public") == CLIENTS), out.read_text()
        # What was accepted before the reloads: h2load's connections and wait_ready's probes
        # (at least one, counted when its worker accepts it, which may come late).
        accepted = settled(lambda: gw.metric("scalegate_connections_total", listener="public"))
        assert accepted > CLIENTS
        for i in range(RELOADS):
            time.sleep(pause)
            routes = list(base_routes)
            if i % 2 == 0:  # add a route
                routes.insert(0, {"name": "added", "match": {"prefix": "/added"},
                                  "upstream": "other"})
            servers = [{"address": u1.address, "weight": 1 + i}, {"address": u2.address}]
            write(gw, dict(gw.cfg, listeners=[dict(gw.cfg["listeners"][0], routes=routes)],
                           upstreams=dict(gw.cfg["upstreams"], app={"servers": servers})))
            os.kill(gw.pid, signal.SIGHUP)
            wait_for_in_process_reload(gw, i + 1)
        assert h2load.wait(timeout=wait_s(SECONDS + 60)) == 0, out.read_text()
    finally:
        if h2load.poll() is None:
            h2load.kill()
            h2load.wait()
    report = out.read_text()
    print("\nh2 reload load (%d reloads in %.0f s):\n%s" % (RELOADS, SECONDS, report))
    requests = REQUESTS.search(report)
    assert requests, report
    total, started, done, succeeded, failed, errored, timeout = map(int, requests.groups())
    assert (failed, errored, timeout) == (0, 0, 0), report
    assert succeeded == done > 20 * RELOADS, report
    assert STATUS_CODES.search(report).group(1) == str(succeeded), report
    # Each one was proxied (h2load stops counting at the end of its duration, with streams in
    # flight: started, not done).
    assert succeeded <= u1.stats()["requests"] + u2.stats()["requests"] <= started, report
    # The same process throughout, and the clients' connections were moved to each new
    # configuration, never closed and opened again: the gateway accepted CLIENTS of them.
    assert gw.alive() and gw.pid == pid and successor_pids(gw) == []
    assert gw.metric("scalegate_reloads_total", result="ok") == RELOADS
    assert gw.metric("scalegate_http2_connections_total", listener="public") == CLIENTS
    assert gw.metric("scalegate_connections_total", listener="public") == accepted
    assert gw.metric("scalegate_http2_goaways_total", listener="public") in (None, 0)
    assert gw.metric("scalegate_http2_refused_streams_total", listener="public") in (None, 0)
    # The last file serves, and every configuration replaced drained and is gone.
    assert gw.metric("scalegate_upstream_server_weight", upstream="app",
                     server=u1.address) == RELOADS
    assert wait_until(lambda: gw.logs.count(DRAINED) == RELOADS, timeout=20), gw.logs[-3000:]
