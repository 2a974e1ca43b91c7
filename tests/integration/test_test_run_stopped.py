"""A test run stopped by SIGTERM (scripts/test.sh's time limit does that) leaves no server it
started behind: the Redis and PostgreSQL servers of the test in progress are stopped by pid
(the postmaster runs in its own session, out of reach of a signal to the process group)."""
import os
import signal
import subprocess

import pytest

from conftest import HERE, PYTHON, wait_s, wait_until
from pg_support import _end_pid, _pid_alive, require_postgres
from redis_support import require_redis


@pytest.mark.timeout_s(120)
def test_a_run_stopped_by_sigterm_stops_its_redis_and_postgresql_servers(tmp_path):
    require_redis()
    require_postgres()
    pids_file = str(tmp_path / "pids")
    run = subprocess.Popen([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            os.path.join(HERE, "servers_held_until_stopped.py")],
                           cwd=HERE, env=dict(os.environ, SG_HELD_PIDS=pids_file),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: os.path.exists(pids_file) or run.poll() is not None,
                          timeout=wait_s(60))
        assert os.path.exists(pids_file), run.stdout.read().decode(errors="replace")[-2000:]
        redis_pid, pg_pid = map(int, open(pids_file).read().split())
        assert _pid_alive(redis_pid) and _pid_alive(pg_pid)
        run.send_signal(signal.SIGTERM)  # to pytest alone: the servers must be stopped by it
        run.wait(timeout=wait_s(60))
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    out = run.stdout.read().decode(errors="replace")
    gone = wait_until(lambda: not _pid_alive(redis_pid) and not _pid_alive(pg_pid),
                      timeout=wait_s(20))
    if not gone:  # not left running past this test either
        _end_pid(redis_pid, signal.SIGTERM)
        _end_pid(pg_pid, signal.SIGINT)
    assert gone, out[-2000:]
    assert "KeyboardInterrupt" in out, out[-2000:]
