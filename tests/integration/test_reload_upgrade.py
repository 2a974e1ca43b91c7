"""Reload (SIGHUP, POST /admin/reload) and binary upgrade (SIGUSR2).

A reload starts the new configuration in the same process (a new generation on the same worker
threads): idle keep-alive connections move to it at once, the old generation drains into it.
A reload that changes `workers`, and a binary upgrade, still hand over to a successor process:
it takes the listening sockets and the idle keep-alive connections over, the old one drains and
exits. Checked with real clients: no refused connection, no reset, no failed request, while load
runs; an invalid file, or a new configuration or successor that cannot start, leaves the running
one serving."""
import os
import re
import shutil
import signal
import socket
import threading
import time

import pytest

from conftest import (ClientThreads, Conn, NoResponse, IncompleteBody, make_config, to_yaml, wait_until,
                      wait_s, http_get, require_binary, stop_process)

SERVES_NOW = re.compile(r"process (\d+) serves now")
# An in-process reload: the new generation serves, then (later) the old one is gone.
SERVES_HERE = "reload: the new configuration serves; the old one drains into it"
DRAINED = "reload: the old configuration has drained and is gone"
# What the new generation (in-process) or the successor (process) carried over.
CARRIED = re.compile(r"reload: carried over the state of (\d+) upstream\(s\) \((\d+) servers\).*?"
                     r"(\d+) changed upstream\(s\) start fresh")
TOOK_OVER = re.compile(r"took over the state of (\d+) upstream\(s\) \((\d+) servers\).*?"
                       r"(\d+) changed upstream\(s\) start fresh")
# The two ways a running gateway takes a new configuration: in this process (SIGHUP, POST
# /admin/reload) or by a successor process (SIGUSR2, the process hand-over).
HOW = ["in_process", "process"]


def write(gw, cfg):
    gw.cfg = cfg
    with open(gw.config_path, "w") as f:
        f.write(to_yaml(cfg) + "\n")


def successor_pids(gw):
    return [int(p) for p in SERVES_NOW.findall(gw.logs)]


def wait_for_successor(gw, count):
    assert wait_until(lambda: len(successor_pids(gw)) >= count, timeout=wait_s(40)), gw.logs[-3000:]
    return successor_pids(gw)[count - 1]


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def stop_pid(pid):
    """Stops a successor (not our child: it was started by the process it replaced) by pid."""
    if not process_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not process_alive(pid), timeout=wait_s(15)):
        os.kill(pid, signal.SIGKILL)


class Successors(list):
    """The successor pids a test saw; at the end every successor any watched gateway logged is
    stopped too (one that started although the test failed before noting it)."""

    def __init__(self):
        super().__init__()
        self.watched = []

    def watch(self, gw):
        self.watched.append(gw)
        return gw


@pytest.fixture
def successors():
    pids = Successors()
    yield pids
    for gw in pids.watched:
        pids.extend(p for p in successor_pids(gw) if p not in pids)
    for pid in pids:
        stop_pid(pid)


def admin_reload(gw, attempts=100):
    """POST /admin/reload; on 409 (the previous process answered while handing over) asks again."""
    r = gw.admin_request("POST", "/admin/reload")
    for _ in range(attempts):
        if r.status != 409:
            break
        time.sleep(0.05)
        r = gw.admin_request("POST", "/admin/reload")
    return r


def in_process_reloads(gw):
    return gw.logs.count(SERVES_HERE)


def wait_for_in_process_reload(gw, count):
    """Waits for the count-th in-process reload to serve; the process is the one started."""
    assert wait_until(lambda: in_process_reloads(gw) >= count), gw.logs[-3000:]
    assert gw.alive(), gw.logs[-3000:]
    assert successor_pids(gw) == [], gw.logs[-3000:]


def wait_for_drained(gw, count):
    """Waits until count old generations have drained and are gone (in-process reloads)."""
    assert wait_until(lambda: gw.logs.count(DRAINED) >= count, timeout=20), gw.logs[-3000:]


class Reloader:
    """A test's reloads, one way or the other (HOW):
    in_process: SIGHUP (or POST /admin/reload) to the gateway; the same process serves on;
    process: SIGUSR2 to the process serving now; a successor takes over, the old one exits.
    Both read the file again; the tests assert that what users see is the same."""

    def __init__(self, how, gw, successors):
        assert how in HOW, how
        self.how, self.gw, self.successors = how, gw, successors
        self.count = 0
        successors.watch(gw)

    @property
    def in_process(self):
        return self.how == "in_process"

    @property
    def pid(self):
        """The process serving now."""
        return self.successors[-1] if self.successors else self.gw.pid

    def reload(self, admin=False):
        """admin: POST /admin/reload instead of SIGHUP (in_process; a hand-over is SIGUSR2)."""
        gw = self.gw
        self.count += 1
        if self.in_process:
            if admin:
                r = admin_reload(gw)
                assert r.status == 202, r
            else:
                os.kill(gw.pid, signal.SIGHUP)
            wait_for_in_process_reload(gw, self.count)
            return
        old = self.pid
        os.kill(old, signal.SIGUSR2)
        self.successors.append(wait_for_successor(gw, self.count))
        if old == gw.pid:
            assert gw.proc.wait(timeout=wait_s(20)) == 0, gw.logs[-2000:]
        else:
            assert wait_until(lambda: not process_alive(old), timeout=20), gw.logs[-2000:]
        assert process_alive(self.pid), gw.logs[-2000:]

    def carried(self):
        """(upstreams, servers, changed upstreams) carried over by the last reload."""
        pattern = CARRIED if self.in_process else TOOK_OVER
        assert wait_until(lambda: len(pattern.findall(self.gw.logs)) >= self.count), \
            self.gw.logs[-2000:]
        return pattern.findall(self.gw.logs)[self.count - 1]

    def wait_old_gone(self):
        """Every configuration replaced so far has drained and is gone."""
        if self.in_process:
            wait_for_drained(self.gw, self.count)
            assert self.gw.alive()
        else:
            assert [p for p in [self.gw.pid] + self.successors[:-1] if process_alive(p)] == []


def routes_cfg(upstream_names, extra_route=None):
    routes = [{"name": "default", "match": {"prefix": "/"}, "upstream": upstream_names[0]}]
    if extra_route:
        routes.insert(0, {"name": extra_route, "match": {"prefix": "/" + extra_route},
                          "upstream": upstream_names[1]})
    return routes


class KeepAliveLoad(ClientThreads):
    """Clients that each send requests one after another on one keep-alive connection, and
    count every failure: no response, a cut response, a non-200 or a connection that closed
    (a reload must never close an idle keep-alive connection under a client)."""

    def __init__(self, port, clients=4, path="/", per_client=100000, join_s=20):
        super().__init__(clients, join_s=join_s)
        self.port, self.path, self.per_client = port, path, per_client
        self.ok = 0
        self.failures = []

    def run(self):
        conn = Conn(self.port)
        sent = 0
        while not self.stop.is_set() and sent < self.per_client:
            sent += 1
            try:
                resp = conn.get(self.path)
                failed = None if resp.status == 200 else "status %d" % resp.status
            except (NoResponse, IncompleteBody, OSError) as e:
                failed = "%s: %s" % (type(e).__name__, e)
            with self.lock:
                if failed:
                    self.failures.append(failed)
                else:
                    self.ok += 1
            if failed:
                conn.close()
                conn = Conn(self.port)
        conn.close()


def test_sighup_with_an_invalid_file_keeps_the_running_configuration(gateway, upstream,
                                                                      successors):
    u1 = upstream("u1")
    gw = successors.watch(gateway(make_config({"u1": [u1]})))
    routes = [{"name": "r", "match": {"prefix": "/"}, "upstream": "missing"}]
    write(gw, dict(gw.cfg, listeners=[dict(gw.cfg["listeners"][0], routes=routes)]))
    os.kill(gw.pid, signal.SIGHUP)
    assert wait_until(lambda: "the running configuration stays" in gw.logs, timeout=wait_s(10))
    assert re.search(r"reload: .*scalegate\.yaml:\d+:\d+: .*missing", gw.logs), gw.logs[-2000:]
    assert gw.alive()
    assert gw.get("/x").status == 200
    assert gw.metric("scalegate_reloads_total", result="invalid_config") == 1
    assert in_process_reloads(gw) == 0 and successor_pids(gw) == []
    # The admin endpoint answers the errors and changes nothing either.
    r = gw.admin_request("POST", "/admin/reload")
    assert r.status == 400, r
    doc = r.json()
    assert doc["status"] == "invalid" and any("missing" in e for e in doc["errors"]), doc
    assert gw.alive() and gw.get("/x").status == 200


@pytest.mark.parametrize("how", ["in_process", "workers_change"])
def test_sighup_serves_the_new_routes_on_the_idle_connections_too(gateway, upstream, successors,
                                                                   how):
    """in_process: the same process serves the new routes, and the idle keep-alive connection
    moved to the new configuration (no close); workers_change: a reload that changes `workers`
    hands over to a successor process, which is passed the idle connection."""
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=routes_cfg(["u1", "u2"]), workers=2)
    gw = successors.watch(gateway(cfg))
    idle = Conn(gw.port)  # an idle keep-alive connection across the reload
    assert idle.get("/b").header("x-upstream") == "u1"
    write(gw, dict(cfg, workers=2 if how == "in_process" else 3,
                   listeners=[dict(cfg["listeners"][0],
                                   routes=routes_cfg(["u1", "u2"], extra_route="b"))]))
    os.kill(gw.pid, signal.SIGHUP)
    if how == "in_process":
        wait_for_in_process_reload(gw, 1)
    else:
        pid = wait_for_successor(gw, 1)
        successors.append(pid)
        assert "reload: workers changes from 2 to 3: a new process takes over" in gw.logs
        assert gw.proc.wait(timeout=wait_s(20)) == 0  # the old process drained and exited
        assert process_alive(pid)
    assert http_get(gw.port, "/b").header("x-upstream") == "u2"
    # The idle connection was moved or passed on, not closed: the new configuration answers.
    resp = idle.get("/b")
    assert resp.status == 200 and resp.header("x-upstream") == "u2"
    idle.close()
    if how == "in_process":
        wait_for_drained(gw, 1)
        assert gw.alive() and gw.metric("scalegate_reloads_total", result="ok") == 1
    else:
        took_over = re.compile(r"took over ([12]) idle connection")
        assert wait_until(lambda: took_over.search(gw.logs), timeout=wait_s(10)), gw.logs[-2000:]


@pytest.mark.parametrize("how", ["in_process", "workers_change"])
def test_admin_reload_under_load_fails_no_request(gateway, upstream, successors, how):
    """in_process: four reloads in the same process; workers_change: each reload changes
    `workers` (2, 3, 2, 3), so a successor process takes over each time."""
    u1, u2 = upstream("u1"), upstream("u2")
    cfg = make_config({"u1": [u1], "u2": [u2]}, routes=routes_cfg(["u1", "u2"]), workers=2)
    gw = successors.watch(gateway(cfg))
    reloads = 4
    health = []  # /health statuses seen during the reloads: the old one must not answer
    stop_health = threading.Event()

    def poll_health():
        while not stop_health.is_set() and len(health) < 10000:
            try:
                health.append(http_get(gw.admin_port, "/health", host="127.0.0.1").status)
            except (OSError, NoResponse, IncompleteBody) as e:
                health.append(repr(e))
            time.sleep(0.01)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    with KeepAliveLoad(gw.port, clients=4) as load:
        for i in range(reloads):
            extra = "b" if i % 2 == 0 else None
            servers = [{"address": u1.address, "weight": 1 + i}]
            workers = 2 if how == "in_process" else 3 - i % 2
            write(gw, dict(cfg, workers=workers,
                           listeners=[dict(cfg["listeners"][0],
                                           routes=routes_cfg(["u1", "u2"], extra))],
                           upstreams=dict(cfg["upstreams"], u1={"servers": servers})))
            assert admin_reload(gw).status == 202
            if how == "in_process":
                wait_for_in_process_reload(gw, i + 1)
            else:
                successors.append(wait_for_successor(gw, i + 1))
            time.sleep(0.3)
    stop_health.set()
    poller.join(wait_s(10))
    assert load.failures == [], load.failures[:5]
    assert load.ok > 100
    if how == "in_process":
        wait_for_drained(gw, reloads)  # each old configuration drained and is gone
        assert gw.alive() and successor_pids(gw) == []
        assert gw.metric("scalegate_reloads_total", result="ok") == reloads
    else:
        assert [p for p in successors[:-1] if process_alive(p)] == []  # each old one exited
    # The last file serves: its weight, its routes.
    assert gw.metric("scalegate_upstream_server_weight", upstream="u1", server=u1.address) == reloads
    assert http_get(gw.port, "/b").header("x-upstream") == "u1"
    assert len(health) > 20 and set(health) == {200}, [h for h in health if h != 200][:5]


def gateway_from_copy(gateway, cfg, tmp_path):
    """A gateway run from a copy of the binary, tmp_path/bin/scalegate, which the test may
    replace (replace_binary) before a binary upgrade: SIGUSR2 starts whatever file is there."""
    binary = tmp_path / "bin" / "scalegate"
    binary.parent.mkdir()
    shutil.copy(require_binary(), binary)
    gw = gateway(cfg, wait=False)
    stop_process(gw.proc, signal.SIGKILL)  # started again, from the copy
    gw.binary = str(binary)
    return gw.start(), binary


def replace_binary(binary, source=None, text=None):
    """Replaces the file as a package upgrade does (a new file renamed over it): with a copy of
    `source` (default: the binary under test) or with the executable script `text`."""
    staged = binary.with_name(binary.name + ".new")
    if text is None:
        shutil.copy(source or require_binary(), staged)
    else:
        staged.write_text(text)
        staged.chmod(0o755)
    os.rename(staged, binary)


def test_binary_upgrade_runs_the_replaced_file_under_load(gateway, upstream, successors, tmp_path):
    u1 = upstream("u1")
    gw, binary = gateway_from_copy(gateway, make_config({"u1": [u1]}, workers=2), tmp_path)
    successors.watch(gw)
    with KeepAliveLoad(gw.port, clients=4) as load:
        time.sleep(0.5)
        replace_binary(binary)
        os.kill(gw.proc.pid, signal.SIGUSR2)
        pid = wait_for_successor(gw, 1)
        successors.append(pid)
        time.sleep(0.5)
    assert load.failures == [], load.failures[:5]
    assert gw.proc.wait(timeout=wait_s(20)) == 0
    # The successor runs the new file, the old process ran the one since replaced.
    assert os.readlink("/proc/%d/exe" % pid) == str(binary)
    assert http_get(gw.port, "/").status == 200


@pytest.mark.parametrize("how", ["in_process", "workers_change"])
def test_a_configuration_that_cannot_start_leaves_the_running_one_serving(gateway, upstream,
                                                                          successors, how):
    """A valid file whose new listener's port is taken: the new generation (in_process) or the
    successor process (workers_change) fails to bind; the running one serves on, and a later
    reload, once the port is free, starts."""
    u1 = upstream("u1")
    cfg = make_config({"u1": [u1]})
    gw = successors.watch(gateway(cfg))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    second = dict(cfg["listeners"][0], name="second",
                  address="127.0.0.1:%d" % taken.getsockname()[1])
    new_cfg = dict(cfg, listeners=[cfg["listeners"][0], second])
    if how == "workers_change":
        new_cfg["workers"] = 2
    write(gw, new_cfg)
    os.kill(gw.pid, signal.SIGHUP)
    failed = ("reload: the new configuration failed to start: " if how == "in_process"
              else "reload: the new process failed: ")
    assert wait_until(lambda: failed in gw.logs, timeout=wait_s(40)), gw.logs[-2000:]
    if how == "in_process":
        assert re.search(r"reload: the new configuration failed to start: .*; the running one stays",
                         gw.logs), gw.logs[-2000:]
        assert in_process_reloads(gw) == 0
    else:
        assert "this one keeps running" in gw.logs, gw.logs[-2000:]
    taken.close()
    assert gw.alive() and successor_pids(gw) == []
    assert gw.get("/").status == 200
    assert gw.metric("scalegate_reloads_total", result="failed") == 1
    assert gw.metric("scalegate_reloads_total", result="ok") in (None, 0)
    # Nothing of the attempt is left behind: with the port free, the same file starts.
    os.kill(gw.pid, signal.SIGHUP)
    if how == "in_process":
        wait_for_in_process_reload(gw, 1)
        assert gw.metric("scalegate_reloads_total", result="ok") == 1
    else:
        successors.append(wait_for_successor(gw, 1))
        assert gw.proc.wait(timeout=wait_s(20)) == 0, gw.logs[-2000:]
    assert http_get(int(second["address"].rsplit(":", 1)[1]), "/").status == 200
    assert gw.get("/").status == 200
