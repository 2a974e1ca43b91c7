"""Run only by test_test_run_stopped.py (pytest collects a file named on its command line; the
suite itself does not collect this one): starts a Redis and a PostgreSQL server, writes their
pids to $SG_HELD_PIDS, then waits to be stopped."""
import os
import time

from pg_support import PostgresServer
from redis_support import RedisServer


def test_holds_servers_until_stopped(tmp_path):
    redis = RedisServer(str(tmp_path / "redis")).start()
    pg = PostgresServer().start()
    target = os.environ["SG_HELD_PIDS"]
    with open(target + ".tmp", "w") as f:
        f.write("%d %d" % (redis.pid, pg.pid))
    os.rename(target + ".tmp", target)
    time.sleep(600)
