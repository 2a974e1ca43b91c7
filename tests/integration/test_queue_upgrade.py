"""A `store: sqlite` queue across a process hand-over: a binary upgrade (SIGUSR2) and a reload
that changes `workers` (SIGHUP) start a successor process while the old one drains.

Both processes use the queue's file during the hand-over: the old one settles the deliveries it
has in flight and commits the enqueues of its last requests, the successor serves and delivers
the rest. The old one passes its lock on the file (`<file>.lock`) to the successor, so a third
process (a second gateway given the same path) is still refused. Checked here with real
processes on 127.0.0.1 (ports chosen at run time, stopped by pid; the sink is job_sink.JobSink,
held by an event, not a delay):

1. jobs in flight, waiting, posted during the hand-over and after it are each delivered once,
   for both kinds of hand-over; the old process exits once its deliveries are settled;
2. the old process killed (SIGKILL) during the hand-over: the successor delivers its jobs again
   after visibility_timeout (at least once), nothing accepted is lost;
3. a second gateway on the same file is refused at start with the lock's path in its error;
   once the first has stopped, it starts and delivers what the first left queued.
"""
import os
import signal
import threading

import pytest

from conftest import wait_until, wait_s
from redis_support import gateways  # noqa: F401  (fixture)
from test_async_redis import Q, accept, delivered, post_jobs, sink, wait_state  # noqa: F401
from test_reload_shared_store import (assert_each_delivered_once, gateway_cfg, held_jobs, reweighted,
                                      wait_queue_empty)
from test_reload_upgrade import process_alive, successors, wait_for_successor, write  # noqa: F401

SHARES = "queue %s: shares" % Q
RECOVERED = "jobs were in flight when the gateway stopped"


def hand_over(gw, how):
    """Starts the successor: SIGUSR2 (same file), or SIGHUP with one more worker."""
    if how == "workers":
        cfg = reweighted(gw.cfg, 2)
        cfg["workers"] = cfg.get("workers", 1) + 1
        write(gw, cfg)
        os.kill(gw.pid, signal.SIGHUP)
    else:
        os.kill(gw.pid, signal.SIGUSR2)


@pytest.mark.timeout_s(60)
@pytest.mark.parametrize("how", ["sigusr2", "workers"])
def test_sqlite_queue_jobs_across_a_process_hand_over(gateways, sink, successors, how):
    gw = successors.watch(gateways(gateway_cfg(sink, queue_store="sqlite")))
    before, _ = held_jobs(gw, sink, concurrency=2)
    old = gw.pid

    # Two keep-alive clients post on while the successor starts: every POST is accepted.
    during = {}
    poster = threading.Thread(target=lambda: during.update(r=post_jobs(gw.port, 40, threads=2, tag=b"during")))
    poster.start()
    hand_over(gw, how)
    successors.append(wait_for_successor(gw, 1))
    poster.join(wait_s(30))
    during_ids, refused = during.get("r", ([], ["the posting clients did not finish"]))
    assert not refused and len(during_ids) == 40, (refused[:3], gw.logs[-2000:])
    assert SHARES in gw.logs, gw.logs[-3000:]
    # The successor answers for every job; the old process still holds its deliveries.
    after = [accept(gw, b"after %d" % i) for i in range(4)] + during_ids
    for i in before:
        st = wait_state(gw, i, ("queued", "running"), timeout=5)
        assert st["id"] == i and st["queue"] == Q, st
    assert process_alive(old), gw.logs[-2000:]

    sink.release()
    assert_each_delivered_once(gw, sink, before + after)
    assert gw.proc.wait(timeout=wait_s(20)) == 0, gw.logs[-2000:]
    assert RECOVERED not in gw.logs, gw.logs[-3000:]
    wait_queue_empty(gw)
    late = accept(gw, b"late")
    wait_state(gw, late, "succeeded")
    assert delivered(sink)[late] == 1


@pytest.mark.timeout_s(60)
def test_old_process_killed_during_the_hand_over_loses_no_job(gateways, sink, successors):
    gw = successors.watch(gateways(gateway_cfg(sink, queue_store="sqlite")))
    before, in_flight = held_jobs(gw, sink, concurrency=2)
    hand_over(gw, "sigusr2")
    successors.append(wait_for_successor(gw, 1))
    after = [accept(gw, b"after %d" % i) for i in range(3)]
    gw.proc.kill()  # mid-delivery: its two jobs stay `running` in the file
    gw.proc.wait(timeout=wait_s(10))
    sink.release()
    # The successor retries them once visibility_timeout (4 s) has passed.
    for i in before + after:
        wait_state(gw, i, "succeeded", timeout=wait_s(20))
    counts = delivered(sink)
    assert all(counts.get(i, 0) >= 1 for i in before + after), (counts, gw.logs[-3000:])
    for i in in_flight:
        assert [r.attempt for r in sink.for_job(i)][-1] == 2, (i, gw.logs[-3000:])
    assert "ran past the visibility timeout" in gw.logs, gw.logs[-3000:]
    wait_queue_empty(gw)


@pytest.mark.timeout_s(40)
def test_a_second_gateway_on_the_same_file_is_refused(gateways, sink, tmp_path):
    path = str(tmp_path / "shared-orders.db")
    cfg = gateway_cfg(sink, queue_store="sqlite", queue={"path": path})
    first = gateways(cfg)
    sink.hang()
    ids = [accept(first, b"left %d" % i) for i in range(5)]

    second = gateways(cfg, wait=False)
    assert wait_until(lambda: not second.alive(), wait_s(10)), second.logs[-2000:]
    assert second.proc.returncode == 1, second.logs[-2000:]
    assert "queue %s: %s.lock: locked" % (Q, path) in second.logs, second.logs[-2000:]
    # The first serves on, unharmed.
    assert wait_state(first, ids[-1], ("queued", "running"))

    first.proc.send_signal(signal.SIGTERM)
    sink.release()
    assert first.proc.wait(timeout=wait_s(20)) == 0, first.logs[-2000:]
    third = gateways(cfg)
    for i in ids:
        wait_state(third, i, "succeeded", timeout=wait_s(10))
    assert set(ids) <= set(delivered(sink)), (delivered(sink), third.logs[-2000:])
