"""Real redis-server processes for the shared-state tests (Debian's /usr/bin/redis-server).

A single node (RedisServer: start, stop or kill by pid, pause/resume with SIGSTOP/SIGCONT,
restart on the same port) and a 3-master Redis Cluster built with `redis-cli --cluster
create` (RedisCluster: slot owners, slot migration with CLUSTER SETSLOT + MIGRATE). Every
server is started with `--save '' --appendonly no` on 127.0.0.1 with ports chosen at run
time, and stopped by pid (also at the end of the pytest session, through conftest's process
registry). Commands are sent by a small RESP client (RedisServer.cmd), so no wait depends on
spawning redis-cli except the cluster creation itself.
"""
import copy
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (Conn, Gateway, IncompleteBody, NoResponse, _assign_ports, _register, free_port,
                      require_binary, stop_gateways, stop_process, wait_s)

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"


def require_redis():
    for tool in (REDIS_SERVER, REDIS_CLI):
        if not os.access(tool, os.X_OK):
            pytest.fail("%s not found (run scripts/install-deps.sh)" % tool, pytrace=False)


class RedisError(Exception):
    """An error reply (-ERR ..., -MOVED ..., -ASK ...)."""


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the connection")
            self.buf += data

    def _exact(self, n):
        while len(self.buf) < n + 2:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the connection")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n + 2]
        return out

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError("unexpected RESP reply %r" % line)


def redis_command(port, *args, timeout=5.0):
    """One command on a fresh connection; returns the reply (raises RedisError on -ERR)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(_encode(args))
        reply = _Reader(s).reply()
    if isinstance(reply, RedisError):
        raise reply
    return reply


class RedisServer:
    """One redis-server on 127.0.0.1:port, its files in `workdir` (removed on stop)."""

    def __init__(self, workdir, port=None, extra=()):
        self.port = port or free_port()
        self.workdir = workdir
        self.extra = list(extra)
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=10.0):
        require_redis()
        os.makedirs(self.workdir, exist_ok=True)
        log = open(os.path.join(self.workdir, "redis-%d.log" % self.port), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--daemonize", "no"] + self.extra,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        _register(self.proc)
        deadline = time.monotonic() + wait_s(timeout)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server on %d exited at start (%s):\n%s"
                                   % (self.port, self.proc.returncode, self.log()[-2000:]))
            try:
                if self.cmd("PING", timeout=0.5) == "PONG":
                    return self
            except (OSError, ConnectionError, RedisError):
                pass
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("redis-server on %d did not answer PING within %ss" % (self.port, timeout))

    def log(self):
        try:
            with open(os.path.join(self.workdir, "redis-%d.log" % self.port), "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cmd(self, *args, timeout=5.0):
        return redis_command(self.port, *args, timeout=timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pause(self):
        """SIGSTOP: the socket stays open, nothing answers (a slow Redis)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def _end(self, sig, timeout):
        # A stopped process is continued first so that the signal is delivered.
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGCONT)
        except ProcessLookupError:
            pass
        stop_process(self.proc, sig, timeout=timeout)

    def kill(self):
        """SIGKILL by pid (a crash), waits until it is gone."""
        self._end(signal.SIGKILL, 10)

    def stop(self):
        self._end(signal.SIGTERM, 5)

    def restart(self):
        """Kills (if running) and starts a fresh, empty server on the same port."""
        self.kill()
        return self.start()

    def scan(self, pattern="*"):
        """Every key matching `pattern` (SCAN loop, bounded)."""
        keys, cursor = [], "0"
        for _ in range(10000):
            cursor, batch = self.cmd("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            keys.extend(batch)
            if cursor == "0":
                return keys
        raise RuntimeError("SCAN did not finish")


class RedisCluster:
    """Three masters (no replicas) on loopback, created with `redis-cli --cluster create`.
    Bus ports are chosen explicitly (cluster-port), so no port + 10000 arithmetic is needed."""

    def __init__(self, workdir, masters=3):
        self.workdir = workdir
        self.nodes = []
        for i in range(masters):
            port, bus = free_port(), free_port()
            d = os.path.join(workdir, "node%d" % i)
            self.nodes.append(RedisServer(d, port, [
                "--cluster-enabled", "yes", "--cluster-config-file", os.path.join(d, "nodes.conf"),
                "--cluster-port", str(bus), "--cluster-node-timeout", "5000"]))

    def start(self, timeout=30.0):
        for n in self.nodes:
            n.start()
        r = subprocess.run([REDIS_CLI, "--cluster", "create"] + [n.address for n in self.nodes]
                           + ["--cluster-replicas", "0", "--cluster-yes"],
                           capture_output=True, text=True, timeout=wait_s(timeout), stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("redis-cli --cluster create failed:\n%s\n%s" % (r.stdout, r.stderr))
        if not self.wait_ok(timeout):
            raise RuntimeError("cluster_state is not ok on every node:\n%s"
                               % "\n".join(n.cmd("CLUSTER", "INFO") for n in self.nodes))
        return self

    def wait_ok(self, timeout=20.0):
        """Until every node says cluster_state:ok and agrees on who owns every slot."""
        deadline = time.monotonic() + wait_s(timeout)
        while time.monotonic() < deadline:
            try:
                if all("cluster_state:ok" in n.cmd("CLUSTER", "INFO") for n in self.nodes) and \
                        len({str(sorted(self._slot_ranges(n))) for n in self.nodes}) == 1:
                    return True
            except (OSError, ConnectionError, RedisError):
                pass
            time.sleep(0.1)
        return False

    @staticmethod
    def _slot_ranges(node):
        return [(s[0], s[1], s[2][1]) for s in node.cmd("CLUSTER", "SLOTS")]

    def stop(self):
        for n in self.nodes:
            n.kill()

    @property
    def seeds(self):
        return [n.address for n in self.nodes]

    def node_id(self, node):
        return node.cmd("CLUSTER", "MYID")

    def keyslot(self, key):
        return self.nodes[0].cmd("CLUSTER", "KEYSLOT", key)

    def owner(self, slot):
        """The RedisServer owning `slot`, as node 0 sees the map."""
        for start, end, master in [(s[0], s[1], s[2]) for s in self.nodes[0].cmd("CLUSTER", "SLOTS")]:
            if start <= slot <= end:
                port = int(master[1])
                return next(n for n in self.nodes if n.port == port)
        raise RuntimeError("slot %d has no owner" % slot)

    def find_keys(self, pattern):
        """{key: node} for every key matching `pattern` on any master."""
        return {k: n for n in self.nodes for k in n.scan(pattern)}

    def migrate_slot(self, slot, source, target, pause_s=0.0, on_step=None):
        """Moves `slot` from `source` to `target` the way redis-cli --cluster reshard does:
        IMPORTING on the target, MIGRATING on the source, MIGRATE every key, then SETSLOT NODE
        on every node (target first). pause_s: sleep between the steps (traffic meanwhile sees
        ASK, then MOVED). on_step(name) is called after each step."""
        step = on_step or (lambda name: None)
        source_id, target_id = self.node_id(source), self.node_id(target)
        target.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        step("marked")
        time.sleep(pause_s)
        moved = 0
        for _ in range(1000):
            keys = source.cmd("CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                break
            source.cmd("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "REPLACE", "KEYS", *keys)
            moved += len(keys)
        step("migrated")
        time.sleep(pause_s)
        for n in [target, source] + [n for n in self.nodes if n not in (source, target)]:
            n.cmd("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        step("assigned")
        return moved


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------
# gateways with a command prefix and extra environment (faketime), several per test
# ---------------------------------------------------------------------------
class WrappedGateway(Gateway):
    """A Gateway whose command line is prefixed (e.g. ["faketime", "-f", "+5s"]) and whose
    environment gets `env` on top of ours."""

    def __init__(self, cfg, tmpdir, prefix=(), env=None):
        super().__init__(cfg, tmpdir)
        self.prefix = list(prefix)
        self.env = dict(env or {})

    def start(self, wait=True):
        path = require_binary()
        self.write_config()
        env = dict(os.environ)
        env.update(self.env)
        self.proc = subprocess.Popen(self.prefix + [path, "run", "-c", self.config_path],
                                     stdout=open(self.stdout_path, "wb"), stderr=open(self.stderr_path, "wb"),
                                     stdin=subprocess.DEVNULL, cwd=self.tmpdir, env=env)
        _register(self.proc)
        if wait:
            self.wait_ready()
        return self

    def store_health(self):
        status, doc = self.health()
        return status, doc.get("store") if isinstance(doc, dict) else None

    def store_state(self):
        return (self.store_health()[1] or {}).get("state")


@pytest.fixture
def gateways(tmp_path):
    """Factory: gateways(cfg, prefix=(), env=None) -> a started WrappedGateway. The config is
    copied first, so one dict can start several instances (each gets its own ports).
    Every instance is stopped by pid at the end; a sanitizer report fails the test."""
    started = []

    def make(cfg, prefix=(), env=None, wait=True):
        cfg = copy.deepcopy(cfg)
        _assign_ports(cfg)
        d = os.path.join(str(tmp_path), "gw%d" % (len(started) + 1))
        os.makedirs(d, exist_ok=True)
        gw = WrappedGateway(cfg, d, prefix, env)
        started.append(gw)
        return gw.start(wait=wait)

    yield make
    stop_gateways(started)


@pytest.fixture
def redis(tmp_path):
    """A started single redis-server (RedisServer), killed by pid at the end."""
    server = RedisServer(os.path.join(str(tmp_path), "redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_cluster(tmp_path):
    """A started 3-master Redis Cluster (RedisCluster), killed by pid at the end."""
    cluster = RedisCluster(os.path.join(str(tmp_path), "cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# ---------------------------------------------------------------------------
# load: keep-alive client threads, every answer recorded with its times
# ---------------------------------------------------------------------------
class Load:
    """Client threads, `per_target` keep-alive connections per (port, path) target, sending
    requests back to back until stop() or `duration` (and at most `max_requests` per thread).
    Every answer is recorded as (t_sent, t_answered, status or None, target index, error);
    a failed connection is recorded (status None) and replaced."""

    def __init__(self, targets, per_target=1, max_requests=100000):
        self.targets = list(targets)
        self.per_target = per_target
        self.max_requests = max_requests
        self.records = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.started_at = None
        self.stopped_at = None

    def _worker(self, index, barrier, deadline):
        port, path = self.targets[index]
        out = []
        conn = None
        barrier.wait()
        try:
            for _ in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() >= deadline:
                    break
                t0 = time.monotonic()
                try:
                    if conn is None:
                        conn = Conn(port, timeout=10)
                    r = conn.get(path)
                    out.append((t0, time.monotonic(), r.status, index, None))
                    if (r.header("connection") or "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, NoResponse, IncompleteBody) as e:
                    out.append((t0, time.monotonic(), None, index, "%s: %s" % (type(e).__name__, e)))
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(0.01)
        finally:
            if conn is not None:
                conn.close()
            with self._lock:
                self.records.extend(out)

    def start(self, duration=60.0):
        n = len(self.targets) * self.per_target
        barrier = threading.Barrier(n + 1)
        deadline = time.monotonic() + duration + 1.0
        for i in range(n):
            t = threading.Thread(target=self._worker, args=(i % len(self.targets), barrier, deadline), daemon=True)
            t.start()
            self._threads.append(t)
        barrier.wait()
        self.started_at = time.monotonic()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=wait_s(20))
        self.stopped_at = time.monotonic()
        self.records.sort()
        return self

    def run(self, duration):
        self.start(duration)
        time.sleep(duration)
        return self.stop()

    def select(self, targets=None, since=None, until=None):
        """Records of these target indexes sent at/after `since` and answered by `until`."""
        return [r for r in self.records
                if (targets is None or r[3] in targets)
                and (since is None or r[0] >= since) and (until is None or r[1] <= until)]

    @staticmethod
    def span(records):
        """Seconds from the first request sent to the last answer received."""
        return (max(r[1] for r in records) - min(r[0] for r in records)) if records else 0.0

    @staticmethod
    def admitted(records):
        """Answers that are not 429 (and not failures)."""
        return sum(1 for r in records if r[2] is not None and r[2] != 429)

    @staticmethod
    def problems(records, limit=5):
        """Failures and statuses other than 200/429: (count, a few examples)."""
        bad = [r for r in records if r[2] not in (200, 429)]
        return len(bad), [(r[2], r[4]) for r in bad[:limit]]
