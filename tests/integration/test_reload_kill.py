"""A gateway killed (SIGKILL) right after an in-process reload (SIGHUP) with a `store: sqlite`
queue: the new generation shares the old one's open store, the old one still holds deliveries
in flight (the sink holds them), so at the moment of the kill both generations use the file.

A new gateway started on the same configuration file (the queue's `path` absolute, the same
directory) must deliver every job the killed one accepted: each reaches `succeeded` and is
delivered at least once (the jobs in flight at the kill may be delivered twice: the README's
at-least-once). Checked for jobs in flight on the old generation, jobs waiting, and jobs accepted
by the new generation after the reload, with the kill before the old generation drained and
(second test) after it drained.

Real processes on 127.0.0.1 (ports chosen at run time, stopped by pid by the fixtures); the
sink is job_sink.JobSink, held by an event, not a delay.
"""
import os
import signal

import pytest

from conftest import sanitizer_report
from redis_support import gateways  # noqa: F401  (fixture)
from test_async_redis import accept, delivered, sink, wait_state  # noqa: F401  (sink: fixture)
from test_reload_shared_store import gateway_cfg, held_jobs, reweighted, sighup, wait_queue_empty
from test_reload_upgrade import DRAINED, wait_for_drained


def restart_on_the_same_file(gw):
    """Starts a new gateway process on gw's directory and configuration file (same ports, same
    queue path); gw.proc becomes the new process (the fixture stops it). Returns the killed
    process's logs (the new process's output files start empty). A sanitizer report the
    killed process printed before the kill fails the test here (the fixture sees only the new
    process's output)."""
    old_logs = gw.logs
    report = sanitizer_report(old_logs)
    assert not report, "sanitizer report from the killed gateway:\n" + report
    with open(gw.config_path) as f:
        written = f.read()
    gw.start()  # writes gw.cfg again: the file the killed process last read
    with open(gw.config_path) as f:
        assert f.read() == written
    return old_logs


def kill(gw):
    gw.proc.send_signal(signal.SIGKILL)
    assert gw.proc.wait(timeout=10) == -signal.SIGKILL, gw.logs[-2000:]


def assert_all_delivered(gw, sink, ids, logs):
    for i in ids:
        wait_state(gw, i, "succeeded", timeout=20)
    counts = delivered(sink)
    lost = [i for i in ids if counts.get(i, 0) < 1]
    assert not lost, "accepted but never delivered: %s\n--- killed process ---\n%s\n--- new process ---\n%s" % (
        lost, logs[-3000:], gw.logs[-3000:])
    for i in ids:
        assert gw.get("/jobs/%s/result" % i).status == 200, i
    wait_queue_empty(gw)


@pytest.mark.timeout_s(60)
def test_sigkill_right_after_a_reload_loses_no_sqlite_job(gateways, sink, tmp_path):
    path = str(tmp_path / "orders-kept.db")
    gw = gateways(gateway_cfg(sink, queue_store="sqlite", queue={"path": path}))
    assert os.path.exists(path), os.listdir(str(tmp_path))
    before, in_flight = held_jobs(gw, sink, concurrency=2)  # 2 held by the sink, 2 waiting

    sighup(gw, reweighted(gw.cfg, 3), 1)
    # Accepted by the new generation while the old one still holds its deliveries.
    after = [accept(gw, b"after %d" % i) for i in range(3)]
    for i in after:
        wait_state(gw, i, ("queued", "running"), timeout=5)
    assert gw.logs.count(DRAINED) == 0, "the premise: the old generation still holds its deliveries"
    kill(gw)
    sink.release()  # the held deliveries answer to a dead gateway

    logs = restart_on_the_same_file(gw)
    assert "reload: the new configuration serves" in logs
    ids = before + after
    assert_all_delivered(gw, sink, ids, logs)
    for i in in_flight:  # delivered before the kill (the sink answered after it): once more
        assert delivered(sink)[i] >= 1, (i, sink.for_job(i))
    late = accept(gw, b"late")
    wait_state(gw, late, "succeeded")
    assert delivered(sink)[late] == 1


@pytest.mark.timeout_s(60)
def test_sigkill_after_the_old_generation_drained_loses_no_sqlite_job(gateways, sink, tmp_path):
    """The old generation has drained and is gone (the new one alone holds the file): jobs in
    flight on the new generation and waiting jobs survive the kill as well."""
    path = str(tmp_path / "orders-kept.db")
    gw = gateways(gateway_cfg(sink, queue_store="sqlite", queue={"path": path}))
    sighup(gw, reweighted(gw.cfg, 3), 1)
    wait_for_drained(gw, 1)
    ids, in_flight = held_jobs(gw, sink, concurrency=2)
    kill(gw)
    sink.release()

    logs = restart_on_the_same_file(gw)
    assert_all_delivered(gw, sink, ids, logs)
    assert set(in_flight) <= set(delivered(sink)), delivered(sink)


@pytest.mark.timeout_s(60)
def test_two_reloads_then_sigkill_loses_no_sqlite_job(gateways, sink, tmp_path):
    """Two reloads in a row while deliveries are held: three generations share the file when
    the gateway is killed."""
    path = str(tmp_path / "orders-kept.db")
    gw = gateways(gateway_cfg(sink, queue_store="sqlite", queue={"path": path}))
    before, _ = held_jobs(gw, sink, concurrency=2)
    sighup(gw, reweighted(gw.cfg, 3), 1)
    middle = [accept(gw, b"middle %d" % i) for i in range(2)]
    sighup(gw, reweighted(gw.cfg, 4), 2)
    after = [accept(gw, b"after %d" % i) for i in range(2)]
    for i in middle + after:
        wait_state(gw, i, ("queued", "running"), timeout=5)
    assert gw.logs.count(DRAINED) == 0, "the premise: the first generation still holds its deliveries"
    kill(gw)
    sink.release()

    logs = restart_on_the_same_file(gw)
    assert_all_delivered(gw, sink, before + middle + after, logs)
