"""Async routes (issue 15): durability of the SQLite queue. A bad queue file stops start-up;
jobs survive a graceful restart and a kill -9 under load (at least once, none lost); a burst
far above the upstream's capacity is accepted at once and delivered at the queue's pace."""
import os
import signal
import stat
import threading
import time

import pytest

from conftest import Conn, IncompleteBody, NoResponse, build_request, free_port, metric_value, wait_until
from environment import SLOW
from job_sink import JobSink
from test_async_routes import Q, async_config, job, queue_info

# ---------------------------------------------------------------------------
# A: a queue file that cannot be used stops start-up
# ---------------------------------------------------------------------------
def start_fails(gateway, cfg):
    gw = gateway(cfg, wait=False)
    try:
        gw.proc.wait(timeout=10)
    except Exception:
        pytest.fail("the gateway kept running with an unusable queue file\n" + gw.logs[-3000:])
    return gw


def test_corrupt_queue_file_stops_startup(gateway, tmp_path):
    path = tmp_path / "orders.db"
    path.write_bytes(os.urandom(64 * 1024))
    gw = start_fails(gateway, async_config(tmp_path, "127.0.0.1:%d" % free_port()))
    assert gw.proc.returncode != 0, gw.logs
    assert str(path) in gw.logs, gw.logs[-3000:]


def test_unwritable_queue_directory_stops_startup(gateway, tmp_path):
    """As root (this machine's test user) a mode-0555 directory is still writable, so the
    directory is made unusable by being a regular file; as another user a 0555 directory is
    tried as well."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"a file where the queue's directory should be")
    paths = [blocker / "orders.db"]
    if os.geteuid() != 0:
        ro = tmp_path / "read-only"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        paths.append(ro / "orders.db")
    for path in paths:
        gw = start_fails(gateway, async_config(tmp_path, "127.0.0.1:%d" % free_port(),
                                               queue={"path": str(path)}))
        assert gw.proc.returncode != 0, gw.logs
        assert str(path) in gw.logs, gw.logs[-3000:]


# ---------------------------------------------------------------------------
# B: a graceful restart keeps the jobs
# ---------------------------------------------------------------------------
def test_jobs_survive_a_restart(gateway, tmp_path):
    """Jobs accepted while the upstream hangs (two of them running, the rest queued) are all
    delivered by a new gateway on the same file once a working upstream is there."""
    hung = JobSink()
    hung.hang()
    good = JobSink()
    try:
        cfg = async_config(tmp_path, hung.address, queue={"concurrency": 2})
        cfg["shutdown_timeout"] = "2s"  # the two hung deliveries hold the drain this long
        gw = gateway(cfg)
        ids = []
        for i in range(10):
            r = Conn(gw.port).request("POST", "/api/orders", [("Content-Type", "text/plain")],
                                      body=b"restart %d" % i)
            assert r.status == 202, r
            ids.append(r.json()["id"])
        assert wait_until(lambda: hung.count() == 2, 5), hung.count()
        t_stop = time.monotonic()
        rc = gw.stop(signal.SIGTERM, timeout=15)
        stop_s = time.monotonic() - t_stop
        hung.close()
        assert rc == 0 and stop_s < 6, (rc, stop_s, gw.logs[-2000:])
        gw2 = gateway(async_config(tmp_path, good.address, queue={"concurrency": 2}))
        assert wait_until(lambda: set(ids) <= set(good.count_by_job()), 10), \
            (len(set(good.count_by_job()) & set(ids)), gw2.logs[-2000:])
        for i in ids:
            assert wait_until(lambda: job(gw2, i)["state"] == "succeeded", 5), job(gw2, i)
    finally:
        hung.close()
        good.close()


# ---------------------------------------------------------------------------
# C: kill -9 under load
# ---------------------------------------------------------------------------
# 20,000 (the figure) took 79 s here (2 cores): accepting takes ~21 s, but the
# dispatcher delivers only ~250 jobs/s (one SQLite commit per claim and per outcome), so the
# drain dominates. 10,000 is the largest round number that stays well under 60 s.
# The 20,000 on a release build; sanitizer builds (SLOW > 1) are 3-15x slower.
KILL_N = 20_000 if SLOW == 1 else 4_000
KILL_CLIENTS = 8


class Poster:
    """KILL_CLIENTS threads, each with a keep-alive connection, POST unique bodies; a
    request without a 202 (connection error, 503) is sent again, until 202 or the deadline."""

    def __init__(self, port, n, clients, deadline):
        self.port = port
        self.n = n
        self.deadline = deadline
        self.lock = threading.Lock()
        self.accepted = {}        # id -> body index
        self.errors = 0
        self.refusals = 0
        self.threads = [threading.Thread(target=self.run, args=(k, clients), daemon=True)
                        for k in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self, timeout):
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def count(self):
        with self.lock:
            return len(self.accepted)

    def run(self, k, clients):
        conn = None
        for i in range(k, self.n, clients):
            data = build_request("POST", "/api/orders", [("Content-Type", "text/plain")],
                                 body=b"kill9 job %06d" % i)
            while time.monotonic() < self.deadline:
                try:
                    if conn is None:
                        conn = Conn(self.port, timeout=5)
                    conn.send(data)
                    r = conn.read_response("POST")
                except (OSError, NoResponse, IncompleteBody):
                    if conn is not None:
                        conn.close()
                    conn = None
                    with self.lock:
                        self.errors += 1
                    time.sleep(0.02)
                    continue
                if (r.header("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
                if r.status == 202:
                    with self.lock:
                        self.accepted[r.json()["id"]] = i
                    break
                with self.lock:
                    self.refusals += 1
                time.sleep(0.02)
        if conn is not None:
            conn.close()


@pytest.mark.timeout_s(90)
def test_kill9_under_load_loses_nothing(gateway, tmp_path):
    """The issue's test: 20,000 POSTs (KILL_N) from 8 keep-alive clients; the gateway is
    SIGKILLed and restarted on the same file and port at ~1/3 and ~2/3 of the accepted jobs.
    Every id answered 202 must reach the upstream (at least once); duplicates (jobs running
    at a kill, delivered again) are printed and must stay small."""
    sink = JobSink(max_records=1000)
    try:
        cfg = async_config(tmp_path, sink.address, queue={"concurrency": 16}, workers=2)
        gw = gateway(cfg)
        t0 = time.monotonic()
        poster = Poster(gw.port, KILL_N, KILL_CLIENTS, t0 + 55)
        poster.start()
        kills = []
        for mark in (KILL_N // 3, 2 * KILL_N // 3):
            assert wait_until(lambda: poster.count() >= mark, 40), (poster.count(), gw.logs[-2000:])
            gw.stop(signal.SIGKILL, timeout=5)
            kills.append((poster.count(), len(sink.count_by_job())))
            gw = gateway(cfg)  # same file, same port
        assert poster.join(60), "clients still posting after 60 s (accepted %d)" % poster.count()
        t_sent = time.monotonic() - t0
        accepted = dict(poster.accepted)
        assert len(accepted) == KILL_N, (len(accepted), poster.errors, poster.refusals)

        def all_seen():
            return set(accepted) <= set(sink.count_by_job())

        wait_until(all_seen, 60)
        t_done = time.monotonic() - t0
        seen = sink.count_by_job()
        lost = [i for i in accepted if i not in seen]
        duplicates = sum(c - 1 for c in seen.values() if c > 1)
        unaccepted = len(set(seen) - set(accepted))  # stored, but the 202 was lost with the kill
        print("\nkill -9 test: N=%d clients=%d accepted=%d in %.1f s, all delivered at %.1f s; "
              "kills at (accepted, delivered)=%s; client errors=%d refusals=%d; lost=%d duplicates=%d "
              "delivered-but-unacknowledged=%d deliveries=%d"
              % (KILL_N, KILL_CLIENTS, len(accepted), t_sent, t_done, kills, poster.errors, poster.refusals,
                 len(lost), duplicates, unaccepted, sink.count()))
        if lost:
            states = {}
            for i in lost[:5]:
                try:
                    states[i] = job(gw, i)
                except Exception as e:  # the report matters more than this lookup
                    states[i] = repr(e)
            pytest.fail("%d accepted jobs never reached the upstream; first: %r" % (len(lost), states))
        assert duplicates <= KILL_N // 20, duplicates
    finally:
        sink.close()


# ---------------------------------------------------------------------------
# D: load leveling
# ---------------------------------------------------------------------------
LEVEL_N = 5000 if SLOW == 1 else 1000
LEVEL_CONNS = 10


def blast(port, n, conns):
    """n POSTs over `conns` connections, each connection's requests pipelined in one write
    (so python can generate them within ~1 s). Returns (t_first_send, t_all_sent, ids, answer
    times, non-202 statuses)."""
    per = [list(range(k, n, conns)) for k in range(conns)]
    payloads = [b"".join(build_request("POST", "/api/orders", [("Content-Type", "text/plain")],
                                       body=b"level %05d" % i) for i in idx) for idx in per]
    sockets = [Conn(port, timeout=20) for _ in range(conns)]
    lock = threading.Lock()
    ids, answered, bad, sent = [], [], [], []
    go = threading.Event()

    def reader(c, count):
        try:
            for _ in range(count):
                r = c.read_response("POST")
                now = time.monotonic()
                with lock:
                    answered.append(now)
                    if r.status == 202:
                        ids.append(r.json()["id"])
                    else:
                        bad.append(r.status)
        except (OSError, NoResponse, IncompleteBody) as e:
            with lock:
                bad.append(repr(e))

    def writer(c, data):
        go.wait()
        c.send(data)
        with lock:
            sent.append(time.monotonic())

    readers = [threading.Thread(target=reader, args=(c, len(idx))) for c, idx in zip(sockets, per)]
    writers = [threading.Thread(target=writer, args=(c, d)) for c, d in zip(sockets, payloads)]
    for t in readers + writers:
        t.start()
    t_first = time.monotonic()
    go.set()
    for t in writers + readers:
        t.join(30)
    for c in sockets:
        c.close()
    return t_first, max(sent) if sent else None, ids, answered, bad


@pytest.mark.timeout_s(90)
def test_load_leveling(gateway, tmp_path):
    """5,000 POSTs arrive within ~1 s; the upstream serves 8 at a time with a 40 ms sleep
    (~200 req/s). All are answered 202 within 2 s of the first send; the upstream never has
    more than 8 in flight; all succeed within 60 s (~25 s expected); depth and oldest age reach 0."""
    sink = JobSink(delay=0.04, max_records=1000)
    try:
        gw = gateway(async_config(tmp_path, sink.address, queue={"concurrency": 8}, workers=2))
        t0, t_sent, ids, answered, bad = blast(gw.port, LEVEL_N, LEVEL_CONNS)
        accept_s = (max(answered) - t0) if answered else None
        gen_s = (t_sent - t0) if t_sent else None
        print("\nload leveling: generated %d requests in %.3f s; %d answered 202 in %.3f s (non-202: %s)"
              % (LEVEL_N, gen_s or -1, len(ids), accept_s or -1, bad[:5]))
        assert not bad, bad[:10]
        assert len(ids) == LEVEL_N
        # The bound is for a release build; sanitizer builds are SLOW times slower.
        assert accept_s <= 2.0 * SLOW, accept_s

        def done():
            return set(ids) <= set(sink.count_by_job())

        assert wait_until(done, 60 - (time.monotonic() - t0), interval=0.25), \
            "%d of %d delivered after 60 s (scaled)" % (len(set(ids) & set(sink.count_by_job())), LEVEL_N)
        drain_s = time.monotonic() - t0

        def settled():
            info = queue_info(gw)
            t = gw.metrics_text()
            return (info["jobs"]["succeeded"] == LEVEL_N
                    and metric_value(t, "scalegate_queue_depth", queue=Q) == 0
                    and metric_value(t, "scalegate_queue_oldest_age_seconds", queue=Q) == 0) and t

        text = wait_until(settled, 5)
        print("load leveling: all %d delivered at %.1f s after the first send; upstream max in flight %d; "
              "deliveries %d" % (LEVEL_N, drain_s, sink.max_in_flight, sink.count()))
        assert text, (queue_info(gw), gw.metrics_text()[-3000:])
        assert sink.max_in_flight <= 8, sink.max_in_flight
        assert metric_value(text, "scalegate_queue_delivered_total", queue=Q) >= LEVEL_N
    finally:
        sink.close()
