"""Fixtures and helpers for the scalegate integration tests.

Every test starts real processes on 127.0.0.1 with ports chosen at run time, and stops
every process it started by pid (SIGTERM -> wait -> SIGKILL). Nothing is killed by name.

Environment:
  SCALEGATE_BIN        gateway binary (default: <repo>/build/src/app/scalegate)
  SCALEGATE_TEST_SLOW  factor applied to every wait (default 1; 3 is detected for ASan builds)
"""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PYTHON = "/usr/bin/python3"
UPSTREAM_SCRIPT = os.path.join(HERE, "upstream_server.py")
PATTERN = b"0123456789"

sys.path.insert(0, HERE)
from upstream_server import pattern_bytes  # noqa: E402,F401  (re-exported for the tests)


from environment import DEFAULT_BIN, SLOW, gateway_bin, wait_s  # noqa: E402,F401
from http_client import (  # noqa: E402,F401  (re-exported for the tests)
    Conn, IncompleteBody, NoResponse, Response, build_request, http_get, http_request, raw_request)


# ---------------------------------------------------------------------------
# process registry: everything we start is stopped by pid at the end, whatever happens
# ---------------------------------------------------------------------------
_PROCS = []
_PROCS_LOCK = threading.Lock()


def _register(proc):
    with _PROCS_LOCK:
        _PROCS.append(proc)


def stop_process(proc, sig=signal.SIGTERM, timeout=5.0):
    """Signal one process we started (by pid), wait, SIGKILL if it lingers. Returns its returncode."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return proc.returncode


def _interrupted(signum, frame):
    # SIGTERM (scripts/test.sh's time limit, or an operator) ends the run like Ctrl-C, so that
    # the session's finish and atexit stop what the tests started: the PostgreSQL servers are
    # in their own session (pg_ctl), out of reach of a signal to the process group.
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _interrupted)


def pytest_sessionfinish(session, exitstatus):
    with _PROCS_LOCK:
        procs = list(_PROCS)
    for p in procs:
        if p.poll() is None:
            stop_process(p, signal.SIGKILL, timeout=5)


def pytest_addoption(parser):
    parser.addini("scalegate_test_timeout", "default per-test time limit in seconds", default="60")


@pytest.fixture(autouse=True)
def _per_test_alarm(request):
    """Per-test time guard (pytest-timeout is not installed): SIGALRM fails the test."""
    marker = request.node.get_closest_marker("timeout_s")
    limit = float(marker.args[0]) if marker else float(request.config.getini("scalegate_test_timeout"))
    limit = int(limit * SLOW) + 1

    def on_alarm(signum, frame):
        pytest.fail("test exceeded its %ds time limit (SIGALRM guard)" % limit, pytrace=True)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------
# ports and sockets
# ---------------------------------------------------------------------------
_handed_out = set()


def free_port():
    """A currently unused loopback TCP port (bind port 0). Not handed out twice per run."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("could not find a free port")


def can_connect(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + wait_s(timeout)
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if can_connect(port):
            return True
        time.sleep(0.05)
    return False


def rss_kib(pid):
    """The resident memory of process `pid` (VmRSS), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Polls predicate() until it returns a truthy value or the (scaled) timeout passes."""
    deadline = time.monotonic() + wait_s(timeout)
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return value


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?\s*$')
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """Prometheus text -> list of (name, labels dict, float value)."""
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels = {}
        if m.group(3):
            pos = 0
            raw = m.group(3)
            while pos < len(raw):
                lm = _LABEL_RE.match(raw, pos)
                if not lm:
                    break
                labels[lm.group(1)] = lm.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                pos = lm.end()
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        samples.append((m.group(1), labels, value))
    return samples


def metric_samples(text_or_samples, name, **labels):
    samples = parse_metrics(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    return [(n, l, v) for n, l, v in samples
            if n == name and all(l.get(k) == str(val) for k, val in labels.items())]


def metric_value(text_or_samples, name, **labels):
    """Sum of the samples named `name` whose labels include `labels`; None when there is none."""
    found = metric_samples(text_or_samples, name, **labels)
    if not found:
        return None
    return sum(v for _, _, v in found)


# ---------------------------------------------------------------------------
# YAML writer (block style; enough for the gateway's config schema)
# ---------------------------------------------------------------------------
_PLAIN_RE = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:*+ -]*$")


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN_RE.match(s) and not s.endswith(" ") and ": " not in s and " #" not in s \
            and s.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "~"):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, (dict, list)):
                lines.append("%s%s: %s" % (pad, k, "{}" if isinstance(v, dict) else "[]"))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                inner = to_yaml(item, indent + 2).split("\n")
                inner[0] = pad + "- " + inner[0][indent + 2:]
                lines.append("\n".join(inner))
            elif isinstance(item, list) and item:
                lines.append("%s- [%s]" % (pad, ", ".join(_scalar(x) for x in item)))
            else:
                lines.append("%s- %s" % (pad, _scalar(item)))
    else:
        lines.append(pad + _scalar(obj))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# upstream servers
# ---------------------------------------------------------------------------
class Upstream:
    def __init__(self, name, proc, port):
        self.name = name
        self.proc = proc
        self.port = port
        self.pid = proc.pid

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stats(self):
        return http_get(self.port, "/stats", host="127.0.0.1:%d" % self.port, timeout=10).json()

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL (mid-load failure), waits for it to be gone."""
        return stop_process(self.proc, signal.SIGKILL, timeout=10)

    def stop(self):
        return stop_process(self.proc, signal.SIGTERM, timeout=5)

    def control(self, path, **params):
        """GET /control/<path>?params on the upstream itself (not counted in its stats)."""
        r = http_get(self.port, qpath("/control/" + path, **params), host="127.0.0.1:%d" % self.port,
                     timeout=10)
        assert r.status == 200, "upstream %s control %s answered %r" % (self.name, path, r)
        return r.json()

    def set_health(self, status):
        """What the upstream's /health answers from now on (200: healthy)."""
        return self.control("health", status=status)

    def set_status(self, status):
        """Every path (except /stats, /control/*) answers `status` from now on; 0 restores."""
        return self.control("status", status=status)

    def set_hang(self, on=True):
        return self.control("hang", on=1 if on else 0)

    def reset_stats(self):
        return self.control("reset")


def start_upstream(name, tmpdir=None, extra_args=()):
    """extra_args: upstream_server.py options, e.g. ("--status", "500") or ("--hang-all",)."""
    proc = subprocess.Popen([PYTHON, UPSTREAM_SCRIPT, "--name", name, "--port", "0"] + list(extra_args),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _register(proc)
    line = b""
    deadline = time.monotonic() + wait_s(10)
    import select
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            chunk = os.read(proc.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
        if proc.poll() is not None:
            break
    try:
        port = int(line.strip().split(b"\n")[0])
    except ValueError:
        stop_process(proc, signal.SIGKILL)
        raise RuntimeError("upstream server %s did not report its port (got %r)" % (name, line))
    if not wait_for_port(port, 10, proc):
        stop_process(proc, signal.SIGKILL)
        raise RuntimeError("upstream server %s is not accepting on %d" % (name, port))
    return Upstream(name, proc, port)


@pytest.fixture
def upstream():
    """Factory: upstream("u1") -> Upstream with .port, .address, .pid, .stats(), .kill().
    Extra positional arguments are upstream_server.py options: upstream("bad", "--status", "500")."""
    started = []

    def make(name="u1", *extra_args):
        u = start_upstream(name, extra_args=[str(a) for a in extra_args])
        started.append(u)
        return u

    yield make
    for u in started:
        try:
            stop_process(u.proc, signal.SIGKILL, timeout=5)
        except Exception:
            pass


# ---------------------------------------------------------------------------
# the gateway
# ---------------------------------------------------------------------------
def require_binary():
    path = gateway_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("scalegate binary not found at %s (build it, or set SCALEGATE_BIN)" % path, pytrace=False)
    return path


def run_cli(args, timeout=30.0, cwd=None):
    """Runs the binary to completion; returns CompletedProcess (text)."""
    path = require_binary()
    return subprocess.run([path] + list(args), capture_output=True, text=True, errors="replace",
                          timeout=wait_s(timeout), cwd=cwd, stdin=subprocess.DEVNULL)


def _addr(server):
    return server.address if isinstance(server, Upstream) else server


def make_config(upstreams, routes=None, workers=1, listener=None, upstream_opts=None, **top):
    """Builds a config dict.

    upstreams: {name: [Upstream | "host:port" | {address:..., weight:..., backup:...}, ...]}
    routes: list of route dicts (default: one route "/" to the first upstream).
    listener: extra listener keys (timeouts, limits). upstream_opts: {name: {key: value}}.
    """
    ups = {}
    for name, servers in upstreams.items():
        entry = {}
        entry.update((upstream_opts or {}).get(name, {}))
        lst = []
        for s in servers:
            if isinstance(s, dict):
                d = dict(s)
                d["address"] = _addr(d["address"])
                lst.append(d)
            else:
                lst.append({"address": _addr(s)})
        entry["servers"] = lst
        ups[name] = entry
    if routes is None:
        routes = [{"name": "default", "match": {"prefix": "/"}, "upstream": next(iter(upstreams))}]
    lis = {"name": "public"}
    lis.update(listener or {})
    lis["routes"] = routes
    cfg = {}
    if workers is not None:
        cfg["workers"] = workers
    cfg.update(top)
    cfg["listeners"] = [lis]
    cfg["upstreams"] = ups
    return cfg


class ClientThreads:
    """Base of the tests' load generators: `clients` threads run self.run() until self.stop is
    set; used as a context manager (started on entry, stopped and joined on exit)."""

    def __init__(self, clients, join_s=60):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.join_s = join_s
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def run(self):
        raise NotImplementedError

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(wait_s(self.join_s))


class Gateway:
    def __init__(self, cfg, tmpdir, extra_args=None):
        self.cfg = cfg
        self.tmpdir = tmpdir
        self.config_path = os.path.join(tmpdir, "scalegate.yaml")
        self.stdout_path = os.path.join(tmpdir, "gateway.stdout")
        self.stderr_path = os.path.join(tmpdir, "gateway.stderr")
        self.extra_args = extra_args or []
        self.binary = None  # the executable to run (None: require_binary())
        self.proc = None
        self.returncode = None

    # filled from the config
    @property
    def port(self):
        return self.ports[self.cfg["listeners"][0]["name"]]

    @property
    def ports(self):
        return {l["name"]: int(l["address"].rsplit(":", 1)[1]) for l in self.cfg["listeners"]}

    @property
    def admin_port(self):
        adm = self.cfg.get("admin")
        return int(adm["address"].rsplit(":", 1)[1]) if adm else None

    @property
    def pid(self):
        return self.proc.pid

    @property
    def logs(self):
        out = []
        for p in (self.stdout_path, self.stderr_path):
            try:
                with open(p, "r", errors="replace") as f:
                    out.append(f.read())
            except OSError:
                pass
        return "\n".join(out)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(to_yaml(self.cfg) + "\n")

    def start(self, wait=True):
        path = self.binary or require_binary()
        self.write_config()
        self.proc = subprocess.Popen([path, "run", "-c", self.config_path] + self.extra_args,
                                     stdout=open(self.stdout_path, "wb"), stderr=open(self.stderr_path, "wb"),
                                     stdin=subprocess.DEVNULL, cwd=self.tmpdir)
        _register(self.proc)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15.0):
        ok = wait_until(lambda: (not self.alive()) or (all(can_connect(p) for p in self.ports.values())
                                                         and self._admin_answers()), timeout)
        if not self.alive():
            raise AssertionError("gateway exited during start-up with %s\n--- config ---\n%s\n--- logs ---\n%s"
                                 % (self.proc.returncode, to_yaml(self.cfg), self.logs[-4000:]))
        if not ok:
            raise AssertionError("gateway did not become ready (ports %s, admin %s)\n--- logs ---\n%s"
                                 % (self.ports, self.admin_port, self.logs[-4000:]))

    def _admin_answers(self):
        if self.admin_port is None:
            return True
        try:
            r = http_get(self.admin_port, "/health", host="127.0.0.1", timeout=2)
            return r.status is not None
        except (OSError, NoResponse, IncompleteBody):
            return False

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signals the gateway (by pid) and waits; SIGKILL after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        self.returncode = stop_process(self.proc, sig, timeout=wait_s(timeout or 20))
        return self.returncode

    # admin helpers
    def admin_get(self, path):
        return http_get(self.admin_port, path, host="127.0.0.1:%d" % self.admin_port, timeout=10)

    def admin_request(self, method, path, body=None, headers=None):
        """Any method on the admin listener; body: bytes, str or a JSON-able object."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        return http_request(self.admin_port, method, path, headers, body=body,
                            host="127.0.0.1:%d" % self.admin_port, timeout=10)

    def server_action(self, upstream, address, action, method="POST", body=None):
        """POST /admin/upstreams/{upstream}/servers/{address}/{action} (PUT + body for weight)."""
        return self.admin_request(method, "/admin/upstreams/%s/servers/%s/%s" % (upstream, address, action),
                                  body=body)

    def server_state(self, upstream, server):
        """The state label whose scalegate_upstream_server_state sample is 1 (None when none is)."""
        samples = metric_samples(self.metrics_text(), "scalegate_upstream_server_state",
                                 upstream=upstream, server=server)
        on = [l.get("state") for _, l, v in samples if v == 1]
        return on[0] if len(on) == 1 else (on or None)

    def health_server(self, upstream, server):
        """The /health entry of one server (a dict), or None."""
        _, doc = self.health()
        return find_health_server(doc, upstream, server)

    def metrics_text(self):
        r = self.admin_get("/metrics")
        assert r.status == 200, "admin /metrics answered %r" % r
        return r.body.decode("utf-8", "replace")

    def metric(self, name, **labels):
        return metric_value(self.metrics_text(), name, **labels)

    def health(self):
        r = self.admin_get("/health")
        return r.status, json.loads(r.body)

    def get(self, path, headers=None, host="gateway.test", timeout=15.0):
        return http_get(self.port, path, headers, host=host, timeout=timeout)


def _assign_ports(cfg):
    for lis in cfg.get("listeners", []):
        if "address" not in lis:
            lis["address"] = "127.0.0.1:%d" % free_port()
    if "admin" not in cfg:
        cfg["admin"] = {"address": "127.0.0.1:%d" % free_port()}
    elif cfg["admin"] is None:  # explicitly no admin listener
        del cfg["admin"]


def stop_gateways(started):
    """Stops the gateways a test started (SIGTERM) and fails the test on any sanitizer report
    in their logs."""
    reports = []
    for gw in started:
        try:
            gw.stop(signal.SIGTERM, timeout=5)
        except Exception:
            pass
        rep = sanitizer_report(gw.logs)
        if rep:
            reports.append("%s:\n%s" % (gw.config_path, rep))
    if reports:
        pytest.fail("sanitizer report from the gateway:\n" + "\n".join(reports), pytrace=False)


def start_gateway(cfg, tmpdir, extra_args=None, wait=True):
    _assign_ports(cfg)
    os.makedirs(tmpdir, exist_ok=True)
    return Gateway(cfg, tmpdir, extra_args).start(wait=wait)


@pytest.fixture
def gateway(tmp_path):
    """Factory: gateway(config_dict) -> started, ready Gateway (.port, .admin_port, .pid, .config_path,
    .stop(sig), .logs). Listener/admin addresses are filled with free ports when absent."""
    started = []
    counter = [0]

    def make(cfg, extra_args=None, wait=True):
        counter[0] += 1
        d = os.path.join(str(tmp_path), "gw%d" % counter[0])
        gw = Gateway(cfg, d, extra_args)
        _assign_ports(cfg)
        os.makedirs(d, exist_ok=True)
        started.append(gw)
        return gw.start(wait=wait)

    yield make
    stop_gateways(started)


_SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: \w+Sanitizer")


def sanitizer_report(logs):
    """The first lines of an ASan/LSan/UBSan report found in the gateway's output, or ''."""
    m = _SANITIZER_RE.search(logs or "")
    if not m:
        return ""
    start = logs.rfind("\n", 0, m.start()) + 1
    return logs[start:start + 3000]


def stop_gateway_checked(gw):
    """Module-scoped fixtures: stop the gateway and fail on a sanitizer report."""
    if gw is None or gw.proc is None:
        return
    gw.stop(signal.SIGTERM, timeout=10)
    rep = sanitizer_report(gw.logs)
    if rep:
        pytest.fail("sanitizer report from the gateway:\n" + rep, pytrace=False)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def find_health_server(doc, upstream, server):
    """Finds the entry for `server` of `upstream` in the admin /health document, whatever the
    exact nesting (a list or a dict of upstreams, each with a list or dict of servers)."""
    def entries(node):
        if isinstance(node, dict):
            yield node
            for v in node.values():
                yield from entries(v)
        elif isinstance(node, list):
            for v in node:
                yield from entries(v)

    ups = doc.get("upstreams") if isinstance(doc, dict) else None
    scope = None
    if isinstance(ups, dict):
        scope = ups.get(upstream)
    elif isinstance(ups, list):
        for u in ups:
            if isinstance(u, dict) and u.get("name") == upstream:
                scope = u
    for e in entries(scope if scope is not None else doc):
        if e.get("address") == server or e.get("server") == server:
            return e
    if isinstance(scope, dict) and isinstance(scope.get("servers"), dict):
        v = scope["servers"].get(server)
        if isinstance(v, dict):
            return v
    return None


def qpath(path, **params):
    return path + ("?" + urllib.parse.urlencode(params) if params else "")
